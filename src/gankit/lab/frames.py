r"""The lab's frame maths: everything the page draws, computed from G, D and the data.

Pure functions of tensors (no training state, no global RNG): the server computes, the page
draws. Each picture has its formula here, with the tutorial's / paper's equation:

* **D heat map**: :math:`D(x) = \sigma(\text{logit}(x))` on a regular grid for the GAN losses,
  the raw score :math:`f(x)` for the critic losses (W-GAN, WGAN-GP) and hinge (:func:`d_heatmap`).
* **Generator arrows**: :math:`-\nabla_{x_i} \ell_G(x_i)`, the direction in which G's loss moves
  each generated sample. :math:`L_G = \frac1N \sum_i \ell_G(x_i)` (tutorial eq. 1-2 and
  :mod:`gankit.losses`), so the arrow is :math:`-N\, \partial L_G / \partial x_i` (:func:`generator_arrows`).
* **Optimal discriminator** (Goodfellow et al. 2014, Proposition 1; tutorial eq. 1-3):
  :math:`D^*(x) = p_r(x) / (p_r(x) + p_g(x)) = \sigma(\log p_r(x) - \log p_g(x))` with
  :math:`p_g` a Gaussian kernel density of the current samples and :math:`p_r` the known toy
  mixture smoothed by the same kernel (:func:`log_mixture_density`, :func:`log_kde`, :func:`optimal_d`).
* **Generator manifold**: G applied to a regular grid of latent codes; each latent cell holds
  probability mass :math:`m`, so the density G implies there is :math:`m / |A_x|` with
  :math:`A_x` the signed area of the cell's image, i.e. :math:`p_z(z) / |\det J_G(z)|`
  (change of variables). A negative area is a fold (:func:`manifold`).

Arrays leave as :func:`encode`: ``{"dtype": "f32", "shape": [...], "b64": ...}`` (little-endian
float32, row-major), which the page reads with one ``Float32Array``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor, nn

from gankit.divergences import optimal_discriminator
from gankit.losses import CRITIC_LOSSES

# The plotted square of each toy set: (x_min, x_max, y_min, y_max), data coordinates.
EXTENTS: dict[str, tuple[float, float, float, float]] = {
    "ring8": (-1.6, 1.6, -1.6, 1.6),
    "grid25": (-5.5, 5.5, -5.5, 5.5),
    "swissroll": (-2.2, 2.2, -2.2, 2.2),
}
SCORE_LOSSES = CRITIC_LOSSES | {"hinge"}  # D's output is a score f(x), not a logit of a probability


def heat_kind(loss: str) -> str:
    """``"D(x)"`` (a probability in [0, 1]) for the GAN losses, ``"f(x)"`` (a score) otherwise."""
    return "f(x)" if loss in SCORE_LOSSES else "D(x)"


def bandwidth(extent: tuple[float, float, float, float]) -> float:
    """Kernel bandwidth of the densities: 1/40 of the plotted width (ring8: 0.08, grid25: 0.275)."""
    return (extent[1] - extent[0]) / 40.0


def grid_points(extent: tuple[float, float, float, float], n: int) -> Tensor:
    """Centres of an ``n x n`` grid of cells over ``extent``: float32 ``[n*n, 2]``.

    Row ``j`` (y ascending) then column ``i`` (x ascending): point ``j*n + i`` is
    ``(x_min + (i + 1/2) w, y_min + (j + 1/2) h)``.
    """
    x0, x1, y0, y1 = extent
    xs = x0 + (torch.arange(n, dtype=torch.float64) + 0.5) * (x1 - x0) / n
    ys = y0 + (torch.arange(n, dtype=torch.float64) + 0.5) * (y1 - y0) / n
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # (n, n) each, rows are y
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).float()


@torch.no_grad()
def d_heatmap(D: nn.Module, grid: Tensor, n: int, *, score: bool) -> np.ndarray:
    """D on the grid: ``sigmoid(D(x))`` (``score=False``) or the raw score ``f(x)``; float64 ``[n, n]``."""
    logits = D(grid).double()  # (n*n,)
    values = logits if score else torch.sigmoid(logits)
    return values.reshape(n, n).cpu().numpy()


def generator_arrows(g_loss: Callable[[Tensor], Tensor], D: nn.Module, fake: Tensor) -> np.ndarray:
    r"""Per-sample :math:`-\nabla_x \ell_G` at the generated points ``fake [N, 2]``: float64 ``[N, 2]``.

    ``g_loss`` maps logits ``[N]`` to the batch mean :math:`L_G` (a :class:`gankit.losses.LossSpec`'s
    ``g_loss``), so the arrow of sample ``i`` is :math:`-N\,\partial L_G/\partial x_i`. Only
    ``fake`` gets a gradient; D's parameters are left untouched (no ``.grad`` written).
    """
    x = fake.detach().clone().requires_grad_(True)
    loss = g_loss(D(x).float())
    (grad,) = torch.autograd.grad(loss, x)  # (N, 2)
    return (-len(x) * grad).double().cpu().numpy()


def log_mixture_density(x: Tensor, centres: Tensor, std: float) -> Tensor:
    r"""Log density of the equal-weight mixture :math:`\frac1M \sum_k \mathcal N(x; \mu_k, \sigma^2 I)` in 2-D.

    Args:
        x: ``[P, 2]`` points. centres: ``[M, 2]``. std: the common :math:`\sigma`.

    Returns:
        float64 ``[P]``.
    """
    x, c = x.double(), centres.double()
    sq = torch.cdist(x, c).square()  # (P, M)
    log_norm = -math.log(2 * math.pi * std * std) - math.log(len(c))
    return torch.logsumexp(-sq / (2 * std * std), dim=1) + log_norm


def log_kde(x: Tensor, samples: Tensor, h: float) -> Tensor:
    r"""Log Gaussian kernel density :math:`\log \frac1N \sum_i \mathcal N(x; s_i, h^2 I)`: float64 ``[P]``.

    The same quantity as :func:`log_mixture_density` with the samples as centres, computed in float32
    (``|x|^2 + |s|^2 - 2 x.s`` and one ``logsumexp``; 8 ms instead of 77 ms for 4096 x 512 on one
    CPU thread); relative error about 1e-6 (``tests/test_lab_frames.py``).

    Args:
        x: ``[P, 2]`` points. samples: ``[N, 2]`` kernel centres. h: bandwidth.
    """
    x, s = x.float(), samples.float()
    d2 = ((x * x).sum(1, keepdim=True) + (s * s).sum(1) - 2.0 * x @ s.T).clamp_min(0.0)  # (P, N)
    log_norm = -math.log(2 * math.pi * h * h) - math.log(len(s))
    return torch.logsumexp(-d2 / (2 * h * h), dim=1).double() + log_norm


def optimal_d(log_pr: Tensor, log_pg: Tensor, *, floor: float = 1e-4) -> np.ndarray:
    r""":math:`D^* = p_r / (p_r + p_g)` (Goodfellow et al. 2014, Prop. 1), as :math:`\sigma(\log p_r - \log p_g)`.

    The log form never divides 0 by 0 where both densities underflow; where they are representable it
    equals :func:`gankit.divergences.optimal_discriminator`, which computes it there. Where both
    densities are below ``floor`` times the largest :math:`p_r + p_g` on the grid, D* is NaN: the
    objective does not constrain D there (divergences reports the uninformed 1/2; the page greys it out),
    and the ratio of two far tails would only show which kernel is wider.

    Args:
        log_pr, log_pg: log densities at the same ``[P]`` points.
        floor: relative density below which D* is undefined (NaN).

    Returns:
        float64 ``[P]`` in [0, 1], NaN where undefined.
    """
    lp, lg = log_pr.double().cpu().numpy(), log_pg.double().cpu().numpy()
    with np.errstate(invalid="ignore"):  # -inf - -inf (both densities 0) is NaN, which is what it should be
        log_total = np.logaddexp(lp, lg)  # log(p_r + p_g)
        out = 1.0 / (1.0 + np.exp(np.clip(lg - lp, -700, 700)))  # sigmoid(log p_r - log p_g)
    mild = (np.abs(lp - lg) < 30) & (lp > -700) & (lg > -700)
    if mild.any():  # the formula itself, where p_r and p_g are representable
        out[mild] = optimal_discriminator(np.exp(lp[mild]), np.exp(lg[mild]))
    if not np.isfinite(log_total).any():
        return np.full_like(out, np.nan)
    out[~(log_total >= np.nanmax(log_total) + math.log(floor))] = np.nan
    return out


def latent_axis(n: int, noise: str) -> np.ndarray:
    """``n`` latent coordinates that split the marginal of ``noise`` into ``n - 1`` equal-mass cells.

    Uniform U(-1, 1): evenly spaced in [-1, 1]. Normal: the quantiles of N(0, 1) at 1 %, ..., 99 %
    (the 1 % tails left out), so each cell holds 0.98 / (n - 1) of the mass.
    """
    if noise == "uniform":
        return np.linspace(-1.0, 1.0, n)
    dist = NormalDist()
    return np.array([dist.inv_cdf(q) for q in np.linspace(0.01, 0.99, n)])


def cell_mass(n: int, noise: str) -> float:
    """Probability mass of one latent cell of :func:`latent_axis`'s grid (2-D latent)."""
    share = 1.0 if noise == "uniform" else 0.98
    return (share / (n - 1)) ** 2


