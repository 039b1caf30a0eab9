"""A run as a whole: start and resume it, its folder, sampling from it and scoring it.

This layer sits above :mod:`gankit.training` (the trainer, checkpoints, generator files) and
:mod:`gankit.metrics` (scores of samples in memory); the CLI and the public API
(:mod:`gankit`) call it. Names are imported on first use, so importing this package is cheap.
"""

from __future__ import annotations

from gankit.lazy import lazy_attributes

_LAZY = {
    "train": "gankit.runs.start",
    "resume": "gankit.runs.start",
    "RESUMABLE_KEYS": "gankit.runs.start",
    "load_generator": "gankit.runs.sampling",
    "generate_samples": "gankit.runs.sampling",
    "TrainedGenerator": "gankit.runs.sampling",
    "evaluate_run": "gankit.runs.evaluate",
    "run_folder": "gankit.runs.folder",
    "write_report": "gankit.runs.report",
    "write_comparison": "gankit.runs.compare",
    "write_progress_gif": "gankit.runs.animation",
    "latent_walk": "gankit.runs.walks",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes("gankit.runs", _LAZY)
