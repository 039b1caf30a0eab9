r"""Does the critic track W1 along a real W-GAN run? Fresh critics on frozen generators, against exact W1.

A ``wgan-gp`` run and a ``gan-ns`` run train on grid25 (25 Gaussians of std 0.05 on
:math:`\{-4, \dots, 4\}^2`) with everything but the loss the same (``SHARED``): 3-hidden-layer MLPs
of width ``WIDTH``, 2-D uniform noise, batch ``BATCH``, Adam ``LR`` with betas ``BETAS`` for both
networks, ``K`` discriminator (critic) steps per generator step, no EMA (the measured generator is
the one being trained), and ``WARMUP`` discriminator updates against the initial generator before
the first generator step. The WGAN-GP run uses the paper's lambda = 10. At ``RECORDS`` evenly spaced
generator steps the generator is frozen and measured:

* **a fresh critic** is fitted from scratch to the frozen generator's samples against fresh data:
  the WGAN-GP critic of :mod:`gankit.experiments.critic_vs_w1` (its networks, optimiser, lambda = 10,
  batch and number of steps; see :func:`fit`), whose held-out
  :math:`\hat W = \mathbb E f(x) - \mathbb E f(G(z))` on ``HELD_OUT`` points of each side is the
  Kantorovich-Rubinstein estimate of W1 (W-GAN paper, eq. 3) of *that* generator, free of any lag
  of the training critic. Its Lipschitz constant is measured on a grid (``lipschitz``);
* **a fresh GAN discriminator** likewise (cross-entropy), giving
  :math:`\widehat{JS} = \log 2 - L_D / 2` (exact at the optimal D);
* **the training networks' own values**: the training critic's :math:`\hat W`, and the GAN
  discriminator's :math:`L_D` and JS estimate, on the same held-out points;
* **the exact W1** between ``W1_POINTS`` generated and as many fresh data points (POT network
  simplex through :func:`gankit.divergences.wasserstein`).

The sample W1 is biased upwards by the finite samples. Its **noise floor** is measured as the exact
W1 between two independent data samples of ``W1_POINTS`` each (``FLOOR_REPEATS`` pairs), and drawn;
so is a fresh critic's estimate between two independent data streams (``critic_floor``).

Agreement is measured by Spearman's rank correlation (and Pearson's r) of each quantity with the
exact W1, over the whole run and over its *late* phase (the second half of the records, where the
samples are close to the data and W1 changes little), for each of ``N_SEEDS`` seeds.

JSON: ``data``, ``steps``, ``record_steps``, ``late_from`` (index of the first late record),
``seeds``, ``w1_points``, ``fit_steps``, ``floor`` {``w1`` [repeats], ``mean``, ``sd``,
``critic`` [per seed]}, ``runs`` [per seed: {``seed``, ``wgan`` {``w1``, ``fresh``,
``fresh_lipschitz``, ``train``, ``fresh_js``}, ``gan`` {``w1``, ``fresh``, ``fresh_lipschitz``,
``loss_d``, ``train_js``, ``fresh_js``}, ``corr`` {name: {``spearman_all``, ``spearman_late``,
``pearson_all``, ``pearson_late``}}, ``settings`` {``wgan``, ``gan``}}], ``corr_summary`` {name:
{statistic: {``mean``, ``min``, ``max``}}}, ``negative`` {name: number of negative estimates},
``settings``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import toy_sample
from gankit.divergences import LOG2, wasserstein
from gankit.experiments import critic_vs_w1 as cw
from gankit.experiments.common import (
    fit_discriminator,
    jsonable,
    loss_settings,
    pearson,
    pyplot,
    record_along,
    save_figure,
    single_thread,
    toy_config,
)
from gankit.losses import d_loss_gan
from gankit.models import MLPDiscriminator, eval_mode, sample_noise

TITLE = "Does the critic track W1? Fresh critics on frozen generators against exact W1, with its noise floor"
CLAIM = ("Claim tested (W-GAN paper): the critic's E f(real) - E f(fake) follows the true W1 between data and "
         "samples along training, while the GAN discriminator's loss does not. Both runs share lr, betas, K, "
         "networks and batch; rank correlations over the whole run and its late phase, several seeds.")

DATA = "grid25"
WGAN_LOSS, GAN_LOSS = "wgan-gp", "gan-ns"
WIDTH, BATCH = 64, 128
K, LR, BETAS = 5, 1e-3, (0.5, 0.9)
TRAIN_LAMBDA = cw.LAMBDA  # 10, the WGAN-GP paper's: a near 1-Lipschitz training critic
WARMUP = {True: 100, False: 500}
RECORDS = {True: 5, False: 16}
FIT_STEPS = {True: 150, False: cw.STEPS[False]}  # critic_vs_w1's 500 at full budget
W1_POINTS = {True: 1000, False: 2500}
FLOOR_REPEATS = {True: 2, False: 5}
N_SEEDS = {True: 1, False: 3}
HELD_OUT = cw.HELD_OUT
LIPSCHITZ_GRID = 61  # points per axis of the grid over [-5, 5]^2 where the gradient norm is maximised
SHARED = {"loss.lr_g": LR, "loss.lr_d": LR, "loss.beta1": BETAS[0], "loss.beta2": BETAS[1], "loss.d_steps": K,
          "train.ema": 0.0}
OVERRIDES = {WGAN_LOSS: {**SHARED, "loss.gp_weight": TRAIN_LAMBDA}, GAN_LOSS: SHARED}
CORRELATED = {  # name -> (run, quantity) compared with that run's exact W1
    "wgan_fresh": ("wgan", "fresh"),
    "wgan_train": ("wgan", "train"),
    "gan_fresh": ("gan", "fresh"),
    "gan_train_js": ("gan", "train_js"),
    "gan_fresh_js": ("gan", "fresh_js"),
}

Draw = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]


def budget(quick: bool) -> int:
    """Generator steps per run: 300 quick, 2,000 full."""
    return 300 if quick else 2_000


def record_steps(steps: int, count: int) -> list[int]:
    """``count`` evenly spaced generator steps ending at ``steps``."""
    return np.linspace(steps / count, steps, count).round().astype(int).tolist()


def fit(kind: str, draw: Draw, *, steps: int, seed: int) -> torch.nn.Module:
    """A fresh network fitted to ``draw(n, step) -> (P [n, 2], Q [n, 2])``, as critic_vs_w1 trains one.

    ``kind="penalty"``: the WGAN-GP critic of :func:`gankit.experiments.critic_vs_w1.train` (its
    width, depth, batch, Adam settings, lambda = 10, its ``WARMUP`` steps without the penalty);
    ``kind="gan"``: its cross-entropy discriminator. Unlike that function it takes any sampler and
    leaves torch's global RNG as it found it (it runs inside a training run).
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = MLPDiscriminator(in_dim=2, width=cw.WIDTH, depth=cw.DEPTH)
        lr, betas = (cw.GAN_LR, cw.GAN_BETAS) if kind == "gan" else (cw.CRITIC_LR, cw.CRITIC_BETAS)
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=betas)
        fit_discriminator(net, opt, draw, steps=steps, batch=cw.BATCH, loss="gan" if kind == "gan" else "wgan",
                          gp_weight=cw.LAMBDA, warmup=cw.WARMUP, eps_gen=torch.Generator().manual_seed(seed + 11))
    return net.requires_grad_(False)


