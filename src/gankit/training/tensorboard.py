"""TensorBoard logging of a run (``train.tensorboard``), as a training callback.

Writes ``RUN/tensorboard/events.out.tfevents.*`` through ``torch.utils.tensorboard``, so
``tensorboard --logdir runs`` shows every run side by side:

* every statistic of ``stats.jsonl`` as a scalar ``train/<name>`` at its step (the same rows, read
  once per tick, so TensorBoard costs no extra device sync);
* every periodic evaluation as scalars ``eval/<name>``;
* the fixed-noise samples every ``train.sample_every`` steps: the image grid, or for 2-D data a
  scatter of real against generated points;
* with ``train.tensorboard_histograms``, the weights and gradients of G and D at each tick.

Only rank 0 writes (the trainer adds this callback there alone). A resume passes its step as
``purge_step``, so events that the resumed run rewrites are dropped from the view.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import images_to_uint8
from gankit.training.snapshots import image_grid, scatter_png

LOG_DIR = "tensorboard"
NOT_SCALARS = ("step", "alerts")


class TensorBoardLog:
    """A callback that mirrors a run's statistics, evaluations and samples into TensorBoard."""

    def __init__(self, run_dir: Path, *, start_step: int = 0, histograms: bool = False) -> None:
        # imported here: it pulls in tensorboard, paid only by runs that log
        from torch.utils.tensorboard import SummaryWriter

        # a resume from step s drops what an earlier run logged after s (steps >= purge_step)
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / LOG_DIR), purge_step=start_step + 1 if start_step else None)
        self.histograms = histograms

    def on_log(self, trainer: Any, rows: list[dict]) -> None:
        for row in rows:
            for key, value in row.items():
                if key not in NOT_SCALARS and isinstance(value, int | float):
                    self.writer.add_scalar(f"train/{key}", value, row["step"])
        if rows and self.histograms:
            self.add_histograms(trainer, rows[-1]["step"])
        self.writer.flush()

    def on_eval(self, trainer: Any, scores: dict[str, Any]) -> None:
        for key, value in scores.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
                self.writer.add_scalar(f"eval/{key}", value, trainer.step)
        self.writer.flush()

    def on_step(self, trainer: Any) -> None:
        t = trainer.cfg.train
        if trainer.step % t.sample_every == 0 or trainer.step == t.steps:
            self.add_samples(trainer)

    def on_end(self, trainer: Any) -> None:
        self.writer.close()

    def add_samples(self, trainer: Any) -> None:
        """The fixed-noise grid ``[C, H, W]``, or a 2-D scatter over real points, as image ``samples``."""
        generated = trainer.fixed_samples()
        if generated.dim() == 2:
            from PIL import Image

            # the trainer's own snapshot of this step, when it drew one: the scatter is not drawn twice
            snapshot = Path(trainer.run_dir) / "samples" / f"step_{trainer.step:07d}.png"
            png = snapshot.read_bytes() if snapshot.is_file() else scatter_png(
                generated, trainer.real_reference(), title=f"step {trainer.step}")
            picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))  # (H, W, 3)
            self.writer.add_image("samples", picture, trainer.step, dataformats="HWC")
        else:
            grid = image_grid(images_to_uint8(generated.detach().float().cpu()))  # (C, H, W) uint8
            self.writer.add_image("samples", grid, trainer.step, dataformats="CHW")
        self.writer.flush()

    @torch.no_grad()
    def add_histograms(self, trainer: Any, step: int) -> None:
        for net_name, net in (("G", trainer.parts.G), ("D", trainer.parts.D)):
            for name, p in net.named_parameters():
                self.writer.add_histogram(f"weights/{net_name}/{name}", p.detach().float().cpu(), step)
                if p.grad is not None:
                    self.writer.add_histogram(f"grads/{net_name}/{name}", p.grad.detach().float().cpu(), step)
