r"""A trained discriminator against the optimal one, D*(x) = p_r(x) / (p_r(x) + p_g(x)).

Two known 1-D densities, :math:`p_r = \mathcal N(0, 1)` and :math:`p_g = \mathcal N(1.5, 0.8^2)`.
An MLP discriminator is trained with the cross-entropy of the tutorial's eq. 1-1 (the negated
value function, :func:`gankit.losses.d_loss_gan`) on fresh samples of both at every step, with a
cosine-decayed learning rate so that it settles. It is then compared with the optimal
discriminator of Goodfellow et al. (2014), Proposition 1, on a grid, and the tutorial's
objective (eq. 1-4)

.. math::
    V(D, G) = \int p_r(x) \log D(x) \, dx + \int p_g(x) \log(1 - D(x)) \, dx

is integrated numerically (trapezoid rule, float64) at the trained D and at D*, where it must
equal :math:`2\,\mathrm{JS}(p_r \| p_g) - 2 \log 2` (Theorem 1).

"Where the densities matter" is the region where the mixture :math:`(p_r + p_g) / 2` is at least
``DENSITY_FLOOR`` (5 %) of its maximum; its probability mass is reported (``region_mass``).

JSON: ``x`` (grid), ``p_r``, ``p_g``, ``d_trained``, ``d_star`` (lists on a coarse plotting grid),
``region`` ([lo, hi]), ``region_mass``, ``max_gap`` (max |D - D*| in the region),
``max_gap_everywhere``, ``value_trained``, ``value_optimal`` (V at D and D*), ``js``,
``two_js_minus_2log2``, ``steps``, ``batch_size``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gankit.divergences import LOG2, gan_value_at_optimum, js_density, optimal_discriminator
from gankit.experiments.common import jsonable, pyplot, save_figure, single_thread
from gankit.losses import d_loss_gan
from gankit.models import MLPDiscriminator

TITLE = "The optimal discriminator D* = p_r / (p_r + p_g)"
CLAIM = "A discriminator trained with cross-entropy converges to D*, and the objective there equals 2 JS(p_r || p_g) - 2 log 2."

P_R = (0.0, 1.0)  # (mean, std) of the real density
P_G = (1.5, 0.8)  # (mean, std) of the generator's density
DENSITY_FLOOR = 0.05  # region: mixture density >= 5 % of its peak
GRID = (-8.0, 9.5, 7001)  # integration grid: both densities are < 1e-13 beyond it
LR = 2e-3


def normal_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Density of N(mean, std^2) at ``x`` (float64)."""
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2.0 * math.pi))


def p_r(x: np.ndarray) -> np.ndarray:
    """The real density N(0, 1)."""
    return normal_pdf(x, *P_R)


def p_g(x: np.ndarray) -> np.ndarray:
    """The generator's density N(1.5, 0.8^2)."""
    return normal_pdf(x, *P_G)


