"""Starting and resuming runs: ``train(config)`` and ``resume(run)``.

Both accept the user's own networks (``G=..., D=...``) and callbacks (see
:mod:`gankit.training.callbacks`), and return a :class:`~gankit.training.loop.TrainResult` that
holds the trained G, D and EMA copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from torch import nn

from gankit.errors import CheckpointError, ConfigError
from gankit.fileio import atomic_write_bytes
from gankit.runs.folder import fresh_run_dir, next_run_dir
from gankit.runs.report import RunPages
from gankit.training import checkpoint, distributed
from gankit.training.callbacks import Callbacks
from gankit.training.config import RunConfig, from_saved, resumable_keys, set_value
from gankit.training.distributed import Ranks, ranks_from_env
from gankit.training.export import GENERATOR_FILE
from gankit.training.loop import Trainer, TrainResult, say
from gankit.training.preflight import check_writable, preflight
from gankit.training.setup import build

# Keys a resume may change (declared with the keys): they steer the schedule and bookkeeping, not the math.
RESUMABLE_KEYS = resumable_keys()


def _quiet(_message: str) -> None:
    """The log of ranks other than 0: rank 0 alone speaks."""


def _ranks_and_log(log: Callable[[str], None]) -> tuple[Ranks, Callable[[str], None]]:
    ranks = ranks_from_env()
    return ranks, (log if ranks.is_main else _quiet)


def train(cfg: RunConfig, out: str | Path | None = None, *, runs_root: str | Path = "runs",
          log: Callable[[str], None] = say, callbacks: Iterable[Any] = (), G: nn.Module | None = None,
          D: nn.Module | None = None) -> TrainResult:
    """Train a new run described by ``cfg`` into ``out`` (or the next ``runs_root/NNNN-...`` folder).

    Args:
        cfg: the requested config (see :func:`gankit.training.config.load_config`); ``None`` values
            are resolved and the resolved config is written to ``config.json``.
        out: the run folder; ``None`` takes the next auto-numbered folder under ``runs_root``.
        runs_root: parent of auto-numbered run folders.
        log: where progress lines go (default: stdout).
        callbacks: objects with ``on_step`` / ``on_log`` / ``on_eval`` / ``on_end`` (see
            :mod:`gankit.training.callbacks`).
        G, D: your own generator and discriminator (both or neither): G maps ``[N, z_dim]`` to
            samples of the data's shape, D maps samples to logits ``[N]``. gankit's losses, trainer,
            checkpoints and metrics are used as for its own networks.

    Returns:
        The run, with the trained ``G``, ``D`` and ``ema`` (None when off).

    Under torchrun every rank calls this; rank 0 creates the run folder and tells the others its name.
    """
    networks = _networks(G, D)
    callbacks = [*callbacks, RunPages()]  # report.html and progress.gif when the run stops (train.report)
    Callbacks(callbacks)  # a callback without hooks is refused before anything is built or written
    ranks, log = _ranks_and_log(log)
    with distributed.process_group_scope():
        parts = build(cfg, ranks=ranks, networks=networks)
        resolved = parts.cfg
        preflight(parts, Path(out) if out else Path(runs_root), log=log)  # before anything is written
        run_dir = None
        if ranks.is_main:
            run_dir = fresh_run_dir(Path(out)) if out else next_run_dir(
                Path(runs_root), resolved.model.name, resolved.loss.name, resolved.data.name)
            check_writable(run_dir)
            atomic_write_bytes(run_dir / "config.json", (resolved.to_json() + "\n").encode())
        run_dir = Path(distributed.broadcast_text(str(run_dir) if run_dir else None, ranks))
        log(f"run folder: {run_dir}")
        conditional = f" conditional on {parts.num_classes} classes" if parts.num_classes else ""
        log(f"{resolved.model.name}{conditional} / {resolved.loss.name} on {resolved.data.name} ({len(parts.dataset.data)} items, "
            f"shape {tuple(parts.dataset.shape)}), {resolved.train.steps} steps, batch {resolved.train.batch_size}"
            f"{_per_rank(ranks, resolved.train.batch_size)}, K={resolved.loss.d_steps}"
            f"{' (G reuses the fake batch)' if resolved.loss.reuse_fake else ''}, device {parts.device}"
            f"{f'; unset keys from preset {parts.preset}' if parts.preset else ''}")
        return Trainer(parts, run_dir, log=log, callbacks=callbacks).run()


def _networks(G: nn.Module | None, D: nn.Module | None) -> tuple[nn.Module, nn.Module] | None:
    if (G is None) != (D is None):
        raise ConfigError("pass both G and D (your own generator and discriminator), or neither")
    return None if G is None else (G, D)


def _per_rank(ranks: Ranks, batch_size: int) -> str:
    if not ranks.enabled:
        return ""
    return f" ({batch_size // ranks.world_size} on each of {ranks.world_size} ranks)"


def _check_same_run(run_dir: Path, cfg: RunConfig, file: Path) -> None:
    """Refuse a checkpoint whose config is not the run's own (a file copied in from elsewhere)."""
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        return
    try:  # read as the checkpoint's config is: keys added since the run began take the value it trained with
        recorded = from_saved(json.loads(config_file.read_text(encoding="utf-8")), str(config_file)).to_dict()
    except (OSError, json.JSONDecodeError, ConfigError):
        return  # config.json is rewritten below from the checkpoint, which is verified
    differences = checkpoint.config_differences(recorded, cfg.to_dict(), ignore=RESUMABLE_KEYS)
    if differences:
        shown = "; ".join(f"{key} is {ours!r} in config.json but {theirs!r} in the checkpoint"
                          for key, (ours, theirs) in list(differences.items())[:3])
        raise CheckpointError(f"{file} belongs to another run ({shown}); resume the run it came from")


