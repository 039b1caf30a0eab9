r"""Mode coverage on ring8 for the four losses, and K = 1 against K = 5 discriminator steps.

``gan-ns``, ``gan-minimax``, ``wgan`` (weight clipping) and ``wgan-gp`` are trained on ring8 (8
Gaussians of std 0.01 on the unit circle) with the same networks, batch size and number of
generator steps. Everything is what ``gankit train --data ring8 --loss LOSS`` resolves for 2-D
points (:data:`gankit.training.config.KIND_DEFAULTS`): 3-hidden-layer MLPs of width ``WIDTH``,
2-D uniform noise, batch ``BATCH``, gankit's toy-tuned optimiser settings (Adam lr 1e-3 for the
GAN losses; RMSProp 5e-4, c = 0.01 for ``wgan``; Adam 1e-3, betas (0.5, 0.9), lambda 0.1 for
``wgan-gp``) and an EMA of the generator's weights (decay 0.99), which is what is scored, as
``gankit evaluate`` does. Only the number of steps is the experiment's own. Every loss is run
twice, with K = 1 and K = 5 discriminator (critic) steps per generator step; K = 1 is the paper
setting of the GAN losses and K = 5 that of the W-GAN ones. The runs go through
:class:`gankit.training.loop.Trainer`.

Along each run, at ``EVALS`` evenly spaced steps, ``EVAL_POINTS`` generated points are scored with
:func:`gankit.metrics.toy.mode_metrics` (VEEGAN / PacGAN protocol: a mode is *captured* when a
generated point lies within 3 std of it; high-quality fraction; reverse KL of the mode histogram
against uniform; exact W1 to fresh data). The final row uses 2,500 points, as PacGAN does.
Snapshots of 400 points at four times are kept for the paper-K run of each loss.

The claim checked (tests/test_experiments.py): at each loss's paper K, ``wgan-gp`` ends the quick
budget with more modes captured than ``gan-ns``; docs/theory.md reports it for several seeds.

JSON: ``losses``, ``k_values``, ``steps``, ``batch_size``, ``width``, ``eval_steps``,
``runs`` {loss: {"K=1": run, "K=5": run}} with run = {``curve`` {metric: [per eval step]},
``final`` (mode_metrics on 2,500 points), ``seconds``, ``settings`` (the resolved optimiser
settings)}, ``snapshots`` {loss: {``steps``, ``points`` [[x, y], ...] per step}}, ``paper_k``
{loss: K}, ``table`` (rows of the final metrics), ``scored`` (which generator is scored).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import toy_modes, toy_sample
from gankit.experiments.common import (
    jsonable,
    loss_settings,
    pyplot,
    record_along,
    sample_points,
    save_figure,
    single_thread,
    toy_config,
)
from gankit.losses import LOSSES
from gankit.metrics.toy import mode_metrics
from gankit.training.defaults import KIND_DEFAULTS

TITLE = "Mode collapse on ring8: four losses, K = 1 and K = 5"
CLAIM = "Claim tested (tutorial): the W-GAN losses suffer less mode collapse than the GAN losses. Same networks, batch and generator steps for all (gankit's toy defaults); K = 1 and K = 5 discriminator steps per generator step."

DATA = "ring8"
LOSS_NAMES = ("gan-ns", "gan-minimax", "wgan", "wgan-gp")
K_VALUES = (1, 5)
WIDTH = KIND_DEFAULTS["points"]["width"]
BATCH = KIND_DEFAULTS["points"]["batch_size"]
EVALS = 10
EVAL_POINTS = 1000
FINAL_POINTS = 2500
SNAPSHOT_POINTS = 400
METRICS = ("modes_captured", "high_quality", "reverse_kl", "w1")
SCORED = "EMA of the generator's weights (gankit's toy default), as gankit evaluate scores"


def budget(quick: bool) -> int:
    """Generator steps per run: 600 in quick mode, 3,000 otherwise."""
    return 600 if quick else 3_000


def evaluation_steps(steps: int) -> list[int]:
    """The ``EVALS`` evenly spaced generator steps at which a run is scored, ending at ``steps``."""
    return np.linspace(steps / EVALS, steps, EVALS).round().astype(int).tolist()


def train_and_score(
    loss: str, d_steps: int, steps: int, seed: int, snapshot_steps: list[int] | None = None
) -> dict[str, Any]:
    """Train one run of ``loss`` with K = ``d_steps`` on ring8 and score it along the way.

    Args:
        loss: a key of :data:`gankit.losses.LOSSES`.
        d_steps: discriminator (critic) steps per generator step.
        steps: generator steps.
        seed: training seed; the scoring noise and the fresh data are seeded from it too.
        snapshot_steps: generator steps at which to keep ``SNAPSHOT_POINTS`` samples.

    Returns:
        ``{"curve": {metric: [...]}, "final": {...}, "seconds": float, "settings": {...},
        "snapshots": [[N, 2] arrays]}``.
    """
    modes, std = toy_modes(DATA)
    modes_np = modes.numpy()
    eval_at, snap_at = set(evaluation_steps(steps)), set(snapshot_steps or [])
    real = toy_sample(DATA, FINAL_POINTS, generator=torch.Generator().manual_seed(seed + 7)).double().numpy()
    start = time.perf_counter()
    cfg = toy_config(loss, data=DATA, steps=steps, batch_size=BATCH, width=WIDTH, seed=seed, d_steps=d_steps)

    def measure(trainer) -> tuple[np.ndarray | None, dict[str, Any] | None]:
        """(snapshot or None, mode metrics or None) of the scored generator now."""
        G, step, m = trainer.parts.scored_generator, trainer.step, trainer.cfg.model
        snap = sample_points(G, SNAPSHOT_POINTS, z_dim=m.z_dim, noise=m.noise, seed=seed + 11) if step in snap_at else None
        if step not in eval_at:
            return snap, None
        x = sample_points(G, EVAL_POINTS, z_dim=m.z_dim, noise=m.noise, seed=seed + 13)
        return snap, mode_metrics(x, modes_np, std, real=real[:EVAL_POINTS])

    records, run = record_along(cfg, eval_at | snap_at, measure)
    m = run.config.model
    final = mode_metrics(sample_points(run.generator, FINAL_POINTS, z_dim=m.z_dim, noise=m.noise, seed=seed + 17),
                         modes_np, std, real=real)
    scores = [m for _, m in records if m is not None]
    return {"curve": {k: [m[k] for m in scores] for k in METRICS}, "final": final,
            "seconds": time.perf_counter() - start, "settings": loss_settings(run.config),
            "snapshots": [s for s, _ in records if s is not None]}


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train every loss with K = 1 and K = 5 on ring8 and score the runs.

    Args:
        quick: ``budget(True)`` generator steps per run instead of ``budget(False)``.
        seed: the training seed of every run.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    steps = budget(quick)
    snapshot_steps = [steps // 8, steps // 4, steps // 2, steps]
    paper_k = {name: LOSSES[name].d_steps for name in LOSS_NAMES}
    runs: dict[str, dict[str, Any]] = {}
    snapshots: dict[str, Any] = {}
    table = []
    with single_thread():
        for name in LOSS_NAMES:
            runs[name] = {}
            for k in K_VALUES:
                is_paper = k == paper_k[name]
                run = train_and_score(name, k, steps, seed, snapshot_steps if is_paper else None)
                snaps = run.pop("snapshots")
                if is_paper:
                    snapshots[name] = {"steps": snapshot_steps, "points": [np.round(s, 4) for s in snaps]}
                runs[name][f"K={k}"] = run
                f = run["final"]
                table.append({"loss": name, "K": k, "paper_K": is_paper, **{m: f[m] for m in METRICS}})
    return jsonable({
        "losses": list(LOSS_NAMES), "k_values": list(K_VALUES), "steps": steps, "batch_size": BATCH,
        "width": WIDTH, "eval_steps": evaluation_steps(steps), "runs": runs, "snapshots": snapshots,
        "paper_k": paper_k, "table": table, "scored": SCORED,
    })


def paper_k_modes(result: dict[str, Any]) -> dict[str, int]:
    """Final modes captured by each loss at its paper K, read from ``result["table"]``."""
    return {row["loss"]: row["modes_captured"] for row in result["table"] if row["paper_K"]}


def summary(result: dict[str, Any]) -> list[str]:
    """A markdown table of the final metrics."""
    modes = paper_k_modes(result)
    lines = [
        f"- {result['steps']} generator steps, batch {result['batch_size']}, MLPs of width {result['width']}, "
        f"gankit's toy optimiser settings; scored: {result['scored']}",
        f"- at the paper K: wgan-gp {modes['wgan-gp']} modes of 8, gan-ns {modes['gan-ns']}, "
        f"gan-minimax {modes['gan-minimax']}, wgan {modes['wgan']}",
        f"- final metrics on {FINAL_POINTS} points (* = the paper's K for that loss):",
        "",
        "| loss | K | modes (of 8) | high quality | reverse KL | W1 |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["table"]:
        star = "*" if row["paper_K"] else ""
        lines.append(f"| {row['loss']} | {row['K']}{star} | {row['modes_captured']} | {row['high_quality']:.3f} | "
                     f"{float(row['reverse_kl']):.3f} | {row['w1']:.3f} |")
    return lines


def _plain_ticks():
    """Log-axis tick labels as plain numbers, only at 1, 2 and 5 times a power of ten."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _pos: int) -> str:
        lead = f"{value:.0e}"[0]
        return f"{value:g}" if value > 0 and lead in "125" else ""

    return FuncFormatter(label)


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Snapshot grid (losses x times, paper K), then modes captured and W1 against steps for both K."""
    plt = pyplot()
    losses = result["losses"]
    snap_steps = result["snapshots"][losses[0]]["steps"]
    n_cols = len(snap_steps)
    modes, _ = toy_modes(DATA)
    fig = plt.figure(figsize=(2.2 * n_cols + 5.2, 2.2 * len(losses)))
    # a narrow empty column keeps the curves' axis labels clear of the scatter plots
    grid = fig.add_gridspec(len(losses), n_cols + 3, width_ratios=[1] * n_cols + [0.3, 1.25, 1.25], wspace=0.15,
                            hspace=0.4)
    colors = dict(zip(losses, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False))
    for r, name in enumerate(losses):
        snap = result["snapshots"][name]
        for c, (step, pts) in enumerate(zip(snap["steps"], snap["points"], strict=True)):
            ax = fig.add_subplot(grid[r, c])
            pts = np.asarray(pts)
            ax.scatter(modes[:, 0], modes[:, 1], s=25, c="tab:blue", alpha=0.35, marker="o")
            ax.scatter(pts[:, 0], pts[:, 1], s=1.5, c="tab:red", alpha=0.6)
            ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), aspect="equal", xticks=[], yticks=[])
            if r == 0:
                ax.set_title(f"step {step}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{name} (K={result['paper_k'][name]})", fontsize=9)
    steps = result["eval_steps"]
    ax_m = fig.add_subplot(grid[: len(losses) // 2, n_cols + 1:])
    ax_w = fig.add_subplot(grid[len(losses) // 2:, n_cols + 1:])
    for name in losses:
        for k, style in zip(result["k_values"], ("-", "--"), strict=False):
            curve = result["runs"][name][f"K={k}"]["curve"]
            label = f"{name} K={k}"
            ax_m.plot(steps, curve["modes_captured"], style, color=colors[name], marker="o", ms=2.5, label=label)
            ax_w.plot(steps, curve["w1"], style, color=colors[name], marker="o", ms=2.5)
    ax_m.set(ylim=(-0.3, 8.5), title="modes captured (of 8, EMA generator); solid K=1, dashed K=5")
    ax_w.set(xlabel="generator steps", yscale="log", title="exact W1 to data (log scale)")
    ax_w.yaxis.set_minor_formatter(_plain_ticks())
    ax_w.yaxis.set_major_formatter(_plain_ticks())
    # below the W1 panel, clear of the curves
    handles, labels = ax_m.get_legend_handles_labels()
    ax_w.legend(handles, labels, fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    for ax in (ax_m, ax_w):
        ax.grid(alpha=0.3)
    save_figure(fig, path, dpi=80)


__all__ = ["CLAIM", "LOSS_NAMES", "TITLE", "budget", "evaluation_steps", "numbers", "paper_k_modes", "plot", "summary",
           "train_and_score"]
