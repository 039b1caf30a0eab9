"""Does the CUDA-graph training step train to the same quality as eager? Fashion-MNIST, FID per seed.

Target: "The fast path trains to the same quality as eager. Fashion-MNIST, 3,000 steps, 3 seeds: the
FID in the domain classifier's space is within the seed spread of eager's."

For each mode of ``--modes`` (``train.cuda_graph``; default ``off,on``) and each seed of ``--seeds``
this trains, as its own process::

    gankit train --data fashion-mnist --steps 3000 --seed S --device DEVICE --set train.cuda_graph=MODE \\
        --set train.tensorboard=false --set train.report=false [--set KEY=VALUE ...] --out RUNS/MODE-sS

up to ``--jobs`` of them at once (default: all of them on CUDA, one on a CPU), each writing its output
to ``RUNS/MODE-sS/train.log``. Every finished run is then scored as ``gankit evaluate RUN --features
classifier --n N`` scores it (the EMA generator where the run keeps one, sampling seed 0, same
device): FID in the feature space of gankit's Fashion-MNIST domain classifier. That evaluator must
already be trained (``gankit evaluator train --data fashion-mnist``); nothing is downloaded.

Each run's resolved ``config.json`` is read back, so the table shows what actually ran (a CPU fills
the fashion-mnist defaults from the ``fashion-mnist-cpu`` preset; CUDA uses the image defaults).
Training seconds are the trainer's own clock from the last checkpoint; wall seconds are the whole
process (start-up, data, capture). When several runs share one GPU their speeds are not solo speeds.

Verdict, stated both ways for every mode against eager (``off``): is each seed's FID inside
[min, max] of eager's seeds, and is the mode's mean inside eager's mean ± 2 sd.

This is a benchmark: it prints figures and asserts nothing. A run folder that already holds a
finished run made with the same command is scored again rather than retrained.

Usage::

    python benchmarks/graph_quality.py --device cuda --runs /tmp/gq --out gq.md --json gq.json
    python benchmarks/graph_quality.py --device cpu --modes off --seeds 0,1 --steps 30 --n 500 --jobs 1 --runs /tmp/gq-smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.errors import GankitError

DATA, EVALUATOR_SIZE = "fashion-mnist", 32
BASELINE = "off"  # eager
LEAN = ("train.tensorboard=false", "train.report=false")
LOG, DONE = "train.log", "train-done.json"  # in each run folder: the process's output, and its record once it finished
TAIL = 25  # log lines shown for a failed run
RESOLVED = ("train.cuda_graph", "train.precision", "train.batch_size", "model.width")


def comma_list(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one value")
    return items


def seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers, e.g. 0,1,2; got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", type=comma_list, default=["off", "on"],
                        help="train.cuda_graph values to compare, comma-separated (default off,on; off is eager)")
    parser.add_argument("--seeds", type=seed_list, default=[0, 1, 2], help="training seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=3000, help="generator steps per run (default 3000)")
    parser.add_argument("--n", type=int, default=10_000, help="samples scored per run (default 10000)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto), for training and scoring")
    parser.add_argument("--jobs", type=int, default=0,
                        help="training runs at once (default: all on CUDA, 1 on a CPU)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to every 'gankit train' (repeatable), e.g. --set train.precision=fp32")
    parser.add_argument("--runs", default="runs/graph-quality", help="parent of the run folders (default runs/graph-quality)")
    parser.add_argument("--timeout", type=float, default=0.0,
                        help="stop a training run after this many wall seconds and count it failed (default 0: never)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--out", metavar="FILE.md", help="write the Markdown report")
    args = parser.parse_args(argv)
    if args.steps <= 0 or args.n <= 0 or args.jobs < 0:
        parser.error("--steps and --n must be > 0 and --jobs >= 0")
    if len(set(args.modes)) != len(args.modes) or len(set(args.seeds)) != len(args.seeds):
        parser.error("--modes and --seeds must not repeat a value")
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set takes KEY=VALUE; got {item!r}")
    return args


# --------------------------------------------------------------------------------------------
# training, one process per run


def train_argv(mode: str, seed: int, device: str, args: argparse.Namespace, run_dir: Path) -> list[str]:
    """The ``python -m gankit train ...`` command of one run."""
    argv = [sys.executable, "-m", "gankit", "train", "--data", DATA, "--steps", str(args.steps), "--seed", str(seed),
            "--device", device, "--set", f"train.cuda_graph={mode}"]
    for item in (*LEAN, *args.set):  # the user's --set come last, so they win
        argv += ["--set", item]
    return argv + ["--out", str(run_dir)]


def child_env(jobs: int) -> dict[str, str]:
    """The parent's environment with the gankit it imported first on PYTHONPATH (the repo's src when uninstalled)."""
    env = dict(os.environ)
    src = str(Path(gankit.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    if jobs > 1 and "OMP_NUM_THREADS" not in env:  # share the cores instead of each process taking all of them
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def shell_line(argv: list[str]) -> str:
    return " ".join(["gankit", *argv[3:]])  # drop "python -m gankit"


def prepare(run_dir: Path, argv: list[str]) -> dict[str, Any] | None:
    """The record of a finished run made by ``argv`` in ``run_dir`` (to reuse), else ``None`` after clearing
    this benchmark's own unfinished attempt there. A folder this benchmark did not make is refused."""
    done = run_dir / DONE
    if done.is_file() and (run_dir / "generator.safetensors").is_file():
        record = json.loads(done.read_text(encoding="utf-8"))
        if record.get("command") == shell_line(argv):
            return record
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / LOG).is_file():
            raise SystemExit(f"{run_dir} holds something this benchmark did not write; choose another --runs")
        shutil.rmtree(run_dir)  # an earlier attempt of this benchmark, or one with other settings
    return None


