"""Checkpoints: atomic, checksummed, loaded without unpickling code.

A checkpoint is a plain dict (state_dicts, the resolved config as JSON, counters, RNG states)
serialised by ``torch.save`` and prefixed by a one-line header carrying its SHA-256::

    GANKIT-CHECKPOINT 1 sha256=<64 hex digits> bytes=<n>\\n<torch.save payload>

so that a truncated or bit-flipped file is detected before anything is parsed. The payload is read
with ``torch.load(..., weights_only=True)``, which refuses pickled code. Files are written to a
temporary name, fsynced and moved into place with ``os.replace``; a ``latest`` pointer is updated
the same way only after its target is complete, so it can never dangle.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import CheckpointError

MAGIC = b"GANKIT-CHECKPOINT"
FORMAT_VERSION = 1
LATEST = "latest"
_NAME = re.compile(r"^step_(\d{7,})\.ckpt$")


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}.ckpt"


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def encode(state: dict[str, Any]) -> bytes:
    """Serialise a checkpoint dict with its checksum header."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    header = b"%s %d sha256=%s bytes=%d\n" % (MAGIC, FORMAT_VERSION, digest.encode(), len(payload))
    return header + payload


def decode(blob: bytes, origin: str) -> dict[str, Any]:
    """Verify and parse :func:`encode`'s output; every failure is a one-line CheckpointError."""
    if not blob.startswith(MAGIC):
        raise CheckpointError(f"{origin} is not a gankit checkpoint; pass a run folder or a .ckpt file written by 'gankit train'")
    newline = blob.find(b"\n", 0, 256)
    match = re.match(rb"^GANKIT-CHECKPOINT (\d+) sha256=([0-9a-f]{64}) bytes=(\d+)$", blob[:newline]) if newline > 0 else None
    if match is None:
        raise CheckpointError(f"{origin} has a damaged header; restore it from a backup or resume from an older checkpoint")
    version, digest, size = int(match[1]), match[2].decode(), int(match[3])
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{origin} uses checkpoint format {version}, newer than this gankit reads ({FORMAT_VERSION}); upgrade gankit")
    payload = blob[newline + 1:]
    if len(payload) != size:
        raise CheckpointError(
            f"{origin} is truncated ({len(payload)} of {size} bytes); resume from an older checkpoint in the same folder"
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(f"{origin} is corrupt (checksum mismatch); resume from an older checkpoint in the same folder")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsupported content"
        raise CheckpointError(f"{origin} was refused: it carries pickled objects that are not plain weights ({first[:120]})") from None
    except Exception as err:  # noqa: BLE001 - any parse failure is a corrupt file to the user
        raise CheckpointError(f"{origin} could not be parsed ({type(err).__name__}); it is corrupt") from None
    if not isinstance(state, dict) or state.get("format") != "gankit-checkpoint":
        raise CheckpointError(f"{origin} is not a gankit checkpoint")
    return state


def save(directory: Path, step: int, state: dict[str, Any], *, keep: int) -> Path:
    """Write ``step_XXXXXXX.ckpt`` atomically, point ``latest`` at it, keep the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {"format": "gankit-checkpoint", "format_version": FORMAT_VERSION, **state}
    path = directory / checkpoint_name(step)
    atomic_write_bytes(path, encode(state))
    atomic_write_bytes(directory / LATEST, (path.name + "\n").encode())
    _prune(directory, keep=keep, protect=path.name)
    return path


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest step first."""
    found = [p for p in Path(directory).glob("step_*.ckpt") if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name)[1]))


def _prune(directory: Path, *, keep: int, protect: str) -> None:
    for old in list_checkpoints(directory)[:-keep]:
        if old.name != protect:
            old.unlink(missing_ok=True)


def latest_path(directory: Path) -> Path | None:
    """The checkpoint ``latest`` names, or the newest file when the pointer is missing."""
    directory = Path(directory)
    pointer = directory / LATEST
    if pointer.is_file():
        target = directory / pointer.read_text(encoding="utf-8").strip()
        if target.is_file():
            return target
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load(path: Path) -> dict[str, Any]:
    """Read one checkpoint file (verified, no code executed)."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist; pass a run folder or an existing .ckpt file") from None
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err.strerror or err}") from None
    return decode(blob, str(path))


def find(run_or_file: str | Path) -> Path:
    """Resolve a run folder (its ``checkpoints/latest``) or a checkpoint file to a file path."""
    path = Path(run_or_file)
    if path.is_dir():
        directory = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        found = latest_path(directory)
        if found is None:
            raise CheckpointError(f"{path} holds no checkpoint; train first with 'gankit train --out {path}'")
        return found
    if path.exists():
        return path
    raise CheckpointError(f"{path} does not exist; pass a run folder or a .ckpt file")


# --- random number generator states, stored as tensors and ints so weights_only can read them ---

def capture_rng() -> dict[str, Any]:
    """The state of every RNG a run touches: torch (CPU, CUDA, MPS), numpy and Python."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(gauss),
        "python_version": int(version),
        "python_state": torch.tensor(py_state, dtype=torch.int64),
        "python_gauss": py_gauss,
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }
    if hasattr(torch, "mps") and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state((
        "MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
        state["numpy_has_gauss"], state["numpy_gauss"],
    ))
    random.setstate((state["python_version"], tuple(int(v) for v in state["python_state"].tolist()), state["python_gauss"]))
    if state.get("cuda") and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)
    if "mps" in state and hasattr(torch, "mps") and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])
