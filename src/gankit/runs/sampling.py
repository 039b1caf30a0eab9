"""Sampling from a finished run: the generator it left, and samples drawn from it.

:func:`load_generator` returns a :class:`TrainedGenerator`, an ``nn.Module`` that knows its
latent distribution, so ``G.sample(n, seed=0)`` draws reproducible samples; :func:`generate_samples`
is what ``gankit sample`` saves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit.data import images_to_uint8
from gankit.models import generate
from gankit.training.config import RunConfig
from gankit.training.export import read_generator


class TrainedGenerator(nn.Module):
    """A run's generator with what it needs to sample: its config, step and latent distribution.

    Calling it maps ``z [N, z_dim]`` to samples as the wrapped network does; :meth:`sample` draws
    the latent codes itself.

    Attributes:
        net: the generator network (eval mode).
        config: the run's resolved config.
        step: the training step the weights come from.
        ema: whether the weights are the EMA copy.
    """

    def __init__(self, net: nn.Module, config: RunConfig, info: dict[str, Any]) -> None:
        super().__init__()
        self.net, self.config = net, config
        self.step, self.ema = int(info["step"]), bool(info["ema"])
        self.data_shape = tuple(info["data_shape"])
        self.z_dim, self.noise = config.model.z_dim, config.model.noise

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def sample(self, n: int, *, seed: int = 0, device: str | torch.device = "cpu") -> Tensor:
        """``n`` samples in model space (images in [-1, 1] ``[n, C, H, W]``, or points ``[n, 2]``), float32 on the CPU.

        The same ``seed`` gives the same samples on every device and for every ``n`` cut.
        """
        return generate(self.net, n, z_dim=self.z_dim, noise=self.noise, seed=seed, device=device)


def load_generator(path: str | Path, *, ema: bool = True, G: nn.Module | None = None) -> TrainedGenerator:
    """The generator of a run folder, checkpoint or ``generator.safetensors``, ready to sample.

    Args:
        path: a run folder, checkpoint or ``generator.safetensors``.
        ema: use the EMA weights where the run kept them.
        G: your own generator module, for a run trained on custom networks.
    """
    net, cfg, info = read_generator(path, ema=ema, G=G)
    return TrainedGenerator(net, cfg, info).eval()


def generate_samples(path: str | Path, n: int, *, seed: int = 0, ema: bool = True,
                     device: str | torch.device = "cpu") -> dict[str, Any]:
    """Samples from a run: ``{"images": uint8 [N,C,H,W]}`` or ``{"points": float32 [N,2]}``, plus
    ``data`` (the dataset name), ``image_size``, ``step`` and ``ema``."""
    G = load_generator(path, ema=ema)
    x = G.sample(n, seed=seed, device=device)
    out: dict[str, Any] = {"data": G.config.data.name, "image_size": G.config.data.image_size,
                           "step": G.step, "ema": G.ema}
    if x.dim() == 2:
        out["points"] = x.numpy().astype("float32")
    else:
        out["images"] = images_to_uint8(x).numpy()
    return out
