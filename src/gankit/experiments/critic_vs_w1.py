r"""Critic against a known W1: does a trained WGAN-GP critic measure the Wasserstein-1 distance?

Three families where :math:`W_1` is known exactly, each swept over an offset :math:`\theta \ge 0`:

* ``gauss``: :math:`P = \mathcal N(0, 1)` against :math:`Q = \mathcal N(\theta, 1)` in 1-D;
  :math:`W_1 = |\theta|` (a translation, see below);
* ``lines``: the W-GAN paper's Example 1, :math:`(0, Z)` against :math:`(\theta, Z)`,
  :math:`Z \sim U[0, 1]` (:func:`gankit.divergences.parallel_lines_samples`,
  :func:`gankit.divergences.parallel_lines`); :math:`W_1 = |\theta|`, JS = log 2 for
  :math:`\theta \ne 0`;
* ``ring8``: gankit's ring8 (8 Gaussians of std 0.01 on the unit circle) against the same set
  translated by :math:`\theta u`, :math:`u = (\cos \pi/16, \sin \pi/16)` (a direction along which
  no shifted mode ever lands on another mode). For any translation :math:`W_1 = |\theta|`:
  the coupling :math:`(X, X + \theta u)` costs :math:`|\theta|`, and
  :math:`W_1 \ge |\mathbb E Y - \mathbb E X| = |\theta|` (Jensen).

At every offset a FRESH network is trained for each of:

* the WGAN-GP critic (Gulrajani et al. 2017, Algorithm 1): the critic loss
  :func:`gankit.losses.d_loss_wgan` plus :math:`\lambda` = 10 times
  :func:`gankit.losses.gradient_penalty`; its estimate of :math:`W_1` is the
  Kantorovich-Rubinstein dual value (W-GAN paper, eq. 3)
  :math:`\hat W = \mathbb E_P f - \mathbb E_Q f` on held-out samples;
* a sigmoid GAN discriminator trained with cross-entropy (:func:`gankit.losses.d_loss_gan`,
  the tutorial's eq. 1-1 negated), whose held-out loss gives the JS estimate
  :math:`\widehat{JS} = \log 2 - L_D / 2` (exact at the optimal D: :math:`V(D^*, G) = 2 JS -
  2 \log 2`, Goodfellow et al. 2014, Theorem 1). It saturates at log 2 for disjoint supports;
* a weight-clipped critic (W-GAN, Algorithm 1: :math:`c` = 0.01, RMSProp), on the first seed only.

For every critic the Lipschitz constant is measured as the largest :math:`\|\nabla_x f\|_2`
over a dense grid covering both supports with a margin (``lipschitz``), and the weights of one
representative pair (``ring8`` at :math:`\theta` = 1) are histogrammed.

What the penalty optimises. The two-sided penalty :math:`\lambda \mathbb E (\|\nabla f(\hat x)\|
- 1)^2` is a soft constraint, so the penalised optimum is not the 1-Lipschitz one. In 1-D, with
:math:`\Delta = F_Q - F_P` and :math:`\rho` the density of the interpolates
:math:`\hat x = \epsilon X + (1 - \epsilon) Y`, maximising
:math:`\int f' \Delta - \lambda \int (|f'| - 1)^2 \rho` pointwise gives
:math:`|f'| = 1 + |\Delta| / (2 \lambda \rho)` and an estimate

.. math:: \hat W_\lambda = W_1 + \frac{1}{2\lambda} \int \frac{\Delta(x)^2}{\rho(x)} \, dx

(``penalised_optimum``): for the parallel lines (:math:`\Delta = 1` on :math:`[0, \theta]`,
:math:`\rho = 1/\theta` there) :math:`\hat W_\lambda = \theta + \theta^2 / (2 \lambda)`; for the
Gaussians it is computed by quadrature. The critic's estimate is therefore expected above
:math:`W_1` by a margin that grows like :math:`\theta^2`, with :math:`\hat W / L \approx W_1`.

Two more details found while building this experiment:

* **A 1-D trap.** In 1-D a critic can only turn its slope around by passing through
  :math:`f' = 0`, where the penalty is :math:`\lambda`; near :math:`|f'| = 1` the penalty pulls
  the slope outward whatever its sign. A fresh critic penalised from its first step keeps the sign
  its random initialisation gave it, and half the time that is the wrong one (a local optimum
  with :math:`\hat W \approx -\hat W_\lambda`). The sweep therefore trains ``WARMUP`` critic steps
  without the penalty first; ``sign_trap`` records fresh 1-D critics penalised from step 1 (trained for half the steps; no
  such trap exists in 2-D, where the gradient can rotate).
* The learning rates are not the papers' (Adam 1e-4 for WGAN-GP, RMSProp 5e-5 for clipping),
  which are tuned for a critic that follows a moving generator: here each network is trained
  from scratch against fixed data and must converge within the budget. Critic: Adam 1e-3,
  betas (0.5, 0.9); GAN discriminator: Adam 2e-3, betas (0.5, 0.999); clipped critic: RMSProp
  5e-4 (gankit's toy rate for ``wgan``). All are 3-hidden-layer MLPs of width 64
  (:class:`gankit.models.MLPDiscriminator`, no normalisation) on batches of 256 fresh points.

JSON: ``families``, ``theta``, ``w1`` (= |theta|), ``seeds``, ``steps``; per family under
``results[family]``: ``critic`` [seed][theta], ``critic_mean``, ``critic_min``, ``critic_max``,
``critic_lipschitz`` [seed][theta], ``js_gan`` [seed][theta], ``js_gan_mean``, ``js_exact``
(log 2 for the lines; by quadrature for the Gaussians; by Monte Carlo with the exact mixture
densities for ring8), ``clip`` [theta] and ``clip_lipschitz`` [theta] (first seed),
``penalised_optimum`` ([theta] or null for ring8), ``pearson``, ``spearman``, ``slope``,
``intercept`` (critic mean against W1), ``clip_pearson``, ``clip_spearman``, ``clip_slope``,
``normalised_excess`` and ``normalised_shortfall`` (max of critic / L - W1 and of W1 - critic / L over
theta and seeds: by duality a critic f with Lipschitz constant L has E_P f - E_Q f <= L W1, so the
excess can be positive only by as much as the grid underestimates L); ``pooled`` {``pearson``,
``spearman``, ``slope``, ``intercept``} over all families; ``weights`` {``penalty``, ``clip``:
{``edges``, ``counts``, ``max_abs``, ``at_bound``}}; ``sign_trap`` {``theta``, ``estimates``,
``wrong_sign``}; ``settings``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import toy_modes, toy_sample
from gankit.divergences import LOG2, js_density, parallel_lines, parallel_lines_samples
from gankit.experiments.common import (
    fit_discriminator,
    jsonable,
    pearson,
    pyplot,
    save_figure,
    single_thread,
)
from gankit.losses import (
    LOSSES,
    after_discriminator_step,
    d_loss_gan,
)
from gankit.models import MLPDiscriminator

TITLE = "Critic against a known W1: the WGAN-GP estimate tracks |theta|, the GAN's JS estimate goes flat"
CLAIM = "On families with exact W1 = |theta|, a freshly trained WGAN-GP critic's E_P f - E_Q f rises with W1 (slightly above it, as the soft penalty predicts) while the GAN discriminator's JS estimate saturates at log 2 once the supports are disjoint; weight clipping gives a critic whose Lipschitz constant is far below 1."

FAMILIES = ("gauss", "lines", "ring8")
DIMS = {"gauss": 1, "lines": 2, "ring8": 2}
LAMBDA = LOSSES["wgan-gp"].gp_weight  # 10, the WGAN-GP paper's
CLIP = LOSSES["wgan"].clip  # 0.01, the W-GAN paper's
WIDTH, DEPTH, BATCH = 64, 3, 256
CRITIC_LR, CRITIC_BETAS = 1e-3, (0.5, 0.9)
GAN_LR, GAN_BETAS = 2e-3, LOSSES["gan-ns"].betas
CLIP_LR = 5e-4
WARMUP = 10  # critic steps without the penalty (see "A 1-D trap")
HELD_OUT = 4096
SHIFT_ANGLE = math.pi / 16
HIST_FAMILY, HIST_THETA = "ring8", 1.0
THETAS = {True: (0.0, 0.5, 1.0, 3.0), False: (0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)}
STEPS = {True: 200, False: 500}
N_SEEDS = {True: 1, False: 3}
TRAP_SEEDS = {True: 3, False: 8}
TRAP_THETA = 1.0

Sampler = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]


def _shift(theta: float) -> torch.Tensor:
    return theta * torch.tensor([math.cos(SHIFT_ANGLE), math.sin(SHIFT_ANGLE)])


def sampler(family: str, theta: float, seed: int) -> Sampler:
    """``draw(n, step) -> (P [n, d], Q [n, d])`` float32 draws of a family at offset ``theta``.

    Draws are a deterministic function of ``(seed, step)``, so training batches and held-out
    sets (``step = -1``) never coincide.
    """

    def gen(step: int) -> torch.Generator:
        return torch.Generator().manual_seed(1_000_003 * seed + step + 7)

    if family == "gauss":
        def draw(n: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
            g = gen(step)
            return torch.randn(n, 1, generator=g), torch.randn(n, 1, generator=g) + theta
    elif family == "lines":
        def draw(n: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
            p, q = parallel_lines_samples(theta, n, seed=1_000_003 * seed + step + 7)
            return torch.from_numpy(p).float(), torch.from_numpy(q).float()
    elif family == "ring8":
        shift = _shift(theta)

        def draw(n: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
            g = gen(step)
            return toy_sample("ring8", n, generator=g), toy_sample("ring8", n, generator=g) + shift
    else:
        raise ValueError(f"unknown family {family!r}")
    return draw


def train(kind: str, family: str, theta: float, *, steps: int, seed: int, warmup: int = WARMUP) -> torch.nn.Module:
    """A fresh network trained against one family at one offset.

    ``kind``: ``"penalty"`` (WGAN-GP: ``d_loss_wgan + LAMBDA * gradient_penalty``, the penalty
    from step ``warmup + 1`` on), ``"clip"`` (W-GAN: ``d_loss_wgan``, RMSProp, weights clipped to
    ``[-c, c]`` after every step) or ``"gan"`` (``d_loss_gan``, cross-entropy).
    """
    torch.manual_seed(seed)
    net = MLPDiscriminator(in_dim=DIMS[family], width=WIDTH, depth=DEPTH)
    if kind == "clip":
        opt = torch.optim.RMSprop(net.parameters(), lr=CLIP_LR)
    elif kind == "gan":
        opt = torch.optim.Adam(net.parameters(), lr=GAN_LR, betas=GAN_BETAS)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=CRITIC_LR, betas=CRITIC_BETAS)
    draw = sampler(family, theta, seed)
    clip = (lambda d: after_discriminator_step(LOSSES["wgan"], d)) if kind == "clip" else None  # c = 0.01
    return fit_discriminator(net, opt, draw, steps=steps, batch=BATCH, loss="gan" if kind == "gan" else "wgan",
                             gp_weight=LAMBDA if kind == "penalty" else 0.0, warmup=warmup,
                             eps_gen=torch.Generator().manual_seed(seed + 11), after_step=clip)


def dense_points(family: str, theta: float) -> torch.Tensor:
    """A grid covering both supports with a margin: ``[M, d]`` points for the Lipschitz constant."""
    if family == "gauss":
        return torch.linspace(-4.0, theta + 4.0, 2001)[:, None]
    if family == "lines":
        xs, ys = torch.linspace(-0.5, theta + 0.5, 80), torch.linspace(-0.5, 1.5, 80)
    else:
        s = _shift(theta)
        xs = torch.linspace(-1.3 + min(0.0, float(s[0])), 1.3 + max(0.0, float(s[0])), 80)
        ys = torch.linspace(-1.3 + min(0.0, float(s[1])), 1.3 + max(0.0, float(s[1])), 80)
    gx, gy = torch.meshgrid(xs, ys, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def lipschitz(net: torch.nn.Module, points: torch.Tensor) -> float:
    """max over ``points`` of ||grad_x f(x)||_2: a lower bound on f's Lipschitz constant there."""
    x = points.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    return float(torch.linalg.vector_norm(grad, dim=1).max())


