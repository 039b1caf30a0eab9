"""Everything a run needs before its first step: device, data, networks, optimisers.

This is where the config meets the library; the loop itself builds nothing.
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
from gankit.models import build_models
from gankit.training.config import RunConfig, resolve
from gankit.training.ema import EMA


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
    if lo.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    # fused Adam is one kernel per step on CUDA; elsewhere torch's default (foreach) is the fast path
    fused = True if device.type == "cuda" else None
    return torch.optim.Adam(params, lr=lr, betas=(lo.beta1, lo.beta2), fused=fused)


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


def build(requested: RunConfig, *, dataset: Dataset | None = None) -> Components:
    """Load the data, resolve the config against it, seed, and build networks and optimisers."""
    device = pick_device(requested.train.device)
    if requested.train.threads:
        torch.set_num_threads(requested.train.threads)
    dataset = dataset if dataset is not None else load_data(requested)
    image_size = dataset.shape[-1] if dataset.kind == "images" else None
    cfg = resolve(requested, data_kind=dataset.kind, image_size=image_size)
    if cfg.train.batch_size > len(dataset.data):
        raise ConfigError(
            f"train.batch_size {cfg.train.batch_size} is larger than the dataset ({len(dataset.data)} items); lower --batch-size"
        )
    seed_everything(cfg.train.seed)
    m = cfg.model
    G, D = build_models(m.name, data_shape=dataset.shape, z_dim=m.z_dim, width=m.width, depth=m.depth, d_norm=m.d_norm)
    G, D = G.to(device), D.to(device)
    # the config may override the paper's lambda and c
    spec = dataclasses.replace(get_loss(cfg.loss.name), gp_weight=cfg.loss.gp_weight, clip=cfg.loss.clip or None)
    opt_g = make_optimizer(G.parameters(), cfg, cfg.loss.lr_g, device)
    opt_d = make_optimizer(D.parameters(), cfg, cfg.loss.lr_d, device)
    ema = EMA(G, cfg.train.ema) if cfg.train.ema > 0 else None
    return Components(cfg, dataset, device, spec, G, D, opt_g, opt_d, ema)
