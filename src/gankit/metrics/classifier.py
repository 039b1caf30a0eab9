"""gankit's own domain classifier: a small CNN trained on a dataset's labelled split.

Its penultimate layer is the ``classifier`` feature space of the image metrics (FID, KID, precision /
recall in a space that understands Fashion-MNIST at 32 x 32, where Inception-v3 at 299 x 299 does
not), and its softmax gives the class histogram of generated samples.

Architecture (``ARCH_VERSION`` 1), for images ``[N, C, S, S]`` in [-1, 1]::

    stage k = 1..4:  depth_k x (conv 3x3 -> BatchNorm -> ReLU), width w_k; 2x2 max-pool after stages 1-3
    adaptive average pool to 4 x 4, flatten   # (N, 16 w_4); the identity at S = 32
    linear -> BatchNorm1d -> ReLU             # (N, F)  = features(x), F = NUM_FEATURES = 128
    dropout -> linear                         # (N, K)  = logits(x)

Widths 16-32-64-128 (one conv each) cost about 4 M multiply-adds per 32 x 32 image. Keeping the 4 x 4
layout instead of a global average is worth about half a point of Fashion-MNIST test accuracy.

It is trained by minimising the cross-entropy :math:`-\\frac{1}{N}\\sum_i \\log \\mathrm{softmax}(f(x_i))_{y_i}`
with AdamW and a one-cycle learning-rate schedule (Smith & Topin, 2019). Augmentation (shifts of up
to ``S/16`` pixels; horizontal flips only where the classes are mirror-symmetric) is optional and off
by default: in the default 3 epochs it cost Fashion-MNIST about 1.5 points of test accuracy.
Datasets without a test split (``digits``) hold out a fixed 20 % (seed ``HOLDOUT_SEED``).

Files are safetensors (weights) whose metadata records the format, ``ARCH_VERSION``, dataset, image
size, channels, classes, widths and test accuracy; they are never pickled. The default place is
``<cache root>/evaluators/<data>-<size>.safetensors`` with ``<cache root>`` = ``$GANKIT_CACHE`` or
``~/.cache/gankit``; writes are atomic (temporary file, fsync, ``os.replace``).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from gankit.data import load_dataset, to_model_space
from gankit.data.cache import files_root
from gankit.errors import CheckpointError, ConfigError, DataError, GankitError
from gankit.fileio import atomic_write_bytes

FORMAT = "gankit-classifier"
ARCH_VERSION = 1
NUM_FEATURES = 128
# (width, convs) per stage; a 2x2 max-pool follows every stage but the last
STAGES: tuple[tuple[int, int], ...] = ((16, 1), (32, 1), (64, 1), (128, 1))
POOLED = 4  # side of the feature map the embedding sees
DROPOUT = 0.2

# Defaults of train_classifier / `gankit evaluator train`.
EPOCHS = 3
BATCH_SIZE = 128
LR = 3e-3
WEIGHT_DECAY = 5e-4
# Small datasets get more epochs so that every run takes at least this many optimiser steps.
MIN_STEPS = 600
EVAL_BATCH = 1000
HOLDOUT_FRACTION = 0.2
HOLDOUT_SEED = 0
# Horizontal flips keep the class of clothes and objects, not of digits.
FLIP_SAFE: dict[str, bool] = {"fashion-mnist": True, "cifar10": True, "mnist": False, "digits": False}
# Labelled sources without a "test" split: a fixed part of "train" is held out instead.
NO_TEST_SPLIT = ("digits",)



# --------------------------------------------------------------------------------------------
# where files live


def cache_root() -> Path:
    """Root of gankit's files; a trained evaluator is not a cache entry, so ``GANKIT_CACHE=off``
    leaves it under ``~/.cache/gankit`` (see :func:`gankit.data.cache.files_root`)."""
    return files_root()


def _slug(data: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", data).strip("_") or "data"


def default_path(data: str, image_size: int) -> Path:
    """``<cache root>/evaluators/<data>-<image_size>.safetensors``."""
    return cache_root() / "evaluators" / f"{_slug(data)}-{image_size}.safetensors"


def train_command(data: str, image_size: int, out: str | os.PathLike[str] | None = None) -> str:
    """The exact ``gankit evaluator train`` command that writes the classifier for ``data`` at ``image_size``."""
    cmd = f"gankit evaluator train --data {data}"
    if image_size != 32:  # 32 is every labelled source's default size
        cmd += f" --image-size {image_size}"
    if out is not None:
        cmd += f" --out {out}"
    return cmd


# --------------------------------------------------------------------------------------------
# the network


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    # no conv bias: the BatchNorm shift that follows makes it redundant
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DomainClassifier(nn.Module):
    """A small CNN classifier whose penultimate layer serves as a feature space.

    Args:
        data: dataset name it is (to be) trained on, e.g. ``"fashion-mnist"``.
        image_size: side S of its square input images.
        channels: C, 1 (grayscale) or 3 (RGB).
        num_classes: K.
        stages: ``(width, convs)`` per stage, see the module docstring.
        num_features: F, the width of the penultimate layer.

    Inputs are uint8 ``[N, C, S, S]`` (0..255, mapped by :func:`gankit.data.to_model_space`) or float
    ``[N, C, S, S]`` already in [-1, 1]; they are moved to the network's device.
    """

    def __init__(
        self,
        *,
        data: str,
        image_size: int,
        channels: int,
        num_classes: int,
        stages: Sequence[tuple[int, int]] = STAGES,
        num_features: int = NUM_FEATURES,
    ) -> None:
        super().__init__()
        self.data = data
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.num_classes = int(num_classes)
        self.num_features = int(num_features)
        self.stages = tuple((int(w), int(d)) for w, d in stages)
        layers: list[nn.Module] = []
        c = self.channels
        for k, (width, depth) in enumerate(self.stages):
            for _ in range(depth):
                layers += _conv_block(c, width)
                c = width
            if k < len(self.stages) - 1:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(POOLED)
        self.embed = nn.Sequential(
            nn.Linear(c * POOLED * POOLED, self.num_features, bias=False),
            nn.BatchNorm1d(self.num_features),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(self.num_features, self.num_classes))

    @property
    def tag(self) -> str:
        """``<data>-<S>px-c<C>-<hash>``: names these exact weights (for caches of real features).

        Hashed afresh on every access (well under a millisecond), so it follows any weight change.
        """
        return f"{_slug(self.data)}-{self.image_size}px-c{self.channels}-{weights_digest(self)[:12]}"

    def _input(self, x: Tensor) -> Tensor:
        want = (self.channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise DataError(
                f"the {self.data} classifier takes images [N, {want[0]}, {want[1]}, {want[2]}], got "
                f"{tuple(x.shape)}; use images of the size and channels it was trained on"
            )
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise DataError(f"the {self.data} classifier takes uint8 or float images, got {x.dtype}")
        device = next(self.parameters()).device
        x = to_model_space(x.to(device))
        if device.type == "cpu":
            # oneDNN's convolutions are markedly faster in NHWC; the input's layout picks it
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features ``[N, F]`` (F = ``num_features``, non-negative) of images ``[N, C, S, S]``."""
        h = self.body(self._input(x))  # (N, w_4, S/8, S/8)
        h = self.pool(h).flatten(1)  # (N, w_4 * 16)
        return self.embed(h)  # (N, F)

    def logits(self, x: Tensor) -> Tensor:
        """Class logits ``[N, K]`` of images ``[N, C, S, S]``."""
        return self.head(self.features(x))

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(features(x), logits(x))`` from one pass through the body: ``[N, F]`` and ``[N, K]``."""
        h = self.features(x)  # (N, F)
        return h, self.head(h)

    def probs(self, x: Tensor) -> Tensor:
        """Class probabilities ``softmax(logits(x))``, ``[N, K]``."""
        return self.logits(x).softmax(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`logits`."""
        return self.logits(x)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 hex digest of a state dict (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# files


def _metadata(model: DomainClassifier, extra: dict[str, Any]) -> dict[str, str]:
    meta = {
        "format": FORMAT,
        "arch_version": str(ARCH_VERSION),
        "data": model.data,
        "image_size": str(model.image_size),
        "channels": str(model.channels),
        "num_classes": str(model.num_classes),
        "num_features": str(model.num_features),
        "stages": ",".join(f"{w}x{d}" for w, d in model.stages),
        "torch": torch.__version__,
    }
    meta.update({k: str(v) for k, v in extra.items()})
    return meta


def save_classifier(
    model: DomainClassifier, path: str | os.PathLike[str], **extra: Any
) -> Path:
    """Write ``model`` as safetensors with its description in the metadata, atomically.

    Args:
        model: the classifier.
        path: destination file; parent folders are created.
        **extra: more metadata (``test_accuracy``, ``epochs``, ``seed`` ...), stored as strings.

    Returns:
        The path written.
    """
    path = Path(path).expanduser()
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = safetensors_bytes(tensors, metadata=_metadata(model, extra))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, blob)
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a classifier file.

    Raises:
        CheckpointError: the file is unreadable, not safetensors, or not a gankit classifier.
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as exc:  # noqa: BLE001 -- safetensors reports damage with several types
        reason = " ".join(str(exc).split())[:160]
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({type(exc).__name__}: {reason}); "
            "delete it and run gankit evaluator train again"
        ) from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a gankit classifier (no '{FORMAT}' metadata); "
            "pass a file written by gankit evaluator train"
        )
    if meta.get("arch_version") != str(ARCH_VERSION):
        raise CheckpointError(
            f"{path} holds classifier architecture v{meta.get('arch_version')}, this gankit reads "
            f"v{ARCH_VERSION}; retrain it with gankit evaluator train"
        )
    return meta


