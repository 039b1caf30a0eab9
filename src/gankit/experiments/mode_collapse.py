r"""Mode collapse, controlled: GAN against WGAN-GP (lambda 0.1 and 10) at equal budgets, over seeds.

The tutorial credits W-GAN with less mode collapse. This experiment compares three *arms* with
everything but the loss held equal:

* ``gan-ns``: the non-saturating GAN;
* ``wgan-gp l=0.1``: WGAN-GP with gankit's toy penalty weight (the WGAN-GP authors' toy script);
  so weak a penalty leaves the critic's slope free, so this critic is not a W1 critic;
* ``wgan-gp l=10``: WGAN-GP with the paper's penalty weight (a near 1-Lipschitz critic).

Equal budgets: every arm makes the same number of generator updates (``budget``) and the same
number of discriminator (critic) updates, ``K`` = 1 per generator step for all three. Networks,
batch, learning rate (Adam 1e-3) and EMA are what ``gankit train --data D --loss L`` resolves for
2-D points (:data:`gankit.training.defaults.KIND_DEFAULTS`: 3-hidden-layer MLPs of width 128,
2-D uniform noise, batch 256, betas (0.5, 0.999) for the GAN and (0.5, 0.9) for WGAN-GP, EMA 0.99
of the generator's weights); only K, lambda and the number of steps are the experiment's.

Both generators of every run are scored: the raw G that training updates, and its EMA, which is
what ``gankit evaluate`` scores. An EMA averages over about 100 steps and hides a raw generator that
hops from mode to mode, so both are reported side by side.

Targets (``TARGETS``): ``ring8`` and ``grid25`` (gankit's toy sets) and ``ring8-skewed``, a harder
case built here from :func:`gankit.data.toy.ring_modes`: the ring8 modes (std 0.01) with unequal
weights :math:`w_k \propto 0.7^k` (from 31.9 % down to 2.6 %), the kind of rare mode a collapsing
generator drops first. It is trained through :func:`gankit.training.setup.build` with the dataset
passed in and :class:`gankit.training.loop.Trainer` (what :func:`gankit.train` runs), since it has no
``--data`` name.

Scoring (VEEGAN / PacGAN protocol, :mod:`gankit.metrics.toy`): at ``EVALS`` evenly spaced steps
``EVAL_POINTS`` points of each generator (fixed noise) are assigned to their nearest mode; a point
within 3 std is *high quality* (HQ) and a mode holding one is *captured*. The per-mode counts of HQ
points are kept (the which-mode-over-time panels). The final scores use 2,500 points, as PacGAN
does. *KL to target* is :math:`\mathrm{KL}(q \| w)` of the HQ histogram :math:`q` against the true
mode weights :math:`w` (PacGAN's reverse KL against uniform for ring8 and grid25). Per run:

* ``final``: modes, HQ, KL of each generator at the last step;
* ``late_min_modes``: the fewest modes captured at any evaluation in the second half of the run
  (a collapse that the last evaluation may have missed);
* ``turnover``: the mean total-variation distance :math:`\tfrac12 \sum_j |q_t(j) - q_{t-1}(j)|`
  between consecutive HQ histograms in the second half (evaluations with at least 10 % HQ points
  only): near 0 for a generator whose samples keep their modes, large for one that hops.

Claims are checked per seed (``checks``): for each target, whether an arm captures at least as
many modes as ``gan-ns`` on *every* seed, raw and EMA, at the end and at its worst late
evaluation. Only what holds on every seed is stated as holding (docs/theory.md section 5).

JSON: ``targets``, ``arms`` (labels), ``arm_settings`` {label: {loss, gp_weight}}, ``k``, ``steps`` {target},
``seeds``, ``eval_steps`` {target: [steps]}, ``n_modes`` {target}, ``weights`` {target: [M]}, ``runs`` {target:
{arm: [per seed: {``seed``, ``settings``, ``seconds``, for gen in ("raw", "ema"): ``counts_<gen>``
[evals][M] HQ points per mode, ``hq_<gen>`` [evals], ``final_<gen>`` {modes, hq, kl},
``late_min_modes_<gen>``, ``turnover_<gen>``}]}}, ``snapshots`` {target: {arm: {``seed``,
``steps``, ``raw``, ``ema``: [[x, y] ...] per step}}} (first seed), ``stats`` {target: {arm:
{metric: {mean, sd, min, max}}}}, ``checks`` (rows: target, arm, metric, generator, ``seeds_ok``,
``n_seeds``, ``holds``), ``featured`` (the run drawn in the which-mode-over-time panels: the raw
generator with the largest late turnover), ``scored``.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import toy_modes
from gankit.data.base import Dataset
from gankit.data.toy import ring_modes
from gankit.experiments.common import (
    Recorder,
    jsonable,
    loss_settings,
    pyplot,
    record_along,
    sample_points,
    save_figure,
    single_thread,
    toy_config,
)
from gankit.metrics.toy import HQ_STDS, nearest_modes
from gankit.training.defaults import KIND_DEFAULTS
from gankit.training.loop import Trainer
from gankit.training.setup import build

TITLE = "Mode collapse, controlled: gan-ns against WGAN-GP (lambda 0.1 and 10), equal budgets, raw and EMA G, over seeds"
CLAIM = ("Claim tested (tutorial): W-GAN suffers less mode collapse. Same networks, batch, learning rate, EMA, "
         "generator and discriminator updates (K = 1) for every arm; raw and EMA generators; ring8, grid25 and a "
         "ring with unequal mode weights; a claim is stated only where it holds on every seed.")

TARGETS = ("ring8", "grid25", "ring8-skewed")
# label -> (loss, gp_weight or None)
ARMS: dict[str, tuple[str, float | None]] = {
    "gan-ns": ("gan-ns", None),
    "wgan-gp l=0.1": ("wgan-gp", 0.1),
    "wgan-gp l=10": ("wgan-gp", 10.0),
}
K = 1
GENERATORS = ("raw", "ema")
WIDTH = KIND_DEFAULTS["points"]["width"]
BATCH = KIND_DEFAULTS["points"]["batch_size"]
EVALS = {True: 8, False: 40}
EVAL_POINTS = 1000
FINAL_POINTS = 2500
SNAPSHOT_POINTS = 300
SNAPSHOTS = 4
N_SEEDS = {True: 1, False: 8}
SKEW = 0.7  # ring8-skewed: weight of mode k proportional to SKEW**k
N_POINTS = 20_000
SCORED = "both the raw generator and its EMA (decay 0.99), on the same noise"


FULL_STEPS = {"ring8": 2_000, "ring8-skewed": 2_000, "grid25": 6_000}


def budget(quick: bool, target: str = "ring8") -> int:
    """Generator steps per run (= discriminator steps, K = 1): 200 quick; 2,000 full (grid25: 6,000).

    grid25 needs more: with gankit's toy settings its samples are still a smear over the square
    after 2,000 steps (under 10 % of them high quality for every arm).
    """
    return 200 if quick else FULL_STEPS[target]


def evaluation_steps(steps: int, evals: int) -> list[int]:
    """``evals`` evenly spaced generator steps ending at ``steps``."""
    return np.linspace(steps / evals, steps, evals).round().astype(int).tolist()


def target_modes(target: str) -> tuple[np.ndarray, float, np.ndarray]:
    """``(centres [M, 2], std, weights [M])`` of a target."""
    if target == "ring8-skewed":
        w = SKEW ** np.arange(8, dtype=np.float64)
        return ring_modes(8).numpy(), float(toy_modes("ring8")[1]), w / w.sum()
    modes, std = toy_modes(target)
    return modes.numpy(), float(std), np.full(len(modes), 1.0 / len(modes))


def skewed_dataset(seed: int, n: int = N_POINTS) -> Dataset:
    """``n`` points of ring8-skewed drawn with ``seed``, as the :class:`Dataset` a loader returns."""
    modes, std, w = target_modes("ring8-skewed")
    gen = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(torch.from_numpy(w), n, replacement=True, generator=gen)
    points = torch.from_numpy(modes)[labels] + std * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return Dataset(name="ring8-skewed", kind="points", data=points.float().contiguous(), labels=labels,
                   modes=torch.from_numpy(modes), mode_std=std)


def hq_counts(points: np.ndarray, modes: np.ndarray, std: float) -> np.ndarray:
    """High-quality points per mode ``[M]`` (within ``HQ_STDS`` std of the nearest mode)."""
    idx, dist = nearest_modes(points, modes)
    return np.bincount(idx[dist <= HQ_STDS * std], minlength=len(modes))


def kl_to_weights(counts: np.ndarray, weights: np.ndarray) -> float:
    """KL(q || w) of the HQ histogram against the true weights; inf when no point is high quality.

    With uniform weights this is PacGAN's reverse KL (:func:`gankit.metrics.toy.reverse_kl_uniform`).
    """
    total = counts.sum()
    if total == 0:
        return math.inf
    keep = counts > 0
    q = counts[keep] / total
    return float(max((q * np.log(q / weights[keep])).sum(), 0.0))


def score(counts: np.ndarray, n: int, weights: np.ndarray) -> dict[str, Any]:
    """Modes captured, HQ fraction and KL to the target of one histogram of ``n`` points."""
    return {"modes": int((counts > 0).sum()), "hq": float(counts.sum() / n), "kl": kl_to_weights(counts, weights)}


MIN_HQ_SHARE = 0.1  # turnover counts only evaluations where at least 10 % of the points are high quality


def turnover(counts: np.ndarray, n: int = EVAL_POINTS) -> float:
    """Mean TV distance between consecutive HQ histograms ``counts [T, M]`` of ``n`` points each.

    Only evaluations with at least ``MIN_HQ_SHARE`` of the points high quality count (a histogram of a
    handful of points says little); NaN when fewer than two do.
    """
    rows = [c / c.sum() for c in counts if c.sum() >= MIN_HQ_SHARE * n]
    if len(rows) < 2:
        return math.nan
    return float(np.mean([0.5 * np.abs(b - a).sum() for a, b in zip(rows, rows[1:], strict=False)]))


def _train(cfg, target: str, seed: int, at: set[int], measure) -> tuple[list[Any], Any]:
    """Train ``cfg`` (through gankit.train, or build + Trainer for ring8-skewed) measuring at ``at``."""
    if target != "ring8-skewed":
        return record_along(cfg, at, measure)

    recorder = Recorder(at, measure)
    with tempfile.TemporaryDirectory(prefix="gankit-experiment-") as scratch:
        run_dir = Path(scratch) / "run"
        run_dir.mkdir()
        parts = build(cfg, dataset=skewed_dataset(seed))
        run = Trainer(parts, run_dir, log=lambda _line: None, callbacks=[recorder]).run()
    return recorder.records, run


def train_and_score(target: str, arm: str, steps: int, seed: int, evals: int, k: int = K) -> dict[str, Any]:
    """Train one arm on one target with one seed; score the raw and EMA generators along the way.

    ``k``: discriminator steps per generator step (the experiment's ``K`` = 1 unless a side check
    asks for another; docs/theory.md reports one with K = 5).

    Returns:
        The per-run dict described in the module docstring, plus ``snapshots`` ({``steps``, ``raw``,
        ``ema``}: ``SNAPSHOT_POINTS`` samples at ``SNAPSHOTS`` times), which :func:`assemble` keeps
        for the first seed and the featured run only.
    """
    loss, gp = ARMS[arm]
    modes, std, weights = target_modes(target)
    eval_at = evaluation_steps(steps, evals)
    snap_at = set(evaluation_steps(steps, SNAPSHOTS))
    overrides = {"loss.gp_weight": gp} if gp is not None else {}
    data = "ring8" if target == "ring8-skewed" else target  # the skewed set is passed in as a Dataset
    cfg = toy_config(loss, data=data, steps=steps, batch_size=BATCH, width=WIDTH, seed=seed, d_steps=k,
                     n_points=N_POINTS, overrides=overrides)
    start = time.perf_counter()

    def measure(trainer) -> dict[str, Any]:
        m, step = trainer.cfg.model, trainer.step
        out: dict[str, Any] = {"step": step}
        final = step == steps
        for gen_name, G in (("raw", trainer.parts.G), ("ema", trainer.parts.scored_generator)):
            n = FINAL_POINTS if final else EVAL_POINTS
            x = sample_points(G, n, z_dim=m.z_dim, noise=m.noise, seed=seed + 13)
            out[gen_name] = hq_counts(x[:EVAL_POINTS], modes, std)
            if final:
                out[f"final_{gen_name}"] = score(hq_counts(x, modes, std), n, weights)
            if step in snap_at:
                out[f"snap_{gen_name}"] = np.round(x[:SNAPSHOT_POINTS], 4)
        return out

    records, run = _train(cfg, target, seed, set(eval_at) | snap_at, measure)
    evals_only = [r for r in records if r["step"] in set(eval_at)]
    half = len(evals_only) // 2
    result: dict[str, Any] = {"seed": seed, "settings": loss_settings(run.config),
                              "seconds": time.perf_counter() - start}
    for gen_name in GENERATORS:
        counts = np.stack([r[gen_name] for r in evals_only])  # (T, M)
        late = counts[half:]
        result[f"counts_{gen_name}"] = counts
        result[f"hq_{gen_name}"] = counts.sum(axis=1) / EVAL_POINTS
        result[f"final_{gen_name}"] = records[-1][f"final_{gen_name}"]
        result[f"late_min_modes_{gen_name}"] = int((late > 0).sum(axis=1).min())
        result[f"turnover_{gen_name}"] = turnover(late)
    snaps = [r for r in records if r["step"] in snap_at]
    result["snapshots"] = {"steps": [r["step"] for r in snaps], **{g: [r[f"snap_{g}"] for r in snaps] for g in GENERATORS}}
    return result


# metrics summarised over seeds: name -> how to read it from a run
METRICS = {
    **{f"final_modes_{g}": (lambda r, g=g: r[f"final_{g}"]["modes"]) for g in GENERATORS},
    **{f"late_min_modes_{g}": (lambda r, g=g: r[f"late_min_modes_{g}"]) for g in GENERATORS},
    **{f"final_hq_{g}": (lambda r, g=g: r[f"final_{g}"]["hq"]) for g in GENERATORS},
    **{f"final_kl_{g}": (lambda r, g=g: r[f"final_{g}"]["kl"]) for g in GENERATORS},
    **{f"turnover_{g}": (lambda r, g=g: r[f"turnover_{g}"]) for g in GENERATORS},
}


def describe(values: list[float]) -> dict[str, float]:
    """mean, sd (0 for one value), min and max; inf mean when any value is inf; NaNs dropped."""
    vals = [float(v) for v in values if not math.isnan(float(v))]
    if not vals:
        return {"mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan}
    finite = [v for v in vals if math.isfinite(v)]
    mean = statistics.fmean(vals) if len(finite) == len(vals) else math.inf
    sd = statistics.stdev(vals) if len(finite) == len(vals) and len(vals) > 1 else (0.0 if len(vals) == 1 else math.nan)
    return {"mean": mean, "sd": sd, "min": min(vals), "max": max(vals)}


def assemble(runs: dict[str, dict[str, list[dict[str, Any]]]], *, steps: dict[str, int], evals: int) -> dict[str, Any]:
    """The JSON-ready result from per-run dicts ``runs[target][arm] = [run per seed]`` (of :func:`train_and_score`)."""
    targets = [t for t in TARGETS if t in runs]
    snapped = {(t, a, r["seed"]): r.pop("snapshots", None) for t in targets for a in runs[t] for r in runs[t][a]}
    stats = {t: {a: {name: describe([get(r) for r in runs[t][a]]) for name, get in METRICS.items()}
                 for a in runs[t]} for t in targets}
    checks = []
    for t in targets:
        base = runs[t]["gan-ns"]
        for arm in runs[t]:
            if arm == "gan-ns":
                continue
            for metric in ("final_modes", "late_min_modes"):
                for g in GENERATORS:
                    get = METRICS[f"{metric}_{g}"]
                    ok = sum(get(a) >= get(b) for a, b in zip(runs[t][arm], base, strict=True))
                    more = sum(get(a) > get(b) for a, b in zip(runs[t][arm], base, strict=True))
                    checks.append({"target": t, "arm": arm, "metric": metric, "generator": g, "seeds_ok": ok,
                                   "seeds_more": more, "n_seeds": len(base), "holds": ok == len(base)})
    # the run drawn in the which-mode-over-time panels: the raw generator that hops the most late on
    candidates = [(r["turnover_raw"], t, a, i) for t in targets for a in runs[t] for i, r in enumerate(runs[t][a])
                  if not math.isnan(r["turnover_raw"])]
    featured = None
    if candidates:
        _, t, a, i = max(candidates)
        r = runs[t][a][i]
        featured = {"target": t, "arm": a, "seed": r["seed"], "turnover_raw": r["turnover_raw"],
                    "turnover_ema": r["turnover_ema"], "snapshots": snapped[(t, a, r["seed"])]}
    first = targets[0]
    snapshots = {t: {a: {"seed": runs[t][a][0]["seed"], **(snapped[(t, a, runs[t][a][0]["seed"])] or {})}
                     for a in runs[t]} for t in targets}
    return jsonable({
        "targets": targets, "arms": list(runs[first]),
        "arm_settings": {a: {"loss": ARMS[a][0], "gp_weight": runs[first][a][0]["settings"]["gp_weight"]}
                         for a in runs[first]},
        "k": K, "steps": {t: steps[t] for t in targets}, "seeds": [r["seed"] for r in runs[first]["gan-ns"]],
        "eval_steps": {t: evaluation_steps(steps[t], evals) for t in targets}, "eval_points": EVAL_POINTS, "final_points": FINAL_POINTS,
        "n_modes": {t: len(target_modes(t)[0]) for t in targets},
        "weights": {t: target_modes(t)[2] for t in targets},
        "runs": runs, "snapshots": snapshots, "stats": stats, "checks": checks, "featured": featured,
        "batch_size": BATCH, "width": WIDTH, "scored": SCORED,
    })


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train every arm on every target for ``N_SEEDS`` seeds (``seed``, ``seed + 1``, ...) and score them.

    Args:
        quick: ``budget(True)`` steps and one seed instead of ``budget(False)`` and eight.
        seed: the first training seed.

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    steps, evals = {t: budget(quick, t) for t in TARGETS}, EVALS[quick]
    seeds = [seed + i for i in range(N_SEEDS[quick])]
    with single_thread():
        runs = {t: {a: [train_and_score(t, a, steps[t], s, evals) for s in seeds] for a in ARMS} for t in TARGETS}
    return assemble(runs, steps=steps, evals=evals)


def _pm(stat: dict[str, Any], digits: int = 1, scale: float = 1.0) -> str:
    mean, sd = float(stat["mean"]), float(stat["sd"])
    if math.isinf(mean):
        return "inf"
    return f"{scale * mean:.{digits}f} ± {scale * sd:.{digits}f}"


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown: per target a table of mean ± sd over seeds (raw | EMA), then the per-seed checks."""
    n = len(result["seeds"])
    budgets = ", ".join(f"{t} {n}" for t, n in result["steps"].items())
    lines = [
        f"- generator steps = discriminator steps (K = {result['k']}), the same for every arm: {budgets}; MLPs of width {result['width']}, batch {result['batch_size']}, gankit's toy "
        f"optimiser settings; seeds {', '.join(map(str, result['seeds']))}; scored: {result['scored']}",
    ]
    for t in result["targets"]:
        m = result["n_modes"][t]
        lines += ["", f"{t} ({m} modes), mean ± sd over {n} seed(s); raw G | EMA G:", "",
                  "| arm | final modes | worst late modes | final HQ % | final KL to target | late turnover |",
                  "|---|---|---|---|---|---|"]
        for arm in result["arms"]:
            s = result["stats"][t][arm]
            lines.append(
                f"| {arm} | {_pm(s['final_modes_raw'])} \\| {_pm(s['final_modes_ema'])} | "
                f"{_pm(s['late_min_modes_raw'])} \\| {_pm(s['late_min_modes_ema'])} | "
                f"{_pm(s['final_hq_raw'], 1, 100)} \\| {_pm(s['final_hq_ema'], 1, 100)} | "
                f"{_pm(s['final_kl_raw'], 3)} \\| {_pm(s['final_kl_ema'], 3)} | "
                f"{_pm(s['turnover_raw'], 2)} \\| {_pm(s['turnover_ema'], 2)} |")
    lines += ["", "Per-seed checks (arm captures at least as many modes as gan-ns on every seed):", ""]
    for c in result["checks"]:
        word = "holds" if c["holds"] else "does not hold"
        lines.append(f"- {c['target']}, {c['arm']} >= gan-ns, {c['metric'].replace('_', ' ')}, {c['generator']} G: "
                     f"{word} ({c['seeds_ok']}/{c['n_seeds']} seeds; strictly more on {c['seeds_more']})")
    f = result["featured"]
    if f:
        lines.append(f"- which-mode-over-time panels: {f['target']}, {f['arm']}, seed {f['seed']} (late turnover raw "
                     f"{float(f['turnover_raw']):.2f}, EMA {float(f['turnover_ema']):.2f})")
    return lines


