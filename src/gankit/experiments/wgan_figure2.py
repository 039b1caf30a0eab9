r"""The W-GAN paper's Figure 2: a saturated GAN discriminator against a WGAN-GP critic in 1-D.

Real data :math:`P_r = \mathcal N(-2, 0.3^2)`, generated data :math:`P_g = \mathcal N(2, 0.3^2)`:
13 standard deviations apart, so the supports are disjoint in practice
(:math:`\mathrm{JS} \approx \log 2`). On the same fresh batches (256 of each per step) we train

* a sigmoid GAN discriminator :math:`D = \sigma(\ell)` with cross-entropy
  (:func:`gankit.losses.d_loss_gan`, the tutorial's eq. 1-1 negated) until it saturates;
* a WGAN-GP critic :math:`f`: :func:`gankit.losses.d_loss_wgan` plus :math:`\lambda` = 10 times
  :func:`gankit.losses.gradient_penalty` (Gulrajani et al. 2017, Algorithm 1), with the penalty
  switched on after ``WARMUP`` steps (a fresh 1-D critic penalised from step 1 keeps the sign of
  its initial slope, the wrong one half of the time: see :mod:`gankit.experiments.critic_vs_w1`).

On a grid over :math:`[-4, 4]` we evaluate :math:`D(x)`, :math:`|dD/dx| = \sigma(1 - \sigma)
|\ell'|`, the gradients with respect to a generated point :math:`x` of the two generator losses
of the tutorial's eq. 1-2, :math:`|d \log(1 - D(x)) / dx| = \sigma(\ell) |\ell'|` (minimax) and
:math:`|d(-\log D(x)) / dx| = (1 - \sigma(\ell)) |\ell'|` (non-saturating), and the critic's
:math:`f(x)` and :math:`|f'(x)|`. The same quantities are measured at held-out generated points.

The W-GAN paper's point (its Figure 2): the saturated discriminator is flat where the generated
samples are, so the minimax loss gives them no gradient, while the critic is close to linear
with slope about 1 everywhere between and on the two supports. The penalty is soft, so the
critic's slope is expected slightly above 1: the penalised optimum (computed by
:func:`gankit.experiments.critic_vs_w1.penalised_critic_1d`) is reported next to it.

Networks: 3-hidden-layer MLPs of width 64 (:class:`gankit.models.MLPDiscriminator`, no norm);
Adam 1e-3 with betas (0.5, 0.999) for D, (0.5, 0.9) for the critic. Several seeds; each seed
trains a fresh pair.

JSON: ``real``, ``fake`` ((mean, std) of each), ``seeds``, ``steps_d``, ``steps_critic``,
``x`` (plotting grid), first seed's curves ``d``, ``d_grad``, ``minimax_grad``, ``ns_grad``,
``critic``, ``critic_grad``, ``penalised_slope`` (on ``x``); per seed: ``d_fake`` (mean D at
held-out fake points), ``d_grad_fake_ratio`` (mean |dD/dx| at fake points / its max on the grid),
``minimax_grad_fake`` and ``minimax_grad_fake_ratio`` (the same for the minimax loss),
``ns_grad_fake``, ``critic_grad_fake_mean``, ``critic_grad_fake_std`` (|f'| over fake points),
``critic_grad_between_mean``, ``critic_grad_between_std`` (|f'| on the grid between the two
means), ``critic_estimate`` (E f(real) - E f(fake), held out); ``w1``, ``penalised_estimate``,
``penalised_slope_fake`` (mean of the penalised optimum's |f'| over the fake points).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gankit.experiments.common import (
    fit_discriminator,
    jsonable,
    pyplot,
    save_figure,
    single_thread,
)
from gankit.experiments.critic_vs_w1 import penalised_critic_1d
from gankit.losses import LOSSES
from gankit.models import MLPDiscriminator

TITLE = "W-GAN Figure 2: the saturated discriminator is flat on the samples, the critic is not"
CLAIM = "For two far-apart 1-D Gaussians a discriminator trained to saturation has (near) zero gradient at the generated samples, so the minimax generator loss gives them nothing, while a WGAN-GP critic has slope about 1 there and everywhere between the supports."

REAL = (-2.0, 0.3)
FAKE = (2.0, 0.3)
LAMBDA = LOSSES["wgan-gp"].gp_weight
WIDTH, DEPTH, BATCH = 64, 3, 256
D_LR, D_BETAS = 1e-3, LOSSES["gan-ns"].betas
CRITIC_LR, CRITIC_BETAS = 1e-3, (0.5, 0.9)
WARMUP = 10
HELD_OUT = 4096
STEPS = {True: (1000, 400), False: (4000, 1000)}  # quick -> (D steps, critic steps)
N_SEEDS = {True: 3, False: 5}
GRID = (-4.0, 4.0, 801)


def _draw(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    real = REAL[0] + REAL[1] * torch.randn(n, 1, generator=gen)
    fake = FAKE[0] + FAKE[1] * torch.randn(n, 1, generator=gen)
    return real, fake


def train(kind: str, steps: int, seed: int) -> torch.nn.Module:
    """A fresh ``"gan"`` discriminator (cross-entropy) or ``"critic"`` (WGAN-GP, lambda 10)."""
    torch.manual_seed(seed)
    net = MLPDiscriminator(in_dim=1, width=WIDTH, depth=DEPTH)
    lr, betas = (D_LR, D_BETAS) if kind == "gan" else (CRITIC_LR, CRITIC_BETAS)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=betas)
    gen = torch.Generator().manual_seed(seed + 1)  # the batches and the penalty's eps share one stream
    return fit_discriminator(net, opt, lambda n, _step: _draw(n, gen), steps=steps, batch=BATCH,
                             loss="gan" if kind == "gan" else "wgan", gp_weight=LAMBDA, warmup=WARMUP, eps_gen=gen)


def value_and_slope(net: torch.nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(net(x), d net / dx)`` as float64 numpy arrays ``[M]`` for points ``x`` ``[M, 1]``."""
    x = x.clone().requires_grad_(True)
    out = net(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach().double().numpy(), grad[:, 0].double().numpy()


def gan_curves(logit: np.ndarray, slope: np.ndarray) -> dict[str, np.ndarray]:
    r"""D, |dD/dx|, |d log(1 - D)/dx| and |d(-log D)/dx| from the logit and its slope (float64).

    :math:`\sigma' = \sigma (1 - \sigma)`; :math:`\sigma` and :math:`1 - \sigma` are formed as
    ``exp(-softplus(-l))`` and ``exp(-softplus(l))`` so that saturated logits keep their tiny values.
    """
    lg = torch.from_numpy(logit)
    sig = torch.exp(-F.softplus(-lg)).numpy()
    one_minus = torch.exp(-F.softplus(lg)).numpy()
    a = np.abs(slope)
    return {"d": sig, "d_grad": sig * one_minus * a, "minimax_grad": sig * a, "ns_grad": one_minus * a}


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train D and the critic on several seeds; their curves on a grid and gradients at the fakes.

    Args:
        quick: 1,000 D steps, 400 critic steps and 3 seeds instead of 4,000, 1,000 and 5.
        seed: the first seed.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    steps_d, steps_c = STEPS[quick]
    seeds = [seed + i for i in range(N_SEEDS[quick])]
    x_np = np.linspace(*GRID)
    x = torch.from_numpy(x_np).float()[:, None]
    between = (x_np >= REAL[0]) & (x_np <= FAKE[0])
    per_seed: dict[str, list[float]] = {k: [] for k in (
        "d_fake", "d_grad_fake_ratio", "minimax_grad_fake", "minimax_grad_fake_ratio", "ns_grad_fake",
        "critic_grad_fake_mean", "critic_grad_fake_std", "critic_grad_between_mean", "critic_grad_between_std",
        "critic_estimate")}
    curves: dict[str, Any] = {}
    with single_thread():
        for s in seeds:
            real_eval, fake_eval = _draw(HELD_OUT, torch.Generator().manual_seed(10_000 + s))
            disc, critic = train("gan", steps_d, s), train("critic", steps_c, s)
            grid_gan = gan_curves(*value_and_slope(disc, x))
            fake_gan = gan_curves(*value_and_slope(disc, fake_eval))
            f_grid, f_slope = value_and_slope(critic, x)
            _, f_slope_fake = value_and_slope(critic, fake_eval)
            with torch.no_grad():
                estimate = float(critic(real_eval).mean() - critic(fake_eval).mean())
            per_seed["d_fake"].append(float(fake_gan["d"].mean()))
            per_seed["d_grad_fake_ratio"].append(float(fake_gan["d_grad"].mean() / grid_gan["d_grad"].max()))
            per_seed["minimax_grad_fake"].append(float(fake_gan["minimax_grad"].mean()))
            per_seed["minimax_grad_fake_ratio"].append(
                float(fake_gan["minimax_grad"].mean() / grid_gan["minimax_grad"].max()))
            per_seed["ns_grad_fake"].append(float(fake_gan["ns_grad"].mean()))
            per_seed["critic_grad_fake_mean"].append(float(np.abs(f_slope_fake).mean()))
            per_seed["critic_grad_fake_std"].append(float(np.abs(f_slope_fake).std()))
            per_seed["critic_grad_between_mean"].append(float(np.abs(f_slope[between]).mean()))
            per_seed["critic_grad_between_std"].append(float(np.abs(f_slope[between]).std()))
            per_seed["critic_estimate"].append(estimate)
            if not curves:
                curves = {**grid_gan, "critic": f_grid, "critic_grad": np.abs(f_slope)}
    fine = np.linspace(-8.0, 8.0, 8001)
    slope_fine, estimate_opt = penalised_critic_1d(fine, REAL, FAKE, LAMBDA)
    fake_pts = FAKE[0] + FAKE[1] * np.random.default_rng(seed).standard_normal(HELD_OUT)
    return jsonable(
        {
            "real": REAL, "fake": FAKE, "seeds": seeds, "steps_d": steps_d, "steps_critic": steps_c,
            "lambda": LAMBDA, "x": x_np, **curves,
            "penalised_slope": np.interp(x_np, fine, slope_fine),
            **per_seed,
            "w1": abs(FAKE[0] - REAL[0]),  # equal stds: a translation
            "penalised_estimate": estimate_opt,
            "penalised_slope_fake": float(np.interp(fake_pts, fine, slope_fine).mean()),
        }
    )


def _spread(values: list[float], fmt: str) -> str:
    v = np.asarray(values)
    return f"{format(v.mean(), fmt)} (range {format(v.min(), fmt)} to {format(v.max(), fmt)})"


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers (mean and range over the seeds)."""
    n = len(result["seeds"])
    return [
        f"- over {n} seeds, D after {result['steps_d']} steps: mean D at the generated points "
        f"{_spread(result['d_fake'], '.2e')}; |dD/dx| there is {_spread(result['d_grad_fake_ratio'], '.1e')} "
        "of its largest value on the grid",
        f"- minimax generator gradient |d log(1 - D)/dx| at the generated points: "
        f"{_spread(result['minimax_grad_fake'], '.1e')} ({_spread(result['minimax_grad_fake_ratio'], '.1e')} of its "
        f"peak); non-saturating: {_spread(result['ns_grad_fake'], '.2f')}",
        f"- WGAN-GP critic after {result['steps_critic']} steps: |f'| at the generated points "
        f"{_spread(result['critic_grad_fake_mean'], '.3f')} (std over the points "
        f"{_spread(result['critic_grad_fake_std'], '.3f')}), between the means "
        f"{_spread(result['critic_grad_between_mean'], '.3f')}; penalised optimum there "
        f"{result['penalised_slope_fake']:.3f}",
        f"- critic estimate {_spread(result['critic_estimate'], '.3f')} against W1 = {result['w1']:g} "
        f"(penalised optimum {result['penalised_estimate']:.3f})",
    ]


def plot(result: dict[str, Any], path: str | Path) -> None:
    """D and f over x with the two densities (left); the four gradients on a log scale (right)."""
    from scipy.stats import norm

    plt = pyplot()
    x = np.asarray(result["x"], dtype=np.float64)
    pr = norm.pdf(x, *result["real"])
    pg = norm.pdf(x, *result["fake"])
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")

    for ax in (ax0, ax1):
        ax.fill_between(x, pr / pr.max(), color="tab:blue", alpha=0.15, lw=0, label=r"$p_r$ (scaled)")
        ax.fill_between(x, pg / pg.max(), color="tab:red", alpha=0.15, lw=0, label=r"$p_g$ (scaled)")
    ax0.plot(x, result["d"], color="k", lw=2, label=r"$D(x) = \sigma(\ell(x))$")
    ax0.set(xlabel="x", ylabel="D(x)", ylim=(-0.05, 1.12),
            title=f"GAN discriminator, {result['steps_d']} steps (seed {result['seeds'][0]})")
    ax0.legend(fontsize=8, loc="center left")
    ax0.grid(alpha=0.3)

    f = np.asarray(result["critic"])
    ax1.plot(x, (f - f.min()) / (f.max() - f.min()), color="tab:green", lw=2,
             label=r"critic $f(x)$, rescaled to [0, 1]")
    ax1.set(xlabel="x", ylabel="rescaled f(x)", ylim=(-0.05, 1.12),
            title=rf"WGAN-GP critic ($\lambda$ = {result['lambda']:g}), {result['steps_critic']} steps; "
                  f"f from {f.min():.1f} to {f.max():.1f}")
    ax1.legend(fontsize=8, loc="upper center")
    ax1.grid(alpha=0.3)

    floor = 1e-12
    ax2.axvspan(result["real"][0] - 2 * result["real"][1], result["real"][0] + 2 * result["real"][1],
                color="tab:blue", alpha=0.12, lw=0, label=r"$p_r$ (2 std)")
    ax2.axvspan(result["fake"][0] - 2 * result["fake"][1], result["fake"][0] + 2 * result["fake"][1],
                color="tab:red", alpha=0.12, lw=0, label=r"$p_g$ (2 std)")
    ax2.semilogy(x, np.maximum(result["d_grad"], floor), color="k", lw=1.5, label=r"$|dD/dx|$")
    ax2.semilogy(x, np.maximum(result["minimax_grad"], floor), color="tab:red", lw=1.5, ls="--",
                 label=r"minimax $|d \log(1 - D)/dx|$")
    ax2.semilogy(x, np.maximum(result["ns_grad"], floor), color="tab:blue", lw=1.5, ls=":",
                 label=r"non-saturating $|d \log D/dx|$")
    ax2.semilogy(x, np.maximum(result["critic_grad"], floor), color="tab:green", lw=2, label=r"critic $|f'(x)|$")
    ax2.semilogy(x, result["penalised_slope"], color="tab:green", lw=1, ls="-.", label=r"penalised optimum $|f'|$")
    ax2.set(xlabel="x", ylabel=f"gradient magnitude (floored at {floor:g})", ylim=(floor / 2, 1e3),
            title="gradients w.r.t. x")
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax2.grid(alpha=0.3, which="both")
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "gan_curves", "numbers", "plot", "summary", "train", "value_and_slope"]