def penalised_critic_1d(
    x: np.ndarray, p: tuple[float, float], q: tuple[float, float], lam: float = LAMBDA, n_eps: int = 401
) -> tuple[np.ndarray, float]:
    r"""The best penalised critic between two 1-D Gaussians, from the pointwise optimum.

    With :math:`\Delta = F_Q - F_P` and :math:`\rho` the density of the interpolates
    :math:`\epsilon X + (1 - \epsilon) Y \sim \mathcal N(\epsilon m_P + (1 - \epsilon) m_Q,
    \epsilon^2 s_P^2 + (1 - \epsilon)^2 s_Q^2)`, :math:`\epsilon \sim U[0, 1]`, the maximiser of
    :math:`\mathbb E_P f - \mathbb E_Q f - \lambda \mathbb E (|f'(\hat x)| - 1)^2` has
    :math:`|f'| = 1 + |\Delta| / (2 \lambda \rho)` and the estimate
    :math:`\int |f'| |\Delta| = W_1 + \frac{1}{2\lambda} \int \Delta^2 / \rho`.

    Args:
        x: a fine increasing grid covering both laws (the integrals are trapezoid sums on it).
        p: ``(mean, std)`` of P; q: the same for Q.
        lam: the penalty weight.
        n_eps: quadrature points for the mixture over epsilon.

    Returns:
        ``(|f'| on x, estimate)``.
    """
    from scipy.integrate import trapezoid
    from scipy.stats import norm

    eps = np.linspace(0.0, 1.0, n_eps)
    centre = eps * p[0] + (1.0 - eps) * q[0]
    spread = np.hypot(eps * p[1], (1.0 - eps) * q[1])
    rho = trapezoid(norm.pdf(x[:, None], centre[None], spread[None]), eps, axis=1)
    delta = norm.cdf(x, q[0], q[1]) - norm.cdf(x, p[0], p[1])
    ratio = np.divide(np.abs(delta), rho, out=np.zeros_like(rho), where=rho > 0)
    return 1.0 + ratio / (2.0 * lam), float(trapezoid(np.abs(delta) * (1.0 + ratio / (2.0 * lam)), x))


