r"""How long gankit takes to score the FID of 50,000 generated Fashion-MNIST samples, generation included.

The FID lives in the feature space of gankit's Fashion-MNIST domain classifier
(:mod:`gankit.metrics.classifier`) and is scored as ``gankit evaluate RUN --n N`` scores it:
``N`` generated images against the first ``N`` images of a fixed permutation of the training
split (60,000 images; ``--n-real`` changes how many). Each repeat times, with the device
synchronised before and after every part:

0. setup: :class:`~gankit.metrics.evaluate.ImageEvaluator` (the training split and the classifier);
1. generation: :func:`~gankit.runs.sampling.load_generator` then :func:`gankit.models.generate`
   and :func:`~gankit.data.images_to_uint8` (the body of ``gankit sample``; with ``--batch-size
   1000``, gankit's chunk, the very samples ``gankit evaluate`` draws for the same seed);
2. the classifier features of the fakes (:func:`gankit.metrics.features.extract`); row 2' repeats it
   at the batch ``gankit evaluate`` uses (``features.BATCH_SIZE``), outside the totals;
3. the features of the real set: (a) computed (:func:`~gankit.metrics.features.real_features`
   without its cache), (b) as ``gankit evaluate`` gets them, from gankit's on-disk cache
   (``$GANKIT_CACHE/stats/``; the first use computes and writes it, marked ``*``);
4. the FID formula [1] (:mod:`gankit.metrics.image`): (a) float64 mean and covariance of both sets
   on the device, (b) :func:`~gankit.metrics.image.fid_from_stats`, whose trace of
   :math:`(\Sigma_1\Sigma_2)^{1/2}` comes from two symmetric eigendecompositions,

   .. math::
       \mathrm{FID} = \|\mu_r - \mu_g\|^2 + \mathrm{Tr}\big(\Sigma_r + \Sigma_g
       - 2 (\Sigma_r \Sigma_g)^{1/2}\big);

5. the total, with the real features computed and with them read from the cache.

The first repeat is cold (cuDNN, allocator and page-cache warm-up); later ones are warm, and the
table shows the best of them. Afterwards the same samples are scored by
:func:`gankit.metrics.evaluate.evaluate_samples`, the function ``gankit evaluate`` calls, and its
FID must equal the one timed here (feature batches of another size may move it by float rounding).

Without ``--run`` the generator is a freshly initialised DCGAN for 32 x 32 grayscale images, the one
``gankit train --data fashion-mnist`` builds on this device, written to a temporary run folder and
loaded back like any run (its weights do not change the time).

This is a benchmark: it prints figures and asserts nothing. Offline: the classifier comes from
``gankit evaluator train --data fashion-mnist`` and the data from ``$GANKIT_DATA``.

Usage::

    python benchmarks/fid_speed.py                          # 50,000 samples, auto device
    python benchmarks/fid_speed.py --device cpu --n 5000
    python benchmarks/fid_speed.py --run runs/0003 --n-real 60000 --json fid-speed.json

[1] M. Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gankit.data import images_to_uint8, load_dataset
from gankit.errors import GankitError, one_line
from gankit.metrics import features as F
from gankit.metrics.evaluate import ImageEvaluator, clear_cache, evaluate_samples
from gankit.metrics.image import feature_stats, fid_from_stats
from gankit.metrics.inception import caching_enabled
from gankit.models import generate
from gankit.runs.sampling import load_generator
from gankit.training.config import load_config
from gankit.training.defaults import resolve
from gankit.training.export import GENERATOR_FILE, build_generator, save_generator
from gankit.training.runtime import device_class, pick_device

DATA, SIZE, CHANNELS = "fashion-mnist", 32, 1  # the fresh generator's; a --run brings its own
SPLIT = "train"
TARGET_S = 60.0  # the goal for 50,000 samples on one H200, generation included
SAME_REL = 1e-5  # relative FID difference still called "the same" (feature batches change rounding)

# (key, label, images per pass for a rate or None); the table's rows in order
ROWS = [
    ("setup", "0  setup: train split + classifier", None),
    ("generate", "1  generate samples (uint8, on the CPU)", "n"),
    ("fake_features", "2  features of the fakes", "n"),
    ("fake_features_default", f"2' the same at gankit evaluate's batch ({F.BATCH_SIZE})", "n"),
    ("real_computed", "3a features of the real set, computed", "n_real"),
    ("real_cached", "3b features of the real set, gankit's disk cache", None),
    ("fid_stats", "4a FID: mean + covariance, both sets", None),
    ("fid_sqrtm", "4b FID: trace sqrt (2 x eigh) + formula", None),
    ("total_computed", "5  total, real features computed", None),
    ("total_cached", "5  total, real features from the disk cache", None),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", metavar="RUN_DIR", help="a gankit run folder (default: a fresh untrained DCGAN)")
    p.add_argument("--n", type=int, default=50_000, help="generated samples (default 50,000)")
    p.add_argument("--n-real", type=int, help="real images (default: --n, as gankit evaluate; at most 60,000)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default auto")
    p.add_argument("--batch-size", type=int, default=1000,
                   help="images per forward pass, generation and features (default 1000)")
    p.add_argument("--repeats", type=int, default=2, help="passes; the first is cold (default 2)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--no-check", action="store_true", help="skip scoring the samples with gankit evaluate")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    for name in ("n", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.n < 10 or (args.n_real is not None and args.n_real < 10):
        p.error("--n and --n-real must be at least 10 (gankit's minimum for image metrics)")
    return args


# --------------------------------------------------------------------------------------------
# timing


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``(fn(*args, **kwargs), seconds)`` with the device synchronised before and after."""
    sync(device)
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    sync(device)
    return out, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# the generator


