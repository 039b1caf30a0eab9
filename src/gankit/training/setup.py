"""Everything a run needs before its first step: data, networks, optimisers and phases.

This is where the config meets the library; the loop itself builds nothing. The device and speed
policy it applies lives in :mod:`gankit.training.runtime`, the phases in
:mod:`gankit.training.phases`, and the per-kind defaults that fill the config in
:mod:`gankit.training.defaults`.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gankit.data import Dataset, load_dataset
from gankit.errors import ConfigError
from gankit.losses import LossSpec, get_loss
from gankit.models import build_models_of
from gankit.models.spectral import orthogonal_init
from gankit.training import distributed
from gankit.training.config import RunConfig, replace, validate
from gankit.training.defaults import preset_in_use, resolve
from gankit.training.distributed import SINGLE, Ranks
from gankit.training.ema import EMA
from gankit.training.phases import Phases, compile_phases
from gankit.training.runtime import device_class, memory_format, pick_device, resolve_runtime


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_data(cfg: RunConfig) -> Dataset:
    d = cfg.data
    return load_dataset(d.name, image_size=d.image_size, root=d.root, n_points=d.n_points,
                        seed=cfg.train.seed, channels=d.channels)


def make_optimizer(params, cfg: RunConfig, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam (or W-GAN's RMSprop) over ``params``; capturable when the step is a CUDA graph."""
    lo = cfg.loss
    params = list(params)
    capturable = captures_step(cfg, device)
    if lo.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, capturable=capturable)
    # Fused Adam: one kernel per step on CUDA; on the CPU it replaces torch's default there (a Python
    # loop over parameters) and cut the toy MLP's fixed cost per step from 2.09 to 1.76 ms.
    if device.type in ("cuda", "cpu"):
        try:
            return torch.optim.Adam(params, lr=lr, betas=(lo.beta1, lo.beta2), fused=True, capturable=capturable)
        except RuntimeError:  # a torch build without the fused kernel for this device
            pass
    return torch.optim.Adam(params, lr=lr, betas=(lo.beta1, lo.beta2), capturable=capturable)


def captures_step(cfg: RunConfig, device: torch.device) -> bool:
    """Whether the run asks for its step as a CUDA graph (``train.cuda_graph`` resolved to on, on CUDA)."""
    return cfg.train.cuda_graph == "on" and device.type == "cuda"


def set_capturable(opt: torch.optim.Optimizer, capturable: bool) -> None:
    """Make a loaded optimiser capturable (or not) whatever the run that saved it was.

    ``load_state_dict`` takes the flag from the checkpoint, and with it where the step counts live:
    a capturable optimiser keeps them on the parameters' device (a graph reads them there), a
    plain non-fused one on the CPU (it reads them as numbers; on a GPU that would sync each step).
    """
    for group in opt.param_groups:
        if "capturable" not in group:
            continue
        group["capturable"] = capturable
        on_device = capturable or group.get("fused")
        for p in group["params"]:
            step = opt.state.get(p, {}).get("step")
            if isinstance(step, torch.Tensor):
                opt.state[p]["step"] = step.to(p.device if on_device else "cpu", torch.float32)


CUSTOM_MODEL = "custom"  # model.name of a run whose networks came through the Python API


def custom_model(cfg: RunConfig, networks: tuple[nn.Module, nn.Module] | None) -> RunConfig:
    """``cfg`` marked as a run of the user's own networks (``model.name: custom``), when there are some."""
    if networks is None:
        if cfg.model.name == CUSTOM_MODEL:
            raise ConfigError("model.name custom names networks given through the Python API; "
                              "pass them as gankit.train(config, G=..., D=...) or choose mlp or dcgan")
        return cfg
    G, _ = networks
    out = replace(cfg)
    out.model.name = CUSTOM_MODEL
    z_dim = getattr(G, "z_dim", None)
    if isinstance(z_dim, int) and z_dim > 0:
        out.model.z_dim = z_dim
    return out


def make_networks(cfg: RunConfig, dataset: Dataset,
                  networks: tuple[nn.Module, nn.Module] | None) -> tuple[nn.Module, nn.Module]:
    """The run's ``(G, D)``: the user's own, or gankit's ``model.name`` built for the data's shape."""
    if networks is not None:
        G, D = networks
        if not (isinstance(G, nn.Module) and isinstance(D, nn.Module)):
            raise ConfigError("G and D must be torch.nn.Module instances (a generator and a discriminator)")
        return G, D
    m = cfg.model
    G, D = build_models_of(m, dataset.shape, dataset.num_classes, class_head=cfg.loss.ac_weight > 0)
    if m.init == "orthogonal":
        G, D = orthogonal_init(G), orthogonal_init(D)
    return G, D


