r"""Vanishing generator gradients as the discriminator approaches optimal (Arjovsky & Bottou, 2017).

A generator is frozen at its initialisation: its samples form a small blob near the origin, about
1 away from the ring8 data (8 Gaussians of std 0.01 on the unit circle), so the two supports are
essentially disjoint. A discriminator is then trained from scratch against it for many iterations
(cross-entropy, eq. 1-1 of the tutorial), and at log-spaced iterations we measure the norm of the
gradient, with respect to the generator's parameters, of

* the minimax loss :math:`\mathbb E_z \log(1 - D(G(z)))` (tutorial eq. 1-2, right);
* the non-saturating loss :math:`-\mathbb E_z \log D(G(z))` (eq. 1-2, left);
* the W-GAN loss :math:`-\mathbb E_z f(G(z))` for a critic ``f`` trained separately on the same
  data and the same frozen generator (WGAN-GP: gradient penalty, lambda 10).

With logits :math:`\ell = D(G(z))`, the minimax loss has :math:`\partial L / \partial \ell =
-\sigma(\ell) / N`, which goes to 0 as D learns to reject the samples (:math:`\sigma(\ell) \to
0`): the gradient vanishes (Arjovsky & Bottou, Theorem 2.4). The non-saturating loss has
:math:`-(1 - \sigma(\ell)) / N \to -1/N`: it does not vanish (it grows with the logits' slope,
their Theorem 2.5 on its instability). The critic is kept near 1-Lipschitz by the penalty, so its
gradient stays of order one and points the samples toward the data.

The discriminator uses Adam with lr 1e-3 (5x DCGAN's 2e-4, so that it nears optimal in a few
hundred iterations), betas (0.5, 0.999); the critic uses WGAN-GP's settings (Adam 1e-4,
betas (0, 0.9)). Both are 3-hidden-layer MLPs of width 64 without normalisation, on batches of
256 fresh real and generated points. Gradients are measured on one fixed batch of 1024 codes.

JSON: ``iterations`` (the log-spaced record points), ``minimax``, ``nonsaturating``, ``critic``
(gradient norms there), ``d_fake`` (mean D(G(z))), ``d_real``, ``critic_estimate``
(E f(real) - E f(fake)), ``minimax_fall`` (largest / last minimax norm: the gradient
the generator gets once D has learned something, against the one it gets from a near-optimal D),
``minimax_fall_from_first`` (first / last),
``ns_over_minimax`` (last non-saturating / last minimax), ``critic_retained`` (last critic norm /
its largest), ``iters``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import toy_sample
from gankit.experiments.common import (
    grad_norm,
    jsonable,
    log_points,
    pyplot,
    save_figure,
    single_thread,
)
from gankit.losses import (
    LOSSES,
    LossSpec,
    discriminator_phase,
    g_loss_minimax,
    g_loss_nonsaturating,
    g_loss_wgan,
)
from gankit.models import MLPDiscriminator, MLPGenerator, sample_noise

TITLE = "Vanishing gradients: the minimax loss saturates, the non-saturating and W-GAN losses do not"
CLAIM = "As D approaches the optimal discriminator for disjoint supports, the minimax generator gradient collapses; the non-saturating one does not and a W-GAN critic's stays informative."

DATA = "ring8"
WIDTH = 64
BATCH = 256
EVAL_CODES = 1024
D_LR = 1e-3


def generator_grad_norm(G: torch.nn.Module, D: torch.nn.Module, z: torch.Tensor, g_loss) -> float:
    """||d g_loss(D(G(z))) / d theta_G||_2 with D's weights held fixed (no gradient for D)."""
    G.zero_grad(set_to_none=True)
    D.requires_grad_(False)
    try:
        g_loss(D(G(z))).backward()
    finally:
        D.requires_grad_(True)
    return grad_norm(G)


