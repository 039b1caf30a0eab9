"""Per-step statistics, kept on the device and read back every N steps.

Every phase reports 0-dim tensors; :class:`StepStats` stacks them per step without any host
sync and :meth:`StepStats.drain` reads all pending steps at once (one sync per tick). Rows are
appended to ``stats.jsonl``, one JSON object per generator step.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from gankit.errors import GankitError
from gankit.training.checkpoint import atomic_write_bytes


class StepStats:
    """A buffer of per-step statistics that lives on the training device."""

    def __init__(self) -> None:
        self.keys: list[str] | None = None
        self._steps: list[int] = []
        self._values: list[torch.Tensor] = []

    def record(self, step: int, values: dict[str, torch.Tensor]) -> None:
        """Queue one step's statistics (0-dim tensors; no sync)."""
        if self.keys is None:
            self.keys = sorted(values)
        row = torch.stack([values[k].detach().float().reshape(()) for k in self.keys])
        self._steps.append(step)
        self._values.append(row)

    def record_row(self, step: int, keys: list[str], row: torch.Tensor) -> None:
        """Queue one step's statistics already stacked as a float32 row ordered as ``keys`` (no sync)."""
        if self.keys is None:
            self.keys = list(keys)
        elif self.keys != list(keys):
            raise ValueError(f"statistics {keys} do not match the queued {self.keys}")
        self._steps.append(step)
        self._values.append(row)

    def drain(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[dict[str, float | int]]:
        """Read every queued step from the device (the one sync) and clear the buffer.

        ``reduce`` maps the ``[steps, keys]`` table before it is read (the mean over ranks under
        data parallelism); every rank must then drain at the same steps.
        """
        if not self._values:
            return []
        table = torch.stack(self._values)
        table = (reduce(table) if reduce is not None else table).cpu().tolist()
        rows = [{"step": s, **dict(zip(self.keys or [], vals, strict=True))} for s, vals in zip(self._steps, table, strict=True)]
        self._steps, self._values = [], []
        return rows


# Norms of the gradients an optimiser step sees. Under fp16 the loss scaler makes them infinite on
# purpose now and then (it then skips that step and lowers the scale), so they are no sign of divergence;
# a real blow-up shows in the losses, and the weights are checked before every checkpoint.
STEP_GRADIENT_KEYS = frozenset({"grad_norm_d", "grad_norm_g"})


def first_nonfinite(rows: Iterable[dict[str, float | int]]) -> dict[str, float | int] | None:
    """The first row holding a NaN or infinity outside :data:`STEP_GRADIENT_KEYS`, if any."""
    for row in rows:
        if any(isinstance(v, float) and not math.isfinite(v) for k, v in row.items() if k not in STEP_GRADIENT_KEYS):
            return row
    return None


class StatsFile:
    """``stats.jsonl``: appended every tick, cut back to a checkpoint's step on resume."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, allow_nan=True) + "\n")
        except OSError as err:
            raise self._write_error(err) from None

    def sync(self) -> None:
        """Make appended rows durable (called before each checkpoint)."""
        if self.path.exists():
            try:
                with self.path.open("rb+") as handle:
                    os.fsync(handle.fileno())
            except OSError as err:
                raise self._write_error(err) from None

    def _write_error(self, err: OSError) -> GankitError:
        # rows past the last checkpoint are cut on resume, so a torn write here loses nothing
        return GankitError(f"cannot write {self.path}: {err.strerror or err}; free space (or fix permissions) "
                           f"and resume with 'gankit train --resume {self.path.parent}'")

    def truncate_after(self, step: int) -> None:
        """Drop rows past ``step`` (and any torn last line), so a resume adds no duplicates."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                kept.append(line)
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode())

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