def tail(path: Path, lines: int = TAIL) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        return f"(no log: {err})"
    return "\n".join(text.splitlines()[-lines:])


def train_all(runs: list[dict[str, Any]], device: str, jobs: int, args: argparse.Namespace) -> None:
    """Run every run's training command, ``jobs`` at a time; fills each run's ``status`` and ``wall_seconds``."""
    env = child_env(jobs)
    pending = []
    for run in runs:
        record = prepare(run["dir"], run["argv"])
        if record is not None:
            run.update(status="reused", wall_seconds=record["wall_seconds"])
            print(f"{run['name']}: reusing the finished run in {run['dir']}", flush=True)
        else:
            pending.append(run)
    active: list[tuple[dict[str, Any], subprocess.Popen, Any, float]] = []
    try:
        while pending or active:
            while pending and len(active) < jobs:
                run = pending.pop(0)
                run["dir"].mkdir(parents=True, exist_ok=True)
                log = (run["dir"] / LOG).open("w", encoding="utf-8")
                log.write("$ " + run["command"] + "\n")
                log.flush()
                began = time.perf_counter()
                proc = subprocess.Popen(run["argv"], stdout=log, stderr=subprocess.STDOUT, env=env)
                active.append((run, proc, log, began))
                print(f"{run['name']}: started", flush=True)
            time.sleep(0.2)
            for item in list(active):
                run, proc, log, began = item
                wall = time.perf_counter() - began
                if proc.poll() is None:
                    if args.timeout and wall > args.timeout:
                        proc.kill()
                        proc.wait()
                        log.write(f"\n[graph_quality] killed after {wall:.0f} s (--timeout {args.timeout:g})\n")
                    else:
                        continue
                log.close()
                active.remove(item)
                run["wall_seconds"] = round(wall, 3)
                run["returncode"] = proc.returncode
                if proc.returncode == 0:
                    run["status"] = "trained"
                    (run["dir"] / DONE).write_text(json.dumps({"command": run["command"], "wall_seconds": run["wall_seconds"]}),
                                                   encoding="utf-8")
                    print(f"{run['name']}: trained in {wall:.1f} s wall", flush=True)
                else:
                    run["status"] = "failed"
                    print(f"{run['name']}: FAILED (exit {proc.returncode}) after {wall:.1f} s; last lines of "
                          f"{run['dir'] / LOG}:\n{tail(run['dir'] / LOG)}", flush=True)
    finally:
        for _, proc, log, _ in active:  # interrupted: stop the runs this script started
            proc.kill()
            proc.wait()
            log.close()


# --------------------------------------------------------------------------------------------
# reading back and scoring


def resolved_settings(run_dir: Path) -> dict[str, Any]:
    """The values of :data:`RESOLVED` in the run's config.json (what actually ran)."""
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for key in RESOLVED:
        section, name = key.split(".")
        out[key] = config.get(section, {}).get(name)
    return out


def trained_clock(run_dir: Path) -> tuple[int | None, float | None]:
    """Step and training seconds (the trainer's clock, evaluations left out) of the run's last checkpoint."""
    from gankit.training import checkpoint

    try:
        state = checkpoint.load(checkpoint.find(run_dir))
    except GankitError:
        return None, None
    seconds = state.get("seconds")
    return int(state["step"]), (float(seconds) if seconds is not None else None)


