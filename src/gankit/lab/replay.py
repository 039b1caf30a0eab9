"""``gankit lab --replay RUN``: a finished run shown frame by frame, one frame per kept checkpoint.

The run folder is read, never written: ``config.json`` builds the networks, each checkpoint in
``checkpoints/`` loads G and D (verified, ``weights_only``), and ``stats.jsonl`` gives the curves up
to the checkpoint's step. Runs of ``gankit train`` and of the lab replay alike (2-D points only); a
lab run on a drawing replays on its drawing (``lab.json``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from gankit.data import TOY_NAMES
from gankit.errors import CheckpointError, ConfigError
from gankit.lab.session import Pane
from gankit.training import checkpoint
from gankit.training.config import RunConfig, from_saved


def read_run(run_dir: str | Path) -> tuple[RunConfig, list[Path], Any]:
    """The run's config, its checkpoints (oldest first) and its drawing (or None); one-line errors."""
    run = Path(run_dir)
    config_file = run / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"--replay expects a run folder with config.json; {run} has none")
    try:
        cfg = from_saved(json.loads(config_file.read_text(encoding="utf-8")), str(config_file))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read {config_file}: {err}") from None
    if cfg.data.name not in TOY_NAMES:
        raise ConfigError(f"the lab replays 2-D toy runs; {run} trained on {cfg.data.name}")
    files = checkpoint.list_checkpoints(run / "checkpoints") if (run / "checkpoints").is_dir() else []
    if not files:
        raise CheckpointError(f"{run} holds no checkpoint to replay")
    drawn = None
    lab_file = run / "lab.json"
    if lab_file.is_file():
        try:
            drawn = json.loads(lab_file.read_text(encoding="utf-8")).get("drawn")
        except (OSError, json.JSONDecodeError, AttributeError):
            drawn = None
    return cfg, files, drawn


def read_stats(run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    path = Path(run_dir) / "stats.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a killed run
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                rows.append(row)
    return rows


class ReplayPane(Pane):
    """A :class:`Pane` whose steps load the run's next checkpoint instead of training."""

    def __init__(self, run_dir: str | Path) -> None:
        self.source = Path(run_dir)
        cfg, self.files, drawn = read_run(self.source)
        # the scratch root is never written: a replay pane never creates a trainer
        super().__init__(cfg, Path(tempfile.gettempdir()) / "gankit-lab-replay-unused", label=self.source.name,
                         drawn=drawn)
        self.stats = read_stats(self.source)
        self.index = -1
        self.at_step = 0
        self.finished = False
        self.step()

    @property
    def step_count(self) -> int:
        return self.at_step

    def step(self) -> None:
        if self.index + 1 >= len(self.files):
            self.finished = True
            return
        self.index += 1
        state = checkpoint.load(self.files[self.index])
        for name, module in (("G", self.parts.G), ("D", self.parts.D)):
            problem = checkpoint.describe_mismatch(module, state[name])
            if problem is not None:
                raise CheckpointError(f"{self.files[self.index]} does not fit its config's {name}: {problem}")
            module.load_state_dict(state[name])
        self.at_step = int(state["step"])
        self.curves = type(self.curves)(self.curves.keys)
        self.curves.add([r for r in self.stats if r["step"] <= self.at_step])
        self.finished = self.index + 1 >= len(self.files)

    def phase(self) -> str:
        self.step()
        return "g"

    def flush(self) -> None:
        pass

    def frame(self, *, metrics: bool) -> dict[str, Any]:
        out = super().frame(metrics=metrics)
        out["run"] = self.source.name
        out["replay"] = {"index": self.index, "of": len(self.files)}
        return out

    def close(self) -> None:
        return None
