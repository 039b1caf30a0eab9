"""ms/step of one preset under each value of one config key, timed in alternating blocks in one process.

One trainer per value of ``--vary KEY=A,B,...`` is built from the same preset and seed, on the same
threads; their steps are timed in alternating blocks (``gankit bench``'s timing), so a change in
the machine's load reaches every value alike. Also printed: the FLOPs of the matrix products and
convolutions of one step under each value (forward and backward, torch's FLOP counter).

    python benchmarks/step_time.py                                   # loss.reuse_fake=false,true
    python benchmarks/step_time.py --vary train.precision=fp32,bf16   # bf16 autocast on this CPU?
    python benchmarks/step_time.py --config dcgan-paper --data digits --set train.batch_size=128

The default preset is ``fashion-mnist-cpu`` on Fashion-MNIST (the data must be installed; see the
README). This is a benchmark: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import torch

from gankit.bench.flops import count_flops
from gankit.bench.runner import Schedule, print_warnings, synchronize, time_steps
from gankit.training.config import load_config, parse_assignment
from gankit.training.loop import Trainer
from gankit.training.setup import build


def make_trainer(args: argparse.Namespace, key: str, value: str, run_dir: Path) -> Trainer:
    overrides = dict(parse_assignment(text) for text in args.set)
    overrides |= {"data.name": args.data, "train.device": args.device, "train.seed": args.seed,
                  "train.tensorboard": False}
    if args.threads:
        overrides["train.threads"] = args.threads
    overrides |= dict([parse_assignment(f"{key}={value}")])
    return Trainer(build(load_config(args.config, overrides)), run_dir, log=print_warnings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vary", default="loss.reuse_fake=false,true", metavar="KEY=A,B",
                        help="the key and its values to time (default loss.reuse_fake=false,true)")
    parser.add_argument("--config", default="fashion-mnist-cpu", help="preset (default fashion-mnist-cpu)")
    parser.add_argument("--data", default="fashion-mnist", help="dataset (default fashion-mnist)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps; steps run eagerly or as the "
                                                        "preset says")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: gankit's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blocks", type=int, default=7, help="alternating timed blocks per value (default 7)")
    parser.add_argument("--block-s", type=float, default=3.0, help="seconds per block (default 3)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    args = parser.parse_args()
    key, _, values = args.vary.partition("=")
    plan = Schedule(warmup=5, blocks=args.blocks, block_s=args.block_s, data_batches=0)
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {f"{key}={v}": make_trainer(args, key, v, Path(tmp) / str(i)) for i, v in enumerate(values.split(","))}
        first = next(iter(trainers.values()))
        t = first.cfg.train
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{args.config} on {args.data}: {first.cfg.model.name} width {first.cfg.model.width}, batch "
              f"{t.batch_size}, {t.precision}, channels_last {t.channels_last}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}, load {load:.1f}")
        flops = {}
        for name, trainer in trainers.items():
            flops[name] = count_flops(trainer.train_step)
            trainer.stats.drain()
        synchronize(first.device)
        times = time_steps({name: (tr.train_step, tr.stats.drain) for name, tr in trainers.items()}, first.device, plan)
    base = statistics.median(next(iter(times.values())))
    width = max(len(name) for name in times) + 2
    print(f"{'value':<{width}} {'ms/step median':>15} {'min':>8} {'max':>8} {'steps/s':>8} {'x first':>8} "
          f"{'GFLOP/step':>11}")
    for name, ms in times.items():
        med = statistics.median(ms)
        print(f"{name:<{width}} {med:>15.2f} {min(ms):>8.2f} {max(ms):>8.2f} {1000 / med:>8.1f} {base / med:>8.3f} "
              f"{flops[name] / 1e9:>11.3f}")
    for name, ms in times.items():
        print(f"blocks of {name}: {', '.join(f'{x:.1f}' for x in ms)} ms/step")
    print(f"load average after: {os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan'):.1f}")


if __name__ == "__main__":
    main()
