"""Exponential moving average of the generator's weights.

theta_ema <- decay * theta_ema + (1 - decay) * theta after every generator step (Yazici et al.
2019 show it improves GAN samples); buffers (batch-norm statistics) are copied as they are.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of a module that trails its weights."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        ema_params = list(self.module.parameters())
        src_params = [p.detach() for p in source.parameters()]
        torch._foreach_lerp_(ema_params, src_params, 1.0 - self.decay)
        for ema_buf, src_buf in zip(self.module.buffers(), source.buffers(), strict=True):
            ema_buf.copy_(src_buf)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