ARM_COLORS = {"gan-ns": "tab:blue", "wgan-gp l=0.1": "tab:red", "wgan-gp l=10": "tab:green"}
ARM_LABELS = {"gan-ns": "gan-ns", "wgan-gp l=0.1": r"wgan-gp $\lambda$=0.1", "wgan-gp l=10": r"wgan-gp $\lambda$=10"}


def _heatmap(ax, counts: np.ndarray, steps: list[int], title: str, fig) -> None:
    """Share of HQ points on each mode (rows) at each evaluation (columns)."""
    counts = np.asarray(counts, dtype=np.float64)  # (T, M)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    width = steps[1] - steps[0] if len(steps) > 1 else steps[0]
    im = ax.imshow(share.T, aspect="auto", origin="lower", cmap="magma_r", vmin=0, vmax=min(1.0, max(0.3, share.max())),
                   extent=(steps[0] - width / 2, steps[-1] + width / 2, -0.5, share.shape[1] - 0.5),
                   interpolation="nearest")
    empty = [s for s, tot in zip(steps, totals[:, 0], strict=True) if tot == 0]
    for s in empty:
        ax.axvspan(s - width / 2, s + width / 2, color="0.85", zorder=2)
    ax.set(xlabel="generator steps", ylabel="mode", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="share of HQ points")


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Top: modes captured over training per target (mean ± sd over seeds; raw solid, EMA dashed).
    Bottom: which mode the featured (most-hopping) run's raw and EMA generators sit on over time,
    and its raw samples at four times."""
    plt = pyplot()
    targets, arms = result["targets"], result["arms"]
    n = len(result["seeds"])
    fig = plt.figure(figsize=(16, 9.5), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[1, 1.1])
    top = grid[0].subgridspec(1, len(targets))
    for j, t in enumerate(targets):
        steps = result["eval_steps"][t]
        ax = fig.add_subplot(top[j])
        for arm in arms:
            for g, style in (("raw", "-"), ("ema", "--")):
                curves = np.array([(np.asarray(r[f"counts_{g}"]) > 0).sum(axis=1) for r in result["runs"][t][arm]])
                mean = curves.mean(axis=0)
                ax.plot(steps, mean, style, color=ARM_COLORS[arm], lw=1.6,
                        label=f"{ARM_LABELS[arm]}, {'raw G' if g == 'raw' else 'EMA G'}")
                if n > 1 and g == "raw":
                    ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=ARM_COLORS[arm], alpha=0.12,
                                    lw=0)
        m = result["n_modes"][t]
        ax.set(xlabel="generator steps (= discriminator steps, K = 1)", ylabel=f"modes captured (of {m})",
               ylim=(-0.5, m + 0.5), title=f"{t}: mean over {n} seed(s)" + ("; band: min-max, raw G" if n > 1 else ""))
        ax.grid(alpha=0.3)
        if j == 0:
            handles, labels = ax.get_legend_handles_labels()
    # one legend for the row, above it and clear of every curve
    fig.legend(handles, labels, loc="outside upper center", ncol=6, fontsize=8)
    f = result["featured"]
    bottom = grid[1].subgridspec(1, 3, width_ratios=[1.1, 1.1, 1.3])
    if f:
        run = next(r for r in result["runs"][f["target"]][f["arm"]] if r["seed"] == f["seed"])
        steps = result["eval_steps"][f["target"]]
        who = f"{f['target']}, {ARM_LABELS[f['arm']]}, seed {f['seed']}"
        _heatmap(fig.add_subplot(bottom[0]), run["counts_raw"], steps,
                 f"raw G, {who}\nlate turnover {float(f['turnover_raw']):.2f} (grey: no HQ point)", fig)
        _heatmap(fig.add_subplot(bottom[1]), run["counts_ema"], steps,
                 f"EMA G, same run\nlate turnover {float(f['turnover_ema']):.2f}", fig)
        snap = f.get("snapshots")
        ax = fig.add_subplot(bottom[2])
        modes, _, _ = target_modes(f["target"])
        if snap:
            from matplotlib.lines import Line2D

            colors = plt.get_cmap("viridis")(np.linspace(0, 1, len(snap["steps"])))
            ax.scatter(modes[:, 0], modes[:, 1], s=60, facecolors="none", edgecolors="0.3")
            handles = [Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", ms=7, label="modes")]
            for c, s, pts in zip(colors, snap["steps"], snap["raw"], strict=True):
                pts = np.asarray(pts)
                ax.scatter(pts[:, 0], pts[:, 1], s=3, color=c, alpha=0.6)
                handles.append(Line2D([], [], ls="", marker="o", color=c, ms=4, label=f"raw G, step {s}"))
            ax.set(title=f"raw G samples over time\n({who})", aspect="equal")
            ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        else:
            counts = np.asarray(run["counts_raw"])
            ax.plot(steps, (counts > 0).sum(axis=1), "o-", ms=3, color=ARM_COLORS[f["arm"]], label="raw G")
            ax.plot(steps, (np.asarray(run["counts_ema"]) > 0).sum(axis=1), "s--", ms=3, color="k", label="EMA G")
            ax.set(xlabel="generator steps", ylabel="modes captured", title=f"modes captured, {who}")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    save_figure(fig, path, dpi=80)


__all__ = ["ARMS", "CLAIM", "K", "TARGETS", "TITLE", "assemble", "budget", "evaluation_steps", "kl_to_weights",
           "numbers", "plot", "skewed_dataset", "summary", "target_modes", "train_and_score", "turnover"]
