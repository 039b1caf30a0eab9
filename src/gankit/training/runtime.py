"""The device and speed policy of a run: which device, how many CPU threads, which precision and
memory layout, and the autocast context that applies them.

:func:`resolve_runtime` turns the ``auto`` choices of ``train.precision``, ``train.channels_last``
and ``train.threads`` into concrete values for the device at hand; the resolved values are written
into the run's ``config.json``, so a resume repeats them. See ``docs/performance.md`` for the
measurements behind each default.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from gankit.errors import ConfigError
from gankit.training.config import RunConfig, replace

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # fp32 runs without autocast
CONV_MODELS = ("dcgan",)  # models whose batches are [N, C, H, W] (channels_last and bf16 apply)
_TORCH_THREADS = torch.get_num_threads()  # torch's own count, read before any run changes it


def pick_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for but MPS is not available; use --device cpu or auto")
    return torch.device(name)




def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bf16 dot products in hardware (AVX512-BF16, AMX-BF16 or Arm BF16).

    Without it oneDNN emulates bf16 and autocast is no faster than fp32, so ``auto`` keeps fp32.
    Reads the Linux flag list; elsewhere returns False.
    """
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = {word for line in text.splitlines() if line.startswith(("flags", "Features")) for word in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def device_class(device: torch.device) -> str:
    """The device class a recommended preset is chosen for (``gankit.training.defaults.DATA_DEVICE_PRESETS``).

    ``cpu-fp32`` for a CPU without native bf16, where ``auto`` precision keeps fp32 and a DCGAN step
    takes several times longer than with bf16 (docs/results.md, "On a CPU without native bf16");
    otherwise the device's type (``cpu``, ``cuda``, ``mps``).
    """
    if device.type == "cpu" and not cpu_has_native_bf16():
        return "cpu-fp32"
    return device.type


def pick_threads(model: str, *, cores: int | None = None, load: float | None = None) -> int:
    """The CPU thread count ``train.threads: 0`` stands for.

    The toy MLP's matrices are too small to split: one thread (the median step on two was 45x
    slower on the shared 2-core test machine). Conv models take torch's default (one per core)
    unless the 1-minute load average already fills every core: OpenMP threads then wait at each
    barrier for a preempted sibling, and the 32x32 DCGAN's median step was 9x slower on 2 threads
    than on 1 there (while on a momentarily idle machine 2 threads were 1.9x faster).

    Args:
        model: ``cfg.model.name``.
        cores: threads torch would use (default: its count before any run changed it).
        load: the 1-minute load average (default: ``os.getloadavg()``, 0 where unavailable).
    """
    if model not in CONV_MODELS:
        return 1
    cores = cores or _TORCH_THREADS
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return 1 if load >= cores else cores


def resolve_runtime(cfg: RunConfig, device: torch.device, *, world_size: int = 1) -> RunConfig:
    """Turn the ``auto`` fast-path keys into what this device runs; returns a new config.

    * ``precision``: bf16 autocast for conv models on CUDA GPUs with bf16 tensor cores (compute
      capability >= 8) and on CPUs with native bf16; fp32 otherwise and for the MLP (a 2-D point
      in bf16 keeps 8 bits of mantissa, and the toy steps are overhead-bound anyway).
    * ``channels_last``: on for conv models on CUDA and the CPU (cuDNN and oneDNN prefer NHWC).
    * ``threads`` (CPU only): :func:`pick_threads`.
    * ``cuda_graph``: on for CUDA unless fp16 (its loss scaler syncs) or torchrun (``world_size`` > 1)
      is in use; always off elsewhere. ``on`` without CUDA is an error. On an H200 the captured
      step was 3-4x eager at batch 128, with or without ``train.compile`` (docs/performance.md).
    """
    out = replace(cfg)
    t, conv = out.train, out.model.name in CONV_MODELS
    if t.precision == "auto":
        if device.type == "cuda":
            fast = conv and torch.cuda.get_device_capability(device)[0] >= 8
        else:
            fast = conv and device.type == "cpu" and cpu_has_native_bf16()
        t.precision = "bf16" if fast else "fp32"
    if t.channels_last == "auto":
        t.channels_last = "true" if conv and device.type in ("cuda", "cpu") else "false"
    if t.threads == 0 and device.type == "cpu":
        t.threads = pick_threads(out.model.name)
    if t.cuda_graph == "on" and device.type != "cuda":
        raise ConfigError(f"train.cuda_graph=on needs a CUDA GPU but the run is on {device.type}; "
                          "use train.cuda_graph=auto (or off)")
    if t.cuda_graph == "auto":
        capturable = device.type == "cuda" and t.precision != "fp16" and world_size == 1
        t.cuda_graph = "on" if capturable else "off"
    return out


def autocast(device: torch.device, precision: str, *, cache: bool = True) -> contextlib.AbstractContextManager:
    """The autocast context of ``train.precision`` (a no-op for fp32).

    ``cache=False`` turns off autocast's cache of low-precision weight copies, which a captured
    CUDA graph must not hold on to (torch's CUDA-graph notes ask for ``cache_enabled=False``).
    """
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=cache)


def memory_format(cfg: RunConfig) -> torch.memory_format:
    """``torch.channels_last`` when the run keeps conv tensors NHWC, else the default layout."""
    nhwc = cfg.train.channels_last == "true" and cfg.model.name in CONV_MODELS
    return torch.channels_last if nhwc else torch.contiguous_format
