"""``gankit bench``: the classic loop, gankit's trainer and gankit at its best batch, in one process.

Method (see ``docs/performance.md``):

1. Synthetic data of the right shape (uint8 images or float points); no dataset is read.
2. (a) :class:`~gankit.bench.reference.ReferenceLoop` and (b) :meth:`gankit.training.Trainer.train_step`
   at the same model and batch are timed in alternating blocks, so that a load change on a shared
   machine hits both alike. Each block is ``k`` steps between two device synchronisations (the
   trainer also reads its statistics back once per block, as ``train.log_every`` does); ms/step is
   the median over blocks.
3. (c) the trainer at a few batch sizes; the best images/s wins.
4. FLOPs of one step of each loop are counted with :class:`torch.utils.flop_counter.FlopCounterMode`
   (eager phases); achieved TFLOP/s = FLOPs per step / seconds per step.
5. The data path alone: batches/s of ``EpochBatches.next()`` and of the reference's DataLoader,
   and the share of a step each would take.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from gankit.bench.flops import count_flops, images_per_second_limit, peak_tflops
from gankit.bench.reference import ReferenceLoop
from gankit.data import Dataset
from gankit.errors import GankitError
from gankit.models import build_models
from gankit.training.config import RunConfig, set_value
from gankit.training.loop import Trainer
from gankit.training.phases import make_phases
from gankit.training.runtime import pick_device, pick_threads
from gankit.training.setup import build

MODEL_DEFAULTS = {  # image_size, width, batch_size
    "dcgan": (64, 64, 128),
    "mlp": (None, 128, 256),
}
QUICK_CPU_DCGAN = (32, 32, 64)  # --quick on a CPU: the 32x32 DCGAN, small enough for 2 cores


@dataclass
class BenchOptions:
    """What ``gankit bench`` measures; ``None`` fields take the model's (or --quick's) defaults."""

    device: str = "auto"
    model: str = "dcgan"
    image_size: int | None = None
    width: int | None = None
    batch_size: int | None = None
    channels: int = 3
    quick: bool = False
    precision: str = "auto"
    channels_last: str = "auto"
    compile: str = "off"
    cuda_graph: str = "auto"
    threads: int = 0
    sweep: tuple[int, ...] | None = None
    seed: int = 0


@dataclass
class Schedule:
    """How long to time: ``warmup`` steps, then ``blocks`` blocks of about ``block_s`` seconds."""

    warmup: int
    blocks: int
    block_s: float
    data_batches: int


def schedule(device: torch.device, quick: bool) -> Schedule:
    if device.type == "cuda":  # warm-up covers cuDNN's algorithm search
        return Schedule(10, 5, 0.5, 100) if quick else Schedule(20, 7, 2.0, 400)
    return Schedule(1, 3, 0.4, 10) if quick else Schedule(3, 5, 2.0, 40)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def synthetic_dataset(model: str, n: int, *, image_size: int | None, channels: int, seed: int) -> Dataset:
    """``n`` random uint8 images ``[n, C, S, S]`` (dcgan) or standard-normal points ``[n, 2]`` (mlp)."""
    gen = torch.Generator().manual_seed(seed)
    if model == "mlp":
        return Dataset("synthetic", "points", torch.randn(n, 2, generator=gen))
    data = torch.randint(0, 256, (n, channels, image_size, image_size), generator=gen, dtype=torch.uint8)
    return Dataset("synthetic", "images", data)


def make_trainer(dataset: Dataset, opts: BenchOptions, *, width: int, batch_size: int, device: torch.device,
                 threads: int, run_dir: Path, cuda_graph: str = "off") -> Trainer:
    """gankit's trainer on ``dataset`` with the DCGAN paper's loss (gan-ns, K = 1); ``cuda_graph`` as train.cuda_graph."""
    cfg = RunConfig()
    settings = {"model.name": opts.model, "model.width": width, "loss.name": "gan-ns", "train.batch_size": batch_size,
                "train.device": device.type, "train.precision": opts.precision, "train.seed": opts.seed,
                "train.channels_last": opts.channels_last, "train.compile": opts.compile, "train.threads": threads,
                "train.cuda_graph": cuda_graph}
    for key, value in settings.items():
        set_value(cfg, key, value)
    return Trainer(build(cfg, dataset=dataset), run_dir, log=print_warnings)


def print_warnings(message: str) -> None:
    """A bench trainer's log: its warnings (a step that could not be captured, say) reach stderr, the rest is dropped."""
    if message.startswith("warning:"):
        print(f"gankit bench: {message}", file=sys.stderr, flush=True)