def _grid() -> torch.Tensor:
    axis = torch.linspace(-5.0, 5.0, LIPSCHITZ_GRID)
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def frozen_draw(G: torch.nn.Module, z_dim: int, noise: str, seed: int) -> Draw:
    """Fresh data against fresh samples of a frozen copy of ``G``; a deterministic function of (seed, step)."""
    G = copy.deepcopy(G).eval().requires_grad_(False)

    def draw(n: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(1_000_003 * seed + step + 7)
        real = toy_sample(DATA, n, generator=gen)
        with torch.no_grad():
            fake = G(sample_noise(n, z_dim, noise, generator=gen))
        return real, fake

    return draw


def real_draw(seed: int) -> Draw:
    """Two independent streams of data: what a critic sees when the generator is perfect."""
    def draw(n: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(1_000_003 * seed + step + 7)
        return toy_sample(DATA, n, generator=gen), toy_sample(DATA, n, generator=gen)

    return draw


@torch.no_grad()
def estimate(net: torch.nn.Module, p: torch.Tensor, q: torch.Tensor) -> float:
    """E_P f - E_Q f on held-out points."""
    return float(net(p).mean() - net(q).mean())


def measure(trainer, *, loss: str, quick: bool, seed: int, index: int) -> dict[str, float]:
    """Freeze the generator now; fit fresh networks to it; exact W1; the training network's values."""
    m = trainer.cfg.model
    draw = frozen_draw(trainer.parts.G, m.z_dim, m.noise, 10_000 * seed + index)
    held_p, held_q = draw(HELD_OUT, -1)  # held out: no training step uses step -1
    n = W1_POINTS[quick]
    w1_real, _ = draw(n, -2)
    out: dict[str, float] = {"w1": wasserstein(held_q[:n].double().numpy(), w1_real.double().numpy())}
    critic = fit("penalty", draw, steps=FIT_STEPS[quick], seed=seed + index)
    out["fresh"] = estimate(critic, held_p, held_q)
    out["fresh_lipschitz"] = cw.lipschitz(critic, _grid())
    disc = fit("gan", draw, steps=FIT_STEPS[quick], seed=seed + index)
    with torch.no_grad():
        out["fresh_js"] = LOG2 - 0.5 * float(d_loss_gan(disc(held_p), disc(held_q)))
    D = trainer.parts.D
    with eval_mode(D), torch.no_grad():
        if loss == WGAN_LOSS:
            out["train"] = estimate(D, held_p, held_q)
        else:
            out["loss_d"] = float(d_loss_gan(D(held_p), D(held_q)))
            out["train_js"] = LOG2 - 0.5 * out["loss_d"]
    return out


def run(loss: str, steps: int, seed: int, records: list[int], quick: bool) -> dict[str, Any]:
    """Train ``loss`` on grid25 with the shared settings; measure at the generator steps ``records``."""
    cfg = toy_config(loss, data=DATA, steps=steps, batch_size=BATCH, width=WIDTH, seed=seed,
                     overrides=OVERRIDES[loss])
    index = iter(range(len(records)))

    def warm_up(trainer) -> None:
        for _ in range(WARMUP[quick]):
            trainer.discriminator_step()

    measured, result = record_along(cfg, records, lambda tr: measure(tr, loss=loss, quick=quick, seed=seed,
                                                                     index=next(index)), before=warm_up)
    columns = {key: [row[key] for row in measured] for key in measured[0]}
    return {**columns, "settings": loss_settings(result.config)}


def _spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def correlations(values: list[float], w1: list[float], late_from: int) -> dict[str, float]:
    """Spearman and Pearson of ``values`` with ``w1``, over all records and from ``late_from`` on."""
    return {"spearman_all": _spearman(values, w1), "spearman_late": _spearman(values[late_from:], w1[late_from:]),
            "pearson_all": pearson(values, w1), "pearson_late": pearson(values[late_from:], w1[late_from:])}


def noise_floor(quick: bool, seed: int) -> list[float]:
    """Exact W1 between pairs of independent data samples of ``W1_POINTS`` each."""
    n = W1_POINTS[quick]
    out = []
    for i in range(FLOOR_REPEATS[quick]):
        gen = torch.Generator().manual_seed(seed + 7919 * (i + 1))
        a, b = toy_sample(DATA, n, generator=gen), toy_sample(DATA, n, generator=gen)
        out.append(wasserstein(a.double().numpy(), b.double().numpy()))
    return out


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train wgan-gp and gan-ns on grid25 for ``N_SEEDS`` seeds; fit fresh networks along each run.

    Args:
        quick: small budgets (300 steps, 5 records, 150-step fits, W1 on 1,000 points, one seed).
        seed: the first training seed (seeds ``seed``, ``seed + 1``, ...).

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    steps = budget(quick)
    records = record_steps(steps, RECORDS[quick])
    late_from = len(records) // 2
    seeds = [seed + i for i in range(N_SEEDS[quick])]
    runs = []
    with single_thread():
        floor = noise_floor(quick, seed)
        critic_floor = []
        for s in seeds:
            draw = real_draw(10_000 * s + 9_999)
            held_p, held_q = draw(HELD_OUT, -1)
            critic_floor.append(estimate(fit("penalty", draw, steps=FIT_STEPS[quick], seed=s), held_p, held_q))
            wgan = run(WGAN_LOSS, steps, s, records, quick)
            gan = run(GAN_LOSS, steps, s, records, quick)
            by_run = {"wgan": wgan, "gan": gan}
            corr = {name: correlations(by_run[r][q], by_run[r]["w1"], late_from) for name, (r, q) in CORRELATED.items()}
            runs.append({"seed": s, "wgan": {k: v for k, v in wgan.items() if k != "settings"},
                         "gan": {k: v for k, v in gan.items() if k != "settings"}, "corr": corr,
                         "settings": {"wgan": wgan["settings"], "gan": gan["settings"]}})
    corr_summary = {}
    for name in CORRELATED:
        corr_summary[name] = {}
        for stat in ("spearman_all", "spearman_late", "pearson_all", "pearson_late"):
            vals = [r["corr"][name][stat] for r in runs]
            finite = [v for v in vals if not math.isnan(v)]
            corr_summary[name][stat] = ({"mean": float(np.mean(finite)), "min": min(finite), "max": max(finite)}
                                        if finite else {"mean": math.nan, "min": math.nan, "max": math.nan})
    negative = {name: sum(v < 0 for r in runs for v in r[run_][q]) for name, (run_, q) in CORRELATED.items()
                if not q.endswith("js")}
    return jsonable({
        "data": DATA, "steps": steps, "record_steps": records, "late_from": late_from, "seeds": seeds,
        "w1_points": W1_POINTS[quick], "fit_steps": FIT_STEPS[quick],
        "floor": {"w1": floor, "mean": float(np.mean(floor)), "sd": float(np.std(floor, ddof=1)) if len(floor) > 1 else 0.0,
                  "critic": critic_floor},
        "runs": runs, "corr_summary": corr_summary, "negative": negative,
        "settings": {"width": WIDTH, "batch": BATCH, "k": K, "lr": LR, "betas": list(BETAS), "lambda_train": TRAIN_LAMBDA,
                     "lambda_fresh": cw.LAMBDA, "warmup": WARMUP[quick], "held_out": HELD_OUT,
                     "fresh_critic": f"critic_vs_w1: MLP {cw.WIDTH}x{cw.DEPTH}, Adam {cw.CRITIC_LR:g} {cw.CRITIC_BETAS}, "
                                     f"batch {cw.BATCH}, {cw.WARMUP} steps without the penalty"},
    })


def _fmt(stat: dict[str, Any]) -> str:
    mean, lo, hi = (float(stat[k]) for k in ("mean", "min", "max"))
    return "n/a" if math.isnan(mean) else f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


NAMES = {
    "wgan_fresh": "wgan-gp run: fresh critic",
    "wgan_train": "wgan-gp run: training critic",
    "gan_fresh": "gan-ns run: fresh critic",
    "gan_train_js": "gan-ns run: training D, JS estimate",
    "gan_fresh_js": "gan-ns run: fresh D, JS estimate",
}


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown: the settings, the noise floor, and a table of rank correlations (mean [min, max] over seeds)."""
    s, f = result["settings"], result["floor"]
    n = len(result["seeds"])
    late = result["record_steps"][result["late_from"]]
    lines = [
        f"- {result['steps']} generator steps on {result['data']}, {len(result['record_steps'])} records, seeds "
        f"{', '.join(map(str, result['seeds']))}; both runs: MLPs of width {s['width']}, batch {s['batch']}, K {s['k']}, "
        f"Adam {s['lr']:g} betas {tuple(s['betas'])} for G and D, {s['warmup']} warm-up D steps, no EMA; wgan-gp "
        f"lambda {s['lambda_train']:g}",
        f"- fresh networks: {s['fresh_critic']}, {result['fit_steps']} steps, lambda {s['lambda_fresh']:g}; estimates "
        f"on {s['held_out']} held-out points of each side",
        f"- exact W1 on {result['w1_points']} points of each side; noise floor (two independent data samples): "
        f"{f['mean']:.3f} ± {f['sd']:.3f}; a fresh critic between two data streams estimates "
        + ", ".join(f"{v:.3f}" for v in f["critic"]),
        f"- late phase: records from step {late} on; negative estimates: "
        + ", ".join(f"{NAMES[k]} {v}" for k, v in result["negative"].items()),
        "",
        "| quantity against exact W1 | Spearman, whole run | Spearman, late | Pearson, whole run | Pearson, late |",
        "|---|---|---|---|---|",
    ]
    for name, stats in result["corr_summary"].items():
        lines.append(f"| {NAMES[name]} | {_fmt(stats['spearman_all'])} | {_fmt(stats['spearman_late'])} | "
                     f"{_fmt(stats['pearson_all'])} | {_fmt(stats['pearson_late'])} |")
    lines.append(f"\n(mean [min, max] over {n} seed(s))")
    return lines


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Top: the first seed's wgan-gp run (estimates and W1 on one distance axis, with the noise floor)
    and gan-ns run (W1 left, JS estimates on their own right axis). Bottom: estimate against W1 over
    all seeds (one axis per kind of quantity; y = x only where both sides are distances)."""
    plt = pyplot()
    steps = np.asarray(result["record_steps"])
    first = result["runs"][0]
    w, g = first["wgan"], first["gan"]
    f = result["floor"]
    late_step = steps[result["late_from"]]
    fig, axes = plt.subplots(2, 2, figsize=(13, 10.5), layout="constrained")
    (ax_w, ax_g), (ax_sw, ax_sg) = axes

    def floor_band(ax) -> None:
        ax.axhspan(f["mean"] - f["sd"], f["mean"] + f["sd"], color="0.6", alpha=0.35, lw=0,
                   label=f"W1 noise floor: two data samples of {result['w1_points']} ({f['mean']:.2f})")

    def late_marker(ax) -> None:
        ax.axvline(late_step, color="0.5", ls=":", lw=1)
        ax.text(late_step, 1.0, " late phase", transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=8,
                color="0.4")

    floor_band(ax_w)
    ax_w.plot(steps, w["w1"], "o-", ms=4, color="k", label="exact W1 (POT)")
    ax_w.plot(steps, w["fresh"], "s-", ms=4, color="tab:red", label=r"fresh critic ($\lambda$ = 10): $\hat W$")
    ax_w.plot(steps, w["train"], "^--", ms=4, color="tab:orange", label=r"training critic: $\hat W$")
    lowest = min(min(w["fresh"]), min(w["train"]))
    zero_note = ("y = 0; below it an estimate says the samples score above the data:\n"
                 "not a distance (W1 >= 0), a critic that is not W1's maximiser") if lowest < 0 else "y = 0"
    ax_w.axhline(0.0, color="k", lw=0.7, label=zero_note)
    late_marker(ax_w)
    c = first["corr"]
    ax_w.set(xlabel="generator steps", ylabel="distance (W1 scale)", yscale="symlog" if max(w["w1"]) > 20 else "linear",
             title=f"wgan-gp run, seed {first['seed']}: Spearman(fresh, W1) = {c['wgan_fresh']['spearman_all']:.2f} "
                   f"whole, {c['wgan_fresh']['spearman_late']:.2f} late")
    ax_w.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    ax_w.grid(alpha=0.3)

    floor_band(ax_g)
    ax_g.plot(steps, g["w1"], "o-", ms=4, color="k", label="exact W1 (POT), left axis")
    ax_g.plot(steps, g["fresh"], "s-", ms=4, color="tab:red", label=r"fresh critic $\hat W$, left axis")
    ax_g.set(xlabel="generator steps", ylabel="distance (W1 scale)",
             title=f"gan-ns run (same lr, betas, K), seed {first['seed']}")
    late_marker(ax_g)
    twin = ax_g.twinx()
    twin.plot(steps, g["train_js"], "^--", ms=4, color="tab:blue", label=r"training D: $\log 2 - L_D/2$, right axis")
    twin.plot(steps, g["fresh_js"], "v-", ms=4, color="tab:cyan", label=r"fresh D: $\log 2 - L_D/2$, right axis")
    twin.axhline(LOG2, color="tab:blue", ls=":", lw=0.8)
    twin.text(0.99, LOG2, r"$\log 2$ ", transform=twin.get_yaxis_transform(), ha="right", va="bottom", fontsize=8,
              color="tab:blue")
    twin.set_ylabel("JS estimate (nats)", color="tab:blue")
    twin.set_ylim(min(-0.02, min(g["train_js"] + g["fresh_js"]) - 0.02), LOG2 + 0.08)
    handles = ax_g.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax_g.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                ncol=2)
    ax_g.grid(alpha=0.3)

    top = 0.0
    for i, r in enumerate(result["runs"]):
        lf = result["late_from"]
        for run_name, marker, color in (("wgan", "s", "tab:red"), ("gan", "D", "tab:purple")):
            x, y = np.asarray(r[run_name]["w1"]), np.asarray(r[run_name]["fresh"])
            top = max(top, x.max(), y.max())
            label = "wgan-gp run" if run_name == "wgan" else "gan-ns run"
            ax_sw.scatter(x[:lf], y[:lf], marker=marker, s=18, facecolors="none", edgecolors=color,
                          label=f"{label}, early" if i == 0 else None)
            ax_sw.scatter(x[lf:], y[lf:], marker=marker, s=22, color=color, label=f"{label}, late" if i == 0 else None)
    ax_sw.plot([0, top], [0, top], color="0.5", ls="--", lw=0.8, label="y = x")
    ax_sw.axvspan(0, f["mean"] + f["sd"], color="0.6", alpha=0.25, lw=0, label="W1 below the noise floor")
    ax_sw.axhline(0.0, color="k", lw=0.7)
    cs = result["corr_summary"]["wgan_fresh"]
    ax_sw.set(xlabel="exact W1 (finite samples)", ylabel=r"fresh critic $\hat W$ (held out)",
              title=f"fresh critic against W1, {len(result['runs'])} seed(s)\nSpearman (wgan-gp run): whole "
                    f"{_fmt(cs['spearman_all'])}, late {_fmt(cs['spearman_late'])}")
    ax_sw.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=3)
    ax_sw.grid(alpha=0.3)

    for i, r in enumerate(result["runs"]):
        lf = result["late_from"]
        x = np.asarray(r["gan"]["w1"])
        for key, marker, color, name in (("train_js", "^", "tab:blue", "training D"), ("fresh_js", "v", "tab:cyan",
                                                                                        "fresh D")):
            y = np.asarray(r["gan"][key])
            ax_sg.scatter(x[:lf], y[:lf], marker=marker, s=18, facecolors="none", edgecolors=color,
                          label=f"{name}, early" if i == 0 else None)
            ax_sg.scatter(x[lf:], y[lf:], marker=marker, s=22, color=color, label=f"{name}, late" if i == 0 else None)
    ax_sg.axhline(LOG2, color="tab:blue", ls=":", lw=0.8, label=r"$\log 2$ (disjoint supports)")
    ax_sg.axvspan(0, f["mean"] + f["sd"], color="0.6", alpha=0.25, lw=0)
    cj = result["corr_summary"]["gan_train_js"]
    ax_sg.set(xlabel="exact W1 (finite samples)", ylabel=r"JS estimate $\log 2 - L_D/2$ (nats)",
              title=f"gan-ns run: JS estimates against W1 (no y = x: not a distance in W1 units)\nSpearman (training D): "
                    f"whole {_fmt(cj['spearman_all'])}, late {_fmt(cj['spearman_late'])}")
    ax_sg.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=3)
    ax_sg.grid(alpha=0.3)
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "budget", "correlations", "fit", "frozen_draw", "noise_floor", "numbers", "plot",
           "record_steps", "run", "summary"]