def fresh_run(folder: Path, device: torch.device) -> Path:
    """A run folder holding an untrained DCGAN, as ``gankit train --data fashion-mnist`` builds it here."""
    cfg = resolve(load_config(None, {"data.name": DATA}), data_kind="images", image_size=SIZE,
                  device_class=device_class(device))
    torch.manual_seed(0)
    G = build_generator(cfg, (CHANNELS, SIZE, SIZE))
    save_generator(folder / GENERATOR_FILE, G, cfg, step=0, data_shape=(CHANNELS, SIZE, SIZE))
    return folder


@dataclass(frozen=True)
class Job:
    """What is scored: the run, its dataset and its images' shape."""

    run: Path
    data: str
    channels: int
    size: int


def job_of(run: Path) -> Job:
    """The dataset and image shape of ``run``, refused unless a domain classifier exists for it."""
    G = load_generator(run)
    data, shape = G.config.data.name, G.data_shape
    if len(shape) != 3 or F.default_feature_space(data) != "classifier":
        raise GankitError(f"the run trained on {data!r}, which has no domain classifier; fid_speed times "
                          f"the classifier space of image runs on {', '.join(F.LABELLED_DATASETS)}")
    return Job(run, data, int(shape[0]), int(shape[-1]))


def draw(run: Path, n: int, *, seed: int, device: torch.device, batch_size: int) -> torch.Tensor:
    """uint8 samples ``[n, C, S, S]`` on the CPU, as ``gankit sample`` draws them (chunks of ``batch_size``)."""
    G = load_generator(run)
    x = generate(G.net, n, z_dim=G.z_dim, noise=G.noise, seed=seed, device=device, batch_size=batch_size,
                 classes=G.labels(n, None))
    return images_to_uint8(x)


# --------------------------------------------------------------------------------------------
# one pass


