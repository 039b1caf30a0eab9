"""Exponential moving average of the generator's weights, with batch-norm statistics that fit them.

After every generator step, with :math:`\\beta` the decay,

.. math:: \\theta_{ema} \\leftarrow \\beta\\,\\theta_{ema} + (1 - \\beta)\\,\\theta

(Yazici et al. 2019 show it improves GAN samples). Two details decide whether it helps a
generator with batch norm:

* **Standing statistics.** Batch-norm running statistics are not weights: the raw generator's
  do not describe the activations of the *averaged* weights, and sampling runs in eval mode,
  on running statistics. So before the EMA generator is sampled, scored, checkpointed or exported,
  :meth:`EMA.standing_statistics` recomputes them for the EMA weights: the running statistics are
  reset and accumulated (a plain average, ``momentum=None``) over fresh batches of latent codes
  in train mode, the "standing statistics" of Brock et al. 2019 (BigGAN, Sec. 3.1). Nothing of
  the training run changes: the codes come from a generator of their own.
* **Ramp-up.** A long horizon averages in the first, fast-moving weights, which no longer fit.
  With ``rampup`` the decay at update :math:`t` is
  :math:`\\min(\\beta, (1 + t) / (10 + t))` (the ``num_updates`` form of TensorFlow's
  ``ExponentialMovingAverage``), so early on the average follows the generator closely.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
STANDING_BATCHES = 16  # batches of latent codes averaged into the standing statistics


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, BATCH_NORMS) and m.track_running_stats]


class EMA:
    """A frozen copy of a module that trails its weights (see the module docstring).

    Attributes:
        module: the averaged copy (eval mode, no gradients).
        updates: how many updates it has had (the ramp-up's :math:`t`).
        stale: its batch-norm statistics are the raw module's, not yet recomputed for its weights.
    """

    def __init__(self, module: nn.Module, decay: float, *, rampup: bool = False) -> None:
        self.decay, self.rampup = decay, rampup
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.updates = 0
        self.stale = False

    def decay_at(self, t: int) -> float:
        """The decay of update ``t`` (1-based): ``decay``, or with ramp-up ``min(decay, (1 + t) / (10 + t))``."""
        return min(self.decay, (1.0 + t) / (10.0 + t)) if self.rampup else self.decay

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        self.count_update()
        ema_params = list(self.module.parameters())
        src_params = [p.detach() for p in source.parameters()]
        torch._foreach_lerp_(ema_params, src_params, 1.0 - self.decay_at(self.updates))
        self._copy_buffers(source)

    def count_update(self) -> None:
        """Book one update on the host: the count the ramp-up and checkpoints read; statistics now stale."""
        self.updates += 1
        self.stale = bool(batch_norms(self.module))

    @torch.no_grad()
    def update_on_device(self, source: nn.Module, count: Tensor) -> None:
        r""":meth:`update` with the update count ``t`` held in a 0-dim float32 device tensor.

        For a captured CUDA graph: the decay :math:`\min(\beta, (1 + t) / (10 + t))` is computed
        on the device from ``count`` (incremented here first), so each replay applies its own
        step's decay, and :math:`\theta_{ema} \leftarrow \beta\theta_{ema} + (1 - \beta)\theta`
        is written as a product and a sum. The host's :attr:`updates` is booked separately
        (:meth:`count_update`, after each replay).
        """
        count.add_(1.0)
        decay = ((1.0 + count) / (10.0 + count)).clamp(max=self.decay) if self.rampup else torch.full_like(count, self.decay)
        ema_params = list(self.module.parameters())
        torch._foreach_mul_(ema_params, decay)
        torch._foreach_add_(ema_params, torch._foreach_mul([p.detach() for p in source.parameters()], 1.0 - decay))
        self._copy_buffers(source)

    def _copy_buffers(self, source: nn.Module) -> None:
        for ema_buf, src_buf in zip(self.module.buffers(), source.buffers(), strict=True):
            ema_buf.copy_(src_buf)

    @torch.no_grad()
    def standing_statistics(self, noise: Callable[[int], Tensor], batch_size: int,
                            batches: int = STANDING_BATCHES) -> None:
        """Recompute the batch-norm running statistics for the EMA weights (no-op without batch norm).

        Args:
            noise: ``n -> z [n, z_dim]`` on the module's device, from a generator of its own.
            batch_size: codes per forward pass (the training batch, so statistics are per batch
                as in training).
            batches: forward passes averaged.
        """
        norms = batch_norms(self.module)
        if norms:
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the forward passes
            self.module.train()
            try:
                for _ in range(batches):
                    self.module(noise(batch_size))
            finally:
                self.module.eval()
                for m, momentum in zip(norms, momenta, strict=True):
                    m.momentum = momentum
        self.stale = False

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
