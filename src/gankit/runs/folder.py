"""Run folders: ``runs/NNNN-<model>-<loss>-<data>/`` or a folder the user names, and the folder of a run path."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gankit.errors import ConfigError


def _slug(text: str) -> str:
    if text.startswith("folder:"):
        text = "folder-" + Path(text[len("folder:"):]).name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "data"


def next_run_dir(root: Path, model: str, loss: str, data: str) -> Path:
    """The next auto-numbered folder under ``root`` (created)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m[1]) for p in root.iterdir() if (m := re.match(r"^(\d{4,})-", p.name))]
    number = max(numbers, default=-1) + 1
    while True:
        path = root / f"{number:04d}-{_slug(model)}-{_slug(loss)}-{_slug(data)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another run took this number meanwhile
            number += 1


def fresh_run_dir(path: Path) -> Path:
    """Use ``path`` for a new run; refuse a folder that already holds one."""
    path = Path(path)
    if (path / "checkpoints").is_dir() or (path / "config.json").exists():
        raise ConfigError(f"{path} already holds a run; continue it with --resume {path} or choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_folder(path: str | os.PathLike[str]) -> Path:
    """The run folder of a run path: the folder itself, or the one holding a checkpoint / generator file."""
    p = Path(path)
    if p.is_dir():
        return p
    parent = p.parent
    return parent.parent if parent.name == "checkpoints" else parent
