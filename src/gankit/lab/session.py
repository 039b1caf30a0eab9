"""One pane of the lab: a run built by gankit's :func:`~gankit.training.setup.build` and trained by its
own :class:`~gankit.training.loop.Trainer`, plus the frame the page draws of it.

A step is ``Trainer.train_step`` itself (K discriminator phases, one generator phase; tutorial
Algorithm 1), so a lab run follows the trajectory of ``gankit train`` on the same config: frames draw
their own noise from a private generator and never touch the training RNG (``tests/test_lab_engine.py``
checks the weights match). In slow motion the same phases run one at a time (:meth:`Pane.phase`).

Everything trained is an ordinary run folder (``runs/lab-NNNN-<loss>-<data>/``: ``config.json``,
``stats.jsonl``, ``checkpoints/``, ``generator.safetensors`` when the pane closes), created at the first
step, so ``gankit evaluate``, ``gankit sample`` and ``gankit train --resume`` work on it. ``lab.json``
records the lab's own additions (a drawing, live changes of the rates).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import Dataset, toy_modes
from gankit.fileio import atomic_write_bytes
from gankit.lab import frames as F
from gankit.metrics.toy import mode_metrics, sample_distances
from gankit.models import sample_noise
from gankit.runs.folder import next_run_dir
from gankit.training.config import RunConfig
from gankit.training.export import GENERATOR_FILE, save_generator
from gankit.training.loop import DivergedError, Trainer
from gankit.training.phases import make_phases
from gankit.training.setup import build

N_FAKE = 256  # generated points drawn (fixed noise, so they move smoothly from frame to frame)
N_REAL = 256  # real points drawn
N_ARROWS = 128  # arrows, at the first N_ARROWS generated points
N_KDE = 128  # generated points in the kernel density p_g
HEAT_N = 32  # cells per side of the D and D* heat maps (the page smooths them)
MESH_N = 17  # latent grid points per side of the manifold mesh
METRICS_N = 500  # samples per metrics evaluation (exact W1 on 500 x 500 takes about 30 ms)
DRAWN_POINTS = 10_000  # size of the data set made from a drawing
CURVE_KEYS = ("loss_d", "loss_g", "d_real", "d_fake", "f_real", "f_fake", "grad_norm_g", "w_estimate")
METRIC_KEYS = ("w1", "js_hist", "modes_captured", "high_quality", "reverse_kl")


def lab_run_dir(root: Path, loss: str, data: str) -> Path:
    """The next ``root/lab-NNNN-<loss>-<data>`` folder (created)."""
    return next_run_dir(root, loss, data, prefix="lab-")


def drawn_std(extent: tuple[float, float, float, float]) -> float:
    """The spread of each drawn point in the data made from it: 1/100 of the plotted width."""
    return (extent[1] - extent[0]) / 100.0


def drawn_dataset(points: np.ndarray, name: str, extent: tuple[float, float, float, float], seed: int) -> Dataset:
    """A data set from a drawing: ``DRAWN_POINTS`` draws of the mixture of N(p, s^2 I) over the drawn points p."""
    rng = np.random.default_rng(seed)
    p = np.asarray(points, dtype=np.float64)
    which = rng.integers(0, len(p), size=DRAWN_POINTS)
    data = p[which] + drawn_std(extent) * rng.standard_normal((DRAWN_POINTS, 2))
    return Dataset(name=name, kind="points", data=torch.as_tensor(data, dtype=torch.float32).contiguous())


class History:
    """Curves over steps, at most ``limit`` points per series (every ``stride``-th step, stride doubling).

    400 points fill a curve panel of the page (about 200 pixels wide) twice over and keep a frame small.
    """

    def __init__(self, keys: tuple[str, ...], limit: int = 400) -> None:
        self.keys, self.limit, self.stride = keys, limit, 1
        self.rows: list[list[float]] = []  # [step, *values]

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["step"] % self.stride:
                continue
            self.rows.append([float(row["step"])] + [float(row.get(k, math.nan)) for k in self.keys])
            if len(self.rows) > self.limit:
                self.stride *= 2
                self.rows = [r for r in self.rows if int(r[0]) % self.stride == 0]

    def encode(self) -> dict[str, Any]:
        table = np.asarray(self.rows, dtype=np.float64).reshape(-1, len(self.keys) + 1)
        return {"step": F.encode(table[:, 0]), **{k: F.encode(table[:, i + 1]) for i, k in enumerate(self.keys)}}


def json_number(value: Any) -> Any:
    """A metric for JSON: finite floats as they are, inf / nan as the strings "inf" / "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


