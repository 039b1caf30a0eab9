"""gankit's data sources: 2-D toy mixtures, built-in image datasets and folders of images.

Every source returns a :class:`Dataset` held in memory: float32 points ``[N, 2]`` or uint8 images
``[N, C, H, W]``. :func:`to_model_space` is the one place a batch is mapped to the model's range.

``--data`` names (the keys of :data:`SOURCES`, plus ``folder:PATH``):

============== ======== ================================ ================ =================
name           kind     content                          splits           default size
============== ======== ================================ ================ =================
ring8          points   8 Gaussians on the unit circle   train, test      --
grid25         points   25 Gaussians on {-4..4}^2        train, test      --
swissroll      points   2-D swiss roll in about [-2, 2]  train, test      --
digits         images   scikit-learn 8x8 digits, 1797    train (all)      32, 1 channel
fashion-mnist  images   Fashion-MNIST, 60000 / 10000     train, test      32, 1 channel
mnist          images   MNIST, 60000 / 10000             train, test      32, 1 channel
cifar10        images   CIFAR-10, 50000 / 10000          train, test      32, 3 channels
folder:PATH    images   every image under PATH           train (all)      64, 3 channels
               (labels when PATH holds one subfolder per class)
============== ======== ================================ ================ =================

:data:`SOURCES` maps each name to its loader kind (``toy``, ``digits`` or ``builtin``; ``folder:PATH``
is the ``folder`` kind), and :func:`load_dataset` passes that loader only the options it takes:
``split`` always; ``n_points`` and ``seed`` to toy sets; ``image_size`` and ``channels`` to images;
``root`` to the built-in sets; ``cache`` to the built-in sets and folders. For now it silently ignores
the rest (e.g. ``image_size`` for ``ring8``).

Toy sets are a fixed draw of ``n_points`` points from ``seed`` ("test" is an independent draw).
``digits`` ships with scikit-learn and works offline; it has no held-out split, so "train" is all
1797 images.
Environment: ``GANKIT_DATA`` is the data folder when ``root`` is not given (Fashion-MNIST is looked
up there before Debian's ``/usr/share/datasets/fashion-mnist``; MNIST/CIFAR-10 download there,
default ``~/.cache/gankit``); ``GANKIT_CACHE`` is the decoded-image cache folder (``off`` disables).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable

import torch

from gankit.data.base import Dataset, check_channels, check_image_size, check_split, data_root
from gankit.data.cache import cached
from gankit.data.folder import (
    IMAGE_EXTENSIONS,
    decode_images,
    fingerprint,
    folder_classes,
    resolve_folder,
)
from gankit.data.images import (
    from_28,
    load_cifar10,
    load_digits_images,
    load_fashion_mnist,
    load_mnist,
)
from gankit.data.toy import TOY_NAMES, load_toy, toy_modes, toy_sample
from gankit.data.transforms import images_to_uint8, resize_images, set_channels, to_model_space
from gankit.errors import DataError

__all__ = [
    "Dataset",
    "FOLDER_PREFIX",
    "IMAGE_EXTENSIONS",
    "SOURCES",
    "TOY_NAMES",
    "data_root",
    "fit_images",
    "images_to_uint8",
    "load_dataset",
    "to_model_space",
    "toy_modes",
    "toy_sample",
]

FOLDER_PREFIX = "folder:"
IMAGE_SPLITS = ("train", "test")
NativeLoader = Callable[[str, "str | os.PathLike[str] | None"], tuple[torch.Tensor, torch.Tensor]]


def load_digits_source(
    *,
    image_size: int | None = None,
    split: str = "train",
    channels: int | None = None,
) -> Dataset:
    """scikit-learn's 8x8 digits, all 1797 as "train": uint8 ``[1797, C, S, S]``, labels 0..9."""
    size = check_image_size(image_size, 32)
    check_split("digits", split, ("train",))
    check_channels(channels)
    data, labels = load_digits_images(size)
    return Dataset(name="digits", kind="images", data=set_channels(data, channels), labels=labels)