def train_discriminator(steps: int, batch_size: int, seed: int) -> MLPDiscriminator:
    """Train ``D: [N, 1] -> [N]`` logits on fresh draws of p_r and p_g (eq. 1-1, cross-entropy).

    Adam with a cosine learning-rate decay to 0: the fresh-sample noise of the last steps then
    barely moves D, so it ends close to the optimum of the expected loss.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    D = MLPDiscriminator(in_dim=1, width=64, depth=2)
    opt = torch.optim.Adam(D.parameters(), lr=LR, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        real = P_R[0] + P_R[1] * torch.randn(batch_size, 1, generator=gen)  # (N, 1)
        fake = P_G[0] + P_G[1] * torch.randn(batch_size, 1, generator=gen)  # (N, 1)
        loss = d_loss_gan(D(real), D(fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return D


def objective(x: np.ndarray, pr: np.ndarray, pg: np.ndarray, logits: np.ndarray) -> float:
    r"""V(D, G) of eq. 1-4 by the trapezoid rule, with D = sigmoid(logits) on the grid ``x``.

    Written with ``log sigmoid(l) = -softplus(-l)`` and ``log(1 - sigmoid(l)) = -softplus(l)``
    so that confident logits in the tails stay finite.
    """
    from scipy.integrate import trapezoid

    lg = torch.from_numpy(logits)
    log_d = (-F.softplus(-lg)).numpy()
    log_1md = (-F.softplus(lg)).numpy()
    return float(trapezoid(pr * log_d + pg * log_1md, x))


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train D, compare it with D*, and evaluate the objective at both.

    Args:
        quick: 500 steps of batch 512 per side instead of 3000 of 2048.
        seed: seeds the network's initialisation and the samples.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    steps, batch = (500, 512) if quick else (3000, 2048)
    with single_thread():
        D = train_discriminator(steps, batch, seed)
        x = np.linspace(*GRID)
        with torch.no_grad():
            logits = D.double()(torch.from_numpy(x)[:, None]).numpy()  # (M,)
    pr, pg = p_r(x), p_g(x)
    d_trained = 1.0 / (1.0 + np.exp(-logits))
    d_star = optimal_discriminator(pr, pg)
    mix = 0.5 * (pr + pg)
    region = mix >= DENSITY_FLOOR * mix.max()
    from scipy.integrate import trapezoid

    js = js_density(p_r, p_g, x)
    gap = np.abs(d_trained - d_star)
    keep = slice(None, None, 25)  # a plotting grid of 281 points
    return jsonable(
        {
            "x": x[keep],
            "p_r": pr[keep],
            "p_g": pg[keep],
            "d_trained": d_trained[keep],
            "d_star": d_star[keep],
            "region": [float(x[region].min()), float(x[region].max())],
            "region_mass": float(trapezoid(np.where(region, mix, 0.0), x)),
            "max_gap": float(gap[region].max()),
            "max_gap_everywhere": float(gap.max()),
            "value_trained": objective(x, pr, pg, logits),
            "value_optimal": gan_value_at_optimum(pr, pg, x),
            "js": js,
            "two_js_minus_2log2": 2.0 * js - 2.0 * LOG2,
            "steps": steps,
            "batch_size": batch,
        }
    )


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers."""
    lo, hi = result["region"]
    return [
        f"- max |D - D*| = {result['max_gap']:.4f} on [{lo:.2f}, {hi:.2f}] "
        f"({100 * result['region_mass']:.1f} % of the mixture's mass); {result['max_gap_everywhere']:.3f} over the whole grid",
        f"- V(D, G) = {result['value_trained']:.5f} at the trained D, V(D*, G) = {result['value_optimal']:.5f}, "
        f"2 JS - 2 log 2 = {result['two_js_minus_2log2']:.5f} (JS = {result['js']:.5f} nats)",
        f"- training: {result['steps']} Adam steps, {result['batch_size']} fresh samples of each density per step",
    ]


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Densities (left) and the trained D against D* (right, the region shaded)."""
    plt = pyplot()
    x = np.asarray(result["x"])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax0.plot(x, result["p_r"], color="tab:blue", lw=2, label=r"$p_r = \mathcal{N}(0, 1)$")
    ax0.plot(x, result["p_g"], color="tab:red", lw=2, label=r"$p_g = \mathcal{N}(1.5, 0.8^2)$")
    # head room above the curves for the legend
    ax0.set(xlim=(-5, 5.5), ylim=(-0.02, 0.78), xlabel="x", ylabel="density", title="the two densities")
    lo, hi = result["region"]
    shade = (f"shaded: $(p_r + p_g)/2 \\geq$ {100 * DENSITY_FLOOR:.0f} % of its peak\n"
             f"[{lo:.2f}, {hi:.2f}], {100 * result['region_mass']:.1f} % of the mass")
    for ax in (ax0, ax1):
        ax.axvspan(lo, hi, color="0.9", zorder=0, label=shade)
        ax.grid(alpha=0.3)
    ax0.legend(fontsize=8, loc="upper left")
    ax1.plot(x, result["d_star"], color="k", lw=2, label=r"$D^* = p_r / (p_r + p_g)$")
    ax1.plot(x, result["d_trained"], color="tab:orange", lw=2, ls="--", label="trained D (cross-entropy)")
    ax1.set(xlim=(-5, 5.5), ylim=(-0.03, 1.03), xlabel="x", ylabel="D(x)",
            title=f"max |D - D*| = {result['max_gap']:.3f} in the shaded region")
    ax1.text(0.02, 0.05, f"V(D, G) = {result['value_trained']:.4f}\nV(D*, G) = {result['value_optimal']:.4f}\n"
             f"2 JS - 2 log 2 = {result['two_js_minus_2log2']:.4f}", transform=ax1.transAxes, fontsize=8,
             va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
    ax1.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "numbers", "p_g", "p_r", "plot", "summary"]