def make_reference(dataset: Dataset, opts: BenchOptions, *, width: int, batch_size: int,
                   device: torch.device) -> ReferenceLoop:
    torch.manual_seed(opts.seed)
    z_dim = 100 if opts.model == "dcgan" else 2
    G, D = build_models(opts.model, data_shape=dataset.shape, z_dim=z_dim, width=width, d_norm="batch")
    return ReferenceLoop(G, D, dataset.data, batch_size=batch_size, device=device, seed=opts.seed)


def trainer_flops(trainer: Trainer) -> int:
    """FLOPs of one ``train_step`` counted on eager phases (a compiled graph or a CUDA graph hides its ops)."""
    compiled, captured = trainer.phases, trainer.captured
    trainer.phases = make_phases(trainer.parts.spec, trainer.parts.G, trainer.parts.D)
    trainer.captured = None
    try:
        return count_flops(trainer.train_step)
    finally:
        trainer.phases, trainer.captured = compiled, captured
        trainer.stats.drain()


def timed_block(step: Callable[[], object], n: int, device: torch.device, after: Callable[[], object]) -> float:
    """Seconds per step over ``n`` steps between two synchronisations."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(n):
        step()
    after()
    synchronize(device)
    return (time.perf_counter() - start) / n


def time_steps(steps: dict[str, tuple[Callable[[], object], Callable[[], object]]], device: torch.device,
               plan: Schedule) -> dict[str, list[float]]:
    """ms/step of each ``name -> (step, after_block)``, blocks alternating between the names."""
    per_block = {}
    for name, (step, after) in steps.items():
        for _ in range(max(plan.warmup - 1, 0)):
            step()
        one = timed_block(step, 1, device, after)  # the last warm-up step sizes the blocks
        per_block[name] = max(1, min(500, round(plan.block_s / max(one, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(plan.blocks):
        for name, (step, after) in steps.items():
            times[name].append(1000 * timed_block(step, per_block[name], device, after))
    return times


def batches_per_second(next_batch: Callable[[], object], n: int, device: torch.device) -> float:
    next_batch()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(n):
        next_batch()
    synchronize(device)
    return n / (time.perf_counter() - start)


def peak_key(device: torch.device, precision: str) -> str:
    """The peak a run is held against: bf16/fp16 tensor cores, tf32 for fp32 convs on cuDNN, fp32."""
    if precision in ("bf16", "fp16"):
        return "bf16"
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "fp32"


def summarise(name: str, batch: int, ms: list[float], flops_per_step: int, precision: str,
              device: torch.device, device_name: str) -> dict[str, Any]:
    median = statistics.median(ms)
    tflops = flops_per_step / (median / 1000) / 1e12
    key = peak_key(device, precision)
    peak = peak_tflops(device_name, key) if device.type == "cuda" else None
    return {"name": name, "batch_size": batch, "precision": precision, "ms_per_step": median,
            "ms_per_step_blocks": ms, "images_per_s": batch / (median / 1000), "flops_per_step": flops_per_step,
            "flops_per_image": flops_per_step / batch, "tflops": tflops, "peak_key": key, "peak_tflops": peak,
            "peak_share": tflops / peak if peak else None}


def default_sweep(batch: int, device: torch.device, quick: bool) -> tuple[int, ...]:
    if device.type == "cuda":  # doubling until images/s stops rising (see SWEEP_GAIN)
        return tuple(batch * 2**k for k in range(6 if quick else 7))
    return (batch, 2 * batch) if quick else (max(1, batch // 2), batch, 2 * batch, 4 * batch)


def machine(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"device": device.type, "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
            "cpu": cpu, "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def run_bench(opts: BenchOptions, *, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Measure (a), (b), (c) and the data path; returns every figure as a JSON-ready dict."""
    device = pick_device(opts.device)
    size, width, batch = MODEL_DEFAULTS[opts.model]
    if opts.quick and device.type == "cpu" and opts.model == "dcgan":
        size, width, batch = QUICK_CPU_DCGAN
    size, width, batch = opts.image_size or size, opts.width or width, opts.batch_size or batch
    threads = opts.threads or (pick_threads(opts.model) if device.type == "cpu" else torch.get_num_threads())
    torch.set_num_threads(threads)  # every loop runs on the same threads
    plan = schedule(device, opts.quick)
    sweep = tuple(sorted(set(opts.sweep or default_sweep(batch, device, opts.quick)) | {batch}))
    info = machine(device)
    data = synthetic_dataset(opts.model, max(4 * max(sweep), 1024), image_size=size, channels=opts.channels,
                             seed=opts.seed)
    out: dict[str, Any] = {"machine": {**info, "threads": threads},
                           "options": {**asdict(opts), "image_size": size if opts.model == "dcgan" else None,
                                       "width": width, "batch_size": batch, "sweep": list(sweep)},
                           "schedule": asdict(plan)}
    log(f"{opts.model} {f'{size}x{size} ' if opts.model == 'dcgan' else ''}width {width}, batch {batch} on "
        f"{info['device_name']}, {threads} threads, load {_num(info['load_average'], '.1f')}")

    graph = device.type == "cuda" and opts.cuda_graph != "off"  # (b) also as one CUDA graph per step
    with tempfile.TemporaryDirectory() as tmp:
        ref = make_reference(Dataset(data.name, data.kind, data.data[: max(4 * batch, 1024)]), opts, width=width,
                             batch_size=batch, device=device)
        build_at = lambda b, mode: make_trainer(data, opts, width=width, batch_size=b, device=device,  # noqa: E731
                                                threads=threads, run_dir=Path(tmp), cuda_graph=mode)
        trainer = build_at(batch, "off")
        precision = trainer.cfg.train.precision
        out["gankit_settings"] = {k: getattr(trainer.cfg.train, k) for k in
                                  ("precision", "channels_last", "compile", "threads", "cudnn_benchmark")}
        out["gankit_settings"]["cuda_graph"] = "on" if graph else "off"
        ref_flops, gk_flops = count_flops(ref.step), trainer_flops(trainer)
        loops = {"reference": (ref.step, lambda: None), "gankit": (trainer.train_step, trainer.stats.drain)}
        if graph:
            graphed = build_at(batch, "on")
            loops["gankit-graph"] = (graphed.train_step, graphed.stats.drain)
        log(f"timing (a) the reference loop and (b) gankit's trainer{' (eager and CUDA graph)' if graph else ''}, "
            "alternating ...")
        times = time_steps(loops, device, plan)
        a = summarise("reference", batch, times["reference"], ref_flops, "fp32", device, info["device_name"])
        b = summarise("gankit", batch, times["gankit"], gk_flops, precision, device, info["device_name"])
        b_graph = (summarise("gankit-graph", batch, times["gankit-graph"], gk_flops, precision, device, info["device_name"])
                   if graph else None)
        if graph and graphed.captured is None:
            raise GankitError("the CUDA-graph trainer fell back to eager (see the warning above); rerun with --cuda-graph off")
        log("timing the data path ...")
        gk_rate = batches_per_second(trainer.batches.next, plan.data_batches, device)
        dl_rate = batches_per_second(ref.next_batch, plan.data_batches, device)
        out["data_path"] = {
            "epoch_batches_per_s": gk_rate, "dataloader_batches_per_s": dl_rate,
            "epoch_batches_share_of_gankit_step": (1000 / gk_rate) / b["ms_per_step"],
            "dataloader_share_of_reference_step": (1000 / dl_rate) / a["ms_per_step"],
        }
        out["data_path"]["reference_loader_bound"] = out["data_path"]["dataloader_share_of_reference_step"] > 0.5
        out["data_path"]["gankit_loader_bound"] = out["data_path"]["epoch_batches_share_of_gankit_step"] > 0.5
        del ref, trainer, loops
        graphed = None
        points = sweep_batches(build_at, "on" if graph else "off", b_graph or b, sweep, device, plan, precision,
                               info["device_name"], log, stop_when_flat=opts.sweep is None)
    best = max(points, key=lambda r: r["images_per_s"])
    c = {**best, "name": "gankit-best"}
    runs = [a, b] + ([b_graph] if b_graph else []) + [c]
    for run in runs:
        run["speedup"] = run["images_per_s"] / a["images_per_s"]
    out["runs"] = runs
    out["sweep"] = [{k: r[k] for k in ("batch_size", "ms_per_step", "images_per_s", "tflops")} for r in points]
    peak = peak_tflops(info["device_name"], "bf16") if device.type == "cuda" else None
    out["limit"] = {"peak_bf16_tflops": peak, "flops_per_image": b["flops_per_image"],
                    "images_per_s": images_per_second_limit(peak, b["flops_per_image"]) if peak else None}
    out["machine"]["load_average_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return out


SWEEP_GAIN = 1.03  # a default sweep stops at the first batch that adds under 3 % images/s to the best so far


def sweep_batches(build_at: Callable[[int, str], Trainer], mode: str, first: dict[str, Any], sweep: tuple[int, ...],
                  device: torch.device, plan: Schedule, precision: str, device_name: str,
                  log: Callable[[str], None], *, stop_when_flat: bool) -> list[dict[str, Any]]:
    """(c): the trainer (``train.cuda_graph`` = ``mode``) at each batch of ``sweep`` past ``first``'s.

    Stops at an out-of-memory error, and (``stop_when_flat``) once images/s stops rising.
    """
    points = [first]
    for size_b in (s for s in sweep if s != first["batch_size"]):
        log(f"timing gankit at batch {size_b} ...")
        t = None
        try:
            t = build_at(size_b, mode)
            flops = trainer_flops(t)
            ms = time_steps({"gankit": (t.train_step, t.stats.drain)}, device, plan)["gankit"]
        except torch.cuda.OutOfMemoryError:
            log(f"batch {size_b} does not fit in GPU memory; the sweep stops here")
            break
        finally:
            t = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
        point = summarise(f"gankit batch {size_b}", size_b, ms, flops, precision, device, device_name)
        best = max(p["images_per_s"] for p in points)
        points.append(point)
        if stop_when_flat and size_b > first["batch_size"] and point["images_per_s"] < SWEEP_GAIN * best:
            log(f"batch {size_b} adds under {100 * (SWEEP_GAIN - 1):.0f} % images/s; the sweep stops here")
            break
    points.sort(key=lambda r: r["batch_size"])
    return points


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def format_report(result: dict[str, Any]) -> str:
    """The human-readable table ``gankit bench`` prints."""
    m, o = result["machine"], result["options"]
    shape = f"{o['image_size']}x{o['image_size']} " if o["image_size"] else ""
    s = result["gankit_settings"]
    lines = [
        f"gankit bench: {o['model']} {shape}width {o['width']} on {m['device']} ({m['device_name']}), torch {m['torch']}, "
        f"{m['threads']} threads, load {_num(m['load_average'], '.1f')} -> {_num(m['load_average_after'], '.1f')}",
        f"gankit: precision {s['precision']}, channels_last {s['channels_last']}, compile {s['compile']}, "
        f"cuda_graph {s.get('cuda_graph', 'off')} (the sweep's)",
        f"{'run':<14}{'batch':>7}{'ms/step':>10}{'images/s':>11}{'GFLOP/img':>11}{'TFLOP/s':>9}{'x ref':>7}{'of peak':>13}",
    ]
    labels = {"reference": "(a) reference", "gankit": "(b) gankit", "gankit-graph": "(b) graph", "gankit-best": "(c) best"}
    for r in result["runs"]:
        share = "n/a" if r["peak_share"] is None else f"{100 * r['peak_share']:.1f}% {r['peak_key']}"
        lines.append(f"{labels[r['name']]:<14}{r['batch_size']:>7}{r['ms_per_step']:>10.2f}{r['images_per_s']:>11.1f}"
                     f"{r['flops_per_image'] / 1e9:>11.4g}{r['tflops']:>9.3f}{r['speedup']:>7.2f}{share:>13}")
    lines.append("sweep: " + ", ".join(f"batch {p['batch_size']}: {p['images_per_s']:.1f} images/s" for p in result["sweep"]))
    d = result["data_path"]
    lines.append(f"data path: EpochBatches.next() {d['epoch_batches_per_s']:.1f} batches/s "
                 f"({100 * d['epoch_batches_share_of_gankit_step']:.1f}% of a gankit step); DataLoader "
                 f"{d['dataloader_batches_per_s']:.1f} batches/s ({100 * d['dataloader_share_of_reference_step']:.1f}% "
                 f"of a reference step{', loader-bound' if d['reference_loader_bound'] else ''})")
    lim = result["limit"]
    lines.append(f"physical limit at the bf16 peak ({_num(lim['peak_bf16_tflops'], '.0f')} TFLOP/s): "
                 f"{_num(lim['images_per_s'], '.0f')} images/s at {lim['flops_per_image'] / 1e9:.4g} GFLOP/image")
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")