def penalised_optimum(family: str, theta: float, lam: float = LAMBDA) -> float | None:
    r"""The estimate E_P f - E_Q f of the best penalised critic, W1 + (1/2 lambda) int Delta^2 / rho.

    Exact in 1-D (pointwise maximisation, see the module docstring and
    :func:`penalised_critic_1d`); ``theta + theta^2 / (2 lambda)`` for the lines; ``None`` for ring8.
    """
    if theta == 0:
        return 0.0
    if family == "lines":
        return theta + theta**2 / (2.0 * lam)
    if family != "gauss":
        return None
    x = np.linspace(-10.0, theta + 10.0, 4001)
    return penalised_critic_1d(x, (0.0, 1.0), (theta, 1.0), lam)[1]


def _ring8_log_density(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    centres, std = toy_modes("ring8")
    d2 = ((x[:, None, :] - (centres + shift)[None]) ** 2).sum(-1)  # (N, 8)
    return torch.logsumexp(-0.5 * d2 / std**2, dim=1) - math.log(len(centres) * 2.0 * math.pi * std**2)


def exact_js(family: str, theta: float, seed: int = 0) -> float:
    """JS(P || Q) in nats: log 2 for the lines off 0; a grid integral (gauss); Monte Carlo (ring8)."""
    if family == "lines":
        return float(parallel_lines(theta).js)
    if family == "gauss":
        from scipy.stats import norm

        grid = np.linspace(-12.0, theta + 12.0, 8001)
        return js_density(norm(0.0, 1.0).pdf, norm(theta, 1.0).pdf, grid)
    # JS = 1/2 E_P log(2p / (p + q)) + 1/2 E_Q log(2q / (p + q)), exact mixture log-densities
    g = torch.Generator().manual_seed(seed + 5)
    shift = _shift(theta).double()
    p_x = toy_sample("ring8", 20_000, generator=g).double()
    q_x = toy_sample("ring8", 20_000, generator=g).double() + shift
    total = 0.0
    for x in (p_x, q_x):
        lp, lq = _ring8_log_density(x, torch.zeros(2, dtype=torch.float64)), _ring8_log_density(x, shift)
        own = lp if x is p_x else lq
        total += 0.5 * float((LOG2 + own - torch.logaddexp(lp, lq)).mean())
    return min(max(total, 0.0), LOG2)


def _weights_histogram(net: torch.nn.Module, bound: float | None) -> dict[str, Any]:
    w = torch.cat([m.weight.detach().reshape(-1) for m in net.modules() if isinstance(m, torch.nn.Linear)])
    top = float(w.abs().max()) if bound is None else bound
    counts, edges = np.histogram(w.numpy(), bins=41, range=(-top * 1.0001, top * 1.0001))
    at_bound = float((w.abs() >= 0.999 * bound).float().mean()) if bound is not None else None
    return {"edges": edges, "counts": counts, "max_abs": float(w.abs().max()), "at_bound": at_bound}


def _fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from scipy.stats import spearmanr

    slope, intercept = np.polyfit(x, y, 1)
    return {"pearson": pearson(x, y), "spearman": float(spearmanr(x, y).statistic),
            "slope": float(slope), "intercept": float(intercept)}


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train fresh critics / discriminators at every offset of every family; measure them.

    Args:
        quick: 4 offsets, 200 steps per network, one seed (instead of 8, 500 and three seeds).
        seed: the first seed; seeds ``seed .. seed + n - 1`` are used.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    thetas, steps = THETAS[quick], STEPS[quick]
    seeds = [seed + i for i in range(N_SEEDS[quick])]
    w1 = np.abs(np.asarray(thetas))
    results: dict[str, Any] = {}
    weights: dict[str, Any] = {}
    with single_thread():
        for family in FAMILIES:
            crit = np.zeros((len(seeds), len(thetas)))
            crit_l = np.zeros_like(crit)
            js_gan = np.zeros_like(crit)
            clip_est = np.zeros(len(thetas))
            clip_l = np.zeros(len(thetas))
            for j, theta in enumerate(thetas):
                p_eval, q_eval = sampler(family, theta, seed)(HELD_OUT, -1)  # held out
                dense = dense_points(family, theta)
                for i, s in enumerate(seeds):
                    critic = train("penalty", family, theta, steps=steps, seed=s)
                    disc = train("gan", family, theta, steps=steps, seed=s)
                    with torch.no_grad():
                        crit[i, j] = float(critic(p_eval).mean() - critic(q_eval).mean())
                        js_gan[i, j] = LOG2 - 0.5 * float(d_loss_gan(disc(p_eval), disc(q_eval)))
                    crit_l[i, j] = lipschitz(critic, dense)
                    if i == 0:
                        clipped = train("clip", family, theta, steps=steps, seed=s)
                        with torch.no_grad():
                            clip_est[j] = float(clipped(p_eval).mean() - clipped(q_eval).mean())
                        clip_l[j] = lipschitz(clipped, dense)
                        if family == HIST_FAMILY and theta == HIST_THETA:
                            weights = {"penalty": _weights_histogram(critic, None),
                                       "clip": _weights_histogram(clipped, CLIP)}
            mean = crit.mean(axis=0)
            fit, clip_fit = _fit(w1, mean), _fit(w1, clip_est)
            results[family] = {
                "critic": crit, "critic_mean": mean, "critic_min": crit.min(axis=0), "critic_max": crit.max(axis=0),
                "critic_lipschitz": crit_l, "js_gan": js_gan, "js_gan_mean": js_gan.mean(axis=0),
                "js_exact": [exact_js(family, t, seed) for t in thetas],
                "clip": clip_est, "clip_lipschitz": clip_l,
                "penalised_optimum": None if family == "ring8" else [penalised_optimum(family, t) for t in thetas],
                **fit,
                "clip_pearson": clip_fit["pearson"], "clip_spearman": clip_fit["spearman"],
                "clip_slope": clip_fit["slope"],
                "normalised_excess": float(np.max(crit / crit_l - w1[None])),
                "normalised_shortfall": float(np.max(w1[None] - crit / crit_l)),
            }
        # the 1-D trap: critics penalised from their first step
        trap = []
        for s in range(seed, seed + TRAP_SEEDS[quick]):
            critic = train("penalty", "gauss", TRAP_THETA, steps=steps // 2, seed=s, warmup=0)
            p_eval, q_eval = sampler("gauss", TRAP_THETA, seed)(HELD_OUT, -1)
            with torch.no_grad():
                trap.append(float(critic(p_eval).mean() - critic(q_eval).mean()))
    pooled_x = np.concatenate([w1 for _ in FAMILIES])
    pooled_y = np.concatenate([results[f]["critic_mean"] for f in FAMILIES])
    return jsonable(
        {
            "families": list(FAMILIES),
            "theta": list(thetas),
            "w1": w1,
            "seeds": seeds,
            "steps": steps,
            "results": results,
            "pooled": _fit(pooled_x, pooled_y),
            "weights": weights,
            "sign_trap": {"theta": TRAP_THETA, "estimates": trap,
                          "wrong_sign": int(sum(e < 0 for e in trap)), "runs": len(trap)},
            "settings": {"lambda": LAMBDA, "clip": CLIP, "width": WIDTH, "depth": DEPTH, "batch": BATCH,
                         "critic": f"Adam {CRITIC_LR:g}, betas {CRITIC_BETAS}, {WARMUP} steps without penalty",
                         "gan": f"Adam {GAN_LR:g}, betas {GAN_BETAS}",
                         "clip_opt": f"RMSProp {CLIP_LR:g}", "held_out": HELD_OUT},
        }
    )


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers."""
    res, theta = result["results"], np.asarray(result["theta"])
    n = len(result["seeds"])
    lines = []
    for fam in result["families"]:
        r = res[fam]
        j = int(np.argmax(theta))
        opt = r["penalised_optimum"]
        opt_txt = f" (penalised optimum {opt[j]:.3f})" if opt is not None else ""
        lines.append(
            f"- {fam}: critic vs W1 Pearson {r['pearson']:.4f}, Spearman {r['spearman']:.3f}, slope "
            f"{r['slope']:.3f}; at W1 = {theta[j]:g} the critic gives {r['critic_mean'][j]:.3f} "
            f"[{r['critic_min'][j]:.3f}, {r['critic_max'][j]:.3f}] over {n} seed(s){opt_txt}; "
            f"critic / L - W1 in [{-r['normalised_shortfall']:.3f}, {r['normalised_excess']:.3f}]"
        )
        lines.append(
            f"  GAN JS estimate {', '.join(f'{v:.3f}' for v in r['js_gan_mean'])} against exact JS "
            f"{', '.join(f'{v:.3f}' for v in r['js_exact'])} (log 2 = {LOG2:.3f}); clipped critic: slope "
            f"{r['clip_slope']:.2e}, Pearson {r['clip_pearson']:.3f}, Lipschitz {min(r['clip_lipschitz']):.1e}"
            f"-{max(r['clip_lipschitz']):.1e} against {np.min(r['critic_lipschitz']):.2f}-"
            f"{np.max(r['critic_lipschitz']):.2f} with the penalty"
        )
    p, w, t = result["pooled"], result["weights"], result["sign_trap"]
    lines.append(f"- pooled over the families: Pearson {p['pearson']:.4f}, Spearman {p['spearman']:.3f}, "
                 f"slope {p['slope']:.3f}, intercept {p['intercept']:.3f}")
    if w:
        lines.append(f"- weights ({HIST_FAMILY}, theta = {HIST_THETA:g}): {100 * w['clip']['at_bound']:.0f} % of the "
                     f"clipped critic's weights sit at +-c; the penalised critic's reach {w['penalty']['max_abs']:.2f}")
    lines.append(f"- 1-D trap: {t['wrong_sign']} of {t['runs']} fresh 1-D critics penalised from step 1 ended with the "
                 f"wrong sign at W1 = {t['theta']:g} (estimates {', '.join(f'{e:.2f}' for e in t['estimates'])})")
    return lines


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Critic vs W1, GAN JS vs W1, clipped critic, Lipschitz constants and weight histograms."""
    plt = pyplot()
    res = result["results"]
    w1 = np.asarray(result["w1"], dtype=np.float64)
    colors = {"gauss": "tab:blue", "lines": "tab:orange", "ring8": "tab:green"}
    markers = {"gauss": "o", "lines": "s", "ring8": "^"}
    fig, axes = plt.subplots(2, 3, figsize=(14, 10), layout="constrained")
    (ax_c, ax_j, ax_n), (ax_l, ax_hp, ax_hc) = axes

    top = float(w1.max())
    ax_c.plot([0, top], [0, top], color="0.4", lw=1, label="$y = x$ (exact $W_1$)")
    ax_c.plot(w1, w1 + w1**2 / (2 * result["settings"]["lambda"]), ls="--", color="0.6", lw=1,
              label=r"penalised optimum, lines: $\theta + \theta^2 / 2\lambda$")
    ax_c.plot(w1, res["gauss"]["penalised_optimum"], ls=":", color=colors["gauss"], lw=1.2,
              label="penalised optimum, gauss (quadrature)")
    for fam in result["families"]:
        r = res[fam]
        mean = np.asarray(r["critic_mean"])
        err = np.vstack([mean - np.asarray(r["critic_min"]), np.asarray(r["critic_max"]) - mean])
        ax_c.errorbar(w1, mean, yerr=err, fmt=markers[fam], ms=5, capsize=2, color=colors[fam],
                      label=f"{fam}: r = {r['pearson']:.3f}, slope {r['slope']:.2f}")
    ax_c.axhline(0.0, color="k", lw=0.6)
    ax_c.set(xlabel=r"exact $W_1 = |\theta|$", ylabel=r"critic estimate $\mathbb{E}_P f - \mathbb{E}_Q f$ (held out)",
             title=rf"WGAN-GP critic ($\lambda$ = {result['settings']['lambda']:g}), fresh per $\theta$")
    ax_c.text(0.98, 0.02, "below 0: wrong-sign critic", transform=ax_c.transAxes, ha="right", va="bottom",
              fontsize=7, color="0.4")
    ax_c.legend(fontsize=7, loc="upper left")
    ax_c.grid(alpha=0.3)

    for fam in result["families"]:
        r = res[fam]
        ax_j.plot(w1, r["js_gan_mean"], markers[fam] + "-", ms=5, color=colors[fam], label=f"{fam}: GAN estimate")
        ax_j.plot(w1, r["js_exact"], ":", color=colors[fam], lw=1.5, label=f"{fam}: exact JS")
    ax_j.axhline(LOG2, color="0.3", ls="--", lw=1, label=r"$\log 2$")
    ax_j.axhline(0.0, color="k", lw=0.6)
    ax_j.text(0.98, 0.02, r"$\widehat{JS} = \log 2 - L_D/2$ can dip below 0 (held out)", transform=ax_j.transAxes,
              ha="right", va="bottom", fontsize=7, color="0.4")
    ax_j.set(xlabel=r"exact $W_1 = |\theta|$", ylabel=r"JS estimate (nats)", ylim=(-0.05, 0.8),
             title="GAN discriminator: JS saturates for disjoint supports")
    ax_j.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax_j.grid(alpha=0.3)

    ax_n.plot([0, top], [0, top], color="0.4", lw=1, label="$y = x$")
    for fam in result["families"]:
        r = res[fam]
        ratio = np.asarray(r["critic"]) / np.asarray(r["critic_lipschitz"])
        ax_n.plot(w1, ratio.mean(axis=0), markers[fam], ms=5, color=colors[fam], label=f"{fam}: penalty, est / L")
        ax_n.plot(w1, np.asarray(r["clip"]) / np.asarray(r["clip_lipschitz"]), markers[fam], ms=7, mfc="none",
                  color=colors[fam], label=f"{fam}: clipping, est / L")
    ax_n.axhline(0.0, color="k", lw=0.6)
    ax_n.set(xlabel=r"exact $W_1 = |\theta|$", ylabel="estimate / measured Lipschitz constant",
             title="estimates rescaled to 1-Lipschitz")
    ax_n.legend(fontsize=7, loc="upper left")
    ax_n.grid(alpha=0.3)

    for fam in result["families"]:
        r = res[fam]
        ax_l.semilogy(w1, np.asarray(r["critic_lipschitz"]).mean(axis=0), markers[fam] + "-", ms=5,
                      color=colors[fam], label=f"{fam}: penalty")
        ax_l.semilogy(w1, r["clip_lipschitz"], markers[fam] + "--", ms=5, mfc="none", color=colors[fam],
                      label=f"{fam}: clipping c = {result['settings']['clip']:g}")
    ax_l.axhline(1.0, color="0.3", lw=1)
    ax_l.set(xlabel=r"exact $W_1 = |\theta|$", ylabel=r"max $\|\nabla_x f\|$ on a dense grid",
             title="measured Lipschitz constant")
    ax_l.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax_l.grid(alpha=0.3, which="both")

    for ax, key, title in ((ax_hp, "penalty", "weights, gradient penalty"), (ax_hc, "clip", "weights, clipping")):
        h = result["weights"].get(key)
        if not h:
            ax.set_visible(False)
            continue
        edges = np.asarray(h["edges"])
        ax.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color="tab:gray", edgecolor="none")
        ax.set(xlabel="weight value", ylabel="count (log)", yscale="log",
               title=f"{title} ({HIST_FAMILY}, " + rf"$\theta$ = {HIST_THETA:g})")
        if key == "clip":
            c = result["settings"]["clip"]
            ax.set_xticks([-c, -c / 2, 0.0, c / 2, c])
            for b in (-result["settings"]["clip"], result["settings"]["clip"]):
                ax.axvline(b, color="tab:red", lw=1, ls="--")
            ax.text(0.5, 0.95, f"{100 * h['at_bound']:.0f} % at $\\pm c$", transform=ax.transAxes, ha="center",
                    va="top", fontsize=8, color="tab:red")
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "exact_js", "lipschitz", "numbers", "penalised_optimum", "plot", "sampler", "summary",
           "train"]