def resume(run: str | Path, *, overrides: dict[str, Any] | None = None, log: Callable[[str], None] = say,
           callbacks: Iterable[Any] = (), G: nn.Module | None = None, D: nn.Module | None = None) -> TrainResult:
    """Continue ``run`` from its latest checkpoint, with only schedule keys overridable.

    Args:
        run: the run folder.
        overrides: ``{"section.key": value}`` of :data:`RESUMABLE_KEYS` (e.g. more ``train.steps``);
            any other key must keep the run's value.
        log, callbacks: as :func:`train`.
        G, D: the networks of a run trained on your own networks (fresh instances of the same
            classes; the checkpoint's weights are loaded into them).
    """
    run_dir = Path(getattr(run, "run_dir", run))  # a TrainResult or a folder
    if not run_dir.is_dir():
        raise ConfigError(f"--resume expects a run folder; {run_dir} is not a folder")
    networks = _networks(G, D)
    callbacks = [*callbacks, RunPages()]
    Callbacks(callbacks)
    ranks, log = _ranks_and_log(log)
    with distributed.process_group_scope():
        return _resume(run_dir, ranks, overrides or {}, log, callbacks, networks)


def _refuse_finished(run_dir: Path, step: int, steps: int | None) -> None:
    """A finished run has nothing left to do at its own ``train.steps``: say how to train it further."""
    if steps is not None and step >= steps and (run_dir / GENERATOR_FILE).is_file():
        raise ConfigError(f"{run_dir} already finished its {steps} steps; to train it further, give a larger total, "
                          f"e.g. gankit train --resume {run_dir} --steps {2 * steps}")


def _resume(run_dir: Path, ranks: Ranks, overrides: dict[str, Any], log: Callable[[str], None],
            callbacks: Iterable[Any], networks: tuple[nn.Module, nn.Module] | None) -> TrainResult:
    """Every rank loads the same checkpoint (the run folder must be shared by the nodes)."""
    file = checkpoint.find(run_dir)
    state = checkpoint.load(file)
    cfg = from_saved(json.loads(state["config"]), str(file))
    _check_same_run(run_dir, cfg, file)
    for key, value in overrides.items():
        if key not in RESUMABLE_KEYS:
            before = getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1])
            if before != value:
                raise ConfigError(f"--resume continues {run_dir} as configured; {key} is {before!r} there, not {value!r} "
                                  f"(only {', '.join(sorted(RESUMABLE_KEYS))} may change)")
            continue
        set_value(cfg, key, value)
    parts = build(cfg, ranks=ranks, networks=networks)
    trainer = Trainer(parts, run_dir, log=log, callbacks=callbacks)
    trainer.load_state_dict(state)  # a checkpoint that does not fit is refused first
    _refuse_finished(run_dir, trainer.step, parts.cfg.train.steps)
    preflight(parts, run_dir, log=log)
    if ranks.is_main:
        check_writable(run_dir)
    trainer.last_checkpoint = file
    if ranks.is_main:
        atomic_write_bytes(run_dir / "config.json", (parts.cfg.to_json() + "\n").encode())
    log(f"resuming {run_dir} at step {trainer.step} of {parts.cfg.train.steps} from {file.name}"
        f"{_per_rank(ranks, parts.cfg.train.batch_size)}")
    return trainer.run()

