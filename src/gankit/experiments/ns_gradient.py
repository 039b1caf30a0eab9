r"""The non-saturating gradient with an optimal discriminator, checked numerically (mode seeking).

Arjovsky & Bottou (2017, Theorem 2.5), followed by the tutorial: with the optimal discriminator
:math:`D^* = p_r / (p_r + p_{\theta_0})` held fixed at the current parameters :math:`\theta_0`,

.. math::
    \mathbb E_z\big[-\nabla_\theta \log D^*(g_\theta(z))\big]\big|_{\theta = \theta_0}
    = \nabla_\theta \big[\mathrm{KL}(p_\theta \| p_r) - 2\,\mathrm{JS}(p_r \| p_\theta)\big]\big|_{\theta = \theta_0}

so the non-saturating generator loss (the tutorial's eq. 1-2, left) follows the reverse KL, which
is mode seeking, minus a JS term that pushes the wrong way. The minimax loss (eq. 1-2, right)
with :math:`D^*` follows :math:`\nabla_\theta 2\,\mathrm{JS}` instead (Goodfellow et al. 2014,
Theorem 1: :math:`V(D^*, G) = 2\,\mathrm{JS} - 2 \log 2`).

Family. :math:`p_r = \tfrac12 \mathcal N(-2, 0.5^2) + \tfrac12 \mathcal N(2, 0.5^2)` and
:math:`p_\theta = \mathcal N(\mu, \sigma^2)`, :math:`g_\theta(z) = \mu + \sigma z`,
:math:`\theta = (\mu, \sigma)`.

* Left side (``lhs``): :math:`\nabla_\theta \mathbb E_z[-\log D^*_{\theta_0}(\mu + \sigma z)]` by
  autograd in float64 through the reparameterisation, the expectation over :math:`z \sim \mathcal
  N(0, 1)` by the trapezoid rule on a fine grid of :math:`z` (no sampling noise), with
  :math:`-\log D^* = \log(p_r + p_{\theta_0}) - \log p_r` in log space.
* Right side (``rhs``): central finite differences (step ``FD_STEP``) of
  :math:`\mathrm{KL}(p_\theta \| p_r) - 2\,\mathrm{JS}(p_r \| p_\theta)`, each term from
  :func:`gankit.divergences.kl_density` and :func:`gankit.divergences.js_density` on a fine grid.
* The same check for the minimax loss: :math:`\nabla_\theta \mathbb E_z \log(1 - D^*_{\theta_0})`
  by autograd against finite differences of :math:`2\,\mathrm{JS}`.

Landscapes over :math:`(\mu, \sigma)` (gankit.divergences on grids): the non-saturating objective
:math:`\mathrm{KL}(p_\theta \| p_r) - 2\,\mathrm{JS}`, the minimax one :math:`2\,\mathrm{JS} -
2 \log 2` and the forward :math:`\mathrm{KL}(p_r \| p_\theta)` (maximum likelihood), each with the
location of its minimum. The target is symmetric, so every landscape is symmetric in :math:`\mu`
and the minimum with :math:`\mu \ge 0` is reported. Finally both generator losses are followed by
gradient descent from a broad start, with :math:`D^*` recomputed at every step (the left-hand side
above is the non-saturating update), once from a broad start and once from a narrow one: the
non-saturating objective is not convex in :math:`(\mu, \sigma)`, and from the broad start its
descent stops at a symmetric local minimum that straddles both modes (as the reverse-KL fit of
:mod:`gankit.experiments.kl_direction` can).

JSON: ``target`` {``means``, ``std``}, ``checks`` (list of {``theta``, ``lhs``, ``rhs``,
``rel_error``, ``minimax_lhs``, ``minimax_rhs``, ``minimax_rel_error``}), ``max_rel_error``,
``minimax_max_rel_error``, ``mu``, ``sigma`` (landscape axes), ``ns``, ``minimax``, ``forward``
(landscapes [mu][sigma]), ``minima`` {name: {``mu``, ``sigma``, ``value``}}, ``paths``
{``ns``, ``minimax``: {``broad``, ``narrow``: list of [mu, sigma]}}, ``path_ends`` (the same
keys: {``mu``, ``sigma``, ``value``} with the value of that loss's objective there), ``starts``,
``path_lr``, ``fd_step``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.divergences import LOG2, js_density, kl_density
from gankit.experiments.common import jsonable, pyplot, save_figure, single_thread

TITLE = "The non-saturating gradient at D* is the gradient of KL(p_g || p_r) - 2 JS: mode seeking"
CLAIM = "With the optimal discriminator held fixed, E_z[-grad log D*(G(z))] equals grad[KL(p_g || p_r) - 2 JS(p_r || p_g)] (Arjovsky & Bottou 2017), and that objective's minimum over Gaussians sits on one mode of a two-mode target."

MODES, STD = (-2.0, 2.0), 0.5
FD_STEP = 1e-4
THETAS = ((0.0, 1.0), (0.7, 0.6), (-1.3, 1.5), (2.5, 0.4), (1.0, 2.2), (-3.0, 0.8))
STARTS = {"broad": (0.3, 2.0), "narrow": (0.5, 0.6)}
PATH_STEPS, PATH_LR = 400, 0.05
LOG_2PI = math.log(2.0 * math.pi)
# grids: wide enough for every p_theta of the landscape (|mu| <= 3.5, sigma <= 2.5, 6 std) and
# narrow enough that p_r does not underflow on them; forward KL needs p_theta > 0 wherever p_r is,
# so it uses a grid just wider than p_r's mass (8 std beyond the modes)
WIDE = (-19.0, 19.0)
NARROW = (-6.5, 6.5)


def log_target(x: np.ndarray | torch.Tensor):
    """log p_r(x) of the two-mode mixture (numpy or torch, float64)."""
    lib = torch if isinstance(x, torch.Tensor) else np
    comps = [-0.5 * ((x - m) / STD) ** 2 - math.log(STD) - 0.5 * LOG_2PI for m in MODES]
    if lib is torch:
        return torch.logsumexp(torch.stack(comps), dim=0) - math.log(2.0)
    return np.logaddexp(*comps) - math.log(2.0)


def log_normal(x, mu: float, sigma: float):
    """log N(x; mu, sigma^2) (numpy or torch)."""
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * LOG_2PI


def objectives(mu: float, sigma: float, wide: np.ndarray, narrow: np.ndarray) -> dict[str, float]:
    """KL(p_theta || p_r), JS(p_r || p_theta) and KL(p_r || p_theta) with gankit.divergences."""
    pr, pg = np.exp(log_target(wide)), np.exp(log_normal(wide, mu, sigma))
    return {
        "reverse_kl": kl_density(pg, pr, wide),
        "js": js_density(pr, pg, wide),
        "forward_kl": kl_density(np.exp(log_target(narrow)), np.exp(log_normal(narrow, mu, sigma)), narrow),
    }


def ns_objective(mu: float, sigma: float, grid: np.ndarray) -> float:
    """KL(p_theta || p_r) - 2 JS(p_r || p_theta), the function the NS gradient at D* descends."""
    pr, pg = np.exp(log_target(grid)), np.exp(log_normal(grid, mu, sigma))
    return kl_density(pg, pr, grid) - 2.0 * js_density(pr, pg, grid)


def two_js(mu: float, sigma: float, grid: np.ndarray) -> float:
    """2 JS(p_r || p_theta) (the minimax objective at D* up to the constant -2 log 2)."""
    return 2.0 * js_density(np.exp(log_target(grid)), np.exp(log_normal(grid, mu, sigma)), grid)


def generator_gradients(mu: float, sigma: float, z: torch.Tensor, w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    r"""(non-saturating, minimax) gradients w.r.t. (mu, sigma) with D* frozen at (mu, sigma).

    :math:`\nabla_\theta \sum_i w_i \ell(\mu + \sigma z_i)` with :math:`\ell = -\log D^*` or
    :math:`\log(1 - D^*)`, :math:`w_i` the trapezoid weights of :math:`\mathcal N(0, 1)` on ``z``.
    """
    theta = torch.tensor([mu, sigma], dtype=torch.float64, requires_grad=True)
    x = theta[0] + theta[1] * z  # reparameterised samples g_theta(z)
    log_r = log_target(x)
    log_g0 = log_normal(x, mu, sigma)  # D* frozen: plain floats, no gradient
    log_sum = torch.logaddexp(log_r, log_g0)
    ns = (w * (log_sum - log_r)).sum()  # E[-log D*]
    mm = (w * (log_g0 - log_sum)).sum()  # E[log(1 - D*)]
    (g_ns,) = torch.autograd.grad(ns, theta, retain_graph=True)
    (g_mm,) = torch.autograd.grad(mm, theta)
    return g_ns.numpy(), g_mm.numpy()


def finite_difference(fn, mu: float, sigma: float, h: float = FD_STEP) -> np.ndarray:
    """Central differences of ``fn(mu, sigma)`` in both parameters."""
    return np.array([(fn(mu + h, sigma) - fn(mu - h, sigma)) / (2 * h),
                     (fn(mu, sigma + h) - fn(mu, sigma - h)) / (2 * h)])


def _z_quadrature(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.linspace(-12.0, 12.0, n, dtype=torch.float64)
    w = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    w[0] *= 0.5
    w[-1] *= 0.5
    return z, w


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """The gradient identity at several thetas, the three landscapes and two descent paths.

    Args:
        quick: coarser grids (check grid 20,001 points, landscape 29 x 23) instead of 76,001 and
            71 x 45.
        seed: unused (everything here is deterministic quadrature); kept for the common signature.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    del seed
    fine = np.linspace(*WIDE, 20_001 if quick else 76_001)
    z, w = _z_quadrature(12_001 if quick else 48_001)
    checks = []
    with single_thread():
        for mu, sigma in THETAS:
            lhs, mm_lhs = generator_gradients(mu, sigma, z, w)
            rhs = finite_difference(lambda m, s: ns_objective(m, s, fine), mu, sigma)
            mm_rhs = finite_difference(lambda m, s: two_js(m, s, fine), mu, sigma)
            checks.append({"theta": [mu, sigma], "lhs": lhs, "rhs": rhs, "rel_error": _rel(lhs, rhs),
                           "minimax_lhs": mm_lhs, "minimax_rhs": mm_rhs, "minimax_rel_error": _rel(mm_lhs, mm_rhs)})

        n_mu, n_sigma = (29, 23) if quick else (71, 45)
        mus, sigmas = np.linspace(-3.5, 3.5, n_mu), np.linspace(0.3, 2.5, n_sigma)
        wide = np.linspace(*WIDE, 3_801)
        narrow = np.linspace(*NARROW, 1_301)
        land = {k: np.zeros((n_mu, n_sigma)) for k in ("ns", "minimax", "forward")}
        for i, mu in enumerate(mus):
            for j, sigma in enumerate(sigmas):
                o = objectives(mu, sigma, wide, narrow)
                land["ns"][i, j] = o["reverse_kl"] - 2.0 * o["js"]
                land["minimax"][i, j] = 2.0 * o["js"] - 2.0 * LOG2
                land["forward"][i, j] = o["forward_kl"]
        minima = {}
        right = mus >= 0
        for name, values in land.items():
            sub = values[right]
            i, j = np.unravel_index(int(np.argmin(sub)), sub.shape)
            minima[name] = {"mu": float(mus[right][i]), "sigma": float(sigmas[j]), "value": float(sub[i, j])}

        paths: dict[str, dict[str, list]] = {"ns": {}, "minimax": {}}
        ends: dict[str, dict[str, dict]] = {"ns": {}, "minimax": {}}
        z_path, w_path = _z_quadrature(12_001)
        for name, k in (("ns", 0), ("minimax", 1)):
            for start, (mu, sigma) in STARTS.items():
                path = [[mu, sigma]]
                for _ in range(PATH_STEPS // 2 if quick else PATH_STEPS):
                    g = generator_gradients(mu, sigma, z_path, w_path)[k]
                    mu, sigma = mu - PATH_LR * g[0], max(sigma - PATH_LR * g[1], 0.05)
                    path.append([mu, sigma])
                paths[name][start] = path
                value = ns_objective(mu, sigma, fine) if name == "ns" else two_js(mu, sigma, fine) - 2 * LOG2
                ends[name][start] = {"mu": mu, "sigma": sigma, "value": value}
    return jsonable(
        {
            "target": {"means": MODES, "std": STD},
            "checks": checks,
            "max_rel_error": max(c["rel_error"] for c in checks),
            "minimax_max_rel_error": max(c["minimax_rel_error"] for c in checks),
            "mu": mus, "sigma": sigmas, **land, "minima": minima,
            "paths": paths, "path_ends": ends, "starts": STARTS, "path_lr": PATH_LR, "fd_step": FD_STEP,
        }
    )


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers."""
    m = result["minima"]
    lines = [
        f"- E_z[-grad log D*(G(z))] against grad[KL(p_g || p_r) - 2 JS] at {len(result['checks'])} values of "
        f"(mu, sigma): largest relative error {result['max_rel_error']:.1e}; minimax E_z[grad log(1 - D*)] "
        f"against grad 2 JS: {result['minimax_max_rel_error']:.1e}",
    ]
    for name, label in (("ns", "KL(p_g || p_r) - 2 JS (non-saturating)"), ("minimax", "2 JS - 2 log 2 (minimax)"),
                        ("forward", "KL(p_r || p_g) (maximum likelihood)")):
        lines.append(f"- minimum of {label}: mu = +-{m[name]['mu']:.2f}, sigma = {m[name]['sigma']:.2f} "
                     f"(value {m[name]['value']:.3f}); modes at +-{result['target']['means'][1]:g}, std "
                     f"{result['target']['std']:g}")
    for name in ("ns", "minimax"):
        parts = []
        for start, (mu0, s0) in result["starts"].items():
            e = result["path_ends"][name][start]
            parts.append(f"from ({mu0:g}, {s0:g}) to ({e['mu']:.2f}, {e['sigma']:.2f}), objective {e['value']:.3f}")
        lines.append(f"- gradient descent on the {name} loss with D* recomputed every step: " + "; ".join(parts))
    return lines


def plot(result: dict[str, Any], path: str | Path) -> None:
    """The three landscapes with their minima and the descent paths; the gradient check."""
    from scipy.stats import norm

    plt = pyplot()
    mus, sigmas = np.asarray(result["mu"]), np.asarray(result["sigma"])
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4), layout="constrained")
    titles = {"ns": r"NS at $D^*$: KL$(p_g \| p_r) - 2\,$JS", "minimax": r"minimax at $D^*$: $2\,$JS$ - 2 \log 2$",
              "forward": r"max. likelihood: KL$(p_r \| p_g)$"}
    colors = {"ns": "tab:red", "minimax": "tab:blue"}
    for ax, name in zip(axes[:3], ("ns", "minimax", "forward"), strict=True):
        values = np.asarray(result[name])
        shown = np.minimum(values, np.percentile(values, 75))  # clip the steep edges to show the floor
        cs = ax.contourf(mus, sigmas, shown.T, levels=25, cmap="viridis")
        fig.colorbar(cs, ax=ax, shrink=0.85)
        m = result["minima"][name]
        for sign in (1, -1):
            ax.plot(sign * m["mu"], m["sigma"], "*", color="w", mec="k", ms=14)
        for mode in result["target"]["means"]:
            ax.axvline(mode, color="w", lw=0.8, ls=":")
        if name in result["paths"]:
            for start, ls in (("broad", "-"), ("narrow", "--")):
                p = np.asarray(result["paths"][name][start])
                ax.plot(p[:, 0], p[:, 1], ls, color=colors[name], lw=2,
                        label=f"descent with $D^*$ from a {start} start")
                ax.plot(p[0, 0], p[0, 1], "o", color=colors[name], mec="w")
                ax.plot(p[-1, 0], p[-1, 1], "x", color="w", ms=8, mew=2)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.13))
        ax.set(xlabel=r"$\mu$", ylabel=r"$\sigma$",
               title=titles[name] + f"\nmin at $\\mu = \\pm${m['mu']:.2f}, $\\sigma$ = {m['sigma']:.2f}")

    ax = axes[3]
    x = np.linspace(-5, 5, 801)
    pr = np.exp(log_target(x))
    ax.fill_between(x, pr, color="0.8", label=r"$p_r$")
    for name, ls in (("ns", "-"), ("minimax", "--"), ("forward", ":")):
        m = result["minima"][name]
        ax.plot(x, norm.pdf(x, m["mu"], m["sigma"]), ls=ls, lw=2, label=f"best $p_g$, {name}")
    ax.set(xlabel="x", ylabel="density", title=f"best Gaussians; gradient identity holds to "
           f"{result['max_rel_error']:.0e} (rel.)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "finite_difference", "generator_gradients", "log_target", "ns_objective", "numbers",
           "objectives", "plot", "summary", "two_js"]
