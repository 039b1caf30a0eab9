"""Starting and resuming runs: ``train(cfg)`` and ``resume(run)``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gankit.errors import CheckpointError, ConfigError
from gankit.training import checkpoint, distributed
from gankit.training.checkpoint import atomic_write_bytes
from gankit.training.config import RunConfig, from_dict, set_value
from gankit.training.distributed import Ranks, ranks_from_env
from gankit.training.loop import Trainer, TrainResult, say
from gankit.training.run_dir import fresh_run_dir, next_run_dir
from gankit.training.setup import build

# Keys a resume may change: they steer the schedule and bookkeeping, not the trajectory's math.
RESUMABLE_KEYS = {"train.steps", "train.device", "train.log_every", "train.sample_every", "train.checkpoint_every",
                  "train.keep_checkpoints", "train.threads", "train.on_nan", "train.eval_every", "train.eval_n",
                  "train.dist_backend", "train.dist_timeout"}


def _quiet(_message: str) -> None:
    """The log of ranks other than 0: rank 0 alone speaks."""


def _ranks_and_log(log: Callable[[str], None]) -> tuple[Ranks, Callable[[str], None]]:
    ranks = ranks_from_env()
    return ranks, (log if ranks.is_main else _quiet)


def train(cfg: RunConfig, *, out: str | Path | None = None, runs_root: str | Path = "runs",
          log: Callable[[str], None] = say) -> TrainResult:
    """Train a new run described by ``cfg`` into ``out`` (or the next ``runs/NNNN-...`` folder).

    Under torchrun every rank calls this; rank 0 creates the run folder and tells the others its name.
    """
    ranks, log = _ranks_and_log(log)
    with distributed.process_group_scope():
        parts = build(cfg, ranks=ranks)
        resolved = parts.cfg
        run_dir = None
        if ranks.is_main:
            run_dir = fresh_run_dir(Path(out)) if out else next_run_dir(
                Path(runs_root), resolved.model.name, resolved.loss.name, resolved.data.name)
            atomic_write_bytes(run_dir / "config.json", (resolved.to_json() + "\n").encode())
        run_dir = Path(distributed.broadcast_text(str(run_dir) if run_dir else None, ranks))
        log(f"run folder: {run_dir}")
        log(f"{resolved.model.name} / {resolved.loss.name} on {resolved.data.name} ({len(parts.dataset.data)} items, "
            f"shape {tuple(parts.dataset.shape)}), {resolved.train.steps} steps, batch {resolved.train.batch_size}"
            f"{_per_rank(ranks, resolved.train.batch_size)}, K={resolved.loss.d_steps}, device {parts.device}")
        return Trainer(parts, run_dir, log=log).run()


def _per_rank(ranks: Ranks, batch_size: int) -> str:
    if not ranks.enabled:
        return ""
    return f" ({batch_size // ranks.world_size} on each of {ranks.world_size} ranks)"


def _check_same_run(run_dir: Path, cfg: RunConfig, file: Path) -> None:
    """Refuse a checkpoint whose config is not the run's own (a file copied in from elsewhere)."""
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        return
    try:
        recorded = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return  # config.json is rewritten below from the checkpoint, which is verified
    differences = checkpoint.config_differences(recorded, cfg.to_dict(), ignore=RESUMABLE_KEYS)
    if differences:
        shown = "; ".join(f"{key} is {ours!r} in config.json but {theirs!r} in the checkpoint"
                          for key, (ours, theirs) in list(differences.items())[:3])
        raise CheckpointError(f"{file} belongs to another run ({shown}); resume the run it came from")


def resume(run: str | Path, *, overrides: dict[str, Any] | None = None,
           log: Callable[[str], None] = say) -> TrainResult:
    """Continue ``run`` from its latest checkpoint, with only schedule keys overridable."""
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise ConfigError(f"--resume expects a run folder; {run_dir} is not a folder")
    ranks, log = _ranks_and_log(log)
    with distributed.process_group_scope():
        return _resume(run_dir, ranks, overrides or {}, log)


def _resume(run_dir: Path, ranks: Ranks, overrides: dict[str, Any], log: Callable[[str], None]) -> TrainResult:
    """Every rank loads the same checkpoint (the run folder must be shared by the nodes)."""
    file = checkpoint.find(run_dir)
    state = checkpoint.load(file)
    cfg = from_dict(json.loads(state["config"]), str(file))
    _check_same_run(run_dir, cfg, file)
    for key, value in overrides.items():
        if key not in RESUMABLE_KEYS:
            before = getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1])
            if before != value:
                raise ConfigError(f"--resume continues {run_dir} as configured; {key} is {before!r} there, not {value!r} "
                                  f"(only {', '.join(sorted(RESUMABLE_KEYS))} may change)")
            continue
        set_value(cfg, key, value)
    parts = build(cfg, ranks=ranks)
    trainer = Trainer(parts, run_dir, log=log)
    trainer.load_state_dict(state)
    trainer.last_checkpoint = file
    if ranks.is_main:
        atomic_write_bytes(run_dir / "config.json", (parts.cfg.to_json() + "\n").encode())
    log(f"resuming {run_dir} at step {trainer.step} of {parts.cfg.train.steps} from {file.name}"
        f"{_per_rank(ranks, parts.cfg.train.batch_size)}")
    return trainer.run()

