"""Everything a run needs before its first step: device, data, networks, optimisers, phases.

This is where the config meets the library; the loop itself builds nothing. It is also where the
fast path is decided (:func:`resolve_runtime`): the ``auto`` choices of ``train.precision``,
``train.channels_last`` and ``train.threads`` become concrete values for the device at hand and are
written into the run's ``config.json``, so a resume repeats them. ``train.compile`` wraps the phases
in ``torch.compile`` and falls back to eager execution, with a one-line warning, when that fails.
See ``docs/performance.md`` for the measurements behind each default.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from gankit.data import Dataset, load_dataset
from gankit.errors import ConfigError
from gankit.losses import LossSpec, get_loss
from gankit.models import build_models, sample_noise
from gankit.training import distributed
from gankit.training.config import RunConfig, replace, resolve, validate
from gankit.training.distributed import SINGLE, Ranks
from gankit.training.ema import EMA

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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_data(cfg: RunConfig) -> Dataset:
    d = cfg.data
    return load_dataset(d.name, image_size=d.image_size, root=d.root, n_points=d.n_points,
                        seed=cfg.train.seed, channels=d.channels)


def make_optimizer(params, cfg: RunConfig, lr: float, device: torch.device) -> torch.optim.Optimizer:
    lo = cfg.loss
    params = list(params)
    if lo.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    # Fused Adam: one kernel per step on CUDA; on the CPU it replaces torch's default there (a Python
    # loop over parameters) and cut the toy MLP's fixed cost per step from 2.09 to 1.76 ms.
    if device.type in ("cuda", "cpu"):
        try:
            return torch.optim.Adam(params, lr=lr, betas=(lo.beta1, lo.beta2), fused=True)
        except RuntimeError:  # a torch build without the fused kernel for this device
            pass
    return torch.optim.Adam(params, lr=lr, betas=(lo.beta1, lo.beta2))


# ----------------------------------------------------------------------------- fast path


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


def resolve_runtime(cfg: RunConfig, device: torch.device) -> RunConfig:
    """Turn the ``auto`` fast-path keys into what this device runs; returns a new config.

    * ``precision``: bf16 autocast for conv models on CUDA GPUs with bf16 tensor cores (compute
      capability >= 8) and on CPUs with native bf16; fp32 otherwise and for the MLP (a 2-D point
      in bf16 keeps 8 bits of mantissa, and the toy steps are overhead-bound anyway).
    * ``channels_last``: on for conv models on CUDA and the CPU (cuDNN and oneDNN prefer NHWC).
    * ``threads`` (CPU only): :func:`pick_threads`.
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
    return out


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``train.precision`` (a no-op for fp32)."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def memory_format(cfg: RunConfig) -> torch.memory_format:
    """``torch.channels_last`` when the run keeps conv tensors NHWC, else the default layout."""
    nhwc = cfg.train.channels_last == "true" and cfg.model.name in CONV_MODELS
    return torch.channels_last if nhwc else torch.contiguous_format


@dataclass
class Phases:
    """The forward half of a step's two phases, as callables (eager or compiled).

    The trainer runs them under autocast, then steps the optimisers; the loss math stays in
    :mod:`gankit.losses`.

    Attributes:
        d: ``(real [N, ...], z [N, z_dim]) -> (loss, stats)``: ``G(z)`` without a graph, then the
            discriminator side of the loss on ``real`` and that fake batch.
        g: ``z [M, z_dim] -> (loss, stats)``: the generator side of the loss on ``D(G(z))``; the
            caller freezes D's parameters.
    """

    d: Callable[[Tensor, Tensor], tuple[Tensor, dict[str, Tensor]]]
    g: Callable[[Tensor], tuple[Tensor, dict[str, Tensor]]]


def compile_phases(parts: Components) -> Phases:
    """``train.compile``: ``model`` compiles G and D, ``step`` each phase as one graph.

    A penalty on D's input gradient needs a double backward, which compiled graphs do not support,
    so under a gradient penalty the discriminator phase stays eager. Every graph (forward and
    backward) is compiled here by one rehearsal step whose effects are undone; any failure falls
    back to eager phases with a one-line warning.
    """
    # the loop defines the eager phases (and imports this module), so import it at call time
    from gankit.training.loop import make_phases

    mode, spec, G, D = parts.cfg.train.compile, parts.spec, parts.G, parts.D
    spread = {"ranks": parts.ranks, "batch_size": parts.cfg.train.batch_size}
    eager = make_phases(spec, G, D, G_update=parts.G_update, D_update=parts.D_update, **spread)
    if mode == "off":
        return eager
    gp = spec.gp_weight > 0
    if gp:
        warnings.warn(f"train.compile={mode}: the gradient penalty needs a double backward, which torch.compile "
                      "does not support; the discriminator phase runs eagerly", stacklevel=2)
    try:
        if mode == "model":
            updates = {"G_update": torch.compile(parts.G_update), "D_update": torch.compile(parts.D_update)}
            compiled = make_phases(spec, torch.compile(G), torch.compile(D), **updates, **spread)
        else:
            compiled = Phases(torch.compile(eager.d), torch.compile(eager.g))
        phases = Phases(eager.d if gp else compiled.d, compiled.g)
        rehearse(parts, phases)
    except Exception as err:  # compilers fail in many ways (no C++ compiler, unsupported op, ...)
        first = (str(err).strip().splitlines() or [""])[0][:160]
        warnings.warn(f"train.compile={mode} failed ({type(err).__name__}: {first}); training runs eagerly", stacklevel=2)
        return eager
    return phases