def fit_images(native: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images ``[N, C, H, W]`` at ``size x size``, as the built-in sources prepare theirs.

    28x28 digit datasets are padded to 32 first (exact); everything else is resized directly.
    """
    return from_28(native, size) if native.shape[-1] == 28 else resize_images(native, size)


def load_builtin_images(
    name: str,
    *,
    image_size: int | None = None,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    channels: int | None = None,
    cache: bool = True,
) -> Dataset:
    """Fashion-MNIST, MNIST or CIFAR-10 at ``image_size`` (default 32); see :mod:`gankit.data.images`."""
    size = check_image_size(image_size, 32)
    check_split(name, split, IMAGE_SPLITS)
    check_channels(channels)
    native, labels = NATIVE_IMAGES[name](split, root)
    side = native.shape[-1]
    if size == side or (side, size) == (28, 32):
        data = fit_images(native, size)  # as is, or a 2-pixel pad: cheaper than a cache read
    else:
        # Resizing 60000 images takes seconds; keyed by the native pixels' hash, so new files miss.
        key = {
            "source": name,
            "split": split,
            "size": size,
            "pixels": hashlib.sha256(memoryview(native.numpy()).cast("B")).hexdigest(),
        }
        data, _, _ = cached(key, lambda: (fit_images(native, size), None, {}), enabled=cache)
    return Dataset(name=name, kind="images", data=set_channels(data, channels), labels=labels)


def load_folder_source(
    path: str | os.PathLike[str],
    *,
    image_size: int | None = None,
    split: str = "train",
    channels: int | None = None,
    cache: bool = True,
) -> Dataset:
    """Every image under ``path`` (recursive), uint8 ``[N, C, S, S]`` with S = ``image_size`` (default 64).

    Converted to RGB, or grayscale when ``channels=1``; see :mod:`gankit.data.folder`. Undecodable
    files are skipped with one warning and counted in ``n_skipped``. A folder of class subfolders
    (:func:`gankit.data.folder.folder_classes`) gives ``labels`` and ``class_names``.
    """
    size = check_image_size(image_size, 64)
    check_split(f"{FOLDER_PREFIX}{path}", split, ("train",))
    n_channels = check_channels(channels) or 3
    folder, files = resolve_folder(path)
    key = {
        "source": f"folder-{folder.name}",
        "path": str(folder),
        "size": size,
        "channels": n_channels,
        "files": fingerprint(folder, files),
        "labels": "class-subfolders",  # entries carry the class labels of the files kept
    }
    classes = folder_classes(folder, files)

    def build():
        kept: list[int] = []
        data, n_skipped, note = decode_images(folder, files, size, n_channels, kept=kept)
        labels = None if classes is None else torch.from_numpy(classes[1][kept])
        return data, labels, {"n_skipped": str(n_skipped), "note": note}

    data, labels, meta = cached(key, build, enabled=cache)
    if meta.get("note"):
        warnings.warn(meta["note"], stacklevel=3)
    return Dataset(
        name=f"{FOLDER_PREFIX}{folder}",
        kind="images",
        data=data,
        labels=None if classes is None else labels,
        class_names=None if classes is None else classes[0],
        n_skipped=int(meta.get("n_skipped", 0)),
    )


NATIVE_IMAGES: dict[str, NativeLoader] = {
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
}

# The --data names and the kind of loader each one takes; ``folder:PATH`` is the fourth kind.
SOURCES: dict[str, str] = {
    "ring8": "toy",
    "grid25": "toy",
    "swissroll": "toy",
    "digits": "digits",
    "fashion-mnist": "builtin",
    "mnist": "builtin",
    "cifar10": "builtin",
}


def valid_names() -> str:
    """The ``--data`` names, comma-separated, for messages and ``--help``."""
    return ", ".join([*SOURCES, f"{FOLDER_PREFIX}PATH"])


def load_dataset(
    name: str,
    *,
    image_size: int | None = None,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    n_points: int = 100_000,
    seed: int = 0,
    channels: int | None = None,
    cache: bool = True,
) -> Dataset:
    """Load a dataset by its ``--data`` name.

    Picks the loader by the name's kind (see :data:`SOURCES`) and passes it only the options it
    takes. Options that do not apply to that kind (e.g. ``image_size`` for ``ring8``, ``root`` for
    ``digits``) are silently ignored for now.

    Args:
        name: A key of :data:`SOURCES` or ``"folder:PATH"``.
        image_size: Side of the square images, a power of two in [8, 256]; ``None`` takes the
            source's default (32, or 64 for folders). Images only.
        split: ``"train"`` or ``"test"`` where the source has it.
        root: Data folder for the built-in image sets (overrides ``$GANKIT_DATA``).
        n_points: Size of a toy set. Toy sets only.
        seed: Seed of a toy set's draw. Toy sets only.
        channels: Force 1 (luma) or 3 (replicated gray) channels; ``None`` keeps the source's.
            Images only.
        cache: Use the decoded-image cache (``$GANKIT_CACHE``) for folders and resized datasets.

    Returns:
        The whole dataset in memory, see :class:`Dataset`.

    Raises:
        DataError: unknown name, bad option, or missing/corrupt files; the one-line message says
            how to fix it.
    """
    if not isinstance(name, str):
        raise DataError(f"dataset name must be a string, got {name!r}; valid: {valid_names()}")
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX) :]
        if not path.strip():
            raise DataError(f"{name!r} names no folder; write folder:PATH, e.g. folder:~/pictures")
        return load_folder_source(
            path, image_size=image_size, split=split, channels=channels, cache=cache
        )
    kind = SOURCES.get(name)
    if kind == "toy":
        return load_toy(name, split=split, n_points=n_points, seed=seed)
    if kind == "digits":
        return load_digits_source(image_size=image_size, split=split, channels=channels)
    if kind == "builtin":
        return load_builtin_images(
            name, image_size=image_size, split=split, root=root, channels=channels, cache=cache
        )
    raise DataError(f"unknown dataset {name!r}; valid: {valid_names()}")