class Pane:
    """One run in the lab: build, step, change live, draw, close.

    Args:
        requested: the pane's requested config (validated; ``None`` values resolved by build).
        runs_root: parent of the run folders.
        label: the pane's name on the page.
        drawn: a drawing to train on instead of ``requested.data.name``, float ``[P, 2]``.
        log: where the trainer's warnings go.
    """

    def __init__(self, requested: RunConfig, runs_root: Path, *, label: str = "", drawn: np.ndarray | None = None,
                 log: Callable[[str], None] = lambda message: None) -> None:
        self.requested, self.runs_root, self.label, self.log = requested, Path(runs_root), label, log
        name = requested.data.name
        self.extent = F.EXTENTS[name]
        self.drawn = None if drawn is None else np.asarray(drawn, dtype=np.float64)
        dataset = None if self.drawn is None else drawn_dataset(self.drawn, name, self.extent, requested.train.seed)
        self.parts = build(requested, dataset=dataset)
        self._rng = torch.get_rng_state()  # this pane's own stream, as build() seeded it (see _own_rng)
        self.cfg = self.parts.cfg  # resolved; the trainer reads and the lab changes this very object
        self.trainer: Trainer | None = None
        self.run_dir: Path | None = None
        self.partial: dict[str, torch.Tensor] = {}  # slow motion: statistics of this step's phases so far
        self.d_done = 0  # slow motion: D phases done in this step
        self.slow: dict[str, Any] | None = None  # slow motion: what the last phase changed
        self.diverged: str | None = None
        self.finished = False  # a replay that has shown its last checkpoint
        self.events: list[dict[str, Any]] = []
        self.curves = History(CURVE_KEYS)
        self.metric_curves = History(METRIC_KEYS, limit=200)
        self.metrics: dict[str, Any] | None = None
        self.metrics_step = -1
        self._ratio_tick = 0
        self._setup_view()

    # ------------------------------------------------------------------ fixed draws of the frames
    def _setup_view(self) -> None:
        """Noise, real points and p_r for the frames, from a private generator (the training RNG is untouched)."""
        m, seed = self.cfg.model, self.cfg.train.seed
        gen = torch.Generator().manual_seed(seed + 7919)
        self.z = sample_noise(N_FAKE, m.z_dim, m.noise, generator=gen)
        self.z_metrics = sample_noise(METRICS_N, m.z_dim, m.noise, generator=gen)
        data = self.parts.dataset.data
        order = torch.randperm(len(data), generator=gen)
        self.real = data[order[:N_REAL]]
        self.metrics_real = data[order[N_REAL:N_REAL + METRICS_N]].double().numpy()
        self.grid = F.grid_points(self.extent, HEAT_N)
        self.h = F.bandwidth(self.extent)
        self.modes, self.mode_std = (None, None) if self.drawn is not None else toy_modes(self.cfg.data.name)
        if self.drawn is not None:  # the drawing's mixture, smoothed by the kernel: exact
            s = math.hypot(drawn_std(self.extent), self.h)
            self.log_pr = F.log_mixture_density(self.grid, torch.as_tensor(self.drawn), s)
        elif self.modes is not None:  # the toy mixture, smoothed by the same kernel as p_g: exact
            self.log_pr = F.log_mixture_density(self.grid, self.modes, math.hypot(self.mode_std, self.h))
        else:  # swissroll has no closed form: the kernel density of 2000 of its points
            self.log_pr = F.log_kde(self.grid, data[order[:2000]], self.h)
        self.score = self.cfg.loss.name in F.SCORE_LOSSES

    # ------------------------------------------------------------------------------ training
    @property
    def step_count(self) -> int:
        return self.trainer.step if self.trainer is not None else 0

    def _ensure_trainer(self) -> Trainer:
        if self.trainer is None:
            c = self.cfg
            self.run_dir = lab_run_dir(self.runs_root, c.loss.name, "drawn" if self.drawn is not None else c.data.name)
            self._write_config()
            self.trainer = Trainer(self.parts, self.run_dir, log=self.log)
            self._write_lab_json()
        return self.trainer

    def _write_config(self) -> None:
        if self.run_dir is not None:
            atomic_write_bytes(self.run_dir / "config.json", (self.cfg.to_json() + "\n").encode())

    def _write_lab_json(self) -> None:
        if self.run_dir is None:
            return
        info = {"made_by": "gankit lab", "pane": self.label, "events": self.events,
                "drawn": None if self.drawn is None else self.drawn.tolist(),
                "note": ("trained on a drawing; config.json names the data set the drawing replaced"
                         if self.drawn is not None else None)}
        atomic_write_bytes(self.run_dir / "lab.json", (json.dumps(info, indent=1) + "\n").encode())

    @contextlib.contextmanager
    def _own_rng(self):
        """Run with this pane's own global-RNG stream: side-by-side panes then train exactly as each would alone."""
        outside = torch.get_rng_state()
        torch.set_rng_state(self._rng)
        try:
            yield
        finally:
            self._rng = torch.get_rng_state()
            torch.set_rng_state(outside)

    def step(self) -> None:
        """One generator step: exactly ``Trainer.train_step`` (a slow-motion step in progress is finished first)."""
        trainer = self._ensure_trainer()
        if self.d_done or self.partial:
            while self.phase() != "g":
                pass
        else:
            with self._own_rng():
                trainer.train_step()
        self.slow = None
        self._periodic()

    def phase(self) -> str:
        """Slow motion: one D update (``"d"``) or, after K of them, the G update (``"g"``) that ends the step.

        The phases are the trainer's own (``discriminator_step`` / ``generator_step``), with the step's
        statistics recorded as ``train_step`` records them; the frame shows what each changed.
        """
        trainer = self._ensure_trainer()
        k = self.cfg.loss.d_steps
        if self.d_done < k:
            before = F.d_heatmap(self.parts.D, self.grid, HEAT_N, score=self.score)
            with self._own_rng():
                self.partial.update(trainer.discriminator_step())
            self.d_done += 1
            self.slow = {"phase": "d", "index": self.d_done, "of": k, "heat_before": F.encode(before)}
            return "d"
        with torch.no_grad():
            before = self.parts.G(self.z[:N_FAKE])
        with self._own_rng():
            self.partial.update(trainer.generator_step())
        trainer.step += 1
        trainer.stats.record(trainer.step, self.partial)
        self.partial, self.d_done = {}, 0
        self.slow = {"phase": "g", "index": 1, "of": 1, "fake_before": F.encode(before)}
        self._periodic()
        return "g"

    def _periodic(self) -> None:
        """What ``Trainer.tick`` does on schedule: read statistics every log_every steps, checkpoint."""
        t, step = self.cfg.train, self.step_count
        if step % t.log_every == 0:
            self.flush()
        if step % t.checkpoint_every == 0 and self.diverged is None:
            self._checkpoint()

    def flush(self) -> None:
        """Read the pending statistics (stats.jsonl, health alerts) into the curves; a divergence stops the pane."""
        if self.trainer is None or self.diverged is not None:
            return
        try:
            tick = self.step_count // self.cfg.train.log_every  # the diversity alert once per log_every steps
            ratio = self.trainer.diversity_ratio() if tick != self._ratio_tick else None
            self._ratio_tick = tick
            self.curves.add(self.trainer.flush_stats(diversity_ratio=ratio))
        except DivergedError as err:
            self.diverged = str(err)

    def _checkpoint(self) -> None:
        self.flush()  # pending rows go to the curves before save_checkpoint reads them
        if self.diverged is not None:
            return
        try:
            self.trainer.save_checkpoint()
        except DivergedError as err:
            self.diverged = str(err)

    # ------------------------------------------------------------------------- live changes
    def set_live(self, values: dict[str, Any], requested: RunConfig) -> None:
        """Apply K, the learning rates, lambda or c to the running trainer (checked by the caller).

        ``config.json`` and a checkpoint are rewritten at once, so the folder stays resumable with the new
        values, and ``lab.json`` logs the change with its step.
        """
        lo, p = self.cfg.loss, self.parts
        for name, value in values.items():
            if name in ("lr_g", "lr_d"):
                setattr(lo, name, value)
                for group in (p.opt_g if name == "lr_g" else p.opt_d).param_groups:
                    group["lr"] = value
            elif name == "d_steps":
                lo.d_steps = value
            elif name == "clip":
                lo.clip = value
                p.spec = dataclasses.replace(p.spec, clip=value or None)
            elif name == "gp_weight":
                lo.gp_weight = value
                p.spec = dataclasses.replace(p.spec, gp_weight=value)
                p.phases = make_phases(p.spec, p.G, p.D)
                if self.trainer is not None:
                    self.trainer.phases = p.phases
            self.events.append({"step": self.step_count, "set": name, "value": value})
        self.requested = requested
        if self.trainer is not None and self.diverged is None:
            self._checkpoint()
            self._write_config()
            self._write_lab_json()

    # --------------------------------------------------------------------------------- frames
    @torch.no_grad()
    def _metrics(self) -> dict[str, Any]:
        fake = self.parts.G(self.z_metrics).double().numpy()
        if not np.isfinite(fake).all():
            return {"error": "non-finite samples"}
        if self.modes is not None:
            out = mode_metrics(fake, self.modes, float(self.mode_std), real=self.metrics_real)
        else:
            out = sample_distances(fake, self.metrics_real, None, 0.0)
        return {k: json_number(v) for k, v in out.items()}

    def frame(self, *, metrics: bool) -> dict[str, Any]:
        """Everything the page draws of this pane (fields in docs/lab.md); ``metrics`` recomputes the scores."""
        t0 = time.perf_counter()
        G, D, spec = self.parts.G, self.parts.D, self.parts.spec
        # the toy MLPs have no mode-dependent layer (no batch norm, no dropout): no eval() switch needed
        with torch.no_grad():
            fake = G(self.z)  # (N_FAKE, 2)
            mesh, density = F.manifold(G, MESH_N, self.cfg.model.z_dim, self.cfg.model.noise)
            on_real, on_fake = D(self.real).double(), D(fake).double()
        heat = F.d_heatmap(D, self.grid, HEAT_N, score=self.score)
        arrows = F.generator_arrows(spec.g_loss, D, fake[:N_ARROWS])
        finite = bool(torch.isfinite(fake).all())
        log_pg = F.log_kde(self.grid, fake[:N_KDE], self.h) if finite else torch.full((HEAT_N * HEAT_N,), math.nan)
        dstar = F.optimal_d(self.log_pr, log_pg).reshape(HEAT_N, HEAT_N)
        squash = (lambda v: v) if self.score else torch.sigmoid
        if metrics and finite and self.metrics_step != self.step_count:
            self.metrics = self._metrics()
            self.metrics_step = self.step_count
            self.metric_curves.add([{"step": self.step_count, **{k: v for k, v in self.metrics.items()
                                                                   if isinstance(v, int | float)}}])
        norms = np.linalg.norm(arrows, axis=1)
        numbers = {
            "mean_on_real": float(squash(on_real).mean()), "mean_on_fake": float(squash(on_fake).mean()),
            "heat_min": float(np.min(heat)), "heat_max": float(np.max(heat)),
            "arrow_mean": float(np.mean(norms)), "arrow_max": float(np.max(norms)),
            "dstar_gap": None if self.score or np.isnan(dstar).all() else float(np.nanmean(np.abs(heat - dstar))),
            "folded_cells": None if density is None else int((density < 0).sum()),
        }
        c = self.cfg
        return {
            "label": self.label, "step": self.step_count, "run": self.run_dir.name if self.run_dir else None,
            "loss": c.loss.name, "heat_kind": F.heat_kind(c.loss.name), "critic": self.score,
            "settings": {"loss": c.loss.name, "d_steps": c.loss.d_steps, "lr_g": c.loss.lr_g, "lr_d": c.loss.lr_d,
                         "gp_weight": c.loss.gp_weight, "clip": c.loss.clip, "batch_size": c.train.batch_size,
                         "noise": c.model.noise, "data": c.data.name, "optimizer": c.loss.optimizer},
            "real": F.encode(self.real), "fake": F.encode(fake), "arrows": F.encode(arrows),
            "heat": F.encode(heat), "dstar": F.encode(dstar), "mesh": F.encode(mesh),
            "mesh_density": None if density is None else F.encode(density),
            "numbers": {k: json_number(v) for k, v in numbers.items()},
            "metrics": self.metrics, "metrics_step": self.metrics_step,
            "curves": self.curves.encode(), "metric_curves": self.metric_curves.encode(),
            "slow": self.slow, "diverged": self.diverged, "bandwidth": self.h,
            "frame_ms": round((time.perf_counter() - t0) * 1000, 2),
        }

    # ---------------------------------------------------------------------------------- close
    def close(self) -> Path | None:
        """Finish the run folder: the step in progress, a last checkpoint, ``train.steps`` = the steps taken,
        ``generator.safetensors``. Returns the folder (None when nothing was trained)."""
        trainer = self.trainer
        if trainer is None:
            return None
        if self.diverged is None:
            if self.d_done or self.partial:
                while self.phase() != "g":
                    pass
            self.cfg.train.steps = max(trainer.step, 1)
            self._checkpoint()
        if self.diverged is None:
            self._write_config()
            save_generator(self.run_dir / GENERATOR_FILE, self.parts.scored_generator, self.cfg, step=trainer.step,
                           data_shape=tuple(self.parts.dataset.shape))
        self._write_lab_json()
        return self.run_dir