def score(run: dict[str, Any], n: int, device: str) -> None:
    """FID in classifier features, as ``gankit evaluate RUN --features classifier --n N`` (writes RUN/metrics.json)."""
    from gankit.runs.evaluate import evaluate_run

    run["config"] = resolved_settings(run["dir"])
    run["step"], run["train_seconds"] = trained_clock(run["dir"])
    if run["step"] and run["train_seconds"]:
        run["steps_per_s"] = run["step"] / run["train_seconds"]
    began = time.perf_counter()
    try:
        result = evaluate_run(run["dir"], n=n, features="classifier", seed=0, device=device, write=True)
    except Exception as err:  # noqa: BLE001 - one run's failure must not lose the others' figures
        run["status"], run["error"] = "score failed", f"{type(err).__name__}: {err}"
        print(f"{run['name']}: scoring FAILED: {run['error']}", flush=True)
        return
    run["fid"] = float(result["metrics"]["fid"])
    run["feature_tag"], run["ema"] = result.get("feature_tag"), result.get("ema")
    run["score_seconds"] = round(time.perf_counter() - began, 3)
    print(f"{run['name']}: step {run['step']}, FID {run['fid']:.3f} ({'EMA' if run['ema'] else 'raw'} G, "
          f"{run['score_seconds']:.1f} s to score)", flush=True)


# --------------------------------------------------------------------------------------------
# summary and report


def spread(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "mean": statistics.fmean(values) if values else math.nan,
            "sd": statistics.stdev(values) if len(values) > 1 else math.nan,
            "min": min(values, default=math.nan), "max": max(values, default=math.nan)}


def summarise(runs: list[dict[str, Any]], modes: list[str], seeds: list[int]) -> dict[str, Any]:
    """Per mode: FID by seed and its spread; per mode other than eager: the two verdicts."""
    fid = {m: {r["seed"]: r["fid"] for r in runs if r["mode"] == m and "fid" in r} for m in modes}
    per_mode = {m: {"fid_by_seed": fid[m], **spread(list(fid[m].values())),
                    "worst_seed": max(fid[m], key=fid[m].get) if fid[m] else None,
                    "missing_seeds": [s for s in seeds if s not in fid[m]]} for m in modes}
    verdicts = {}
    base = per_mode.get(BASELINE)
    for m in modes:
        if m == BASELINE or base is None:
            continue
        ours = per_mode[m]
        within = {s: base["min"] <= v <= base["max"] for s, v in fid[m].items()}
        low, high = base["mean"] - 2 * base["sd"], base["mean"] + 2 * base["sd"]
        verdicts[m] = {"eager_range": [base["min"], base["max"]], "seeds_within_range": within,
                       "all_seeds_within_range": bool(within) and all(within.values()) and not ours["missing_seeds"],
                       "eager_mean_2sd": [low, high],
                       "mean_within_2sd": bool(math.isfinite(low) and math.isfinite(ours["mean"])
                                               and low <= ours["mean"] <= high)}
    return {"modes": per_mode, "verdicts": verdicts}


def fmt(value: Any, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec) if isinstance(value, float) else str(value)


def verdict_lines(summary: dict[str, Any], seeds: list[int]) -> list[str]:
    if BASELINE not in summary["modes"]:
        return [f"No verdict: the modes compared do not include eager (`{BASELINE}`)."]
    if not summary["verdicts"]:
        return ["No verdict: only one mode was run."]
    lines = []
    base = summary["modes"][BASELINE]
    for m, v in summary["verdicts"].items():
        lo, hi = v["eager_range"]
        inside = [s for s, ok in v["seeds_within_range"].items() if ok]
        fids = summary["modes"][m]["fid_by_seed"]
        outside = [f"seed {s} ({fids[s]:.3f}, {'below eager’s best' if fids[s] < lo else 'above eager’s worst'})"
                   for s, ok in v["seeds_within_range"].items() if not ok]
        missing = summary["modes"][m]["missing_seeds"]
        first = (f"- **{'yes' if v['all_seeds_within_range'] else 'no'}**: {len(inside)} of {len(seeds)} "
                 f"`cuda_graph={m}` seeds have an FID within eager's range [{fmt(lo)}, {fmt(hi)}]")
        first += f"; outside: {', '.join(outside)}" if outside else ""
        first += f"; no FID for seed(s) {', '.join(map(str, missing))}" if missing else ""
        low, high = v["eager_mean_2sd"]
        second = (f"- **{'yes' if v['mean_within_2sd'] else 'no'}**: the `cuda_graph={m}` mean "
                  f"{fmt(summary['modes'][m]['mean'])} is {'within' if v['mean_within_2sd'] else 'outside'} eager's "
                  f"mean ± 2 sd = {fmt(base['mean'])} ± {fmt(2 * base['sd'])} = [{fmt(low)}, {fmt(high)}]")
        lines += [first + ".", second + "."]
    return lines


