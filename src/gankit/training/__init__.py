"""Training: configs and their defaults, the device policy, the phases, the loop, checkpoints.

Starting and resuming whole runs sits one layer up, in :mod:`gankit.runs` (``gankit.train`` and
``gankit.resume`` in the public API). Names are imported on first use so that
``gankit.training.config`` (and the CLI's ``--help``) does not pay for importing torch.
"""

from __future__ import annotations

from gankit.lazy import lazy_attributes

_LAZY = {
    "Trainer": "gankit.training.loop",
    "TrainResult": "gankit.training.loop",
    "DivergedError": "gankit.training.loop",
    "RunConfig": "gankit.training.config",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes("gankit.training", _LAZY)
