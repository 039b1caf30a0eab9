"""Scoring a run: draw samples from its generator, score them and write ``metrics.json``.

This sits above :mod:`gankit.metrics` (which scores samples in memory) and
:mod:`gankit.training` (whose files hold the generator): it is what ``gankit evaluate RUN`` and
:func:`gankit.evaluate` call for a run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import images_to_uint8
from gankit.errors import GankitError
from gankit.metrics.evaluate import (
    DEFAULT_N_IMAGES,
    DEFAULT_N_POINTS,
    class_metrics,
    evaluate_samples,
    write_metrics,
)
from gankit.runs.folder import run_folder
from gankit.runs.sampling import generate_samples

METRICS_FILE = "metrics.json"


def evaluate_run(
    path: str | os.PathLike[str],
    *,
    n: int | None = None,
    features: str | None = None,
    inception_weights: str | os.PathLike[str] | None = None,
    classifier_weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    write: bool = True,
    ema: bool = True,
    truncation: float = 1.0,
) -> dict[str, Any]:
    """Draw ``n`` samples from a run (EMA weights when kept), score them and write ``metrics.json``.

    Args:
        path: run folder, checkpoint or ``generator.safetensors``.
        n: samples to draw (default 10,000 images or 2,500 points).
        features, inception_weights, classifier_weights, seed, device: as :func:`evaluate_samples`.
        write: write ``metrics.json`` into the run folder.
        ema: score the EMA generator when the run kept one; ``False`` scores the raw generator.
        truncation: :math:`\\psi \\in (0, 1]`, the codes scaled towards the prior's mean (the truncation
            trick; see :func:`gankit.models.sampling.generate`); 1 scores the generator as trained.

    Returns:
        :func:`evaluate_samples`' result plus ``step``, ``ema`` and ``run``. A class-conditional
        run's samples take every class in turn, and its ``metrics`` also hold the per-class scores
        of :func:`gankit.metrics.evaluate.class_metrics` (``class_accuracy``, ``class_accuracy_mean``,
        ``intra_fid``, ``intra_fid_mean``).
    """
    probe = n or DEFAULT_N_IMAGES
    drawn = generate_samples(path, probe, seed=seed, ema=ema, device=device, truncation=truncation)
    if "points" in drawn and n is None:
        drawn["points"] = drawn["points"][:DEFAULT_N_POINTS]
        if "labels" in drawn:
            drawn["labels"] = drawn["labels"][:DEFAULT_N_POINTS]
    channels = int(np.asarray(drawn["images"]).shape[1]) if "images" in drawn else None
    kind_key = "images" if "images" in drawn else "points"
    result = evaluate_samples({kind_key: drawn[kind_key]}, drawn["data"], features=features,
                              inception_weights=inception_weights, classifier_weights=classifier_weights,
                              seed=seed, device=device, channels=channels)
    if "labels" in drawn:  # a class-conditional run
        num_classes = int(drawn["num_classes"])
        result["metrics"].update(class_metrics({kind_key: drawn[kind_key], "labels": drawn["labels"]}, drawn["data"],
                                               num_classes=num_classes, features=features,
                                               inception_weights=inception_weights,
                                               classifier_weights=classifier_weights, device=device,
                                               channels=channels))
    result.update(run=str(run_folder(path)), step=drawn.get("step"), ema=drawn.get("ema"), truncation=truncation)
    if write:
        write_metrics(run_folder(path) / METRICS_FILE, result)
    return result


def evaluate_trained(run: Any, *, n: int | None = None, seed: int = 0, write: bool = True,
                     **options: Any) -> dict[str, Any]:
    """Score a finished run's generator as it is in memory (a run of your own networks, which
    gankit cannot rebuild from its files), as :func:`evaluate_run` scores one from disk."""
    cfg = run.config
    x = run.sample(n or (DEFAULT_N_IMAGES if cfg.data.image_size else DEFAULT_N_POINTS), seed=seed)
    samples = {"points": x} if x.dim() == 2 else {"images": images_to_uint8(x)}
    result = evaluate_samples(samples, cfg.data.name, seed=seed, **options)
    result.update(run=str(run.run_dir), step=run.step, ema=run.ema is not None)
    if write:
        write_metrics(Path(run.run_dir) / METRICS_FILE, result)
    return result


def evaluate(run_or_samples: Any, data: str | None = None, **options: Any) -> dict[str, Any]:
    """Score a run or samples in memory: the one entry point of :func:`gankit.evaluate`.

    Args:
        run_or_samples: a run folder, checkpoint or ``generator.safetensors`` path, a finished
            run (what :func:`gankit.train` returns), or samples: ``{"images": uint8 [N,C,H,W]}``,
            ``{"points": float [N,2]}`` or the array itself.
        data: the dataset the samples imitate (samples only; a run knows its own).
        **options: ``n``, ``features``, ``inception_weights``, ``classifier_weights``, ``seed``,
            ``device``, and for runs ``write`` (see :func:`evaluate_run` and
            :func:`gankit.metrics.evaluate.evaluate_samples`).

    Raises:
        GankitError: samples without ``data``, ``data`` given for a run, or anything the scorers refuse.
    """
    config = getattr(run_or_samples, "config", None)
    if config is not None and config.model.name == "custom":  # your own networks: score the one in memory
        if data is not None:
            raise GankitError("data= only goes with samples; a run already knows its dataset")
        return evaluate_trained(run_or_samples, **options)
    target = getattr(run_or_samples, "run_dir", run_or_samples)  # a TrainResult is scored through its folder
    if isinstance(target, str | os.PathLike):
        if data is not None:
            raise GankitError("data= only goes with samples; a run already knows its dataset")
        return evaluate_run(target, **options)
    if data is None:
        raise GankitError("scoring samples needs data=NAME, the dataset they imitate (e.g. 'fashion-mnist')")
    return evaluate_samples(run_or_samples, data, **options)
