r"""Mode metrics for 2-D toy mixtures (VEEGAN [1] / PacGAN [2] protocol).

A toy dataset is a mixture of :math:`M` isotropic Gaussians with centres :math:`\mu_1..\mu_M`
(the *modes*) and a common standard deviation :math:`\sigma`. For generated points
:math:`x_1..x_N`:

* each point is assigned to its nearest mode :math:`m(x) = \arg\min_j \|x - \mu_j\|`;
* a point is **high quality** when :math:`\|x - \mu_{m(x)}\| \le 3\sigma`;
* a mode is **captured** when at least one high-quality point is assigned to it;
* **reverse KL** is PacGAN's :math:`\mathrm{KL}(q \,\|\, u)` between the histogram
  :math:`q_j = |\{i : x_i \text{ high quality}, m(x_i) = j\}| / |\{i : x_i \text{ high quality}\}|`
  of high-quality points over the modes and the uniform distribution :math:`u_j = 1/M`:

  .. math::
      \mathrm{KL}(q \,\|\, u) = \sum_{j:\, q_j > 0} q_j \log (M q_j) \in [0, \log M]

  (natural log; 0 when every mode holds the same share, :math:`\log M` when all high-quality
  points sit on one mode; ``inf`` when there is no high-quality point, so a worse run never
  scores better).

Two sample-based distances to fresh true samples complete the picture: the exact
Wasserstein-1 distance (POT, through :func:`gankit.divergences.wasserstein`) and the
Jensen-Shannon divergence between 2-D histograms on a grid fixed by the modes.

References:
    [1] A. Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using Implicit
        Variational Learning", NeurIPS 2017 (Section 5.1).
    [2] Z. Lin et al., "PacGAN: The power of two samples in generative adversarial networks",
        NeurIPS 2018 (Section 5, Tables 1-2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gankit.data import toy_modes, toy_sample
from gankit.divergences import js, wasserstein
from gankit.errors import GankitError

DEFAULT_TOY_SAMPLES = 2_500  # PacGAN evaluates 2,500 generated samples
HQ_STDS = 3.0  # high quality: within 3 standard deviations of the nearest mode
HIST_BINS = 50  # bins per axis of the fixed grid for ``js_hist``
W1_MAX = 2_500  # exact EMD is O(N^2) memory; larger sets are cut to their first W1_MAX points


def _as_points(x: Any, name: str) -> np.ndarray:
    """Float64 numpy ``[N, 2]`` from a tensor or array-like, checked."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise GankitError(f"{name} must be 2-D points of shape [N, 2], got {arr.shape}")
    if arr.shape[0] == 0:
        raise GankitError(f"{name} has no points; pass at least one")
    if not np.isfinite(arr).all():
        raise GankitError(f"{name} contains NaN or inf; pass finite points")
    return arr


def nearest_modes(points: np.ndarray, modes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest mode of each point and the distance to it.

    Args:
        points: ``[N, 2]``.
        modes: ``[M, 2]``.

    Returns:
        ``(index [N] int64, distance [N] float64)``.
    """
    d = np.linalg.norm(points[:, None, :] - modes[None, :, :], axis=-1)  # (N, M)
    idx = d.argmin(axis=1)
    return idx, d[np.arange(len(points)), idx]


def reverse_kl_uniform(counts: np.ndarray) -> float:
    r"""PacGAN's reverse KL :math:`\sum_j q_j \log(M q_j)` of a histogram ``[M]`` against uniform.

    Returns ``inf`` for an empty histogram (no high-quality point at all).
    """
    total = counts.sum()
    if total == 0:
        return math.inf
    q = counts[counts > 0] / total
    return float(max((q * np.log(len(counts) * q)).sum(), 0.0))


def mixture_sample(
    modes: np.ndarray, std: float, n: int, *, generator: np.random.Generator
) -> np.ndarray:
    """``n`` points ``[n, 2]`` from the equal-weight mixture of N(mode, std^2 I)."""
    which = generator.integers(0, len(modes), size=n)
    return modes[which] + std * generator.standard_normal((n, 2))


def histogram_grid(modes: np.ndarray | None, std: float, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges ``([B+1], [B+1])`` of the fixed grid used by ``js_hist``.

    The grid covers the modes' bounding box padded by ``4 std`` (or 10 % of the span, if larger)
    so that it depends on the dataset only; without modes it covers the true samples the same way.
    """
    ref = modes if modes is not None else real
    lo, hi = ref.min(axis=0), ref.max(axis=0)
    pad = np.maximum(4.0 * std, 0.1 * (hi - lo))
    pad = np.where(pad > 0, pad, 1.0)
    return (
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], HIST_BINS + 1),
        np.linspace(lo[1] - pad[1], hi[1] + pad[1], HIST_BINS + 1),
    )


