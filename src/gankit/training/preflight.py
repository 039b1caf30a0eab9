"""Pre-flight: everything that could stop a run halfway is checked before step 1.

* the run folder is writable;
* the disk has room for the checkpoints the run keeps (``train.keep_checkpoints`` step files,
  ``best.ckpt`` under periodic evaluation, one file being written, and the exported generator);
* the evaluator that ``train.eval_every`` needs exists: the domain classifier of a built-in
  labelled data set, or the Inception weights. With ``train.eval_auto_evaluator`` a missing
  classifier is trained here, before step 1.

The data itself was read when the run was built, so an unreadable data set has already been
refused. Each failure is one :class:`~gankit.errors.GankitError` line that says how to fix it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.fileio import atomic_write_bytes
from gankit.metrics import classifier
from gankit.metrics.evaluate import image_evaluator
from gankit.metrics.features import default_feature_space
from gankit.training.setup import Components

PROBE = ".gankit-write-probe"
MARGIN = 1.10  # 10 % on top of the tensors' bytes: pickle framing, the stats files, the PNG snapshots


def preflight(parts: Components, run_dir: Path, *, log: Callable[[str], None]) -> None:
    """Every check that applies to this run, before its folder is created or touched.

    Rank 0 checks the disk; every rank builds its evaluator. :func:`check_writable` follows once
    the folder exists.
    """
    if parts.ranks.is_main:
        check_free_space(parts, run_dir)
    check_evaluator(parts, log=log)


def check_writable(run_dir: Path) -> None:
    probe = Path(run_dir) / PROBE
    try:
        atomic_write_bytes(probe, b"gankit\n")
        probe.unlink()
    except OSError as err:
        raise GankitError(f"cannot write to the run folder {run_dir}: {err.strerror or err}; "
                          "fix its permissions or choose another --out") from None


def _bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def checkpoint_bytes(parts: Components) -> int:
    """About the size of one checkpoint: G, D, the EMA copy and Adam's two moments per parameter."""
    g, d = _bytes(parts.G), _bytes(parts.D)
    moments = 2 if parts.cfg.loss.optimizer == "adam" else 1  # RMSProp keeps one
    return int(MARGIN * (g * (1 + moments) + d * (1 + moments) + (g if parts.ema is not None else 0)))


def check_free_space(parts: Components, run_dir: Path) -> None:
    t = parts.cfg.train
    files = t.keep_checkpoints + 1 + (1 if t.eval_every else 0)  # kept, one being written, best.ckpt
    one = checkpoint_bytes(parts)
    needed = files * one + _bytes(parts.G)
    free = shutil.disk_usage(_existing(run_dir)).free
    if free < needed:
        raise GankitError(f"the run needs about {needed / 2**20:.1f} MiB for {files} checkpoints of "
                          f"{one / 2**20:.1f} MiB in {run_dir}, but only {free / 2**20:.1f} MiB are free; free space, "
                          "lower train.keep_checkpoints or choose another --out")


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a new run folder is created later)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_evaluator(parts: Components, *, log: Callable[[str], None]) -> None:
    """Build (and cache) the image evaluator ``train.eval_every`` will use; train a missing classifier if asked."""
    cfg, dataset = parts.cfg, parts.dataset
    if not cfg.train.eval_every or dataset.kind != "images":
        return  # toy runs are scored by exact W1, which needs nothing
    data, size = cfg.data.name, int(dataset.shape[-1])
    try:
        _evaluator(parts)
        return
    except GankitError as err:
        missing_classifier = default_feature_space(data) == "classifier" and not classifier.default_path(data, size).is_file()
        if not missing_classifier:
            raise GankitError(f"train.eval_every {cfg.train.eval_every} cannot score this run: {err}") from None
        if not cfg.train.eval_auto_evaluator:
            raise GankitError(
                f"train.eval_every {cfg.train.eval_every} needs the {data} domain classifier, which is not trained yet; "
                f"run '{classifier.train_command(data, size)}' first, or add --set train.eval_auto_evaluator=true "
                "to train it before step 1") from None
    log(f"training the {data} domain classifier at {size}x{size} first (train.eval_auto_evaluator)")
    # its training reseeds torch's generators: fork them, so the run's trajectory is unchanged
    with torch.random.fork_rng(devices=[parts.device] if parts.device.type == "cuda" else []):
        classifier.train_classifier(data, image_size=size, device=parts.device, root=cfg.data.root, log=log)
    _evaluator(parts)


def _evaluator(parts: Components) -> None:
    cfg = parts.cfg
    image_evaluator(cfg.data.name, image_size=int(parts.dataset.shape[-1]), n=cfg.train.eval_n,
                    channels=cfg.data.channels, device=parts.device)

