"""Training: configs and their defaults, the device policy, the phases, the loop, checkpoints.

Starting and resuming whole runs sits one layer up, in :mod:`gankit.runs` (``gankit.train`` and
``gankit.resume`` in the public API). Names are imported on first use so that
``gankit.training.config`` (and the CLI's ``--help``) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Trainer": "gankit.training.loop",
    "TrainResult": "gankit.training.loop",
    "DivergedError": "gankit.training.loop",
    "RunConfig": "gankit.training.config",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gankit.training' has no attribute {name!r}")