def refuse_unlabelled(cfg: RunConfig, dataset: Dataset, networks: tuple[nn.Module, nn.Module] | None) -> None:
    """``model.conditional`` needs labelled data with two classes or more, and gankit's own networks."""
    if not cfg.model.conditional:
        if cfg.model.g_condition not in (None, "input"):
            raise ConfigError(f"model.g_condition={cfg.model.g_condition} conditions G on the class; it needs "
                              "model.conditional=true")
        if cfg.loss.ac_weight:  # None (unset) and 0 are off
            raise ConfigError(f"loss.ac_weight={cfg.loss.ac_weight} trains a classifier of the class; it needs "
                              "model.conditional=true (or set it to 0)")
        return
    if networks is not None or cfg.model.name == CUSTOM_MODEL:
        raise ConfigError("model.conditional builds gankit's own conditional networks; drop it for custom networks "
                          "(or make your G and D take labels yourself)")
    if dataset.labels is None or dataset.num_classes < 2:
        what = ("a folder without one subfolder per class" if dataset.name.startswith("folder:")
                else f"{dataset.name}, which has no class labels")
        raise ConfigError(f"model.conditional needs labelled data, but the data is {what}; use digits, fashion-mnist, "
                          "mnist, cifar10, ring8, grid25 or folder:PATH with one subfolder per class, or drop it")


def refuse_reuse_fake(cfg: RunConfig) -> None:
    """``loss.reuse_fake`` gives the G update the fake batch of the one D update before it: K = 1 only."""
    if not cfg.loss.reuse_fake:
        return
    if cfg.loss.d_steps != 1:
        raise ConfigError(f"loss.reuse_fake=true gives the G update the fake batch of the one D update before it, but "
                          f"this run takes K = {cfg.loss.d_steps} D steps per G step ({cfg.loss.name}); set --d-steps 1 "
                          "or drop loss.reuse_fake")
    if cfg.train.compile == "step":
        raise ConfigError("loss.reuse_fake=true calls the phases on a shared fake batch, which train.compile=step does "
                          "not compile; use train.compile=model (or off)")


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
    preset: str | None = None  # the recommended preset that filled keys the user left unset, if any

    def __post_init__(self) -> None:
        self.G_update = self.G if self.G_update is None else self.G_update
        self.D_update = self.D if self.D_update is None else self.D_update

    @property
    def num_classes(self) -> int | None:
        """K of a class-conditional run (``model.conditional``), else None."""
        return self.dataset.num_classes if self.cfg.model.conditional else None

    @property
    def scored_generator(self) -> nn.Module:
        """The generator gankit samples, scores and exports: the EMA copy when the run keeps one, else G."""
        return self.ema.module if self.ema is not None else self.G


def build(requested: RunConfig, *, dataset: Dataset | None = None, ranks: Ranks = SINGLE,
          networks: tuple[nn.Module, nn.Module] | None = None) -> Components:
    """Load the data, resolve the config against it and the device, seed, and build networks,
    optimisers and the (possibly compiled) phases.

    ``networks`` are the user's own ``(G, D)`` (see :func:`gankit.train`): G maps ``[N, z_dim]``
    to samples of the data's shape, D maps samples to logits ``[N]``. The config then records
    ``model.name: custom`` and takes ``model.z_dim`` from ``G.z_dim`` when G has one.

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
    refuse_unlabelled(requested, dataset, networks)
    image_size = dataset.shape[-1] if dataset.kind == "images" else None
    requested, preset_device = custom_model(requested, networks), device_class(device)
    preset = preset_in_use(requested, preset_device)
    cfg = resolve_runtime(resolve(requested, data_kind=dataset.kind, image_size=image_size, device_class=preset_device),
                          device, world_size=ranks.world_size)
    refuse_reuse_fake(cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.train.cudnn_benchmark
    if cfg.train.batch_size > len(dataset.data):
        raise ConfigError(
            f"train.batch_size {cfg.train.batch_size} is larger than the dataset ({len(dataset.data)} items); lower --batch-size"
        )
    seed_everything(cfg.train.seed)
    G, D = make_networks(cfg, dataset, networks)
    if cfg.train.batch_size % ranks.world_size:
        raise ConfigError(f"the default batch size {cfg.train.batch_size} does not divide evenly over the "
                          f"{ranks.world_size} ranks; pass --batch-size with a multiple of {ranks.world_size}")
    if cfg.train.sync_bn:
        G, D = (distributed.use_sync_batchnorm(net, ranks, device) for net in (G, D))
    G, D = G.to(device, memory_format=memory_format(cfg)), D.to(device, memory_format=memory_format(cfg))
    # the config may override the paper's lambda and c
    spec = dataclasses.replace(get_loss(cfg.loss.name), gp_weight=cfg.loss.gp_weight, r1_weight=cfg.loss.r1_weight,
                               clip=cfg.loss.clip or None)
    opt_g = make_optimizer(G.parameters(), cfg, cfg.loss.lr_g, device)
    opt_d = make_optimizer(D.parameters(), cfg, cfg.loss.lr_d, device)
    ema = None
    if cfg.train.ema > 0:
        ema = EMA(G, cfg.train.ema, rampup=cfg.train.ema_rampup, rampup_fraction=cfg.train.ema_rampup_fraction,
                  start=cfg.train.ema_start)
    updates = [distributed.data_parallel(net, ranks, device) for net in (G, D)]
    parts = Components(cfg, dataset, device, spec, G, D, opt_g, opt_d, ema, ranks=ranks,
                       G_update=updates[0], D_update=updates[1], preset=preset)
    parts.phases = compile_phases(parts)
    return parts
