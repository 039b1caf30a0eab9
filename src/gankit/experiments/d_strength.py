r"""Discriminator strength: generator gradients under a trained D against those under the exact D*.

The tutorial's trade-off: a discriminator trained too little gives the generator gradients that
point the wrong way; one trained close to optimal, when the two distributions barely overlap,
gives the minimax loss a vanishing gradient (Arjovsky & Bottou 2017, Theorem 2.4).

Setting (1-D, known densities). Data :math:`p_r = \mathcal N(0, 1)`; a generator
:math:`g_\theta(z) = \mu + \sigma z`, :math:`\theta = (\mu, \sigma)`, frozen at one of two cases:

* ``overlap``: :math:`p_g = \mathcal N(1.5, 0.7^2)` (the two overlap substantially);
* ``far``: :math:`p_g = \mathcal N(8, 0.5^2)` (8 data std from the data's mean: in practice
  disjoint; at :math:`D^*` the generated points get :math:`D^* \lesssim 10^{-7}`). At
  :math:`\mu = 5` the lower tail of :math:`p_g` still reaches the data's upper tail and :math:`D^*`'s
  minimax gradient is 1e-2, not small.

A fresh discriminator (:class:`gankit.models.MLPDiscriminator`, 3 hidden layers of width 64,
Adam 2e-4 with betas (0.5, 0.999): DCGAN's, :data:`gankit.losses.LOSSES` ``"gan-ns"``) is
trained with cross-entropy (:func:`gankit.losses.d_loss_gan`, the tutorial's eq. 1-1 negated) for
:math:`K` steps on fresh batches of 256. Since each network is trained from scratch with the same
seed, the networks for all :math:`K` are the prefixes of one run, recorded at each :math:`K`.

At each :math:`K`, with the generator's parameters as the only variables, we take the gradient
w.r.t. :math:`\theta` of the minimax loss :math:`\mathbb E_z \log(1 - D(g_\theta(z)))`
(:func:`gankit.losses.g_loss_minimax`) and the non-saturating loss
:math:`-\mathbb E_z \log D(g_\theta(z))` (:func:`gankit.losses.g_loss_nonsaturating`), tutorial
eq. 1-2, on one fixed batch of ``CODES`` codes, once under the trained D and once under the
exact optimal discriminator :math:`D^* = p_r / (p_r + p_g)` (Goodfellow et al. 2014,
Proposition 1; logit :math:`\log p_r - \log p_g`, frozen at the current :math:`\theta`). The same
codes are used for both, so the comparison has no sampling noise between them. Reported: the
cosine between the two gradients and their norms, mean and range over seeds.

JSON: ``cases`` {name: {``p_g`` (mean, std), ``k``, ``seeds``, and for ``minimax`` and
``ns``: ``cosine`` [seed][k], ``norm`` [seed][k] (trained D), ``norm_star`` (under D*, mean over the
seeds' code batches), ``norm_star_seeds``, ``grad_star`` (the D* gradient on the first seed's codes, [2]), ``cosine_mean``, ``cosine_min``, ``norm_mean``, ``norm_min``,
``norm_max``, ``norm_peak`` (largest mean norm over K), ``norm_fall`` (peak / mean norm at the largest K)}},
``p_r``, ``codes``, ``lr``, ``betas``, ``batch``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.experiments.common import jsonable, pyplot, save_figure, single_thread
from gankit.losses import LOSSES, d_loss_gan, g_loss_minimax, g_loss_nonsaturating
from gankit.models import MLPDiscriminator

TITLE = "Discriminator strength: a weak D misdirects the generator, a strong D starves the minimax loss"
CLAIM = "Generator gradients under a D trained for K steps approach those under the exact D* as K grows (cosine -> 1); when the supports barely overlap the minimax gradient under a strong D (and under D* itself) is vanishingly small, the non-saturating one is not."

P_R = (0.0, 1.0)
CASES = {"overlap": (1.5, 0.7), "far": (8.0, 0.5)}
WIDTH, DEPTH, BATCH = 64, 3, 256
LR, BETAS = LOSSES["gan-ns"].lr, LOSSES["gan-ns"].betas
CODES = 8192
K = {True: (1, 5, 25, 100, 500), False: (1, 3, 10, 30, 100, 300, 1000, 3000)}
N_SEEDS = {True: 3, False: 5}
LOSS_FNS = {"minimax": g_loss_minimax, "ns": g_loss_nonsaturating}
LOG_2PI = math.log(2.0 * math.pi)


def _log_normal(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - 0.5 * LOG_2PI


def optimal_logit(x: torch.Tensor, p_g: tuple[float, float]) -> torch.Tensor:
    """The logit of D* = p_r / (p_r + p_g): log p_r(x) - log p_g(x), for points ``x`` ``[N, 1]`` -> ``[N]``."""
    return (_log_normal(x, *P_R) - _log_normal(x, *p_g))[:, 0]


def generator_gradient(logit_fn, p_g: tuple[float, float], z: torch.Tensor, loss_fn) -> np.ndarray:
    """d loss_fn(logit_fn(mu + sigma z)) / d(mu, sigma) at (mu, sigma) = ``p_g``, float64 [2].

    ``logit_fn`` is held fixed (its own parameters get no gradient).
    """
    theta = torch.tensor(p_g, dtype=torch.float64, requires_grad=True)
    x = theta[0] + theta[1] * z  # [N, 1] reparameterised samples
    (grad,) = torch.autograd.grad(loss_fn(logit_fn(x)), theta)
    return grad.numpy()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run_case(p_g: tuple[float, float], ks: tuple[int, ...], seed: int) -> dict[str, Any]:
    """Train one D and record, at every K of ``ks``, the gradients under it and under D*."""
    torch.manual_seed(seed)
    disc = MLPDiscriminator(in_dim=1, width=WIDTH, depth=DEPTH).double()
    opt = torch.optim.Adam(disc.parameters(), lr=LR, betas=BETAS)
    gen = torch.Generator().manual_seed(seed + 1)
    z = torch.randn(CODES, 1, generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64)
    disc.requires_grad_(True)
    star = {name: generator_gradient(lambda x: optimal_logit(x, p_g), p_g, z, fn) for name, fn in LOSS_FNS.items()}
    out: dict[str, Any] = {name: {"cosine": [], "norm": []} for name in LOSS_FNS}
    step = 0
    for k in ks:
        while step < k:
            real = P_R[0] + P_R[1] * torch.randn(BATCH, 1, generator=gen, dtype=torch.float64)
            fake = p_g[0] + p_g[1] * torch.randn(BATCH, 1, generator=gen, dtype=torch.float64)
            loss = d_loss_gan(disc(real), disc(fake))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        disc.requires_grad_(False)
        for name, fn in LOSS_FNS.items():
            g = generator_gradient(disc, p_g, z, fn)
            out[name]["cosine"].append(_cosine(g, star[name]))
            out[name]["norm"].append(float(np.linalg.norm(g)))
        disc.requires_grad_(True)
    for name in LOSS_FNS:
        out[name]["norm_star"] = float(np.linalg.norm(star[name]))
        out[name]["grad_star"] = star[name]
    return out


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Both cases, every K, several seeds.

    Args:
        quick: K up to 500 and 3 seeds instead of K up to 3,000 and 5 seeds.
        seed: the first seed.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    ks = K[quick]
    seeds = [seed + i for i in range(N_SEEDS[quick])]
    cases: dict[str, Any] = {}
    with single_thread():
        for name, p_g in CASES.items():
            runs = [run_case(p_g, ks, s) for s in seeds]
            entry: dict[str, Any] = {"p_g": p_g, "k": ks, "seeds": seeds}
            for loss in LOSS_FNS:
                cos = np.array([r[loss]["cosine"] for r in runs])
                norm = np.array([r[loss]["norm"] for r in runs])
                star = [r[loss]["norm_star"] for r in runs]
                entry[loss] = {"cosine": cos, "norm": norm, "norm_star": float(np.mean(star)), "norm_star_seeds": star,
                               "grad_star": runs[0][loss]["grad_star"],
                               "cosine_mean": cos.mean(axis=0), "cosine_min": cos.min(axis=0),
                               "norm_mean": norm.mean(axis=0), "norm_min": norm.min(axis=0),
                               "norm_max": norm.max(axis=0), "norm_peak": float(norm.mean(axis=0).max()),
                               "norm_fall": float(norm.mean(axis=0).max() / norm.mean(axis=0)[-1])}
            cases[name] = entry
    return jsonable({"cases": cases, "p_r": P_R, "codes": CODES, "lr": LR, "betas": BETAS, "batch": BATCH})


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers."""
    lines = []
    for name, c in result["cases"].items():
        ks = c["k"]
        for loss in LOSS_FNS:
            e = c[loss]
            cos = ", ".join(f"K={k}: {v:.2f}" for k, v in zip(ks, e["cosine_mean"], strict=True))
            lines.append(
                f"- {name} (p_g = N({c['p_g'][0]:g}, {c['p_g'][1]:g}^2)), {loss}: cosine with the D* gradient "
                f"(mean of {len(c['seeds'])} seeds) {cos}; lowest over seeds at the largest K "
                f"{e['cosine_min'][-1]:.3f}; gradient norm {e['norm_mean'][0]:.2e} at K={ks[0]}, "
                f"{e['norm_mean'][-1]:.2e} at K={ks[-1]} ({e['norm_fall']:.0f}x below its peak {e['norm_peak']:.2e}), "
                f"{e['norm_star']:.2e} under D* (mean over the seeds' codes)"
            )
    return lines


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Cosine with the D* gradient (top) and gradient norms (bottom) against K, per case."""
    plt = pyplot()
    cases = result["cases"]
    fig, axes = plt.subplots(2, len(cases), figsize=(6 * len(cases), 7.5), layout="constrained", squeeze=False)
    colors = {"minimax": "tab:red", "ns": "tab:blue"}
    labels = {"minimax": r"minimax $\mathbb{E}\log(1 - D)$", "ns": r"non-saturating $-\mathbb{E}\log D$"}
    for col, (name, c) in enumerate(cases.items()):
        ks = np.asarray(c["k"])
        ax_c, ax_n = axes[0, col], axes[1, col]
        for loss in LOSS_FNS:
            e = c[loss]
            cos = np.asarray(e["cosine"])
            ax_c.fill_between(ks, cos.min(axis=0), cos.max(axis=0), color=colors[loss], alpha=0.15, lw=0)
            ax_c.semilogx(ks, e["cosine_mean"], "o-", ms=4, color=colors[loss], label=labels[loss])
            ax_n.fill_between(ks, e["norm_min"], e["norm_max"], color=colors[loss], alpha=0.15, lw=0)
            ax_n.loglog(ks, e["norm_mean"], "o-", ms=4, color=colors[loss], label=f"{labels[loss]}, trained D")
            ax_n.axhline(e["norm_star"], color=colors[loss], ls="--", lw=1, label=f"{labels[loss]}, exact $D^*$")
        ax_c.axhline(0.0, color="k", lw=0.6)
        ax_c.axhline(1.0, color="0.5", lw=0.6, ls=":")
        ax_c.text(0.01, 0.02, "below 0: the gradient points away from D*'s", transform=ax_c.transAxes,
                  fontsize=7, color="0.4", va="bottom")
        ax_c.set(xlabel="discriminator steps K", ylabel=r"cosine($\nabla_\theta L_G$ under D, under $D^*$)",
                 ylim=(-1.05, 1.1),
                 title=f"{name}: $p_r$ = N(0, 1), $p_g$ = N({c['p_g'][0]:g}, {c['p_g'][1]:g}$^2$)")
        ax_c.legend(fontsize=8, loc="lower right")
        ax_c.grid(alpha=0.3, which="both")
        ax_n.set(xlabel="discriminator steps K", ylabel=r"$\|\nabla_{(\mu, \sigma)} L_G\|$",
                 title=f"{name}: gradient norms (band: range over {len(c['seeds'])} seeds)")
        ax_n.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.15), ncol=2)
        ax_n.grid(alpha=0.3, which="both")
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "generator_gradient", "numbers", "optimal_logit", "plot", "run_case", "summary"]
