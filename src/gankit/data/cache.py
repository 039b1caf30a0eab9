"""A best-effort on-disk cache of decoded, resized image datasets.

Files live in ``$GANKIT_CACHE`` (default ``~/.cache/gankit``; set it to ``off``, ``0`` or an empty
string to disable) as ``decoded-<source>-<size>px-<digest>.safetensors``. The digest is a SHA-256 of
a JSON *key* that names everything the pixels depend on (source, split, size, a fingerprint of the
input files or pixels, and :data:`CACHE_VERSION`); the key is stored in the file too and compared on
read, so a stale or foreign file is ignored rather than trusted. Writes go to a temporary file in the
same folder, are fsynced, then renamed over the target (atomic on POSIX and Windows), so readers
never see a partial file and concurrent writers simply race to the same content. Any failure to read
or write the cache falls back to decoding, with a log message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gankit.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

# Bump whenever decoding or resizing changes, so old files stop matching.
CACHE_VERSION = 1
_OFF = ("", "0", "off", "false", "no", "none")

Entry = tuple[torch.Tensor, "torch.Tensor | None", dict[str, str]]


def files_root() -> Path:
    """Where gankit keeps files that are not a cache (trained evaluators, hand-placed weights):
    ``$GANKIT_CACHE``, or ``~/.cache/gankit`` when it is unset or turned off."""
    return cache_dir() or Path("~/.cache/gankit").expanduser()


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when ``$GANKIT_CACHE`` disables caching."""
    env = os.environ.get("GANKIT_CACHE")
    if env is None:
        return Path("~/.cache/gankit").expanduser()
    if env.strip().lower() in _OFF:
        return None
    return Path(env).expanduser()


def digest_bytes(*buffers: Any) -> str:
    """SHA-256 hex digest of contiguous buffers (bytes, numpy arrays), fed in order."""
    h = hashlib.sha256()
    for buf in buffers:
        h.update(memoryview(buf).cast("B"))
    return h.hexdigest()


def cache_path(key: dict[str, Any]) -> Path | None:
    """Where the entry for ``key`` lives, or ``None`` when caching is disabled."""
    folder = cache_dir()
    if folder is None:
        return None
    blob = _key_json(key)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(key.get("source", "data")))[-40:]
    return (
        folder
        / f"decoded-{slug}-{key.get('size', 'x')}px-{hashlib.sha256(blob.encode()).hexdigest()[:24]}.safetensors"
    )


def _key_json(key: dict[str, Any]) -> str:
    return json.dumps({"v": CACHE_VERSION, **key}, sort_keys=True)


def load_entry(key: dict[str, Any]) -> Entry | None:
    """Read the entry for ``key``: uint8 data ``[N, C, H, W]``, labels or ``None``, extra metadata."""
    path = cache_path(key)
    if path is None or not path.is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            if meta.pop("gankit_key", None) != _key_json(key):
                return None
            data = f.get_tensor("data")
            labels = f.get_tensor("labels") if "labels" in f.keys() else None
    except Exception as exc:  # noqa: BLE001 -- a damaged cache file is a miss, never an error
        log.warning("ignoring unreadable cache file %s: %s", path, exc)
        return None
    if data.dtype != torch.uint8 or data.ndim != 4:
        return None
    return data.contiguous(), labels, meta


def save_entry(
    key: dict[str, Any], data: torch.Tensor, labels: torch.Tensor | None, meta: dict[str, str]
) -> Path | None:
    """Atomically write an entry (:func:`gankit.fileio.atomic_write_bytes`); returns its path, ``None`` on failure."""
    path = cache_path(key)
    if path is None:
        return None
    try:
        from safetensors.torch import save

        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"data": data.contiguous()}
        if labels is not None:
            tensors["labels"] = labels.contiguous()
        atomic_write_bytes(path, save(tensors, metadata={**meta, "gankit_key": _key_json(key)}))
        return path
    except Exception as exc:  # noqa: BLE001 -- read-only home, full disk: carry on uncached
        log.warning("could not write cache file %s: %s", path, exc)
        return None


def cached(
    key: dict[str, Any],
    build: Callable[[], Entry],
    enabled: bool = True,
) -> Entry:
    """Return the cached entry for ``key``, or ``build()`` it and store it."""
    if enabled:
        hit = load_entry(key)
        if hit is not None:
            log.debug("cache hit for %s", key.get("source"))
            return hit
    entry = build()
    if enabled:
        save_entry(key, *entry)
    return entry