def rehearse(parts: Components, phases: Phases) -> None:
    """Run one D and one G phase, forward and backward, then restore weights, buffers and RNG.

    Compiling happens on first use, the backward graph at the first backward; rehearsing with the
    batch size, layout, autocast and frozen-D state of the real steps compiles every graph now.
    """
    G, D, device, cfg = parts.G, parts.D, parts.device, parts.cfg
    saved = [copy.deepcopy(m.state_dict()) for m in (G, D)]
    n, shape = cfg.train.batch_size, parts.dataset.shape
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        z = sample_noise(n, cfg.model.z_dim, cfg.model.noise)[parts.ranks.slice(n)]
        n = len(z)  # this rank's rows of the global batch
        # drawn on the CPU (forked above on every backend), like the real steps' dtypes and layout
        real = torch.rand(n, *shape) * 2 - 1 if len(shape) == 3 else torch.randn(n, *shape)
        real = real.to(device).contiguous(memory_format=memory_format(cfg))  # NHWC only for conv models
        z = z.to(device)
        with autocast(device, cfg.train.precision):
            loss, _ = phases.d(real, z)
        loss.backward()
        D.requires_grad_(False)
        try:
            with autocast(device, cfg.train.precision):
                loss, _ = phases.g(z)
            loss.backward()
        finally:
            D.requires_grad_(True)
    for module, state in zip((G, D), saved, strict=True):
        module.load_state_dict(state)
        module.zero_grad(set_to_none=True)


@dataclass
class Components:
    """The built pieces of a run (the trainer's inputs)."""

    cfg: RunConfig  # resolved
    dataset: Dataset
    device: torch.device
    spec: LossSpec
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: EMA | None
    phases: Phases | None = None  # set by build(); eager phases over G and D when missing
    ranks: Ranks = SINGLE  # this process's place in a torchrun job
    G_update: nn.Module | None = None  # G as the G phase calls it: its DDP wrapper under torchrun, else G
    D_update: nn.Module | None = None  # likewise for D in the D phase

    def __post_init__(self) -> None:
        self.G_update = self.G if self.G_update is None else self.G_update
        self.D_update = self.D if self.D_update is None else self.D_update


def build(requested: RunConfig, *, dataset: Dataset | None = None, ranks: Ranks = SINGLE) -> Components:
    """Load the data, resolve the config against it and the device, seed, and build networks,
    optimisers and the (possibly compiled) phases.

    Under torchrun (``ranks`` from :func:`gankit.training.distributed.ranks_from_env`) the process
    joins the process group here, takes its own GPU, and G and D get DDP wrappers; every rank builds
    identical networks from the same seed.
    """
    validate(requested)  # a bad value is a one-line ConfigError before anything touches a device
    t = requested.train
    if t.batch_size is not None and t.batch_size % ranks.world_size:
        raise ConfigError(f"--batch-size {t.batch_size} is the global batch and must divide evenly over the "
                          f"{ranks.world_size} ranks; use a multiple of {ranks.world_size}")
    device = distributed.rank_device(pick_device(t.device), ranks)
    distributed.init(ranks, device, backend=t.dist_backend, timeout_s=t.dist_timeout)
    dataset = dataset if dataset is not None else load_data(requested)
    image_size = dataset.shape[-1] if dataset.kind == "images" else None
    cfg = resolve_runtime(resolve(requested, data_kind=dataset.kind, image_size=image_size), device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.train.cudnn_benchmark
    if cfg.train.batch_size > len(dataset.data):
        raise ConfigError(
            f"train.batch_size {cfg.train.batch_size} is larger than the dataset ({len(dataset.data)} items); lower --batch-size"
        )
    seed_everything(cfg.train.seed)
    m = cfg.model
    G, D = build_models(m.name, data_shape=dataset.shape, z_dim=m.z_dim, width=m.width, depth=m.depth, d_norm=m.d_norm)
    if cfg.train.batch_size % ranks.world_size:
        raise ConfigError(f"the default batch size {cfg.train.batch_size} does not divide evenly over the "
                          f"{ranks.world_size} ranks; pass --batch-size with a multiple of {ranks.world_size}")
    if cfg.train.sync_bn:
        G, D = (distributed.use_sync_batchnorm(net, ranks, device) for net in (G, D))
    G, D = G.to(device, memory_format=memory_format(cfg)), D.to(device, memory_format=memory_format(cfg))
    # the config may override the paper's lambda and c
    spec = dataclasses.replace(get_loss(cfg.loss.name), gp_weight=cfg.loss.gp_weight, clip=cfg.loss.clip or None)
    opt_g = make_optimizer(G.parameters(), cfg, cfg.loss.lr_g, device)
    opt_d = make_optimizer(D.parameters(), cfg, cfg.loss.lr_d, device)
    ema = EMA(G, cfg.train.ema) if cfg.train.ema > 0 else None
    updates = [distributed.data_parallel(net, ranks, device) for net in (G, D)]
    parts = Components(cfg, dataset, device, spec, G, D, opt_g, opt_d, ema, ranks=ranks,
                       G_update=updates[0], D_update=updates[1])
    parts.phases = compile_phases(parts)
    return parts
