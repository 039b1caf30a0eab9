"""Fashion-MNIST quality against wall time: the classic DCGAN recipe beside gankit's recommended preset.

``python benchmarks/quality.py --images`` runs this (so does ``python benchmarks/image_quality.py``).
For each reporting seed it trains, one run at a time on this machine:

* **classic**: the pytorch/examples DCGAN settings (width 64, batch 128, Adam 2e-4 with beta1 0.5,
  fp32, gan-ns, no EMA, no stabilisers) for 5 full epochs (2,345 steps), a checkpoint every epoch;
* **preset**: ``gankit train --config fashion-mnist-cpu --minutes M`` (default 10), a checkpoint
  every ``--every`` steps.

Every checkpoint is then scored twice, raw generator and EMA copy (when the run keeps one), on
10,000 samples: FID in the feature space of gankit's Fashion-MNIST domain classifier and the number
of classes that classifier finds among the samples. A checkpoint's time is the run's training
seconds when it was written (``train.minutes`` and that clock leave evaluations out).

The fashion-mnist-cpu preset is today's default (width 32, batch 64, gan-ns, Adam 2e-4) plus an EMA
of G. The EMA never changes what the raw generator learns, so a preset run's raw generator *is*
today's default trained for the same minutes, less the EMA's own cost (measured in the report).

This is a benchmark: it prints and writes figures and asserts nothing. Finished runs and scores go
to ``--cache`` (JSON lines), so an interrupted benchmark resumes where it stopped.

Usage::

    python benchmarks/image_quality.py --seeds 100-102 --tuning-seeds 0 --runs /tmp/iq
    python benchmarks/image_quality.py --quick           # 1 seed, 0.2 min and 40 steps: checks the script
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.training import checkpoint

DATA, SIZE, N_SCORE = "fashion-mnist", 32, 10_000
EPOCH_STEPS = math.ceil(60_000 / 128)  # 469 steps of batch 128 see every training image once


QUIET = {"train.report": False, "train.tensorboard": False, "train.sample_every": 10**6, "train.keep_checkpoints": 1000}


@dataclass(frozen=True)
class Recipe:
    """One configuration to train and score on every seed: its own settings, then how often to checkpoint."""

    name: str
    preset: str | None
    settings: dict[str, Any]
    checkpoint_every: int

    def command(self) -> str:
        """The ``gankit train`` line of one seed (the benchmark adds quiet output and its checkpoint rate)."""
        parts = ["gankit train"] + ([f"--config {self.preset}"] if self.preset else []) + [f"--data {DATA}"]
        parts += [f"--set {key}={value}" for key, value in self.settings.items()]
        return " ".join(parts) + " --seed S --out RUN"


def recipes(minutes: float, every: int, classic_steps: int) -> list[Recipe]:
    classic = Recipe("classic", None, {"model.width": 64, "train.batch_size": 128, "loss.lr_g": 2e-4, "loss.lr_d": 2e-4,
                                       "loss.beta1": 0.5, "loss.beta2": 0.999, "train.ema": 0.0,
                                       "train.precision": "fp32", "train.steps": classic_steps},
                     checkpoint_every=min(EPOCH_STEPS, classic_steps))
    preset = Recipe("preset", "fashion-mnist-cpu", {"train.steps": 10**6, "train.minutes": minutes}, checkpoint_every=every)
    return [classic, preset]


def train(recipe: Recipe, seed: int, run_dir: Path, threads: int) -> None:
    cfg = gankit.load_config(recipe.preset, {"data.name": DATA, "train.seed": seed, "train.device": "cpu",
                                             "train.threads": threads, **recipe.settings, **QUIET,
                                             "train.checkpoint_every": recipe.checkpoint_every})
    gankit.train(cfg, out=run_dir, log=lambda _msg: None)


def score_run(run_dir: Path, n: int) -> list[dict[str, Any]]:
    """Score every checkpoint of a run, raw and EMA, as ``gankit evaluate CKPT [--no-ema]`` does."""
    from gankit.runs.evaluate import evaluate_run

    rows = []
    for path in sorted((run_dir / "checkpoints").glob("step_*.ckpt")):
        state = checkpoint.load(path)
        for kind in ("raw", "ema") if state.get("ema") is not None else ("raw",):
            metrics = evaluate_run(path, n=n, seed=0, write=False, ema=kind == "ema")["metrics"]
            rows.append({"step": int(state["step"]), "seconds": float(state.get("seconds", math.nan)), "generator": kind,
                         "fid": float(metrics["fid"]), "classes_covered": int(metrics["classes_covered"])})
    return rows


def load_cache(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["key"]] = row
    return out


def run_all(args: argparse.Namespace) -> dict[tuple[str, int], dict[str, Any]]:
    """Train and score every (recipe, seed), reading finished ones from the cache."""
    cache_path = Path(args.cache or Path(args.runs) / "image-quality.jsonl")
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cached = load_cache(cache_path)
    results = {}
    for recipe in recipes(args.minutes, args.every, args.classic_steps):
        for seed in args.seed_list:
            key = f"{recipe.name}|{seed}|{args.minutes}|{args.classic_steps}|{args.n}"
            if key not in cached:
                run_dir = Path(args.runs) / f"{recipe.name}-s{seed}"
                if not (run_dir / "generator.safetensors").is_file():
                    if run_dir.exists():
                        raise SystemExit(f"{run_dir} holds an unfinished run; delete it and run again")
                    began = time.perf_counter()
                    train(recipe, seed, run_dir, args.threads)
                    print(f"{recipe.name} seed {seed}: trained in {time.perf_counter() - began:.0f} s", flush=True)
                row = {"key": key, "recipe": recipe.name, "seed": seed, "scores": score_run(run_dir, args.n)}
                with cache_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                cached[key] = row
            results[recipe.name, seed] = cached[key]
            last = max(cached[key]["scores"], key=lambda r: (r["step"], r["generator"]))
            print(f"{recipe.name} seed {seed}: step {last['step']} at {last['seconds']:.0f} s, "
                  f"{last['generator']} FID {last['fid']:.2f}, {last['classes_covered']} classes", flush=True)
    return results


def final(scores: list[dict[str, Any]], generator: str) -> dict[str, Any]:
    """The last checkpoint's row for ``generator``."""
    rows = [r for r in scores if r["generator"] == generator]
    return max(rows, key=lambda r: r["step"])


