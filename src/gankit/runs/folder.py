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


def next_run_dir(root: Path, *labels: str, prefix: str = "") -> Path:
    """The next auto-numbered folder ``root/<prefix>NNNN-<label>-<label>...`` (created).

    Numbers count on from the highest among the folders with the same prefix
    (``runs/0003-dcgan-gan-ns-digits``; the lab's ``runs/lab-0000-gan-ns-ring8``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^{re.escape(prefix)}(\d{{4,}})-")
    numbers = [int(m[1]) for p in root.iterdir() if (m := pattern.match(p.name))]
    number = max(numbers, default=-1) + 1
    while True:
        path = root / "-".join([f"{prefix}{number:04d}", *(_slug(label) for label in labels)])
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
