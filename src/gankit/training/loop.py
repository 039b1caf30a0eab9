"""The training loop: batches in, phases run, EMA, and a periodic tick. No loss math here.

Each generator step runs K discriminator phases then one generator phase (tutorial, Algorithm 1):

    for K steps:  max_D  E_x log D(x) + E_z log(1 - D(G(z)))        (or the chosen loss's D side)
    once:         the generator's side of the chosen loss

The loss itself lives in :mod:`gankit.losses`; here we only schedule phases (eager, or compiled by
setup), step optimisers, and every ``log_every`` steps read the statistics back (the only host sync).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gankit.data import to_model_space
from gankit.errors import CheckpointError, GankitError, first_line
from gankit.losses import CRITIC_LOSSES, after_discriminator_step
from gankit.models import eval_mode, generate, sample_noise
from gankit.training import checkpoint, distributed
from gankit.training.batches import EpochBatches
from gankit.training.callbacks import Callbacks
from gankit.training.config import RunConfig
from gankit.training.ema import EMA
from gankit.training.evaluation import evaluate_generator, is_better
from gankit.training.export import GENERATOR_FILE, save_generator
from gankit.training.graphstep import CapturedStep, CaptureError, capture_blocker
from gankit.training.health import HealthMonitor, mean_pairwise_distance
from gankit.training.interrupt import GracefulInterrupt
from gankit.training.phases import make_phases
from gankit.training.progress import Progress
from gankit.training.runtime import autocast, memory_format
from gankit.training.setup import Components, captures_step, set_capturable
from gankit.training.snapshots import save_snapshot
from gankit.training.stats import StatsFile, StepStats, first_nonfinite
from gankit.training.tensorboard import TensorBoardLog


def say(message: str) -> None:
    """The default log: stdout, flushed so that piped output shows progress as it happens."""
    print(message, flush=True)


class DivergedError(GankitError):
    """Training produced a non-finite loss or weight."""


@dataclass
class TrainResult:
    """A finished (or interrupted) run: where it lives, how far it got, and its trained networks.

    Attributes:
        run_dir: the run folder.
        step: the last generator step taken.
        interrupted: the run stopped before ``train.steps`` (Ctrl-C, a signal or a callback).
        last_checkpoint: the checkpoint written last (``--resume`` continues from it).
        config: the resolved config.
        G, D: the trained networks (on the training device; train mode).
        ema: the EMA copy of G, or None when the run kept none.
    """

    run_dir: Path
    step: int
    interrupted: bool
    last_checkpoint: Path | None
    config: RunConfig | None = None
    G: nn.Module | None = None
    D: nn.Module | None = None
    ema: nn.Module | None = None

    @property
    def generator(self) -> nn.Module | None:
        """The generator gankit samples and scores: the EMA copy when kept, else G."""
        return self.ema if self.ema is not None else self.G

    def sample(self, n: int, *, seed: int = 0, classes: Tensor | None = None) -> Tensor:
        """``n`` samples of :attr:`generator` in model space, float32 on the CPU (see :func:`gankit.models.generate`).

        ``classes``: int64 ``[n]`` labels for a class-conditional run (default every class in turn).
        """
        G, m = self.generator, self.config.model
        device = next(G.parameters()).device
        return generate(G, n, z_dim=m.z_dim, noise=m.noise, seed=seed, device=device, classes=classes)


def grad_norm(module: nn.Module) -> torch.Tensor:
    """||grad||_2 over all parameters, as a device tensor (no sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    """Runs the phases of a built run (:class:`Components`) inside a run folder."""

    def __init__(self, parts: Components, run_dir: Path, *, log: Callable[[str], None] = say,
                 callbacks: Iterable[Any] = ()) -> None:
        self.parts, self.cfg, self.run_dir, self.log = parts, parts.cfg, Path(run_dir), log
        self.callbacks = Callbacks(callbacks)
        self.stop_requested = False  # set by request_stop() (a callback); the loop stops after this step
        self.device, self.ranks = parts.device, parts.ranks
        self.is_main = self.ranks.is_main  # only rank 0 writes files and logs
        t = self.cfg.train
        self.batches = EpochBatches(parts.dataset.data, t.batch_size, seed=t.seed, device=self.device,
                                    rank=self.ranks.rank, world_size=self.ranks.world_size,
                                    memory_format=memory_format(self.cfg),
                                    labels=parts.dataset.labels if parts.num_classes else None)
        self.num_classes = parts.num_classes  # K of a class-conditional run, else None
        self.phases = parts.phases or make_phases(parts.spec, parts.G, parts.D, conditional=bool(self.num_classes),
                                                 ac_weight=self.cfg.loss.ac_weight)
        self.stats, self.stats_file = StepStats(), StatsFile(self.run_dir / "stats.jsonl")
        self.evals_file = StatsFile(self.run_dir / "evals.jsonl")  # periodic scores, one row per evaluation
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.step = 0
        self.last_checkpoint: Path | None = None
        fixed = torch.Generator().manual_seed(t.seed + 1)  # fixed noise never touches the training RNG
        # a conditional run's grid: one row per class, n_samples_grid // K columns (at least one)
        self.grid_cols = max(1, t.n_samples_grid // self.num_classes) if self.num_classes else None
        n_grid = self.num_classes * self.grid_cols if self.num_classes else t.n_samples_grid
        self.fixed_z = sample_noise(n_grid, self.cfg.model.z_dim, self.cfg.model.noise, generator=fixed).to(self.device)
        self.fixed_y = (torch.arange(self.num_classes).repeat_interleave(self.grid_cols).to(self.device)
                        if self.num_classes else None)
        self.scaler = torch.amp.GradScaler(self.device.type) if t.precision == "fp16" else None
        self.captured: CapturedStep | None = self.use_cuda_graph()
        self.health = HealthMonitor(self.cfg.loss.name)
        reference = parts.dataset.data[: t.n_samples_grid].to(self.device)
        self.real_spread = mean_pairwise_distance(to_model_space(reference)).clamp_min(1e-12)
        self.rollbacks = 0
        self.best: float | None = None
        self.seconds_before = 0.0  # wall-clock seconds trained by earlier calls (a resumed run's past)
        self.start_clock()

    # ----------------------------------------------------------------- phases
    def autocast(self):
        # a captured step must not keep autocast's cached weight copies (torch's CUDA-graph notes)
        return autocast(self.device, self.cfg.train.precision, cache=self.captured is None)

    def noise(self) -> torch.Tensor:
        """This rank's rows of a global batch of latent codes (all ranks draw the same global batch)."""
        z = sample_noise(self.cfg.train.batch_size, self.cfg.model.z_dim, self.cfg.model.noise, device=self.device)
        return distributed.shard(z, self.ranks)

    def fake_labels(self) -> torch.Tensor:
        """This rank's rows of a global batch of labels for G, uniform over the K classes (training RNG)."""
        y = torch.randint(self.num_classes, (self.cfg.train.batch_size,), device=self.device)
        return distributed.shard(y, self.ranks)

    def _backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, module: nn.Module) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            norm = grad_norm(module)
            opt.step()
            return norm
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        norm = grad_norm(module)
        self.scaler.step(opt)
        self.scaler.update()
        return norm

    def real_batch(self) -> tuple[Tensor, ...]:
        """The next real batch of the epoch order: ``(x,)``, or ``(x, y)`` with its labels in a conditional run."""
        return self.batches.next_labelled() if self.num_classes else (self.batches.next(),)

    def fake_label_args(self) -> tuple[Tensor, ...]:
        """``(y_fake,)``, labels drawn for G in a conditional run, else ``()``: the phases' label argument."""
        return (self.fake_labels(),) if self.num_classes else ()

    def discriminator_step(self, batch: tuple[Tensor, ...] | None = None) -> dict[str, torch.Tensor]:
        """One D phase on a real batch and a fake batch made without a graph.

        ``batch``: the real batch (and, conditional, its labels) when the caller gathered it (a
        captured step does); by default the next batch of the epoch order.
        """
        real = batch or self.real_batch()  # conditional: max_D E log D(x, y) + E log(1 - D(G(z, y'), y')), y' ~ U{0..K-1}
        z = self.noise()
        y = self.fake_label_args()
        return self.discriminator_update(lambda: self.phases.d(*real, z, *y))

    def discriminator_update(self, phase: Callable[[], tuple[Tensor, dict[str, Tensor]]]) -> dict[str, torch.Tensor]:
        """Run a D phase, step D's optimiser, then the loss's rule after a D step (W-GAN's clipping); its statistics."""
        p = self.parts
        with self.autocast():
            loss, stats = phase()
        stats["grad_norm_d"] = self._backward_step(loss, p.opt_d, p.D)
        after_discriminator_step(p.spec, p.D)
        return stats

    def generator_step(self, ema_count: Tensor | None = None) -> dict[str, torch.Tensor]:
        """One G phase on fresh codes; D's weights are frozen so no gradient is computed for them.

        ``ema_count``: the EMA's update count on the device (a captured step's; see
        :meth:`gankit.training.ema.EMA.update_on_device`); by default the EMA counts on the host.
        """
        z = self.noise()
        y = self.fake_label_args()
        return self.generator_update(lambda: self.phases.g(z, *y), ema_count)

    def generator_update(self, phase: Callable[[], tuple[Tensor, dict[str, Tensor]]],
                         ema_count: Tensor | None = None) -> dict[str, torch.Tensor]:
        """Run a G phase with D frozen, step G's optimiser, then update the EMA; the phase's statistics."""
        p = self.parts
        p.D.requires_grad_(False)
        try:
            with self.autocast():
                loss, stats = phase()
            stats["grad_norm_g"] = self._backward_step(loss, p.opt_g, p.G)
        finally:
            p.D.requires_grad_(True)
        if p.ema is not None and ema_count is not None:
            p.ema.update_on_device(p.G, ema_count)
        elif p.ema is not None:
            p.ema.update(p.G)
        return stats

    def shared_fake_step(self) -> dict[str, torch.Tensor]:
        """``loss.reuse_fake`` (K = 1): one fake batch ``G(z)`` for the D update, then for the G update.

        The tutorial's Algorithm 1 draws fresh codes for the G update; pytorch/examples' DCGAN reuses
        the D update's fake batch, one G forward fewer per step. G keeps the batch's graph from that
        forward, and its weights do not change before its own update, so the G gradient is exactly
        that of ``L_G(D'(G(z)))`` under the updated D', on the codes D was updated with.
        """
        real = self.real_batch()
        z = self.noise()
        y = self.fake_label_args()
        with self.autocast():
            fake = self.phases.fake(z, *y)
        stats = self.discriminator_update(lambda: self.phases.d_given(*real, fake.detach(), *y))
        stats.update(self.generator_update(lambda: self.phases.g_given(fake, *y)))
        return stats

    def train_step(self) -> None:
        if self.captured is not None and self.replay_step():
            return
        if self.cfg.loss.reuse_fake:
            stats = self.shared_fake_step()
        else:
            stats = {}
            for _ in range(self.cfg.loss.d_steps):
                stats.update(self.discriminator_step())
            stats.update(self.generator_step())
        self.step += 1
        self.stats.record(self.step, stats)

    def replay_step(self) -> bool:
        """The step as a CUDA-graph replay; False (and eager from now on, with one warning) when capture fails."""
        try:
            row = self.captured.step()
        except CaptureError as err:
            self.captured = None
            self.log(f"warning: train.cuda_graph: the step could not be captured ({err}); training runs eagerly")
            return False
        self.step += 1
        self.stats.record_row(self.step, self.captured.keys, row)
        return True

    def use_cuda_graph(self) -> CapturedStep | None:
        """The captured step when ``train.cuda_graph`` is on and nothing blocks it (else None, with one warning)."""
        if self.cfg.train.cuda_graph != "on":
            return None
        blocker = capture_blocker(self)
        if blocker is not None:
            self.log(f"warning: train.cuda_graph=on: {blocker}; training runs eagerly")
            return None
        return CapturedStep(self)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        p = self.parts
        return {
            "config": self.cfg.to_json(),
            "step": self.step,
            "data_shape": list(p.dataset.shape),
            "G": p.G.state_dict(),
            "D": p.D.state_dict(),
            "opt_g": p.opt_g.state_dict(),
            "opt_d": p.opt_d.state_dict(),
            "ema": p.ema.state_dict() if p.ema is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "data_order": self.batches.state_dict(),
            "rng": checkpoint.capture_rng(),
            "seconds": self.seconds(),
        } | ({"num_classes": self.num_classes} if self.num_classes else {})

    REQUIRED = ("step", "G", "D", "opt_g", "opt_d", "data_order", "rng")

    def check_fits(self, state: dict) -> None:
        """One-line CheckpointError when ``state`` lacks a part or its weights do not fit the built networks."""
        p = self.parts
        missing = [k for k in self.REQUIRED if k not in state]
        if missing:
            raise CheckpointError(f"the checkpoint lacks {', '.join(missing)}; it was not written by gankit train")
        if state.get("num_classes") != self.num_classes:
            raise CheckpointError(f"the checkpoint is of a run with {state.get('num_classes') or 'no'} classes but this "
                                  f"run has {self.num_classes or 'none'}; resume it with its own config and data")
        nets = [("G", p.G), ("D", p.D)] + ([("ema", p.ema.module)] if p.ema is not None and state.get("ema") is not None else [])
        for name, module in nets:
            problem = checkpoint.describe_mismatch(module, state[name])
            if problem is not None:
                raise CheckpointError(f"the checkpoint's {name} does not fit the network its config builds: {problem}")

    def load_state_dict(self, state: dict) -> None:
        self.check_fits(state)
        p = self.parts
        p.G.load_state_dict(state["G"])
        p.D.load_state_dict(state["D"])
        capturable = captures_step(self.cfg, self.device)
        for opt, key in ((p.opt_g, "opt_g"), (p.opt_d, "opt_d")):
            opt.load_state_dict(state[key])  # new state tensors: a captured graph no longer fits them
            set_capturable(opt, capturable)
        if self.captured is not None:
            self.captured.invalidate()
        if p.ema is not None and state.get("ema") is not None:
            p.ema.load_state_dict(state["ema"])
            p.ema.updates = int(state["step"])  # the ramp-up continues where it was
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.batches.load_state_dict(state["data_order"])
        self.step = int(state["step"])
        self.seconds_before = float(state.get("seconds", 0.0))  # checkpoints before it was kept have none
        self.start_clock()
        checkpoint.restore_rng(state["rng"])
        if self.is_main:
            self.stats_file.truncate_after(self.step)
            self.evals_file.truncate_after(self.step)

    # ------------------------------------------------------------------- tick
    def flush_stats(self, *, diversity_ratio: float | None = None) -> list[dict]:
        """Read pending statistics (one sync), stop on non-finite values, raise alerts, append to stats.jsonl.

        Under data parallelism the statistics are first averaged over ranks (one all-reduce), so every
        rank sees the same rows (the global batch's) and stops on the same non-finite value.
        """
        rows = self.stats.drain(reduce=lambda table: distributed.mean_over_ranks(table, self.ranks))
        bad = first_nonfinite(rows)
        if bad is not None:
            good = f"; the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else "; no checkpoint was written yet"
            keys = ", ".join(k for k, v in bad.items() if isinstance(v, float) and not math.isfinite(v))
            raise DivergedError(f"training diverged at step {bad['step']} (non-finite {keys}){good}; "
                                + ("lower the learning rates" if self.cfg.train.on_nan == "rollback" else
                                   "lower the learning rates or try --on-nan rollback"))
        alerts = self.health.check(rows, diversity_ratio=diversity_ratio)
        for alert in alerts:
            self.log(f"warning: step {rows[-1]['step']}: {alert}")
        if rows and alerts:
            rows[-1]["alerts"] = alerts
        if self.is_main:
            self.stats_file.append(rows)
        if rows:
            self.callbacks.on_log(self, rows)
        return rows

    @torch.no_grad()
    def diversity_ratio(self) -> float:
        """Spread of the fixed-noise samples relative to the data's (1 is healthy, near 0 is collapse)."""
        with eval_mode(self.parts.G) as G:
            fake = self.run_fixed(G)
        return float(mean_pairwise_distance(fake) / self.real_spread)

    def weights_finite(self) -> bool:
        tensors = [t for m in (self.parts.G, self.parts.D) for t in m.state_dict().values() if t.is_floating_point()]
        return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())

    def save_checkpoint(self) -> Path:
        self.refresh_ema()  # the checkpoint's EMA generator samples as gankit sample will
        self.flush_stats()
        if not self.weights_finite():
            kept = f"the last good checkpoint {self.last_checkpoint} is kept" if self.last_checkpoint else "no checkpoint was written yet"
            raise DivergedError(f"weights became non-finite by step {self.step}; {kept}; lower the learning rates")
        if self.is_main:
            self.stats_file.sync()
            self.last_checkpoint = checkpoint.save(self.ckpt_dir, self.step, self.state_dict(),
                                                   keep=self.cfg.train.keep_checkpoints)
        else:  # rank 0 writes it; the others need its name for a rollback
            self.last_checkpoint = self.ckpt_dir / checkpoint.checkpoint_name(self.step)
        return self.last_checkpoint

    @torch.no_grad()
    def fixed_samples(self) -> Tensor:
        """The scored generator's samples of the fixed noise (eval mode), in model space."""
        with eval_mode(self.parts.scored_generator) as G, self.autocast():
            return self.run_fixed(G)

    def run_fixed(self, G: nn.Module) -> Tensor:
        """``G`` on the fixed noise (and, conditional, the fixed labels: one row per class)."""
        return G(self.fixed_z) if self.fixed_y is None else G(self.fixed_z, self.fixed_y)

    def real_reference(self) -> Tensor | None:
        """Up to 2,000 real points drawn under 2-D samples (None for images)."""
        return self.parts.dataset.data[:2000] if self.parts.dataset.kind == "points" else None

    def snapshot(self, path: Path) -> None:
        save_snapshot(path, self.fixed_samples(), reference=self.real_reference(), title=f"step {self.step}",
                      cols=self.grid_cols)

    def tick(self, progress: Progress) -> None:
        t = self.cfg.train
        if self.step % t.sample_every == 0 or self.step == t.steps:
            self.refresh_ema()  # on every rank (SyncBatchNorm), before rank 0 draws the snapshot
        if self.step % t.log_every == 0 or self.step == t.steps:
            ratio = self.diversity_ratio() if self.is_main else None
            progress.update(self.step, self.flush_stats(diversity_ratio=ratio))
        if self.step % t.sample_every == 0 and self.is_main:
            self.snapshot(self.run_dir / "samples" / f"step_{self.step:07d}.png")
        if self.step % t.checkpoint_every == 0 and self.step != t.steps:
            self.save_checkpoint()
        if t.eval_every and self.step % t.eval_every == 0:
            self.evaluate_and_keep_best()

    def start_clock(self) -> None:
        """This call's training clock starts now (``seconds_before`` holds the earlier calls')."""
        self.started = time.perf_counter()
        self.seconds_paused = 0.0  # seconds spent in periodic evaluations since `started`: not training

    def seconds(self) -> float:
        """Wall-clock seconds of training so far, over every call that trained this run."""
        return self.seconds_before + time.perf_counter() - self.started - self.seconds_paused

    def out_of_time(self) -> bool:
        """True once this rank has spent ``train.minutes`` of training; a host clock, no device sync.

        The loop asks every rank at once (:func:`gankit.training.distributed.any_rank_each`), so that
        all ranks finish after the same step.
        """
        budget = self.cfg.train.minutes
        return bool(budget) and self.seconds() >= 60.0 * budget

    def refresh_ema(self, ema: EMA | None = None) -> None:
        """Standing batch-norm statistics for the EMA generator's weights, when they are stale.

        Every rank calls this at the same steps. The latent codes come from a CPU generator of
        their own (seeded by the run's seed and step), so the training RNG is untouched. ``ema``:
        another average of this run's generator (a callback's own) instead of the run's.
        """
        ema = self.parts.ema if ema is None else ema
        if ema is None or not ema.stale:
            return
        generator = torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + self.step)
        m = self.cfg.model
        ema.standing_statistics(lambda n: sample_noise(n, m.z_dim, m.noise, generator=generator).to(self.device),
                                batch_size=self.cfg.train.batch_size // self.ranks.world_size)

    def evaluate_and_keep_best(self) -> None:
        """Score ``eval_n`` samples; when the score beats the best so far, save ``checkpoints/best.ckpt``.

        Its wall time is not training time: :meth:`seconds` leaves it out.
        """
        trained, began = self.seconds(), time.perf_counter()
        try:
            self._evaluate_and_keep_best(trained)
        finally:
            self.seconds_paused += time.perf_counter() - began

    def _evaluate_and_keep_best(self, trained: float) -> None:
        self.refresh_ema()
        G = self.parts.scored_generator
        distributed.broadcast_buffers(G, self.ranks)  # every rank samples from rank 0's network
        scored = evaluate_generator(G, self.cfg, n=self.cfg.train.eval_n, device=self.device, ranks=self.ranks)
        if scored is not None:  # rank 0 scores
            metric, value, result = scored
            self.log(f"eval at step {self.step}: {metric} {value:.4g}")
            self.evals_file.append([{"step": self.step, "seconds": round(trained, 3), **result}])
            self.callbacks.on_eval(self, result)
        better = scored is not None and is_better(metric, value, self.best)
        if not distributed.any_rank(better, self.ranks):  # all ranks flush together
            return
        self.flush_stats()
        if scored is not None:
            self.best = value
            checkpoint.save_named(self.ckpt_dir, "best.ckpt", {**self.state_dict(), "best": {metric: value}})

    # -------------------------------------------------------------------- run
    def run(self) -> TrainResult:
        t = self.cfg.train
        if self.is_main:
            (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        self.start_clock()
        progress = Progress(total=t.steps, start=self.step, log=self.log, critic=self.cfg.loss.name in CRITIC_LOSSES)
        interrupted = False
        if self.is_main and t.tensorboard:  # rank 0 alone writes
            self.callbacks.callbacks.insert(0, TensorBoardLog(self.run_dir, start_step=self.step,
                                                              histograms=t.tensorboard_histograms))
        with GracefulInterrupt(self.log, debounce_s=2.0 if self.ranks.enabled else 0.0) as stop, self.lost_peers():
            self.callbacks.on_start(self)
            while self.step < t.steps:
                try:
                    self.train_step()
                    self.tick(progress)
                    self.callbacks.on_step(self)
                except DivergedError as err:
                    self.roll_back_or_raise(err)
                # ranks stop together, after the same step: a signal may reach them a step apart
                # (one collective asks both questions)
                stopped, time_up = distributed.any_rank_each((stop.requested or self.stop_requested, self.out_of_time()),
                                                             self.ranks)
                if stopped:
                    interrupted = True
                    break
                if time_up:
                    self.finish_early()
                    break
            progress.close()
            self.save_checkpoint()
            if not interrupted and self.is_main:
                self.finish()
            distributed.barrier(self.ranks)
        self.callbacks.on_end(self)
        p = self.parts
        return TrainResult(self.run_dir, self.step, interrupted, self.last_checkpoint, config=self.cfg, G=p.G, D=p.D,
                           ema=p.ema.module if p.ema is not None else None)

    def finish_early(self) -> None:
        """``train.minutes`` ran out: log it and score the last step, as a run that reached its steps is."""
        t = self.cfg.train
        self.log(f"time budget of {t.minutes:g} min reached at step {self.step} of {t.steps}; finishing the run")
        if t.eval_every and self.step % t.eval_every != 0:
            self.evaluate_and_keep_best()

    def request_stop(self) -> None:
        """Stop after the current step, save a checkpoint and return (as Ctrl-C does); for callbacks."""
        self.stop_requested = True

    @contextlib.contextmanager
    def lost_peers(self):
        """Turn a collective that failed because another rank died or stalled into one clear error."""
        try:
            yield
        except RuntimeError as err:
            if not (self.ranks.enabled and distributed.is_lost_peer(err)):
                raise
            kept = (f"the last checkpoint {self.last_checkpoint} is intact" if self.last_checkpoint
                    else "no checkpoint was written yet")
            raise distributed.DistributedError(
                f"rank {self.ranks.rank} of {self.ranks.world_size} lost contact with the other ranks at step {self.step} "
                f"({first_line(err)}); another rank died or stalled (see its output); {kept}; "
                f"resume with 'gankit train --resume {self.run_dir}' (any number of ranks)") from None

    MAX_ROLLBACKS = 3

    def roll_back_or_raise(self, err: DivergedError) -> None:
        """``--on-nan rollback``: reload the last good checkpoint and halve both learning rates."""
        if self.cfg.train.on_nan != "rollback" or self.last_checkpoint is None or self.rollbacks >= self.MAX_ROLLBACKS:
            raise err
        self.rollbacks += 1
        self.stats.drain()
        optimizers = (self.parts.opt_g, self.parts.opt_d)
        # halve the rates in use now: the checkpoint holds the older, higher ones
        rates = [[group["lr"] for group in opt.param_groups] for opt in optimizers]
        self.load_state_dict(checkpoint.load(self.last_checkpoint))
        for opt, old in zip(optimizers, rates, strict=True):
            for group, lr in zip(opt.param_groups, old, strict=True):
                group["lr"] = lr * 0.5
        lr = self.parts.opt_g.param_groups[0]["lr"]
        self.log(f"warning: {err}; rolled back to step {self.step} ({self.last_checkpoint.name}) with learning rates halved "
                 f"(lr_g now {lr:.3g}; rollback {self.rollbacks} of {self.MAX_ROLLBACKS})")

    def finish(self) -> None:
        self.snapshot(self.run_dir / "samples.png")
        save_generator(self.run_dir / GENERATOR_FILE, self.parts.scored_generator, self.cfg, step=self.step,
                       data_shape=tuple(self.parts.dataset.shape), num_classes=self.num_classes)
