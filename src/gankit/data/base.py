"""The :class:`Dataset` record every source returns, and the checks shared by all sources."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gankit.errors import DataError

KINDS = ("points", "images")
MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 256


@dataclass
class Dataset:
    """An in-memory dataset: every item of one source, already decoded and resized.

    Attributes:
        name: The ``--data`` name it was loaded by, e.g. ``"ring8"``, ``"digits"``, ``"folder:/x/y"``.
        kind: ``"points"`` (2-D toy sets) or ``"images"``.
        data: Points as float32 ``[N, 2]``; images as uint8 ``[N, C, H, W]`` in 0..255. Contiguous, CPU.
            Use :func:`gankit.data.to_model_space` to turn a batch into the model's float range.
        labels: int64 ``[N]`` class labels where the source has them (the mode index for toy mixtures,
            the class subfolder of a folder source).
        class_names: the name of each class, where the source names them (a folder's subfolders).
        modes: float64 ``[M, 2]`` mode centres of a toy Gaussian mixture; ``None`` otherwise.
        mode_std: Standard deviation of each mixture component (isotropic); ``None`` otherwise.
        n_skipped: Files of a folder source that could not be decoded and were left out.
    """

    name: str
    kind: str
    data: torch.Tensor
    labels: torch.Tensor | None = None
    modes: torch.Tensor | None = None
    mode_std: float | None = None
    n_skipped: int = 0
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Programming errors inside gankit, not user errors: a source built a malformed record.
        if self.kind not in KINDS:
            raise ValueError(f"Dataset.kind must be one of {KINDS}, got {self.kind!r}")
        want_dtype, want_ndim = (torch.float32, 2) if self.kind == "points" else (torch.uint8, 4)
        if self.data.dtype != want_dtype or self.data.ndim != want_ndim:
            raise ValueError(
                f"{self.kind} data must be {want_dtype} with {want_ndim} dims, "
                f"got {self.data.dtype} {tuple(self.data.shape)}"
            )
        if self.labels is not None and (
            self.labels.dtype != torch.int64 or self.labels.shape != self.data.shape[:1]
        ):
            raise ValueError(
                f"labels must be int64 [{len(self.data)}], got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    @property
    def num_classes(self) -> int:
        """K: the named classes, else ``max(labels) + 1``; 0 for data without labels."""
        if self.labels is None:
            return 0
        if self.class_names is not None:
            return len(self.class_names)
        if self.modes is not None:
            return len(self.modes)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one item: ``(2,)`` for points, ``(C, H, W)`` for images."""
        return tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return self.data.shape[0]


def check_image_size(image_size: int | None, default: int) -> int:
    """Return ``image_size`` (or ``default`` when ``None``) after checking it is a power of two in [8, 256]."""
    if image_size is None:
        return default
    ok = (
        isinstance(image_size, int)
        and not isinstance(image_size, bool)
        and MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE
        and image_size & (image_size - 1) == 0
    )
    if not ok:
        raise DataError(
            f"image_size must be a power of two between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} "
            f"(8, 16, 32, 64, 128, 256), got {image_size!r}"
        )
    return image_size


def check_split(name: str, split: str, valid: tuple[str, ...]) -> str:
    """Return ``split`` if ``name`` offers it, else raise :class:`DataError` listing the valid splits."""
    if split not in valid:
        raise DataError(
            f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(valid)}"
        )
    return split


def check_channels(channels: int | None) -> int | None:
    """Return ``channels`` after checking it is ``None`` (keep the source's), 1 or 3."""
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    return channels


def data_root(root: str | os.PathLike[str] | None) -> Path:
    """Folder that holds downloadable datasets: ``root``, else ``$GANKIT_DATA``, else ``~/.cache/gankit``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("GANKIT_DATA")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/gankit").expanduser()