def _parse_stages(text: str) -> tuple[tuple[int, int], ...]:
    stages = []
    for part in text.split(","):
        width, depth = part.split("x")
        stages.append((int(width), int(depth)))
    return tuple(stages)


def read_classifier(path: str | os.PathLike[str], *, device: Any = None) -> DomainClassifier:
    """Rebuild the classifier stored in ``path`` (eval mode, on ``device``, default CPU).

    Building it leaves torch's global random stream where it was, so a run that loads an evaluator
    (its pre-flight check for ``train.eval_every``, or a callback mid-run) follows the path it would
    follow without one.

    Raises:
        CheckpointError: unreadable, foreign or inconsistent file.
    """
    meta = read_metadata(path)
    try:
        with torch.random.fork_rng(devices=[]):  # its throwaway initial weights leave the caller's stream alone
            model = DomainClassifier(
                data=meta["data"],
                image_size=int(meta["image_size"]),
                channels=int(meta["channels"]),
                num_classes=int(meta["num_classes"]),
                stages=_parse_stages(meta["stages"]),
                num_features=int(meta["num_features"]),
            )
        model.load_state_dict(load_file(str(path)), strict=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise CheckpointError(
            f"{path}: its weights do not match its recorded architecture ({type(exc).__name__}: {reason}); "
            "delete it and run gankit evaluator train again"
        ) from exc
    return model.to(torch.device(device) if device is not None else "cpu").eval()


def load_classifier(
    data: str,
    *,
    image_size: int,
    path: str | os.PathLike[str] | None = None,
    device: Any = None,
    channels: int | None = None,
) -> DomainClassifier:
    """The trained classifier for ``data`` at ``image_size``, in eval mode.

    Args:
        data: dataset name, e.g. ``"fashion-mnist"``.
        image_size: side of the images it must take.
        path: the file; ``None`` uses :func:`default_path`.
        device: where to put it (default CPU).
        channels: if given, the channel count it must take.

    Raises:
        GankitError: no file yet; the message is the command that trains one.
        CheckpointError: a foreign or damaged file, or one for another dataset, size or channel count.
    """
    p = Path(path).expanduser() if path is not None else default_path(data, image_size)
    if not p.is_file():
        how = train_command(data, image_size, out=p if path is not None else None)
        raise GankitError(f"no trained {data} classifier at {p}; train it first: {how}")
    model = read_classifier(p, device=device)
    found = (model.data, model.image_size, model.channels)
    wanted = (data, image_size, model.channels if channels is None else channels)
    if found != wanted:
        raise CheckpointError(
            f"{p} is a classifier for {found[0]} at {found[1]}x{found[1]} with {found[2]} channel(s), "
            f"but {wanted[0]} at {wanted[1]}x{wanted[1]} with {wanted[2]} channel(s) is needed; "
            f"train one with: {train_command(data, image_size)}"
        )
    return model


# --------------------------------------------------------------------------------------------
# training


def labelled_splits(
    data: str, image_size: int | None = None, *, root: str | os.PathLike[str] | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """uint8 train images ``[N, C, S, S]``, labels ``[N]``, test images and labels of ``data``.

    Uses the source's "test" split where it has one; otherwise a fixed ``HOLDOUT_FRACTION`` of
    "train" (permutation seeded with ``HOLDOUT_SEED``, whatever the training seed) is held out.

    Raises:
        DataError: the dataset cannot be loaded or has no labels.
    """
    train = load_dataset(data, image_size=image_size, split="train", root=root)
    if train.kind != "images" or train.labels is None:
        raise DataError(
            f"dataset {data!r} has no labelled images to train a classifier on; "
            "use digits, fashion-mnist, mnist or cifar10"
        )
    if data in NO_TEST_SPLIT:
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(HOLDOUT_SEED))
        n_test = max(1, round(HOLDOUT_FRACTION * len(train)))
        te, tr = perm[:n_test], perm[n_test:]
        return train.data[tr], train.labels[tr], train.data[te], train.labels[te]
    test = load_dataset(data, image_size=image_size, split="test", root=root)
    assert test.labels is not None  # same source as train
    return train.data, train.labels, test.data, test.labels


def augment(x: Tensor, generator: torch.Generator, *, shift: int, flip: bool) -> Tensor:
    """Randomly shift (zero-padded, up to ``shift`` px each way) and optionally h-flip uint8 images ``[B, C, S, S]``."""
    b, _, s, _ = x.shape
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    if shift > 0:
        padded = F.pad(x, (shift, shift, shift, shift))  # (B, C, S+2p, S+2p), 0 = black
        dy = torch.randint(0, 2 * shift + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * shift + 1, (b,), generator=generator)
        ar = torch.arange(s)
        rows = (dy[:, None] + ar)[:, None, :, None]  # (B, 1, S, 1)
        cols = (dx[:, None] + ar)[:, None, None, :]  # (B, 1, 1, S)
        chans = torch.arange(x.shape[1])[None, :, None, None]  # (1, C, 1, 1)
        x = padded[torch.arange(b)[:, None, None, None], chans, rows, cols]  # (B, C, S, S)
    return x


@torch.no_grad()
def accuracy(model: DomainClassifier, x: Tensor, y: Tensor, *, batch_size: int = EVAL_BATCH) -> float:
    """Fraction of images ``x [N, C, S, S]`` whose arg-max class equals ``y [N]`` (model left in eval mode)."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        pred = model.logits(x[start : start + batch_size]).argmax(dim=1).cpu()
        correct += int((pred == y[start : start + batch_size]).sum())
    return correct / max(1, len(x))


def train_classifier(
    data: str,
    *,
    image_size: int | None = None,
    epochs: int | None = None,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    augment_data: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    out: str | os.PathLike[str] | None = None,
    save: bool = True,
    root: str | os.PathLike[str] | None = None,
    log: Callable[[str], Any] | None = print,
) -> tuple[DomainClassifier, float]:
    """Train the domain classifier of ``data`` and save it.

    Minimises the label cross-entropy with AdamW (weight decay ``WEIGHT_DECAY``) under a one-cycle
    schedule peaking at ``lr``; the whole dataset stays in memory as uint8 tensors. On CPU the result
    is a deterministic function of ``seed`` (for a given torch build and thread count).

    Args:
        data: a labelled image dataset: ``digits``, ``fashion-mnist``, ``mnist``, ``cifar10``.
        image_size: side S (default: the source's, 32).
        epochs: passes over the training split; ``None`` gives ``EPOCHS``, or more on small datasets
            so that at least ``MIN_STEPS`` optimiser steps are taken.
        batch_size: images per step.
        lr: peak learning rate.
        augment_data: train on randomly shifted (and, where ``FLIP_SAFE``, mirrored) images; helps
            only with more epochs than the default.
        seed: seeds initialisation, shuffling, augmentation and dropout (via ``torch.manual_seed``,
            so torch's global generators are reseeded).
        device: where to train (``"cpu"``, ``"cuda"``, ``"mps"``; the CLI resolves ``auto``).
        out: where to save; ``None`` uses :func:`default_path`.
        save: write the file at all (``False`` only returns the model).
        root: data folder for the dataset (see :func:`gankit.data.load_dataset`).
        log: called with one progress line per epoch; ``None`` is silent.

    Returns:
        The trained model (eval mode) and its accuracy on the test split (or the held-out part).

    Raises:
        DataError: the dataset is missing or unlabelled.
        ConfigError: a bad epochs / batch size / learning rate.
    """
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"batch_size must be an integer >= 2 (BatchNorm needs 2), got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be a positive number, got {lr!r}")
    say = log if log is not None else (lambda _line: None)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from exc

    x_train, y_train, x_test, y_test = labelled_splits(data, image_size, root=root)
    size, channels = x_train.shape[-1], x_train.shape[1]
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    batch_size = min(batch_size, len(x_train))
    steps_per_epoch = len(x_train) // batch_size  # the ragged tail is dropped: BN wants full batches
    if epochs is None:
        epochs = max(EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))
    total_steps = epochs * steps_per_epoch

    torch.manual_seed(seed)  # initial weights and dropout masks
    model = DomainClassifier(data=data, image_size=size, channels=channels, num_classes=num_classes).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps, pct_start=0.25)
    gen = torch.Generator().manual_seed(seed)  # shuffling and augmentation, on the CPU
    flip, shift = FLIP_SAFE.get(data, False), size // 16
    y_train_dev = y_train.to(dev)
    say(
        f"training the {data} classifier: {len(x_train)} train / {len(x_test)} test images "
        f"{channels}x{size}x{size}, {num_classes} classes, {epochs} epochs x {steps_per_epoch} steps, "
        f"device {dev}, {torch.get_num_threads()} threads"
    )

    t0 = time.perf_counter()
    test_acc = 0.0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        loss_sum = torch.zeros((), device=dev)
        hits = torch.zeros((), device=dev, dtype=torch.int64)
        for step in range(steps_per_epoch):
            idx = order[step * batch_size : (step + 1) * batch_size]
            x = x_train[idx]  # (B, C, S, S) uint8
            if augment_data:
                x = augment(x, gen, shift=shift, flip=flip)
            y = y_train_dev[idx.to(dev)]
            # L = -(1/B) sum_i log softmax(f(x_i))_{y_i}
            logits = model.logits(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            # accumulated on the device: no host sync per step
            loss_sum += loss.detach()
            hits += (logits.detach().argmax(dim=1) == y).sum()
        seen = steps_per_epoch * batch_size
        test_acc = accuracy(model, x_test, y_test)
        say(
            f"epoch {epoch + 1}/{epochs}  loss {float(loss_sum) / steps_per_epoch:.4f}  "
            f"train acc {int(hits) / seen:.4f}  test acc {test_acc:.4f}  {time.perf_counter() - t0:.0f}s"
        )
    model.eval()
    if save:
        path = save_classifier(
            model,
            out if out is not None else default_path(data, size),
            test_accuracy=f"{test_acc:.6f}",
            test_images=len(x_test),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            augment=augment_data,
            seed=seed,
        )
        say(f"test accuracy {test_acc:.4f}; saved {path}")
    return model, test_acc