def one_pass(job: Job, args: argparse.Namespace, device: torch.device, train: torch.Tensor) -> dict[str, Any]:
    """Every part once; seconds by key (see :data:`ROWS`), the FID and the samples."""
    t: dict[str, Any] = {}
    n_real = min(args.n_real or args.n, len(train))
    bs = args.batch_size
    ev, t["setup"] = timed(device, ImageEvaluator, job.data, image_size=job.size, channels=job.channels,
                           n_real=n_real, device=device)
    images, t["generate"] = timed(device, draw, job.run, args.n, seed=args.seed, device=device, batch_size=bs)
    (fake, _), t["fake_features"] = timed(device, F.extract, ev.extractor, images, batch_size=bs)
    t["fake_features_default"] = timed(device, F.extract, ev.extractor, images)[1]  # not in the totals
    _, t["real_computed"] = timed(device, F.real_features, ev.extractor, train, n_real, data=job.data,
                                  split=SPLIT, use_cache=False, batch_size=bs)
    cache = F.stats_path(job.data, SPLIT, job.size, job.channels, ev.extractor.tag)
    before = cache.stat().st_mtime_ns if cache.is_file() else None
    real, t["real_cached"] = timed(device, lambda: ev.real)  # what gankit evaluate reads
    after = cache.stat().st_mtime_ns if cache.is_file() else None
    t["cache"] = "off" if not caching_enabled() else ("hit" if before is not None and before == after else "written")

    def stats() -> tuple[torch.Tensor, ...]:
        return (*feature_stats(real.to(device)), *feature_stats(fake.to(device)))

    moments, t["fid_stats"] = timed(device, stats)
    t["fid"], t["fid_sqrtm"] = timed(device, fid_from_stats, *moments)
    common = t["setup"] + t["generate"] + t["fake_features"] + t["fid_stats"] + t["fid_sqrtm"]
    t["total_computed"] = common + t["real_computed"]
    t["total_cached"] = common + t["real_cached"]
    t["n_real"], t["images"] = len(real), images
    return t


def check(job: Job, images: torch.Tensor, n_real: int, device: torch.device) -> tuple[float, float]:
    """``(fid, seconds)`` of gankit's own scoring of ``images``: ``evaluate_samples``, as ``gankit evaluate``.

    With ``--n-real`` other than ``--n`` it is the evaluator ``evaluate_samples`` builds, called on
    a real set of that size.
    """
    clear_cache()  # its own evaluator, real features from the disk cache, as a fresh process would
    if n_real == len(images):
        out, seconds = timed(device, evaluate_samples, {"images": images}, job.data, device=device,
                             channels=job.channels)
        return out["metrics"]["fid"], seconds
    ev = ImageEvaluator(job.data, image_size=job.size, channels=job.channels, n_real=n_real, device=device)
    out, seconds = timed(device, ev, images)
    return out["fid"], seconds


# --------------------------------------------------------------------------------------------
# report


def describe(device: torch.device, args: argparse.Namespace) -> str:
    what = f"run {args.run}" if args.run else "untrained DCGAN (as gankit train --data fashion-mnist builds it)"
    if device.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(device)}, cuDNN {torch.backends.cudnn.version()})"
    else:
        name = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return f"device {name}, torch {torch.__version__}; generator: {what}"


def cell(seconds: float) -> str:
    return f"{seconds:8.3f} s"


