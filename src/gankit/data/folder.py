"""``folder:PATH`` -- every image under a folder, recursively, decoded with Pillow.

Files are taken in sorted order of their path relative to the folder (so a dataset's item order is
reproducible), by extension (:data:`IMAGE_EXTENSIONS`, case-insensitive); other files are ignored.
Each image is converted to RGB (or L when 1 channel is asked), then its centred square of side
``min(W, H)`` is resized to ``size x size`` with bicubic filtering (equivalently: shorter side to
``size``, then centre crop). Transparency (RGBA, LA, PA, P with a transparent colour) is composited
over white. 16-bit grayscale is scaled to 8 bits. Animated files contribute their first frame.
Files that cannot be decoded are skipped, counted and reported in one warning.

Class labels (:func:`folder_classes`): when every image lies inside a subfolder of the folder and there
are at least two such subfolders, each subfolder is a class (as torchvision's ``ImageFolder``): class
``k`` is the ``k``-th subfolder name in sorted order, nested folders belong to their top subfolder.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.errors import DataError, one_line

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".webp",
    ".gif",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
    ".pbm",
)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by their relative POSIX path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        for fn in filenames:
            if fn.lower().endswith(IMAGE_EXTENSIONS):
                found.append(Path(dirpath) / fn)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _to_8bit_gray(img: Image.Image) -> Image.Image:
    """Integer/float single-channel modes (I;16*, I, F) to L; 16-bit ranges are divided by 257."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16") or (img.mode == "I" and arr.size and arr.max() > 255):
        arr = arr / 257.0  # 65535 -> 255
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def convert_image(img: Image.Image, channels: int) -> Image.Image:
    """Convert any Pillow mode to ``"RGB"`` (channels=3) or ``"L"`` (channels=1), alpha over white."""
    mode = "RGB" if channels == 3 else "L"
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    elif img.mode.startswith("I") or img.mode == "F":
        img = _to_8bit_gray(img)
    return img if img.mode == mode else img.convert(mode)


def load_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Decode one file to uint8 ``[channels, size, size]`` (centre square, bicubic resize).

    Raises:
        Exception: whatever Pillow raises for an undecodable file (OSError, SyntaxError, struct.error...).
    """
    with Image.open(path) as img:
        img.seek(0)
        img.load()
        img = convert_image(img, channels)
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    img = img.resize(
        (size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side)
    )
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)


def resolve_folder(folder: str | os.PathLike[str]) -> tuple[Path, list[Path]]:
    """Check ``folder`` and list its image files.

    Raises:
        DataError: missing path, not a folder, or no image files under it.
    """
    path = Path(folder).expanduser().resolve()
    if not path.exists():
        raise DataError(
            f"folder {path} does not exist; pass --data folder:PATH with an existing folder of images"
        )
    if not path.is_dir():
        raise DataError(f"{path} is not a folder; pass --data folder:PATH with a folder of images")
    files = list_images(path)
    if not files:
        raise DataError(
            f"no image files ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}) under {path}; add images or fix the path"
        )
    return path, files


def folder_classes(folder: Path, files: list[Path]) -> tuple[tuple[str, ...], np.ndarray] | None:
    """``(class names, int64 labels [len(files)])`` when the files sit in two or more class subfolders, else None.

    A file directly in ``folder`` means the folder has no class layout (None).
    """
    tops = [f.relative_to(folder).parts for f in files]
    if any(len(parts) < 2 for parts in tops):
        return None
    names = tuple(sorted({parts[0] for parts in tops}))
    if len(names) < 2:
        return None
    index = {name: k for k, name in enumerate(names)}
    return names, np.array([index[parts[0]] for parts in tops], dtype=np.int64)


def fingerprint(folder: Path, files: list[Path]) -> str:
    """SHA-256 over each file's relative path, size and modification time: changes when any file does."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def decode_images(
    folder: Path, files: list[Path], size: int, channels: int, *, kept: list[int] | None = None
) -> tuple[torch.Tensor, int, str]:
    """Decode ``files`` to uint8 ``[N, channels, size, size]``, skipping undecodable ones.

    ``kept``, when given, is filled with the indices of the files that were decoded (the rows' files).

    Returns:
        The images, the number of files skipped, and a one-line note about them ("" when none).

    Raises:
        DataError: no file could be decoded.
    """
    out = np.empty((len(files), channels, size, size), dtype=np.uint8)

    def decode(i: int) -> str | None:
        try:
            out[i] = load_image(files[i], size, channels)
        # Pillow's plugins signal a bad file with many exception types (OSError, SyntaxError,
        # struct.error, DecompressionBombError...); any of them means "skip this file".
        except Exception as exc:  # noqa: BLE001
            return one_line(exc, with_type=True, limit=10_000)
        return None

    # Pillow releases the GIL while decoding and resizing, so threads give a real speed-up.
    workers = max(1, min(32, (os.cpu_count() or 1) + 4, len(files)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = list(pool.map(decode, range(len(files))))

    bad = [i for i, err in enumerate(errors) if err is not None]
    if kept is not None:
        kept[:] = [i for i, err in enumerate(errors) if err is None]
    for i in bad:
        log.debug("skipped %s: %s", files[i], errors[i])
    if len(bad) == len(files):
        raise DataError(
            f"none of the {len(files)} image files under {folder} could be decoded "
            f"(first: {files[0].relative_to(folder).as_posix()}: {errors[0]}); check the files or the path"
        )
    note = ""
    if bad:
        first = bad[0]
        note = (
            f"skipped {len(bad)} of {len(files)} image files under {folder} that could not be decoded "
            f"(first: {files[first].relative_to(folder).as_posix()}: {errors[first]})"
        )
        keep = np.ones(len(files), dtype=bool)
        keep[bad] = False
        out = out[keep]
    return torch.from_numpy(out), len(bad), note
