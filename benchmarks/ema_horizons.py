"""One training run, several EMA horizons beside its raw generator: the FID of each at chosen steps.

The raw generator's path does not depend on its EMA, so one run can carry several EMAs and compare
them with each other and with the raw generator at the same steps, at the cost of one run. This
trains the ``fashion-mnist-cpu`` preset (``--set KEY=VALUE`` changes it) with the run's own EMA off,
and keeps one :class:`gankit.training.ema.EMA` per ramp-up fraction of ``--fractions`` (decay
``--decay``, StyleGAN2's ramp-up: half-life :math:`\\min(h, r t)`), each updated after every
generator step as the trainer updates its own. At each step of ``--at`` every EMA gets standing
batch-norm statistics (codes seeded by the run's seed and the step, as the trainer seeds them), and
it and the raw generator (eval mode, its running statistics: the generator ``gankit evaluate
--no-ema`` scores) are scored as ``gankit evaluate`` scores: FID of 10,000 samples (sample seed 0) in
the feature space of the Fashion-MNIST domain classifier. One JSON line per step and generator.

    python benchmarks/ema_horizons.py --seed 106 --steps 8000 --at 2000,4000,6000,8000 \\
        --fractions 0.05,0.02,0.01 --threads 1 --out horizons-106.jsonl

The domain classifier must already be trained (``gankit evaluator train --data fashion-mnist``).
This is a benchmark: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

import gankit
from gankit.data import images_to_uint8
from gankit.metrics.evaluate import evaluate_samples
from gankit.models import generate
from gankit.training.config import parse_assignment
from gankit.training.ema import EMA

DATA, N_SAMPLES = "fashion-mnist", 10_000


def fid_of(net: torch.nn.Module, z_dim: int, noise: str) -> float:
    """The FID that ``gankit evaluate`` gives ``net``'s samples (10,000, sample seed 0)."""
    images = images_to_uint8(generate(net, N_SAMPLES, z_dim=z_dim, noise=noise, seed=0))
    return float(evaluate_samples({"images": images.numpy()}, DATA)["metrics"]["fid"])


class Horizons:
    """A callback that keeps one EMA per ramp-up fraction and scores them all at the chosen steps."""

    def __init__(self, fractions: list[float], decay: float, at: set[int], out: Path) -> None:
        self.fractions, self.decay, self.at, self.out = fractions, decay, at, out
        self.emas: list[EMA] = []

    def on_start(self, trainer: Any) -> None:
        self.emas = [EMA(trainer.parts.G, self.decay, rampup="stylegan2", rampup_fraction=f) for f in self.fractions]

    def on_step(self, trainer: Any) -> None:
        for ema in self.emas:
            ema.update(trainer.parts.G)
        if trainer.step in self.at:
            self.score(trainer)

    def score(self, trainer: Any) -> None:
        m, step = trainer.cfg.model, trainer.step
        rows = [("raw", fid_of(trainer.parts.G, m.z_dim, m.noise))]
        for fraction, ema in zip(self.fractions, self.emas, strict=True):
            trainer.refresh_ema(ema)  # standing statistics with the codes the trainer's own EMA gets
            rows.append((f"ema-{fraction:g}", fid_of(ema.module, m.z_dim, m.noise)))
        with self.out.open("a") as f:
            for generator, fid in rows:
                f.write(json.dumps({"seed": trainer.cfg.train.seed, "step": step, "generator": generator,
                                    "fid": fid}) + "\n")
        print(f"step {step}: " + ", ".join(f"{g} {fid:.3f}" for g, fid in rows), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--at", required=True, help="steps to score at, comma-separated")
    parser.add_argument("--fractions", default="0.05,0.02,0.01", help="StyleGAN2 ramp-up fractions, one EMA each (\"\": the raw generator only)")
    parser.add_argument("--decay", type=float, default=0.999)
    parser.add_argument("--threads", type=int, default=0, help="train.threads (0: torch's default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines are appended here")
    args = parser.parse_args()
    overrides = {"data.name": DATA, "train.seed": args.seed, "train.steps": args.steps, "train.ema": 0.0,
                 "train.checkpoint_every": args.steps, "train.report": False, "train.tensorboard": False,
                 "train.sample_every": args.steps, "train.threads": args.threads,
                 **dict(parse_assignment(a) for a in args.set)}
    cfg = gankit.load_config("fashion-mnist-cpu", overrides)
    horizons = Horizons([float(f) for f in args.fractions.split(",") if f], args.decay,
                        {int(s) for s in args.at.split(",")}, args.out)
    with tempfile.TemporaryDirectory(prefix="ema-horizons-") as run:
        gankit.train(cfg, Path(run) / "run", callbacks=[horizons])


if __name__ == "__main__":
    main()
