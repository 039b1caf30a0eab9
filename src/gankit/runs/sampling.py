"""Sampling from a finished run: the generator it left, and samples drawn from it.

:func:`load_generator` returns a :class:`TrainedGenerator`, an ``nn.Module`` that knows its
latent distribution, so ``G.sample(n, seed=0)`` draws reproducible samples; :func:`generate_samples`
is what ``gankit sample`` saves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit.data import images_to_uint8
from gankit.errors import ConfigError
from gankit.models import generate
from gankit.models.conditional import balanced_labels
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
        num_classes: K of a class-conditional run, else None.
    """

    def __init__(self, net: nn.Module, config: RunConfig, info: dict[str, Any]) -> None:
        super().__init__()
        self.net, self.config = net, config
        self.step, self.ema = int(info["step"]), bool(info["ema"])
        self.data_shape = tuple(info["data_shape"])
        self.z_dim, self.noise = config.model.z_dim, config.model.noise
        self.num_classes: int | None = info.get("num_classes")

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(z) if y is None else self.net(z, y)

    def sample(self, n: int, *, seed: int = 0, device: str | torch.device = "cpu",
               classes: int | Sequence[int] | Tensor | None = None, truncation: float = 1.0) -> Tensor:
        """``n`` samples in model space (images in [-1, 1] ``[n, C, H, W]``, or points ``[n, 2]``), float32 on the CPU.

        The same ``seed`` gives the same samples on every device and for every ``n`` cut.

        Args:
            classes: a class-conditional run's labels: one class for all ``n``, or ``n`` of them;
                ``None`` takes every class in turn (``0, 1, ..., K-1, 0, ...``).
            truncation: :math:`\\psi \\in (0, 1]`, codes scaled towards the prior's mean (the
                truncation trick, :func:`gankit.models.sampling.generate`); 1 draws them as trained.

        Raises:
            ConfigError: classes for an unconditional run, a class outside ``0..K-1``, or a
                truncation outside (0, 1].
        """
        return generate(self.net, n, z_dim=self.z_dim, noise=self.noise, seed=seed, device=device,
                        classes=self.labels(n, classes), truncation=truncation)

    def labels(self, n: int, classes: int | Sequence[int] | Tensor | None) -> Tensor | None:
        """int64 ``[n]`` labels for :meth:`sample` (None for an unconditional run asked for none)."""
        if classes is None:
            return None if not self.num_classes else balanced_labels(n, self.num_classes)
        if not self.num_classes:
            raise ConfigError("this run is not class-conditional (model.conditional false); it takes no classes")
        y = torch.as_tensor(classes, dtype=torch.int64).flatten()
        y = y.expand(n).clone() if y.numel() == 1 else y
        if len(y) != n:
            raise ConfigError(f"{len(y)} classes given for {n} samples; give one class or one per sample")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ConfigError(f"classes must be in 0..{self.num_classes - 1} (this run has {self.num_classes}); "
                              f"got {int(y.min()) if int(y.min()) < 0 else int(y.max())}")
        return y


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
                     device: str | torch.device = "cpu",
                     classes: int | str | Sequence[int] | Tensor | None = None,
                     truncation: float = 1.0) -> dict[str, Any]:
    """Samples from a run: ``{"images": uint8 [N,C,H,W]}`` or ``{"points": float32 [N,2]}``, plus
    ``data`` (the dataset name), ``image_size``, ``step`` and ``ema``; a class-conditional run's
    also ``labels`` (int64 ``[N]``, the class each sample was asked for; see :meth:`TrainedGenerator.sample`)
    and ``num_classes``.

    ``classes="all"``: one row per class, ``max(1, n // K)`` samples each (so ``N = K * max(1, n // K)``),
    with ``cols`` (the row length) in the result. ``truncation``: as :meth:`TrainedGenerator.sample`;
    the result records it.
    """
    G = load_generator(path, ema=ema)
    cols = None
    if isinstance(classes, str):
        if classes != "all":
            raise ConfigError(f"classes must be a class number or 'all'; got {classes!r}")
        if not G.num_classes:
            raise ConfigError("this run is not class-conditional (model.conditional false); it takes no classes")
        cols = max(1, n // G.num_classes)
        n, classes = G.num_classes * cols, torch.arange(G.num_classes).repeat_interleave(cols)
    y = G.labels(n, classes)
    x = G.sample(n, seed=seed, device=device, classes=y, truncation=truncation)
    out: dict[str, Any] = {"data": G.config.data.name, "image_size": G.config.data.image_size,
                           "step": G.step, "ema": G.ema, "truncation": truncation}
    if y is not None:
        out["labels"], out["num_classes"] = y.numpy(), G.num_classes
    if cols is not None:
        out["cols"] = cols
    if x.dim() == 2:
        out["points"] = x.numpy().astype("float32")
    else:
        out["images"] = images_to_uint8(x).numpy()
    return out
