r"""Does the loss track sample quality? The W-GAN critic's estimate against the true W1.

A ``wgan-gp`` run and a ``gan-ns`` run are trained on grid25 (25 Gaussians of std 0.05 on
:math:`\{-4, \dots, 4\}^2`) with the same networks (3-hidden-layer MLPs of width ``WIDTH``, 2-D
uniform noise), batch size and number of generator steps. At evenly spaced steps (``RECORDS``:
15 quick, 30 full) we measure, on a large fresh batch (``ESTIMATE_POINTS`` real and as many
generated points):

* for W-GAN, the critic's estimate of the Wasserstein-1 distance (Arjovsky et al. 2017, eq. 3,
  the Kantorovich-Rubinstein dual with the critic as the 1-Lipschitz function):
  :math:`\hat W = \mathbb E_{x \sim P_r} f(x) - \mathbb E_z f(G(z))`;
* for the GAN, the discriminator's loss (eq. 1-1 negated) and the Jensen-Shannon estimate it
  implies, :math:`\widehat{JS} = \log 2 - L_D / 2` (exact at the optimal D, Theorem 1);
* for both, the true W1 between ``W1_POINTS`` generated and as many fresh data points, exact
  (POT network simplex through :func:`gankit.divergences.wasserstein`).

The Pearson correlation of each loss-side quantity with the true W1 over the run says whether the
training loss is a usable measure of sample quality (the W-GAN paper's Figures 3 and 4).

Settings. :math:`\hat W` is an estimate of W1 only while the critic is close to the best
1-Lipschitz function for the *current* generator, so the W-GAN run is set up for that
(``WGAN_OVERRIDES``): the WGAN-GP paper's lambda = 10 (gankit's toy default 0.1 is tuned for
samples and leaves the critic's slope free: its estimate then starts near 70 against a W1 of 3.5),
its K = 5 critic steps and its generator learning rate 1e-4, with gankit's toy critic learning rate
1e-3 (Adam, betas (0.5, 0.9)): a critic ten times faster than its generator (two time-scale
updates, Heusel et al. 2017) keeps up with it. The GAN run keeps gankit's toy settings (Adam 1e-3,
betas (0.5, 0.999), K = 1): with a generator ten times slower than its discriminator it does not
move at all (W1 stays at 3.7 over 3,000 steps). No EMA is kept: the measured generator is the one
the critic is trained against.

Before the first generator step both discriminators get ``WARMUP`` updates against the initial
generator (the W-GAN reference code likewise trains its critic 100 times per generator step for
the first 25 steps): a fresh gradient-penalty critic needs several hundred updates to grow to the
scale of W1, and an estimate made before that says nothing about the samples. Records are taken
from the first of those steps on.

JSON: ``data``, ``steps``, ``record_steps``, ``wgan`` {``estimate``, ``w1``}, ``gan`` {``loss_d``,
``js_estimate``, ``w1``}, ``r_wgan`` (r of estimate and W1), ``r_gan_loss`` (r of L_D and W1),
``r_gan_js`` (r of the JS estimate and W1), ``batch_size``, ``width``, ``warmup``, ``settings``
{``wgan``, ``gan``: the resolved optimiser settings of each run}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import toy_sample
from gankit.divergences import LOG2, wasserstein
from gankit.experiments.common import (
    jsonable,
    loss_settings,
    pearson,
    pyplot,
    record_along,
    save_figure,
    single_thread,
    toy_config,
)
from gankit.losses import LOSSES, d_loss_gan
from gankit.models import eval_mode, sample_noise

TITLE = "Does the loss track sample quality? Critic estimate and GAN discriminator loss against the true W1"
CLAIM = "Claim tested (W-GAN paper): the critic's E f(real) - E f(fake) follows the true W1 between data and samples along training, while the GAN discriminator's loss is not a measure of sample quality."

DATA = "grid25"
WIDTH = 64
BATCH = 128
RECORDS = {True: 15, False: 30}  # quick -> records along the run
WARMUP = 500
ESTIMATE_POINTS = 4096
W1_POINTS = 1000
WGAN_LOSS, GAN_LOSS = "wgan-gp", "gan-ns"
# the paper's lambda and generator learning rate; critic learning rate, betas and K as resolved
WGAN_OVERRIDES = {"loss.gp_weight": LOSSES[WGAN_LOSS].gp_weight, "loss.lr_g": LOSSES[WGAN_LOSS].lr, "train.ema": 0.0}
GAN_OVERRIDES = {"train.ema": 0.0}


def budget(quick: bool) -> int:
    """Generator steps per run: 500 in quick mode, 3,000 otherwise."""
    return 500 if quick else 3_000


@torch.no_grad()
def _measure(tr, gen: torch.Generator) -> tuple[float, float, float]:
    """(E f(real) - E f(fake), L_D of eq. 1-1, exact W1) on fresh draws."""
    G, D = tr.parts.G, tr.parts.D
    real = toy_sample(DATA, ESTIMATE_POINTS, generator=gen)  # (N, 2)
    z = sample_noise(ESTIMATE_POINTS, tr.cfg.model.z_dim, tr.cfg.model.noise, generator=gen)
    with eval_mode(G):
        fake = G(z)  # (N, 2)
    r, f = D(real), D(fake)
    estimate = float(r.mean() - f.mean())
    loss_d = float(d_loss_gan(r, f))
    w1 = wasserstein(fake[:W1_POINTS].double().numpy(), real[:W1_POINTS].double().numpy())
    return estimate, loss_d, w1


def record_steps(steps: int, count: int) -> list[int]:
    """``count`` evenly spaced generator steps ending at ``steps``."""
    return np.linspace(steps / count, steps, count).round().astype(int).tolist()


def run(loss: str, steps: int, seed: int, records: list[int],
        overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``loss`` on ``DATA`` and measure at the generator steps ``records``.

    Returns:
        ``{"estimate": [...], "loss_d": [...], "w1": [...], "settings": {...}}``, one value per record.
    """
    gen = torch.Generator().manual_seed(seed + 101)
    cfg = toy_config(loss, data=DATA, steps=steps, batch_size=BATCH, width=WIDTH, seed=seed, overrides=overrides)

    def warm_up(trainer) -> None:
        for _ in range(WARMUP):
            trainer.discriminator_step()

    measured, run = record_along(cfg, records, lambda trainer: _measure(trainer, gen), before=warm_up)
    estimate, loss_d, w1 = (list(column) for column in zip(*measured, strict=True))
    return {"estimate": estimate, "loss_d": loss_d, "w1": w1, "settings": loss_settings(run.config)}


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train wgan-gp and gan-ns on grid25 and correlate their losses with the true W1.

    Args:
        quick: ``budget(True)`` generator steps per run instead of ``budget(False)``.
        seed: the training seed of both runs.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    steps = budget(quick)
    records = record_steps(steps, RECORDS[quick])
    with single_thread():
        wgan = run(WGAN_LOSS, steps, seed, records, WGAN_OVERRIDES)
        gan = run(GAN_LOSS, steps, seed, records, GAN_OVERRIDES)
    js_est = [LOG2 - 0.5 * v for v in gan["loss_d"]]
    return jsonable({
        "data": DATA,
        "steps": steps,
        "record_steps": records,
        "wgan": {"estimate": wgan["estimate"], "w1": wgan["w1"]},
        "gan": {"loss_d": gan["loss_d"], "js_estimate": js_est, "w1": gan["w1"]},
        "r_wgan": pearson(wgan["estimate"], wgan["w1"]),
        "r_gan_loss": pearson(gan["loss_d"], gan["w1"]),
        "r_gan_js": pearson(js_est, gan["w1"]),
        "batch_size": BATCH,
        "width": WIDTH,
        "warmup": WARMUP,
        "settings": {"wgan": wgan["settings"], "gan": gan["settings"]},
    })


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the correlations."""
    w, g = result["wgan"], result["gan"]
    ws, gs = result["settings"]["wgan"], result["settings"]["gan"]
    return [
        f"- {result['steps']} generator steps on {result['data']}, {len(result['record_steps'])} records; "
        f"wgan-gp: lambda {ws['gp_weight']:g}, K {ws['d_steps']}, lr critic {ws['lr_d']:g} / generator "
        f"{ws['lr_g']:g}; gan-ns: K {gs['d_steps']}, lr {gs['lr_d']:g} / {gs['lr_g']:g}",
        f"- wgan-gp: Pearson r(critic estimate, true W1) = {result['r_wgan']:.3f}; W1 {w['w1'][0]:.3f} -> "
        f"{w['w1'][-1]:.3f}, estimate {w['estimate'][0]:.3f} -> {w['estimate'][-1]:.3f}",
        f"- gan-ns: r(L_D, true W1) = {result['r_gan_loss']:.3f}, r(JS estimate, W1) = {result['r_gan_js']:.3f}; "
        f"W1 {g['w1'][0]:.3f} -> {g['w1'][-1]:.3f}, L_D {g['loss_d'][0]:.3f} -> {g['loss_d'][-1]:.3f} "
        f"(2 log 2 = {2 * LOG2:.3f})",
    ]


def plot(result: dict[str, Any], path: str | Path) -> None:
    """W-GAN: estimate and W1 against steps; GAN: L_D and W1; and the two scatter plots."""
    plt = pyplot()
    steps = np.asarray(result["record_steps"])
    w, g = result["wgan"], result["gan"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ax.plot(steps, w["w1"], "o-", ms=3, color="k", label="true W1 (POT, exact)")
    ax.plot(steps, w["estimate"], "s-", ms=3, color="tab:red", label=r"critic: $\mathbb{E} f(x) - \mathbb{E} f(G(z))$")
    ax.set(xlabel="generator steps", ylabel="distance", title=f"wgan-gp (r = {result['r_wgan']:.2f})")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(steps, g["w1"], "o-", ms=3, color="k", label="true W1 (POT, exact)")
    ax.set(xlabel="generator steps", ylabel="W1", title=f"gan-ns (r(L_D, W1) = {result['r_gan_loss']:.2f})")
    twin = ax.twinx()
    twin.plot(steps, g["loss_d"], "s-", ms=3, color="tab:blue", label=r"discriminator loss $L_D$")
    twin.axhline(2 * LOG2, color="tab:blue", ls=":", lw=0.8)
    twin.set_ylabel(r"$L_D$ (dotted: $2 \log 2$)", color="tab:blue")
    lines = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], fontsize=8)
    ax = axes[2]
    ax.scatter(w["w1"], w["estimate"], color="tab:red", s=14, label="wgan-gp: critic estimate")
    ax.scatter(g["w1"], g["js_estimate"], color="tab:blue", s=14, marker="s", label=r"gan-ns: $\log 2 - L_D / 2$")
    hi = max(max(w["w1"]), max(w["estimate"]))
    ax.plot([0, hi], [0, hi], color="0.6", ls="--", lw=0.8, label="y = x")
    ax.set(xlabel="true W1", ylabel="what the loss says", title="loss against sample quality")
    ax.legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "budget", "numbers", "plot", "run", "summary"]