def table(passes: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """The figures as aligned lines: cold (first pass), warm (best later pass), images/s when warm."""
    warm = passes[1:] or passes
    label = "warm (best)" if len(passes) > 1 else "warm (= cold)"
    lines = [f"{'part':<50} {'cold':>10} {label:>12}   {'warm images/s':>14}"]
    for key, name, per in ROWS:
        cold = cell(passes[0][key]) + ("*" if key == "real_cached" and passes[0]["cache"] == "written" else " ")
        best = min(p[key] for p in warm)
        count = {"n": args.n, "n_real": passes[0]["n_real"], None: None}[per]
        rate = f"{count / best:14,.0f}" if count and best > 0 else ""
        lines.append(f"{name:<50} {cold:>10} {cell(best):>12}   {rate}")
    return lines


CACHE_NOTE = {
    "off": "disk cache of real features: off (GANKIT_CACHE=off); 3b computed them every time",
    "hit": "disk cache of real features: present, 3b read it (gankit evaluate does the same)",
    "written": "disk cache of real features: absent at first; * = 3b computed and wrote it, later passes read it",
}


def report(job: Job, passes: list[dict[str, Any]], args: argparse.Namespace, device: torch.device,
           device_init: float) -> dict[str, Any]:
    """Print the table and the FID; return the figures for ``--json``."""
    n_real, state, fid = passes[0]["n_real"], passes[0]["cache"], passes[-1]["fid"]
    print(f"FID speed: {args.n:,} generated vs {n_real:,} real {job.data} images ({SPLIT} split, "
          f"{job.channels}x{job.size}x{job.size}), classifier features, batch {args.batch_size}, "
          f"{len(passes)} pass(es)")
    print(describe(device, args))
    print(f"one-off device init (context, allocator): {device_init:.3f} s, not in the totals")
    print("\n".join(table(passes, args)))
    print(CACHE_NOTE[state])
    print("real features are also kept in memory per evaluator, so repeated scoring in one process skips 3")
    print(f"FID = {fid:.6f}")
    if args.n == 50_000:
        cold, warm = passes[0]["total_cached"], min(p["total_cached"] for p in passes)
        print(f"target: under {TARGET_S:.0f} s for 50,000 samples, generation included; total with gankit's "
              f"cache: cold {cold:.2f} s ({'met' if cold < TARGET_S else 'NOT met'}), "
              f"warm {warm:.2f} s ({'met' if warm < TARGET_S else 'NOT met'})")
    keys = [k for k, _, _ in ROWS]
    return {"n": args.n, "n_real": n_real, "batch_size": args.batch_size, "data": job.data,
            "device": describe(device, args), "device_init": device_init, "cache": state, "fid": fid,
            "passes": [{k: p[k] for k in keys} for p in passes]}


def report_check(job: Job, passes: list[dict[str, Any]], device: torch.device) -> dict[str, Any]:
    """Score the last pass's samples with gankit evaluate's function and print whether the FID agrees."""
    fid = passes[-1]["fid"]
    try:
        theirs, seconds = check(job, passes[-1]["images"], passes[-1]["n_real"], device)
    except Exception as err:  # noqa: BLE001 -- the timings above stand whatever happens here
        print(f"check: gankit evaluate's scoring failed ({one_line(err, with_type=True)})")
        return {"error": one_line(err, with_type=True)}
    diff = abs(theirs - fid)
    verdict = "same" if diff <= SAME_REL * max(1.0, abs(fid)) else "DIFFERENT"
    print(f"check: gankit evaluate's scoring of the same samples (evaluate_samples, all metrics, "
          f"{seconds:.2f} s): FID = {theirs:.6f}, |diff| {diff:.2g}: {verdict}")
    return {"fid": theirs, "seconds": seconds, "verdict": verdict}


def write_json(path: str | None, figures: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
        device_init = timed(device, torch.zeros, 1, device=device)[1]  # CUDA context, allocator
        with tempfile.TemporaryDirectory(prefix="fid-speed-") as tmp:
            job = job_of(Path(args.run) if args.run else fresh_run(Path(tmp), device))
            train = load_dataset(job.data, image_size=job.size, split=SPLIT, channels=job.channels).data  # 3a
            passes = []
            for i in range(args.repeats):
                passes.append(one_pass(job, args, device, train))
                print(f"pass {i + 1}/{args.repeats}: {passes[-1]['total_cached']:.2f} s", file=sys.stderr, flush=True)
    except GankitError as err:
        print(f"fid_speed: error: {one_line(err, limit=400)}", file=sys.stderr)
        return 2
    figures = report(job, passes, args, device, device_init)
    write_json(args.json, figures)  # written before the check, which may take long or fail
    if not args.no_check:
        figures["check"] = report_check(job, passes, device)
        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