def grid_histogram(points: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Counts ``[B*B + 1]``: the grid cells, then one overflow cell for points outside it.

    The overflow cell keeps mass that lands off the grid in the comparison instead of dropping it.
    """
    inside = (
        (points[:, 0] >= edges[0][0]) & (points[:, 0] <= edges[0][-1])
        & (points[:, 1] >= edges[1][0]) & (points[:, 1] <= edges[1][-1])
    )
    counts, _, _ = np.histogram2d(points[inside, 0], points[inside, 1], bins=edges)
    return np.append(counts.ravel(), (~inside).sum()).astype(np.float64)


def mode_metrics(
    points: Any,
    modes: Any,
    std: float,
    *,
    real: Any = None,
    seed: int = 0,
) -> dict[str, float | int]:
    r"""Mode coverage and sample quality of generated 2-D points (VEEGAN / PacGAN protocol).

    See the module docstring for the definitions. PacGAN scores ``DEFAULT_TOY_SAMPLES`` (2,500)
    points.

    Args:
        points: generated points ``[N, 2]`` (numpy or torch).
        modes: mixture centres ``[M, 2]``.
        std: standard deviation of each mixture component.
        real: true samples ``[N', 2]`` for ``w1`` and ``js_hist``; when ``None``, ``N`` fresh
            points are drawn from the equal-weight mixture of ``N(mode, std^2 I)`` with ``seed``.
        seed: seed of those fresh true samples.

    Returns:
        ``modes_captured`` (int), ``n_modes`` (int), ``high_quality`` (fraction in [0, 1]),
        ``reverse_kl`` (nats, see above), ``w1`` (exact W1 to the true samples, on the first
        ``min(N, N', 2500)`` points of each), ``js_hist`` (nats, in [0, log 2]).
    """
    x = _as_points(points, "points")
    mu = _as_points(modes, "modes")
    if not (math.isfinite(std) and std > 0):
        raise GankitError(f"std must be a positive number, got {std!r}")
    idx, dist = nearest_modes(x, mu)
    hq = dist <= HQ_STDS * std
    counts = np.bincount(idx[hq], minlength=len(mu))  # (M,) high-quality points per mode
    if real is None:
        y = mixture_sample(mu, std, len(x), generator=np.random.default_rng(seed))
    else:
        y = _as_points(real, "real")
    return {
        "modes_captured": int((counts > 0).sum()),
        "n_modes": len(mu),
        "high_quality": float(hq.mean()),
        "reverse_kl": reverse_kl_uniform(counts),
        **sample_distances(x, y, mu, std),
    }


def sample_distances(
    points: np.ndarray, real: np.ndarray, modes: np.ndarray | None, std: float
) -> dict[str, float]:
    """``w1`` (exact, POT) and ``js_hist`` between generated ``[N, 2]`` and true ``[N', 2]`` points."""
    n = min(len(points), len(real), W1_MAX)
    edges = histogram_grid(modes, std, real)
    return {
        "w1": wasserstein(points[:n], real[:n]),
        "js_hist": float(js(grid_histogram(points, edges), grid_histogram(real, edges))),
    }


def evaluate_toy(points: Any, data_name: str, *, seed: int = 0) -> dict[str, float | int]:
    """:func:`mode_metrics` of ``points [N, 2]`` against the toy dataset ``data_name``.

    True samples for ``w1`` / ``js_hist`` are ``N`` fresh draws of the dataset with ``seed``.
    Datasets without modes get ``w1`` and ``js_hist`` only.
    """
    x = _as_points(points, "points")
    real = toy_sample(data_name, len(x), generator=torch.Generator().manual_seed(seed))
    modes, std = toy_modes(data_name)
    if modes is None:
        y = _as_points(real, "real")
        return sample_distances(x, y, None, float(std or 0.0))
    return mode_metrics(x, modes, float(std), real=real, seed=seed)