def stats_text(values: list[float]) -> str:
    mean = statistics.fmean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {spread:.2f}"


def plot(results: dict[tuple[str, int], dict[str, Any]], seeds: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    styles = {("classic", "raw"): ("tab:gray", "classic recipe"), ("preset", "raw"): ("tab:blue", "today's default (raw G)"),
              ("preset", "ema"): ("tab:red", "fashion-mnist-cpu (EMA G)")}
    for (recipe, generator), (colour, label) in styles.items():
        for i, seed in enumerate(seeds):
            if (recipe, seed) not in results:
                continue
            rows = sorted((r for r in results[recipe, seed]["scores"] if r["generator"] == generator),
                          key=lambda r: r["step"])
            if rows:
                ax.plot([r["seconds"] / 60 for r in rows], [r["fid"] for r in rows], "o-", color=colour, ms=3, lw=1.2,
                        alpha=0.85, label=label if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("training wall time on this machine (min)")
    ax.set_ylabel("FID, domain-classifier features (log)")
    ax.set_title(f"Fashion-MNIST {SIZE}x{SIZE}: one line per seed ({', '.join(map(str, seeds))})")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def report(args: argparse.Namespace, results: dict[tuple[str, int], dict[str, Any]], figure: Path,
           minutes_taken: float) -> str:
    seeds = args.seed_list
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    classic = {s: final(results["classic", s]["scores"], "raw") for s in seeds}
    raw = {s: final(results["preset", s]["scores"], "raw") for s in seeds}
    ema = {s: final(results["preset", s]["scores"], "ema") for s in seeds}
    lines = [
        "## Fashion-MNIST: quality against wall time",
        "",
        f"Generated by `python benchmarks/image_quality.py {args.command}` on {when} ({minutes_taken:.0f} min; "
        f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} CPU threads, one run at a time). "
        f"Reporting seeds {', '.join(map(str, seeds))}; the settings were chosen on seed(s) {args.tuning_seeds or 'none named'}.",
        "",
        f"FID is computed in the feature space of gankit's Fashion-MNIST domain classifier on {args.n:,} samples "
        "against 10,000 training images, as `gankit evaluate` does; it is not comparable with Inception FIDs. "
        "*classes* is how many of the 10 classes the classifier finds among the samples. Time is training time "
        "(evaluations excluded).",
        "",
        f"![FID against wall time]({figure.as_posix()})",
        "",
        "| configuration | seed | steps | minutes | FID | classes |",
        "|---|---|---|---|---|---|",
    ]
    for label, table in (("classic recipe, 5 epochs", classic), (f"today's default (raw G), {args.minutes:g} min", raw),
                         (f"fashion-mnist-cpu (EMA G), {args.minutes:g} min", ema)):
        for s in seeds:
            r = table[s]
            lines.append(f"| {label} | {s} | {r['step']} | {r['seconds'] / 60:.1f} | {r['fid']:.2f} | {r['classes_covered']} |")
        fids = [table[s]["fid"] for s in seeds]
        lines.append(f"| **{label}** | mean ± sd (worst) | | | **{stats_text(fids)}** ({max(fids):.2f}) | "
                     f"{min(table[s]['classes_covered'] for s in seeds)} (fewest) |")
    ema_wins = sum(ema[s]["fid"] <= raw[s]["fid"] for s in seeds)
    beats_classic = sum(ema[s]["fid"] <= classic[s]["fid"] for s in seeds)
    halves = sum(ema[s]["fid"] <= 0.5 * raw[s]["fid"] for s in seeds)
    every_point = [(r_e, r_r) for s in seeds for r_e in results["preset", s]["scores"] if r_e["generator"] == "ema"
                   for r_r in results["preset", s]["scores"] if r_r["generator"] == "raw" and r_r["step"] == r_e["step"]]
    ema_never_worse = sum(e["fid"] <= r["fid"] for e, r in every_point)
    lines += [
        "",
        "Targets of issue #17, per seed:",
        f"- the preset's FID at {args.minutes:g} min is at most the classic recipe's after 5 epochs on {beats_classic} of "
        f"{len(seeds)} seeds;",
        f"- it is at most half of today's default at the same minutes on {halves} of {len(seeds)} seeds;",
        f"- all 10 classes are covered on {sum(ema[s]['classes_covered'] == 10 for s in seeds)} of {len(seeds)} seeds;",
        f"- the EMA generator scores at most the raw one at the end on {ema_wins} of {len(seeds)} seeds, and at "
        f"{ema_never_worse} of the {len(every_point)} checkpoints of all seeds.",
        "",
        "Reproduce one seed S:",
        "",
        "```",
        *[recipe.command() for recipe in recipes(args.minutes, args.every, args.classic_steps)],
        "gankit evaluate RUN/checkpoints/step_NNNNNNN.ckpt [--no-ema]   # each checkpoint, EMA and raw",
        "```",
        "",
    ]
    return "\n".join(lines)


