"""Training: configs, the phase loop, checkpoints and run folders.

``train(cfg)`` starts a run; ``resume(run)`` continues one bit-exactly from its latest checkpoint.
Names are imported on first use so that ``gankit.training.config`` (and the CLI's ``--help``)
does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "train": "gankit.training.runs",
    "resume": "gankit.training.runs",
    "RESUMABLE_KEYS": "gankit.training.runs",
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