def signed_areas(mesh: np.ndarray) -> np.ndarray:
    """Signed areas ``[n-1, n-1]`` of the quads of a mesh ``[n, n, 2]`` (shoelace formula).

    Cell ``(a, b)`` has corners ``mesh[a, b], mesh[a, b+1], mesh[a+1, b+1], mesh[a+1, b]``; a
    cell keeps the sign of its latent cell when G preserves orientation there.
    """
    p00, p01, p11, p10 = mesh[:-1, :-1], mesh[:-1, 1:], mesh[1:, 1:], mesh[1:, :-1]
    # diagonals form: A = ((p11 - p00) x (p10 - p01)) / 2
    d1, d2 = p11 - p00, p10 - p01
    return 0.5 * (d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0])


@torch.no_grad()
def manifold(G: nn.Module, n: int, z_dim: int, noise: str) -> tuple[np.ndarray, np.ndarray | None]:
    """G on an ``n x n`` latent grid, and the density it implies on each cell.

    The grid spans the first two latent coordinates (:func:`latent_axis`); further coordinates
    are 0. ``mesh[a, b] = G(z)`` with ``z_1 = axis[b]``, ``z_2 = axis[a]``.

    Returns:
        ``(mesh [n, n, 2], density [n-1, n-1])``: density ``cell_mass / |area|`` signed by the
        cell's orientation relative to the latent grid's (negative: folded). ``None`` when
        ``z_dim != 2`` (a slice of a higher-dimensional latent carries no density of its own).
    """
    axis = torch.as_tensor(latent_axis(n, noise), dtype=torch.float32)
    z2, z1 = torch.meshgrid(axis, axis, indexing="ij")  # (n, n): rows follow z_2
    z = torch.zeros(n * n, z_dim)
    z[:, 0] = z1.reshape(-1)
    if z_dim >= 2:
        z[:, 1] = z2.reshape(-1)
    mesh = G(z).double().reshape(n, n, 2).cpu().numpy()
    if z_dim != 2:
        return mesh, None
    area = signed_areas(mesh)
    latent = signed_areas(np.stack(np.meshgrid(axis.double().numpy(), axis.double().numpy()), axis=-1))
    with np.errstate(divide="ignore"):
        density = cell_mass(n, noise) / np.abs(area)
    density = np.minimum(density, 1e12) * np.sign(area) * np.sign(latent)
    return mesh, density


def encode(array: np.ndarray | Tensor) -> dict:
    """An array as JSON: little-endian float32 in base64, with its shape (NaN and inf survive)."""
    if isinstance(array, Tensor):
        array = array.detach().cpu().numpy()
    a = np.ascontiguousarray(array, dtype="<f4")
    return {"dtype": "f32", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode(field: dict) -> np.ndarray:
    """The inverse of :func:`encode` (tests and tools read frames with it)."""
    raw = base64.b64decode(field["b64"])
    return np.frombuffer(raw, dtype="<f4").reshape(field["shape"])
