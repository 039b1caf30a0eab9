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
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import CheckpointError
from gankit.fileio import atomic_write_bytes  # noqa: F401  (re-exported: other modules import it from here)

MAGIC = b"GANKIT-CHECKPOINT"
FORMAT_VERSION = 1
LATEST = "latest"
# what every reader (resume, sampling) needs; the trainer's state_dict holds more
REQUIRED_KEYS = ("config", "step", "data_shape", "G")
_NAME = re.compile(r"^step_(\d{7,})\.ckpt$")


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}.ckpt"


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
    fallback = "delete it and 'latest' falls back to the newest remaining checkpoint in its folder"
    if not blob:
        raise CheckpointError(f"{origin} is empty (0 bytes); {fallback}")
    if not blob.startswith(MAGIC):
        raise CheckpointError(f"{origin} is not a gankit checkpoint; pass a run folder or a .ckpt file written by 'gankit train'")
    newline = blob.find(b"\n", 0, 256)
    match = re.match(rb"^GANKIT-CHECKPOINT (\d+) sha256=([0-9a-f]{64}) bytes=(\d+)$", blob[:newline]) if newline > 0 else None
    if match is None:
        raise CheckpointError(f"{origin} has a damaged header; {fallback}")
    version, digest, size = int(match[1]), match[2].decode(), int(match[3])
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{origin} uses checkpoint format {version}, newer than this gankit reads ({FORMAT_VERSION}); upgrade gankit")
    payload = blob[newline + 1:]
    if len(payload) != size:
        raise CheckpointError(
            f"{origin} is truncated or damaged ({len(payload)} bytes where its header says {size}); {fallback}"
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(f"{origin} is corrupt (checksum mismatch); {fallback}")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{origin} was refused and nothing in it was run: it carries pickled objects that are not "
                              f"plain weights ({_refusal_reason(err)}); use checkpoints written by 'gankit train' only") from None
    except Exception as err:  # noqa: BLE001 - any parse failure is a corrupt file to the user
        raise CheckpointError(f"{origin} could not be parsed ({type(err).__name__}); it is corrupt") from None
    if not isinstance(state, dict) or state.get("format") != "gankit-checkpoint":
        raise CheckpointError(f"{origin} is not a gankit checkpoint; pass a run folder or a .ckpt file written by 'gankit train'")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{origin} lacks {', '.join(missing)}; it was not written by a compatible 'gankit train'")
    return state


def _refusal_reason(err: Exception) -> str:
    """The line of torch's weights_only refusal that names the blocked object (ANSI codes removed)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line]
    named = [line for line in lines if "global" in line.lower()]
    return (named or lines or ["unsupported content"])[0][:160]


def save(directory: Path, step: int, state: dict[str, Any], *, keep: int) -> Path:
    """Write ``step_XXXXXXX.ckpt`` atomically, point ``latest`` at it, keep the newest ``keep``."""
    directory = Path(directory)
    state = {"format": "gankit-checkpoint", "format_version": FORMAT_VERSION, **state}
    path = directory / checkpoint_name(step)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(directory)
        atomic_write_bytes(path, encode(state))
        atomic_write_bytes(directory / LATEST, (path.name + "\n").encode())
    except OSError as err:
        # the previous checkpoint and the pointer to it are untouched (atomic writes), so say so
        raise CheckpointError(
            f"cannot write checkpoint {path}: {err.strerror or err}; the previous checkpoint is intact; "
            f"free space (or fix permissions) and resume with 'gankit train --resume {directory.parent}'"
        ) from None
    _prune(directory, keep=keep, protect=path.name)
    return path


def _remove_stale_temporaries(directory: Path) -> None:
    """Delete half-written files a killed run left behind (one writer per run folder, so none is live)."""
    for pattern in (".step_*.ckpt.*.tmp", f".{LATEST}.*.tmp"):
        for stale in directory.glob(pattern):
            stale.unlink(missing_ok=True)


def save_named(directory: Path, name: str, state: dict[str, Any]) -> Path:
    """Write a checkpoint under a fixed name (``best.ckpt``), atomically; ``latest`` is left alone."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    atomic_write_bytes(path, encode({"format": "gankit-checkpoint", "format_version": FORMAT_VERSION, **state}))
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
            if (path / "config.json").is_file():  # a run stopped before its first checkpoint: nothing to continue
                raise CheckpointError(f"{path} holds no checkpoint (the run stopped before its first one); "
                                      f"delete {path} and start the run again")
            raise CheckpointError(f"{path} holds no checkpoint; train first with 'gankit train --out {path}'")
        return found
    if path.exists():
        return path
    raise CheckpointError(f"{path} does not exist; pass a run folder or a .ckpt file")


def describe_mismatch(module: torch.nn.Module, state: dict[str, Any]) -> str | None:
    """Why ``state`` would not load into ``module``, in one line; ``None`` when it fits.

    Names the first few missing and unexpected keys and tensors whose shapes differ, e.g.
    ``net.0.weight is [48, 2] in the checkpoint but [32, 2] in the model``.
    """
    want = module.state_dict()
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__} where weights belong"
    problems = []
    shapes = [f"{k} is {list(state[k].shape)} in the checkpoint but {list(v.shape)} in the model"
              for k, v in want.items() if isinstance(state.get(k), torch.Tensor) and state[k].shape != v.shape]
    not_tensors = [k for k, v in state.items() if k in want and not isinstance(v, torch.Tensor)]
    for label, keys in (("", shapes), ("missing ", [k for k in want if k not in state]),
                        ("unexpected ", [k for k in state if k not in want]), ("not a tensor: ", not_tensors)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{label}{', '.join(map(str, keys[:3]))}{more}")
    return "; ".join(problems) or None


def config_differences(a: dict[str, Any], b: dict[str, Any], *, ignore: frozenset[str] | set[str] = frozenset()
                       ) -> dict[str, tuple[Any, Any]]:
    """``{"section.key": (value in a, value in b)}`` for every key whose values differ (``ignore`` aside)."""
    flat_a = {f"{s}.{k}": v for s, part in a.items() if isinstance(part, dict) for k, v in part.items()}
    flat_b = {f"{s}.{k}": v for s, part in b.items() if isinstance(part, dict) for k, v in part.items()}
    return {key: (flat_a.get(key), flat_b.get(key)) for key in sorted(flat_a.keys() | flat_b.keys())
            if key not in ignore and flat_a.get(key) != flat_b.get(key)}


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
