"""Sample quality of gankit's toy (and optionally image) GANs beside published numbers.

Trains every (dataset, loss, seed) exactly as ``gankit train --data D --loss L --model mlp --seed S``
does (the toy defaults of :data:`gankit.training.config.KIND_DEFAULTS`), scores the run as
``gankit evaluate RUN`` does (2,500 samples of the EMA generator when one is kept), and prints and
writes a Markdown table of mean and standard deviation over seeds: modes captured, high-quality
fraction, reverse KL of the captured-mode histogram against uniform, and W1 to true samples
(see :mod:`gankit.metrics.toy` for the definitions). The published rows of VEEGAN and PacGAN are
printed beside ours with their sources.

This is a benchmark, not a test: it asserts nothing and its numbers depend on the machine's RNG
streams and on the number of steps.

Usage::

    python benchmarks/quality.py --seeds 100-109 --tuning-seeds 0-2   # ring8 + grid25, 4 losses + presets
    python benchmarks/quality.py --quick               # 1 seed, 300 steps: a smoke run
    python benchmarks/quality.py --data ring8 --losses wgan-gp --seeds 5 --steps 2000   # seeds 0..4
    python benchmarks/quality.py --seeds 100-109 --cache /tmp/q.jsonl   # resumable: finished runs are kept

Seeds. ``--seeds`` takes a count N (seeds 0..N-1), a range ``A-B`` (both ends included) or a comma
list. The report names the seed list, and ``--tuning-seeds`` (text, e.g. ``0-2``) names the seeds
the settings were chosen on, so that a reader can check the two sets are disjoint. A configuration
is said to beat the published rows only when *every* reported seed does; otherwise the report says
on how many seeds it does. Each row also gives the worst seed of every metric.
    python benchmarks/quality.py --image-losses        # add Fashion-MNIST rows per loss (needs the evaluator)
    python benchmarks/quality.py --images [OPTIONS]    # Fashion-MNIST quality against wall time: runs
                                                       # benchmarks/image_quality.py with OPTIONS

References:
    [1] A. Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational
        Learning", NeurIPS 2017, Table 1.
    [2] Z. Lin et al., "PacGAN: The power of two samples in generative adversarial networks",
        NeurIPS 2018, Table 1.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.errors import GankitError
from gankit.training.config import PRESET_DIR, RunConfig, parse_assignment

TOY_DATA = ("ring8", "grid25")
TOY_LOSSES = ("gan-ns", "gan-minimax", "wgan", "wgan-gp")
IMAGE_LOSSES = ("gan-ns", "wgan-gp")
QUICK_STEPS = 300
TOY_METRICS = ("modes_captured", "high_quality", "reverse_kl", "w1")

# Published rows: (method, source, modes, high-quality fraction, reverse KL or None).
# VEEGAN's ring has radius 2 and std 0.02 (ours: radius 1, std 0.01); its grid is ours (std 0.05 on
# {-4,-2,0,2,4}^2). Both papers count a sample as high quality within 3 std of its nearest mode.
PUBLISHED: dict[str, list[tuple[str, str, float, float, float | None]]] = {
    "ring8": [
        ("GAN", "VEEGAN [1] Table 1", 1.0, 0.993, None),
        ("Unrolled GAN", "VEEGAN [1] Table 1", 7.6, 0.356, None),
        ("VEEGAN", "VEEGAN [1] Table 1", 8.0, 0.529, None),
        ("PacGAN2", "PacGAN [2] Table 1", 7.9, 0.956, 0.07),
    ],
    "grid25": [
        ("GAN", "VEEGAN [1] Table 1", 3.3, 0.005, None),
        ("VEEGAN", "VEEGAN [1] Table 1", 24.6, 0.40, None),
        ("PacGAN4", "PacGAN [2] Table 1", 24.8, 0.936, 0.04),
    ],
}
# What "beats every published row" means here: all modes, HQ and reverse KL at least as good as
# the best published value for that dataset.
GOALS = {"ring8": (8, 0.95, 0.05), "grid25": (25, 0.95, 0.04)}


MAX_SEED_COUNT = 50  # "--seeds 109" is far more likely a seed than a count: refused, with a hint


def parse_seeds(text: str) -> list[int]:
    """``"N"`` -> 0..N-1 (N at most ``MAX_SEED_COUNT``); ``"A-B"`` -> A..B (both included);
    ``"a,b,A-B"`` -> the listed seeds, in order (a single seed: ``"S-S"`` or ``"S,"``).

    Raises:
        ValueError: on an empty list, a count above ``MAX_SEED_COUNT``, a backwards range or a
            repeated seed.
    """
    text = text.strip()
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= MAX_SEED_COUNT:
            raise ValueError(f"a seed count must be 1..{MAX_SEED_COUNT} (seeds 0..N-1); for the single seed "
                             f"{count} write {count}-{count}")
        return list(range(count))
    seeds: list[int] = []
    for part in split_list(text):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"not a seed or a range of seeds: {part!r}")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"backwards range of seeds: {part!r}")
        seeds += range(first, last + 1)
    if not seeds:
        raise ValueError("no seeds given")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a seed is listed twice in {text!r}")
    return seeds


def seeds_text(seeds: list[int]) -> str:
    """``[100, ..., 109]`` -> ``"100-109"``; other lists as ``"a, b, c"`` (runs of 3+ as ranges)."""
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(f"{seeds[i]}-{seeds[j]}" if j - i >= 2 else ", ".join(map(str, seeds[i:j + 1])))
        i = j + 1
    return ", ".join(parts)


@dataclass
class Cell:
    """All seeds of one (dataset, loss, preset) configuration."""

    data: str
    loss: str
    preset: str | None
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.loss} ({self.preset})" if self.preset else self.loss


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=",".join(TOY_DATA), help="comma list of toy datasets (default: ring8,grid25)")
    p.add_argument("--losses", default=",".join(TOY_LOSSES), help="comma list of losses (default: %(default)s)")
    p.add_argument("--losses-for", action="append", default=[], metavar="DATA=L1,L2",
                   help="the losses of one dataset, instead of --losses (repeatable), e.g. grid25=gan-ns,gan-minimax")
    p.add_argument("--seeds", default="3",
                   help="seeds of every configuration: a count N (0..N-1), a range A-B or a comma list (default 3)")
    p.add_argument("--tuning-seeds", default="",
                   help="the seeds the settings were tuned on, named in the report (text, e.g. 0-2; not run)")
    p.add_argument("--cache", help="JSON-lines file of finished toy runs: runs found there are not trained again, "
                                   "new ones are appended as they finish (resume a long benchmark)")
    p.add_argument("--steps", type=int, help="generator steps (default: gankit's toy default for each dataset)")
    p.add_argument("--presets", default="auto",
                   help="comma list of extra preset rows, e.g. toy-ring8; 'auto' adds toy-<data> where it ships; "
                        "'none' for none (default auto)")
    p.add_argument("--quick", action="store_true", help=f"1 seed, {QUICK_STEPS} steps: checks the script, not the GANs")
    p.add_argument("--image-losses", action="store_true",
                   help="also train DCGAN gan-ns and WGAN-GP on Fashion-MNIST and score FID in the classifier's feature space")
    p.add_argument("--image-steps", type=int, help="generator steps of the image runs (default: gankit's image default)")
    p.add_argument("--image-seeds", type=int, help="seeds of the image runs (default: --seeds)")
    p.add_argument("--device", default="cpu", help="device of the image runs and their scoring (default cpu)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every run, as in gankit train --set (repeatable)")
    p.add_argument("--runs", help="where run folders go (default: a temporary folder, deleted at the end)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (default 1)")
    p.add_argument("--jobs", type=int, default=1, help="toy runs trained in parallel processes (default 1)")
    p.add_argument("--out", default="docs/results.md", help="Markdown report (default docs/results.md); '-' for none")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.steps = "1", args.steps or QUICK_STEPS
        args.image_steps = args.image_steps or 50
    if any("=" not in text for text in args.losses_for):
        p.error("--losses-for takes DATA=LOSS,LOSS")
    try:
        args.seed_list = parse_seeds(args.seeds)
    except ValueError as err:
        p.error(f"--seeds: {err}")
    return args


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def presets_for(data: str, spec: str) -> list[str]:
    """Extra preset rows for ``data``: ``toy-<data>`` when it ships (``auto``), or the named ones."""
    if spec == "none":
        return []
    if spec == "auto":
        return [f"toy-{data}"] if (PRESET_DIR / f"toy-{data}.yaml").is_file() else []
    return split_list(spec)


def make_config(data: str, loss: str | None, seed: int, *, steps: int | None, threads: int,
                preset: str | None = None, model: str | None = None, overrides: tuple[str, ...] = ()) -> RunConfig:
    """The config ``gankit train [--config PRESET] --data D --loss L --seed S [--steps N] [--set K=V]`` builds."""
    settings: dict[str, Any] = {"data.name": data, "train.seed": seed, "train.threads": threads,
                                "train.device": "cpu"}
    if loss:
        settings["loss.name"] = loss
    if model:
        settings["model.name"] = model
    if steps:
        settings["train.steps"] = steps
    settings.update(parse_assignment(text) for text in overrides)
    return gankit.load_config(preset, settings)


def command(data: str, loss: str | None, preset: str | None, steps: int | None, overrides: list[str],
            model: str | None = "mlp") -> str:
    parts = ["gankit train"]
    if preset:
        parts.append(f"--config {preset}")
    parts.append(f"--data {data}")
    if model:
        parts.append(f"--model {model}")
    if loss:
        parts.append(f"--loss {loss}")
    if steps:
        parts.append(f"--steps {steps}")
    parts += [f"--set {text}" for text in overrides]
    return " ".join(parts) + " --seed S --out RUN && gankit evaluate RUN"


def run_one(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Train into ``run_dir``, score it as ``gankit evaluate`` does; metrics plus wall time."""
    start = time.perf_counter()
    result = gankit.train(cfg, out=run_dir, log=lambda _msg: None)
    seconds = time.perf_counter() - start
    scored = gankit.evaluate(result)
    return {**scored["metrics"], "seconds": seconds, "step": result.step, "ema": scored.get("ema")}


def mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values):
        return math.inf, math.nan
    if len(values) == 1:
        return values[0], 0.0
    return statistics.fmean(values), statistics.stdev(values)


def fmt(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    m, s = mean_std([v * scale for v in values])
    if not math.isfinite(m):
        return "inf"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def worst(cell: Cell, key: str, *, high_is_bad: bool) -> str:
    """The worst value of metric ``key`` over the seeds and the seed it came from, e.g. ``"7 (s105)"``."""
    def badness(x: dict[str, Any]) -> float:
        value = float(x[key])
        return value if high_is_bad else -value

    run = max(cell.runs, key=badness)
    value = float(run[key])
    if key == "high_quality":
        text = f"{100 * value:.1f}"
    elif key == "modes_captured":
        text = f"{value:.0f}"
    else:
        text = "inf" if math.isinf(value) else f"{value:.3f}"
    return f"{text} (s{run['seed']})"


def seed_meets_goal(data: str, run: dict[str, Any]) -> bool:
    """One seed reaches all modes, HQ >= and reverse KL <= the best published values (:data:`GOALS`)."""
    modes, hq, rkl = GOALS[data]
    return run["modes_captured"] == modes and run["high_quality"] >= hq and float(run["reverse_kl"]) <= rkl


def summarize(cell: Cell) -> dict[str, str]:
    r = cell.runs
    return {
        "worst_modes": worst(cell, "modes_captured", high_is_bad=False),
        "worst_hq": worst(cell, "high_quality", high_is_bad=False),
        "worst_rkl": worst(cell, "reverse_kl", high_is_bad=True),
        "worst_w1": worst(cell, "w1", high_is_bad=True),
        "goal": f"{sum(seed_meets_goal(cell.data, x) for x in r)}/{len(r)}",
        "modes": fmt([x["modes_captured"] for x in r], digits=1),
        "hq": fmt([x["high_quality"] for x in r], scale=100.0, digits=1),
        "rkl": fmt([x["reverse_kl"] for x in r], digits=3),
        "w1": fmt([x["w1"] for x in r], digits=3),
        "seconds": f"{statistics.fmean(x['seconds'] for x in r):.0f}",
        "all_modes": f"{sum(x['modes_captured'] == x['n_modes'] for x in r)}/{len(r)}",
    }


def meets_goal(cell: Cell) -> bool:
    """*Every* seed reaches all modes, HQ and reverse KL at least as good as the best published values."""
    return all(seed_meets_goal(cell.data, x) for x in cell.runs)


def toy_table(data: str, cells: list[Cell]) -> list[str]:
    n_modes = GOALS[data][0]
    lines = [f"### {data} ({n_modes} modes)", "",
             "| method | source | modes captured | high quality % | reverse KL | W1 | all modes | seeds at goal | s / run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        s = summarize(cell)
        lines.append(f"| gankit {cell.label} | this run, {len(cell.runs)} seeds | {s['modes']} | {s['hq']} | {s['rkl']} | "
                     f"{s['w1']} | {s['all_modes']} | {s['goal']} | {s['seconds']} |")
    for method, source, modes, hq, rkl in PUBLISHED[data]:
        rkl_text = f"{rkl:.2f}" if rkl is not None else "n/a"
        lines.append(f"| {method} | {source} | {modes:g} | {100 * hq:.1f} | {rkl_text} | n/a | n/a | n/a | n/a |")
    lines += ["", f"Worst seed of each metric ({data}; the seed in brackets):", "",
              "| method | fewest modes | lowest high quality % | highest reverse KL | highest W1 |", "|---|---|---|---|---|"]
    for cell in cells:
        s = summarize(cell)
        lines.append(f"| gankit {cell.label} | {s['worst_modes']} | {s['worst_hq']} | {s['worst_rkl']} | {s['worst_w1']} |")
    lines += ["", f"Every seed ({data}; modes / high quality % / reverse KL; * = meets the goal below):", "",
              "| method | " + " | ".join(f"s{x['seed']}" for x in cells[0].runs) + " |",
              "|---|" + "---|" * len(cells[0].runs)]
    for cell in cells:
        cells_text = []
        for x in cell.runs:
            rkl = float(x["reverse_kl"])
            star = "*" if seed_meets_goal(data, x) else ""
            cells_text.append(f"{x['modes_captured']} / {100 * x['high_quality']:.1f} / "
                              f"{'inf' if math.isinf(rkl) else f'{rkl:.3f}'}{star}")
        lines.append(f"| {cell.label} | " + " | ".join(cells_text) + " |")
    return lines


def toy_job(job: tuple[str, str | None, str | None, int, int | None, int, tuple[str, ...], str]) -> dict[str, Any]:
    """One (dataset, loss or preset, seed) run in its own process: the scored metrics."""
    data, loss, preset, seed, steps, threads, overrides, run_dir = job
    torch.set_num_threads(threads)
    cfg = make_config(data, loss, seed, steps=steps, threads=threads, preset=preset, model="mlp", overrides=overrides)
    try:
        out = run_one(cfg, Path(run_dir))
    except GankitError as err:  # a diverged run is a result, not a crash of the benchmark
        out = {"modes_captured": 0, "n_modes": GOALS[data][0], "high_quality": 0.0, "reverse_kl": math.inf,
               "w1": math.inf, "seconds": math.nan, "failed": str(err)}
    out["loss"] = cfg.loss.name
    out["seed"] = seed
    label = f"{loss or cfg.loss.name}" + (f" ({preset})" if preset else "")
    note = f" FAILED: {out['failed']}" if "failed" in out else ""
    print(f"{data} {label} seed {seed}: modes {out['modes_captured']}/{out['n_modes']} "
          f"HQ {100 * out['high_quality']:.1f}% rKL {out['reverse_kl']:.3f} W1 {out['w1']:.3f} "
          f"({out['seconds']:.0f} s){note}", flush=True)
    return out


def cache_key(job: tuple) -> str:
    """What identifies a toy run in the ``--cache`` file: dataset, loss, preset, seed, steps, overrides."""
    data, loss, preset, seed, steps, _threads, overrides, _run_dir = job
    return json.dumps([data, loss, preset, seed, steps, sorted(overrides)])


def load_cache(path: str | None) -> dict[str, dict[str, Any]]:
    """The finished runs of a ``--cache`` file, by :func:`cache_key` (empty when there is none)."""
    if not path or not Path(path).is_file():
        return {}
    done = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            done[entry["key"]] = entry["result"]
    return done


def run_toy(args: argparse.Namespace, root: Path) -> list[Cell]:
    cells: list[Cell] = []
    jobs = []
    per_data = dict(text.split("=", 1) for text in args.losses_for)
    for data in split_list(args.data):
        plan = [(loss, None) for loss in split_list(per_data.get(data, args.losses))]
        plan += [(None, preset) for preset in presets_for(data, args.presets)]
        for loss, preset in plan:
            cell = Cell(data, loss or "", preset)
            cells.append(cell)
            for seed in args.seed_list:
                name = f"{data}-{loss or preset}-s{seed}"
                jobs.append((cell, (data, loss, preset, seed, args.steps, args.threads, tuple(args.set), str(root / name))))
    cached = load_cache(args.cache)
    todo = [i for i, (_, job) in enumerate(jobs) if cache_key(job) not in cached]
    args.n_cached, args.n_runs = len(jobs) - len(todo), len(jobs)
    if len(todo) < len(jobs):
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs read from {args.cache}", flush=True)
    # longest first, so that parallel workers finish together (a wgan-gp step costs K=5 critic steps)
    order = sorted(todo, key=lambda i: (jobs[i][1][1] != "wgan-gp", jobs[i][1][2] is None))

    def record(i: int, out: dict[str, Any]) -> None:
        cached[cache_key(jobs[i][1])] = out
        if args.cache:
            with open(args.cache, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": cache_key(jobs[i][1]), "result": out}) + "\n")

    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for i, out in zip(order, pool.map(toy_job, [jobs[i][1] for i in order]), strict=True):
                record(i, out)
    else:
        for i in order:
            record(i, toy_job(jobs[i][1]))
    for cell, job in jobs:
        out = cached[cache_key(job)]
        cell.loss = out["loss"]
        cell.runs.append({**out, "seed": job[3]})
    return cells


def run_images(args: argparse.Namespace, root: Path) -> tuple[list[str], str | None]:
    """Fashion-MNIST DCGAN rows (FID in the domain classifier's feature space), or why they were skipped."""
    from gankit.metrics.classifier import default_path, train_command

    data, size = "fashion-mnist", 32
    weights = default_path(data, size)
    if not weights.is_file():
        return [], f"skipped: no trained {data} classifier at {weights}; train it with: {train_command(data, size)}"
    rows = []
    overrides = (*args.set, f"train.device={args.device}")
    for loss in IMAGE_LOSSES:
        scores: list[dict[str, Any]] = []
        secs = []
        for seed in (range(args.image_seeds) if args.image_seeds else args.seed_list):
            cfg = make_config(data, loss, seed, steps=args.image_steps, threads=args.threads, overrides=overrides)
            run_dir = root / f"{data}-{loss}-s{seed}"
            start = time.perf_counter()
            try:
                result = gankit.train(cfg, out=run_dir, log=lambda _msg: None)
            except GankitError as err:
                print(f"{data} {loss} seed {seed}: failed: {err}", flush=True)
                scores.append({key: math.inf for key in IMAGE_METRICS})
                continue
            secs.append(time.perf_counter() - start)
            metrics = gankit.evaluate(result, device=args.device)["metrics"]
            scores.append(metrics)
            print(f"{data} {loss} seed {seed}: " + ", ".join(f"{k} {float(metrics[k]):.4g}" for k in IMAGE_METRICS)
                  + f" ({secs[-1]:.0f} s to train)", flush=True)
        steps = args.image_steps or "default"
        cells = " | ".join(fmt([float(m[k]) for m in scores], digits=3 if k != "fid" else 2) for k in IMAGE_METRICS)
        rows.append(f"| dcgan {loss} | {steps} | {cells} | {len(scores)} | "
                    f"{statistics.fmean(secs) if secs else math.nan:.0f} |")
    return rows, None


IMAGE_METRICS = ("fid", "kid_mean", "precision", "recall", "density", "coverage", "is_mean", "classes_covered")


def report(args: argparse.Namespace, cells: list[Cell], image_rows: list[str], image_note: str | None,
           minutes: float) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    steps = f"--steps {args.steps}" if args.steps else "the default step count"
    lines = [
        "# Sample quality on the 2-D toy mixtures",
        "",
        f"Generated by `python benchmarks/quality.py {' '.join(sys.argv[1:])}` on {when} "
        f"({minutes:.0f} min; torch {torch.__version__}, {platform.machine()}, {args.threads} CPU thread(s))."
        + (f" {args.n_cached} of its {args.n_runs} toy runs were read from the `--cache` file, written by earlier "
           "invocations that trained them (the same configurations and seeds); *s / run* is their training time."
           if getattr(args, "n_cached", 0) else ""),
        "",
        f"Each gankit row is the mean ± standard deviation over the reporting seeds {seeds_text(args.seed_list)} "
        f"({len(args.seed_list)} seeds) of one configuration, trained with "
        f"{steps} and scored on 2,500 samples of the generator (its EMA copy when one is kept) exactly as "
        "`gankit evaluate` does. "
        + (f"The settings (gankit's toy defaults and the presets) were chosen on seeds {args.tuning_seeds}, "
           "none of which is a reporting seed. " if args.tuning_seeds else "")
        + "*all modes* counts the seeds that captured every mode; *seeds at goal* counts the seeds that reach all "
        "modes, high quality at least and reverse KL at most the best published values (the goal below); *s / run* "
        "is the wall time of one training run. A configuration is said to beat the published rows only when every "
        "reporting seed reaches the goal.",
        "",
        "Definitions (VEEGAN [1] / PacGAN [2] protocol, `gankit.metrics.toy`): a sample is *high quality* when it "
        "lies within 3 standard deviations of its nearest mode; a mode is *captured* when it holds at least one "
        "high-quality sample; *reverse KL* is KL(q ‖ uniform) of the histogram q of high-quality samples over the "
        "modes (nats; inf when no sample is high quality); *W1* is the exact Wasserstein-1 distance to 2,500 fresh "
        "true samples (not reported by the papers).",
        "",
        "Caveats when comparing with the published rows: VEEGAN's ring has radius 2 and std 0.02, ours radius 1 and "
        "std 0.01 (the same ratio of std to radius); the grid is the same lattice {-4,-2,0,2,4}² with std 0.05. "
        "The HQ threshold is 3 of *our* std in each case. The published networks, step counts and sample counts "
        "differ from ours (PacGAN scores 2,500 samples, as we do).",
        "",
    ]
    for data in dict.fromkeys(c.data for c in cells):
        mine = [c for c in cells if c.data == data]
        lines += toy_table(data, mine)
        winners = [c.label for c in mine if meets_goal(c)]
        modes, hq, rkl = GOALS[data]
        goal = f"{modes}/{modes} modes, HQ ≥ {100 * hq:.0f} % and reverse KL ≤ {rkl} on a seed"
        verdict = (f"Configurations that beat every published row on every reporting seed ({goal}): {', '.join(winners)}."
                   if winners else f"No configuration beats every published row on every reporting seed ({goal}).")
        others = [f"{c.label} on {summarize(c)['goal']}" for c in mine if not meets_goal(c)]
        if others:
            verdict += " Seeds reaching that goal for the others: " + ", ".join(others) + "."
        lines += ["", verdict, ""]
    lines += ["## Reproduce", "", f"Each row is, for seeds S = {seeds_text(args.seed_list)}:", "", "```"]
    seen = set()
    for c in cells:
        cmd = command(c.data, None if c.preset else c.loss, c.preset, args.steps, args.set)
        if cmd not in seen:
            seen.add(cmd)
            lines.append(cmd)
    lines += ["```", "", "or all at once: `python benchmarks/quality.py " + " ".join(sys.argv[1:]) + "`.", ""]
    if args.image_losses:
        lines += ["## Fashion-MNIST (DCGAN)", ""]
        if image_note:
            lines += [image_note, ""]
        else:
            lines += ["FID in the feature space of gankit's Fashion-MNIST domain classifier "
                      "(`gankit.metrics.evaluate.evaluate_samples`, 10,000 samples); not comparable with Inception FIDs.",
                      "", "| model / loss | steps | " + " | ".join(IMAGE_METRICS) + " | seeds | s / run |",
                      "|---|---|" + "---|" * len(IMAGE_METRICS) + "---|---|", *image_rows, ""]
    lines += [
        "## References",
        "",
        "1. A. Srivastava, L. Valkov, C. Russell, M. U. Gutmann, C. Sutton. VEEGAN: Reducing Mode Collapse in GANs "
        "using Implicit Variational Learning. NeurIPS 2017, Table 1.",
        "2. Z. Lin, A. Khetan, G. Fanti, S. Oh. PacGAN: The power of two samples in generative adversarial networks. "
        "NeurIPS 2018, Table 1.",
        "",
    ]
    return "\n".join(lines)


BEGIN, END = "<!-- benchmarks/quality.py: begin -->", "<!-- benchmarks/quality.py: end -->"


def splice(document: str, text: str) -> str:
    """``document`` with the part between :data:`BEGIN` and :data:`END` replaced by ``text``.

    Hand-written notes outside the markers survive a rerun; a document without them is replaced.
    """
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    start, stop = document.find(BEGIN), document.find(END)
    if start < 0 or stop < start:
        return block + "\n"
    return document[:start] + block + document[stop + len(END):]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--images" in argv:  # the quality-against-time benchmark has its own options
        import image_quality

        return image_quality.main([a for a in argv if a != "--images"])
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gankit-quality-") as tmp:
        root = Path(args.runs) if args.runs else Path(tmp)
        cells = run_toy(args, root)
        image_rows, image_note = run_images(args, root) if args.image_losses else ([], None)
    if image_note:
        print(image_note, flush=True)
    text = report(args, cells, image_rows, image_note, (time.perf_counter() - start) / 60)
    print(text)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        old = out.read_text(encoding="utf-8") if out.is_file() else ""
        out.write_text(splice(old, text), encoding="utf-8")
        print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