def report(args: argparse.Namespace, runs: list[dict[str, Any]], summary: dict[str, Any], meta: dict[str, Any]) -> str:
    seeds = args.seeds
    lines = [
        "## CUDA-graph training step: quality against eager (Fashion-MNIST)",
        "",
        f"`python benchmarks/graph_quality.py {meta['argv']}` on {meta['when']}: {meta['device_name']}, torch "
        f"{meta['torch']}, {meta['jobs']} run(s) at a time, {meta['minutes']:.1f} min in all. FID in the feature space "
        f"of gankit's Fashion-MNIST domain classifier on {args.n:,} samples per run (as `gankit evaluate RUN "
        "--features classifier`); not comparable with Inception FIDs. Lower is better.",
        "",
        "| mode | FID " + " | FID ".join(f"seed {s}" for s in seeds) + " | mean ± sd | worst seed |",
        "|---|" + "---|" * len(seeds) + "---|---|",
    ]
    for m, s in summary["modes"].items():
        cells = [fmt(s["fid_by_seed"].get(seed)) for seed in seeds]
        worst = f"{s['worst_seed']} ({fmt(s['fid_by_seed'][s['worst_seed']])})" if s["worst_seed"] is not None else "–"
        lines.append(f"| `{m}` | " + " | ".join(cells) + f" | {fmt(s['mean'])} ± {fmt(s['sd'])} | {worst} |")
    lines += ["", "Verdict (each graph seed against eager's seeds; the graph mean against eager's mean ± 2 sd):", "",
              *verdict_lines(summary, seeds), "",
              "Each run as it ran (resolved config.json; train s is the trainer's clock, wall s the whole process"
              + (f", {meta['jobs']} runs sharing the {meta['device']} device)" if meta["jobs"] > 1 else ")") + ":",
              "",
              "| mode | seed | status | cuda_graph | precision | batch | width | steps | train s | wall s | steps/s | FID |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        c = r.get("config", {})
        lines.append(f"| `{r['mode']}` | {r['seed']} | {r['status']} | {fmt(c.get('train.cuda_graph'))} | "
                     f"{fmt(c.get('train.precision'))} | {fmt(c.get('train.batch_size'))} | {fmt(c.get('model.width'))} | "
                     f"{fmt(r.get('step'))} | {fmt(r.get('train_seconds'), '.1f')} | {fmt(r.get('wall_seconds'), '.1f')} | "
                     f"{fmt(r.get('steps_per_s'), '.0f')} | {fmt(r.get('fid'))} |")
    lines += ["", "One run:", "", "```", runs[0]["command"].replace(f"--out {runs[0]['dir']}", "--out RUN"),
              f"gankit evaluate RUN --features classifier --n {args.n} --device {meta['device']}", "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gankit.metrics import classifier
    from gankit.training.runtime import pick_device

    evaluator = classifier.default_path(DATA, EVALUATOR_SIZE)
    if not evaluator.is_file():
        print(f"no Fashion-MNIST evaluator at {evaluator}; train it first with "
              f"`{classifier.train_command(DATA, EVALUATOR_SIZE)}`", file=sys.stderr)
        return 2
    try:
        device = pick_device(args.device).type
    except GankitError as err:
        print(err, file=sys.stderr)
        return 2
    jobs = args.jobs or (len(args.modes) * len(args.seeds) if device == "cuda" else 1)
    started, when = time.perf_counter(), datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    root = Path(args.runs)
    runs = []
    for mode in args.modes:
        for seed in args.seeds:
            run_dir = root / f"{mode}-s{seed}"
            argv_run = train_argv(mode, seed, device, args, run_dir)
            runs.append({"name": f"cuda_graph={mode} seed {seed}", "mode": mode, "seed": seed, "dir": run_dir,
                         "argv": argv_run, "command": shell_line(argv_run)})
    print(f"{len(runs)} runs of {args.steps} steps on {device}, {jobs} at a time, into {root}/", flush=True)
    train_all(runs, device, jobs, args)
    for run in runs:
        if run["status"] in ("trained", "reused"):
            score(run, args.n, device)
    summary = summarise(runs, args.modes, args.seeds)
    meta = {"argv": " ".join(sys.argv[1:] if argv is None else argv), "when": when, "device": device,
            "device_name": torch.cuda.get_device_name() if device == "cuda" else f"CPU ({platform.machine()})",
            "torch": torch.__version__, "gankit": getattr(gankit, "__version__", None), "jobs": jobs,
            "cpu_count": os.cpu_count(), "minutes": (time.perf_counter() - started) / 60}
    text = report(args, runs, summary, meta)
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    if args.json:
        plain_runs = [{k: (str(v) if isinstance(v, Path) else v) for k, v in r.items() if k != "argv"} for r in runs]
        blob = {"meta": meta, "args": {k: v for k, v in vars(args).items()}, "runs": plain_runs, "summary": summary}
        Path(args.json).write_text(json.dumps(blob, indent=2, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
