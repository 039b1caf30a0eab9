"""2-D toy distributions used to study mode collapse.

* ``ring8``: a mixture of 8 isotropic Gaussians with centres evenly spaced on the **unit** circle,
  :math:`\\mu_k = (\\cos 2\\pi k/8, \\sin 2\\pi k/8)`, standard deviation 0.01, equal weights.
  (VEEGAN, Srivastava et al. 2017, used radius 2 and std 0.02; we keep the unit circle and std 0.01,
  the same std-to-spacing ratio halved, so collapsed and covered modes are unambiguous.)
* ``grid25``: 25 isotropic Gaussians centred on :math:`\\{-4,-2,0,2,4\\}^2`, std 0.05, equal weights.
* ``swissroll``: :math:`t = 1.5\\pi(1 + 2u)`, :math:`u \\sim U(0, 1)`, point
  :math:`(t\\cos t, t\\sin t) + \\mathcal N(0, 0.25^2 I)`, divided by 7.5 so it fits in about [-2, 2]^2
  (the x/z plane of scikit-learn's ``make_swiss_roll(noise=0.25)``). No modes.

A mixture sample draws the component index uniformly, then adds Gaussian noise to its centre.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from gankit.data.base import Dataset, check_split
from gankit.errors import DataError

TOY_SPLITS = ("train", "test")
_SWISSROLL_NOISE = 0.25
_SWISSROLL_SCALE = 7.5


def ring_modes(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    """``k`` centres evenly spaced on a circle, starting on the +x axis: float64 ``[k, 2]``."""
    angle = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def grid_modes(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """``side**2`` centres on a square grid centred at 0, row-major in (x, y): float64 ``[side**2, 2]``."""
    axis = spacing * (torch.arange(side, dtype=torch.float64) - (side - 1) / 2)
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


# name -> (mode centres, per-mode std)
MIXTURES: dict[str, tuple[Callable[[], torch.Tensor], float]] = {
    "ring8": (ring_modes, 0.01),
    "grid25": (grid_modes, 0.05),
}
TOY_NAMES = ("ring8", "grid25", "swissroll")


def _check_name(name: str) -> None:
    if name not in TOY_NAMES:
        raise DataError(f"unknown toy dataset {name!r}; valid toy datasets: {', '.join(TOY_NAMES)}")


def toy_modes(name: str) -> tuple[torch.Tensor | None, float | None]:
    """Mode centres (float64 ``[M, 2]``) and per-mode std of a toy set; ``(None, None)`` for swissroll."""
    _check_name(name)
    if name not in MIXTURES:
        return None, None
    centres, std = MIXTURES[name]
    return centres(), std


def _sample(
    name: str, n: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw ``n`` float64 points ``[n, 2]`` and, for mixtures, their component indices ``[n]``."""
    _check_name(name)
    if name in MIXTURES:
        centres_fn, std = MIXTURES[name]
        centres = centres_fn()
        idx = torch.randint(len(centres), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return centres[idx] + std * noise, idx
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    t = 1.5 * math.pi * (1 + 2 * u)
    roll = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return (roll + _SWISSROLL_NOISE * noise) / _SWISSROLL_SCALE, None


def toy_sample(name: str, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fresh draws from a toy distribution.

    Args:
        name: ``"ring8"``, ``"grid25"`` or ``"swissroll"``.
        n: Number of points.
        generator: CPU generator for reproducible draws; ``None`` uses torch's global RNG.

    Returns:
        float32 ``[n, 2]`` on the CPU.
    """
    points, _ = _sample(name, n, generator)
    return points.to(torch.float32)


def _split_seed(seed: int, split: str) -> int:
    if split == "train":
        return seed
    # An independent stream per split, so "test" never replays "train" for any seed.
    return int(
        np.random.SeedSequence([seed, TOY_SPLITS.index(split)]).generate_state(1, np.uint64)[0]
    )


def load_toy(name: str, *, split: str = "train", n_points: int = 100_000, seed: int = 0) -> Dataset:
    """A fixed, pre-sampled toy set of ``n_points`` points drawn with ``seed``.

    ``split="test"`` is an independent draw of the same size. Labels are the mixture component of each
    point (none for swissroll).
    """
    _check_name(name)
    check_split(name, split, TOY_SPLITS)
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1:
        raise DataError(f"n_points must be a positive integer, got {n_points!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise DataError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    generator = torch.Generator().manual_seed(_split_seed(seed, split))
    points, labels = _sample(name, n_points, generator)
    modes, std = toy_modes(name)
    return Dataset(
        name=name,
        kind="points",
        data=points.to(torch.float32).contiguous(),
        labels=labels,
        modes=modes,
        mode_std=std,
    )
