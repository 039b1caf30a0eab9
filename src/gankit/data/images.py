"""Built-in image datasets: scikit-learn's digits (offline), Fashion-MNIST, MNIST and CIFAR-10.

Every loader returns uint8 ``[N, C, H, W]`` images and int64 labels. Sizes:

* 28x28 sources (MNIST, Fashion-MNIST) are zero-padded by 2 pixels to 32x32 (exact: their
  background is 0), then resized with antialiased bilinear interpolation when another size is asked.
* digits (8x8, values 0..16) are scaled by 255/16 and resized from the float values, rounding once.
* CIFAR-10 is 32x32 RGB and resized the same way for other sizes.

Where files are looked for:

* Fashion-MNIST: ``root`` when given (the folder itself, ``root/fashion-mnist`` or
  ``root/FashionMNIST/raw``); otherwise the same under ``$GANKIT_DATA``, then Debian's
  ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``), then
  ``~/.cache/gankit``. Files may be ``.gz`` or not. If none is found, torchvision downloads them
  into ``root`` / ``$GANKIT_DATA`` / ``~/.cache/gankit``.
* MNIST and CIFAR-10: torchvision, ``download=True`` into ``root`` / ``$GANKIT_DATA`` /
  ``~/.cache/gankit`` (files already there are reused, nothing is fetched).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from gankit.data.base import data_root
from gankit.data.idx import read_idx
from gankit.data.transforms import pad_to, resize_images
from gankit.errors import DataError, one_line

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_PREFIX = {"train": "train", "test": "t10k"}
# Downloads through torchvision: a stalled connection should fail, not hang the run.
_DOWNLOAD_SOCKET_TIMEOUT_S = 60.0
_MAX_REASON = 240


def from_28(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, 1, 28, 28]`` -> ``[N, 1, size, size]``: pad 2 px a side to 32, then resize if needed."""
    return resize_images(pad_to(x, 32), size)


def load_digits_images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8x8 digits (all 1797): uint8 ``[1797, 1, size, size]`` and labels 0..9.

    Pixel values 0..16 are mapped to 0..255 by ``v * 255 / 16`` before resizing.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).to(torch.float32)[:, None] * (255.0 / 16.0)  # (N, 1, 8, 8)
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    return resize_images(x, size), labels


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    if old is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def torchvision_dataset(cls_name: str, title: str, root: Path, train: bool, how_to_fix: str):
    """Instantiate ``torchvision.datasets.<cls_name>(root, train, download=True)``; ``title`` names it in errors.

    Raises:
        DataError: torchvision is missing, or the files are absent and cannot be downloaded;
            the message ends with ``how_to_fix``.
    """
    try:
        import torchvision.datasets as tv_datasets
    except ImportError as exc:
        raise DataError(
            f"{title} needs torchvision ({one_line(exc, limit=_MAX_REASON, with_type=True)}); pip install torchvision"
        ) from exc
    try:
        with _socket_timeout(_DOWNLOAD_SOCKET_TIMEOUT_S):
            return getattr(tv_datasets, cls_name)(root=str(root), train=train, download=True)
    # torchvision reports network, disk and archive problems as URLError/OSError/RuntimeError/
    # tarfile errors and more; each is the same user-fixable "files are not there" here.
    except Exception as exc:  # noqa: BLE001
        raise DataError(
            f"{title} is not in {root} and could not be downloaded ({one_line(exc, limit=_MAX_REASON, with_type=True)}); {how_to_fix}"
        ) from exc


def _fashion_dirs(root: str | os.PathLike[str] | None) -> list[Path]:
    if root is not None:
        bases = [Path(root).expanduser()]
    else:
        env = os.environ.get("GANKIT_DATA")
        bases = [Path(env).expanduser()] if env else []
        bases += [DEBIAN_FASHION_DIR, data_root(None)]
    dirs: list[Path] = []
    for base in bases:
        for d in (base, base / "fashion-mnist", base / "FashionMNIST" / "raw"):
            if d not in dirs:
                dirs.append(d)
    return dirs


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Parse an IDX images/labels pair into uint8 ``[N, 1, H, W]`` and int64 ``[N]`` labels 0..9."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != "u1" or images.ndim != 3:
        raise DataError(
            f"{images_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}; re-download it"
        )
    if labels.dtype != "u1" or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected uint8 labels [N], got {labels.dtype} {labels.shape}; re-download it"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; re-download both"
        )
    if len(labels) and labels.max() > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} is outside 0..9; re-download it")
    return torch.from_numpy(images)[:, None].contiguous(), torch.from_numpy(labels).to(torch.int64)


def load_fashion_mnist(
    split: str, root: str | os.PathLike[str] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST at native 28x28: uint8 ``[N, 1, 28, 28]`` (N = 60000 train, 10000 test), labels."""
    prefix = IDX_PREFIX[split]
    img_stem, lbl_stem = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    dirs = _fashion_dirs(root)
    for folder in dirs:
        img, lbl = _find_file(folder, img_stem), _find_file(folder, lbl_stem)
        if img is not None and lbl is not None:
            return read_idx_pair(img, lbl)
    target = data_root(root)
    how_to_fix = (
        f"install Debian's copy with `apt-get install dataset-fashion-mnist`, or put {img_stem}.gz and "
        f"{lbl_stem}.gz into {target} (root= or GANKIT_DATA picks the folder); "
        f"looked in {', '.join(str(d) for d in dirs)}"
    )
    ds = torchvision_dataset("FashionMNIST", "Fashion-MNIST", target, split == "train", how_to_fix)
    return ds.data[:, None].to(torch.uint8).contiguous(), torch.as_tensor(
        ds.targets, dtype=torch.int64
    )


def load_mnist(
    split: str, root: str | os.PathLike[str] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST at native 28x28 via torchvision: uint8 ``[N, 1, 28, 28]`` and labels."""
    target = data_root(root)
    files = ", ".join(
        f"{p}-{kind}-idx{d}-ubyte.gz"
        for p in ("train", "t10k")
        for kind, d in (("images", 3), ("labels", 1))
    )
    how_to_fix = (
        f"connect to the internet once, or put {files} into {target / 'MNIST' / 'raw'} "
        "(root= or GANKIT_DATA picks the folder)"
    )
    ds = torchvision_dataset("MNIST", "MNIST", target, split == "train", how_to_fix)
    return ds.data[:, None].to(torch.uint8).contiguous(), torch.as_tensor(
        ds.targets, dtype=torch.int64
    )


def load_cifar10(
    split: str, root: str | os.PathLike[str] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 at native 32x32 via torchvision: uint8 ``[N, 3, 32, 32]`` (50000 / 10000) and labels."""
    target = data_root(root)
    how_to_fix = (
        "connect to the internet once, or put cifar-10-python.tar.gz "
        f"(https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz) into {target} "
        "(root= or GANKIT_DATA picks the folder)"
    )
    ds = torchvision_dataset("CIFAR10", "CIFAR-10", target, split == "train", how_to_fix)
    # (N, H, W, C) -> (N, C, H, W)
    data = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return data, torch.as_tensor(ds.targets, dtype=torch.int64)
