"""Differentiable augmentation (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN
Training", NeurIPS 2020): the same random transforms applied to real *and* generated images, in
every D and G phase, differentiably, on the device, so D sees more varied images while G's
gradient passes through the transform.

Transforms of images ``[N, C, H, W]`` in model space ``[-1, 1]``; each draws its parameters per
sample:

* ``color``: brightness ``x + b``, ``b ~ U(-0.5, 0.5)``; saturation
  ``(x - m_c) s + m_c`` around the per-pixel channel mean, ``s ~ U(0, 2)``; contrast
  ``(x - m) k + m`` around the image mean, ``k ~ U(0.5, 1.5)``;
* ``translation``: a shift by up to 1/8 of the side in each direction, filled with zeros;
* ``cutout``: a square of half the side, at a random place, set to zero.

:func:`augment` applies a policy (a tuple of names, in that order). Under data parallelism
``rows`` says which rows of the global batch this rank holds: parameters are drawn for the whole
global batch and these rows kept, so the result does not depend on the number of ranks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import ConfigError

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _uniform(n: int, low: float, high: float, x: Tensor, rows: tuple[int, slice] | None) -> Tensor:
    """``[n_local, 1, 1, 1]`` draws of U(low, high), drawn for the global batch and sliced to this rank."""
    total = n if rows is None else rows[0]
    u = torch.rand(total, 1, 1, 1, device=x.device, dtype=x.dtype)
    return (u if rows is None else u[rows[1]]) * (high - low) + low


def _integers(n: int, low: int, high: int, x: Tensor, rows: tuple[int, slice] | None) -> Tensor:
    """``[n_local]`` integers in ``[low, high]``, drawn for the global batch and sliced to this rank."""
    total = n if rows is None else rows[0]
    k = torch.randint(low, high + 1, (total,), device=x.device)
    return k if rows is None else k[rows[1]]


def color(x: Tensor, rows: tuple[int, slice] | None = None) -> Tensor:
    """Brightness, saturation and contrast jitter (see the module docstring)."""
    n = len(x)
    x = x + (_uniform(n, 0.0, 1.0, x, rows) - 0.5)
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * _uniform(n, 0.0, 2.0, x, rows) + mean_c
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(n, 0.5, 1.5, x, rows) + mean


def translation(x: Tensor, rows: tuple[int, slice] | None = None, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Shift each image by up to ``ratio`` of its side in each direction; vacated pixels are 0."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _integers(n, -sh, sh, x, rows)  # (n,)
    dx = _integers(n, -sw, sw, x, rows)
    padded = F.pad(x, (1, 1, 1, 1))  # a ring of zeros that out-of-range reads land on
    ys = (torch.arange(h, device=x.device)[None, :] + dy[:, None] + 1).clamp(0, h + 1)  # (n, h)
    xs = (torch.arange(w, device=x.device)[None, :] + dx[:, None] + 1).clamp(0, w + 1)  # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, ys[:, :, None], xs[:, None, :]]  # (n, h, w, C)
    return out.permute(0, 3, 1, 2)


def cutout(x: Tensor, rows: tuple[int, slice] | None = None, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Zero one square of ``ratio`` times the side per image, placed uniformly at random."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _integers(n, 0, h - 1, x, rows)[:, None, None]  # square centres (n, 1, 1)
    cx = _integers(n, 0, w - 1, x, rows)[:, None, None]
    y = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    inside = ((y - cy).abs() * 2 < ch) & ((xx - cx).abs() * 2 < cw)  # (n, h, w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS: dict[str, Callable[..., Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(text: str) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ``("translation", "cutout")``; ``"none"`` or ``""`` -> ``()``."""
    names = tuple(part.strip() for part in text.split(",") if part.strip() and part.strip() != "none")
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ConfigError(f"unknown augmentation {unknown[0]!r}; train.augment is 'none' or a comma list of "
                          f"{', '.join(TRANSFORMS)}")
    return names


def augment(x: Tensor, policy: tuple[str, ...], rows: tuple[int, slice] | None = None) -> Tensor:
    """``x`` through every transform of ``policy`` in order (``x`` itself when the policy is empty)."""
    for name in policy:
        x = TRANSFORMS[name](x, rows)
    return x