BEGIN, END = "<!-- benchmarks/image_quality.py: begin -->", "<!-- benchmarks/image_quality.py: end -->"


def splice(document: str, text: str) -> str:
    """``document`` with its image-quality block replaced by ``text`` (appended when it has none)."""
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    start, stop = document.find(BEGIN), document.find(END)
    if start < 0 or stop < start:
        return document.rstrip() + "\n\n" + block + "\n"
    return document[:start] + block + document[stop + len(END):]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="100-102", help="reporting seeds: a count N (0..N-1), a range A-B or a comma list")
    p.add_argument("--tuning-seeds", default="0", help="the seeds the preset was chosen on (text, named in the report)")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes of the preset runs (default 10)")
    p.add_argument("--every", type=int, default=4000, help="checkpoint (and score) the preset every this many steps")
    p.add_argument("--classic-steps", type=int, default=5 * EPOCH_STEPS, help="steps of the classic recipe (5 epochs)")
    p.add_argument("--n", type=int, default=N_SCORE, help="samples per score (default 10,000)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: gankit's choice, as gankit train)")
    p.add_argument("--runs", default="runs/image-quality", help="where run folders go (kept)")
    p.add_argument("--cache", help="JSON lines of finished scores (default RUNS/image-quality.jsonl)")
    p.add_argument("--out", default="docs/results.md", help="Markdown report to splice into; '-' for none")
    p.add_argument("--quick", action="store_true", help="1 seed, 0.2 min, 40 classic steps, 1,000 samples")
    args = p.parse_args(argv)
    args.command = " ".join(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.seeds, args.minutes, args.every, args.classic_steps, args.n = "0-0", 0.2, 100, 40, 1000
    from quality import parse_seeds  # benchmarks/ is on sys.path when a script here runs

    args.seed_list = parse_seeds(args.seeds)
    return args


def main(argv: list[str] | None = None) -> int:
    from gankit.metrics.classifier import default_path, train_command

    args = parse_args(argv)
    if not default_path(DATA, SIZE).is_file():
        print(f"image_quality: no trained {DATA} classifier at {default_path(DATA, SIZE)}; "
              f"train it with: {train_command(DATA, SIZE)}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    results = run_all(args)
    out = Path(args.out) if args.out != "-" else None
    figure = (out.parent if out else Path(args.runs)) / "figures" / "fashion-mnist-quality-vs-time.png"
    plot(results, args.seed_list, figure)
    text = report(args, results, figure.relative_to(out.parent) if out else figure, (time.perf_counter() - began) / 60)
    print(text)
    if out:
        out.write_text(splice(out.read_text(encoding="utf-8") if out.is_file() else "", text), encoding="utf-8")
        print(f"wrote {out} and {figure}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