def _d_step(spec: LossSpec, D, opt, G, gen: torch.Generator) -> None:
    real = toy_sample(DATA, BATCH, generator=gen)  # (N, 2)
    with torch.no_grad():
        fake = G(sample_noise(BATCH, G.z_dim, generator=gen))  # (N, 2)
    loss, _ = discriminator_phase(spec, D, real, fake, generator=gen)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train D and a WGAN-GP critic against a frozen generator; record the generator's gradients.

    Args:
        quick: 600 discriminator / critic iterations instead of 5,000.
        seed: seeds the networks and the samples.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    iters = 600 if quick else 5_000
    records = set(log_points(iters, 20 if quick else 30))
    gan, gp = LOSSES["gan-ns"], LOSSES["wgan-gp"]
    out: dict[str, list] = {k: [] for k in ("iterations", "minimax", "nonsaturating", "critic", "d_fake",
                                             "d_real", "critic_estimate")}
    with single_thread():
        torch.manual_seed(seed)
        G = MLPGenerator(z_dim=2, out_dim=2, width=WIDTH, depth=3)
        D = MLPDiscriminator(in_dim=2, width=WIDTH, depth=3)
        critic = MLPDiscriminator(in_dim=2, width=WIDTH, depth=3)
        opt_d = torch.optim.Adam(D.parameters(), lr=D_LR, betas=gan.betas)
        opt_c = torch.optim.Adam(critic.parameters(), lr=gp.lr, betas=gp.betas)
        gen_d = torch.Generator().manual_seed(seed + 1)
        gen_c = torch.Generator().manual_seed(seed + 2)
        z = sample_noise(EVAL_CODES, G.z_dim, generator=torch.Generator().manual_seed(seed + 3))
        real_eval = toy_sample(DATA, EVAL_CODES, generator=torch.Generator().manual_seed(seed + 4))
        for it in range(1, iters + 1):
            _d_step(gan, D, opt_d, G, gen_d)
            _d_step(gp, critic, opt_c, G, gen_c)
            if it not in records:
                continue
            out["iterations"].append(it)
            out["minimax"].append(generator_grad_norm(G, D, z, g_loss_minimax))
            out["nonsaturating"].append(generator_grad_norm(G, D, z, g_loss_nonsaturating))
            out["critic"].append(generator_grad_norm(G, critic, z, g_loss_wgan))
            with torch.no_grad():
                fake_eval = G(z)
                out["d_fake"].append(float(torch.sigmoid(D(fake_eval)).mean()))
                out["d_real"].append(float(torch.sigmoid(D(real_eval)).mean()))
                out["critic_estimate"].append(float(critic(real_eval).mean() - critic(fake_eval).mean()))
    mm, ns, cr = (np.asarray(out[k]) for k in ("minimax", "nonsaturating", "critic"))
    return jsonable(
        {
            **out,
            "minimax_fall": float(mm.max() / mm[-1]),
            "minimax_fall_from_first": float(mm[0] / mm[-1]),
            "ns_over_minimax": float(ns[-1] / mm[-1]),
            "critic_retained": float(cr[-1] / cr.max()),
            "iters": iters,
        }
    )


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers."""
    it = result["iterations"]
    return [
        f"- after {it[-1]} discriminator iterations: mean D(G(z)) = {result['d_fake'][-1]:.2e}, "
        f"mean D(x) = {result['d_real'][-1]:.4f}",
        f"- minimax gradient norm: at most {max(result['minimax']):.3e}, {result['minimax'][-1]:.3e} at the end "
        f"(falls {result['minimax_fall']:.0f}x from its peak, {result['minimax_fall_from_first']:.0f}x from iteration 1)",
        f"- non-saturating: {result['nonsaturating'][-1]:.3e} at the end, {result['ns_over_minimax']:.0f}x the minimax one",
        f"- WGAN-GP critic: {result['critic'][-1]:.3e} at the end ({100 * result['critic_retained']:.0f} % of its largest), "
        f"critic estimate of W1 {result['critic_estimate'][-1]:.3f}",
    ]


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Gradient norms (left) and D's outputs (right) against discriminator iterations, log-log."""
    plt = pyplot()
    it = np.asarray(result["iterations"])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.5, 1]})
    ax0.loglog(it, result["minimax"], "o-", ms=3, color="tab:red", label=r"minimax: $\mathbb{E}\log(1 - D(G(z)))$")
    ax0.loglog(it, result["nonsaturating"], "s-", ms=3, color="tab:blue", label=r"non-saturating: $-\mathbb{E}\log D(G(z))$")
    ax0.loglog(it, result["critic"], "^-", ms=3, color="tab:green", label=r"WGAN-GP critic: $-\mathbb{E} f(G(z))$")
    ax0.set(xlabel="discriminator / critic iterations (generator frozen)", ylabel=r"$\|\nabla_{\theta_G} L_G\|_2$",
            title=f"minimax gradient falls {result['minimax_fall']:.0f}x from its peak")
    ax0.legend(fontsize=8)
    ax0.grid(alpha=0.3, which="both")
    ax1.loglog(it, result["d_fake"], "o-", ms=3, color="tab:red", label="mean D(G(z))")
    ax1.loglog(it, 1.0 - np.asarray(result["d_real"]), "s-", ms=3, color="tab:blue", label="1 - mean D(x)")
    ax1.set(xlabel="discriminator iterations", ylabel="probability", title="D approaches the optimum (0 on G, 1 on data)")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "generator_grad_norm", "numbers", "plot", "summary"]
