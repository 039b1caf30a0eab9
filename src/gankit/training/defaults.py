"""The defaults that depend on the kind of data and the loss: the one home of per-kind settings.

:func:`resolve` fills every ``None`` of a requested :class:`~gankit.training.config.RunConfig`
from :data:`KIND_DEFAULTS` (toy points or images) and the loss's paper settings
(:data:`gankit.losses.LOSSES`); the *resolved* config is what a run writes to ``config.json``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gankit.errors import ConfigError
from gankit.losses import get_loss
from gankit.training.config import PRESET_DIR, RunConfig, load_yaml, replace, set_value, validate
from gankit.training.ema import STYLEGAN2_FRACTION

# Defaults that depend on the kind of data. Toy runs are cheap per step and need many steps;
# image defaults are sized for a CPU laptop (the `digits` default must train in minutes).
# "loss" replaces some of a loss's paper settings (LossSpec fields, plus "steps") for that kind.
# The papers tuned theirs for images over 10^5 steps; on ring8 / grid25 at a few thousand steps
# (measurements in docs/results.md, benchmarks/quality.py):
#   * lr 1e-3: at 5e-4, grid25 stayed an unclustered smear (HQ < 5 %) after 4000 gan-ns steps and
#     1500 wgan-gp steps; at 1e-3 it splits into 25 clusters within that budget (2e-3 drops modes).
#   * wgan-gp: lambda 0.1, as the WGAN-GP authors' own toy script (gan_toy.py) uses; with lambda 10
#     the critic stayed too flat (ring8: 2 modes, HQ 0.2 % after 500 steps, vs 8 modes at 0.1).
#     beta1 0.5 instead of 0. 4000 steps: at 3000, grid25 kept 24/25 modes on one seed of three.
#   * wgan: RMSProp 5e-4 instead of 5e-5 (weight clipping c=0.01 and K=5 kept).
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "points": {
        # ema 0.99: at lr 1e-3 the raw toy generator swings between modes (ring8: 8, then 4 captured
        # at steps 500 and 1000) while its EMA keeps all of them
        "model": "mlp", "width": 128, "z_dim": 2, "steps": 4000, "batch_size": 256, "ema": 0.99, "ema_rampup": "off",
        "loss": {
            "gan-minimax": {"lr": 1e-3},
            "gan-ns": {"lr": 1e-3},
            "hinge": {"lr": 1e-3},
            "wgan": {"lr": 5e-4},
            "wgan-gp": {"lr": 1e-3, "betas": (0.5, 0.9), "gp_weight": 0.1, "steps": 4000},
        },
    },
    "images": {"model": "dcgan", "width": 32, "z_dim": 100, "steps": 1000, "batch_size": 64, "ema": 0.0,
               "ema_rampup": "stylegan2"},
}


# The recommended preset a dataset trains with by default on a device class, unconditional or
# class-conditional (model.conditional): its values fill every key the user left unset, before the
# per-kind defaults (measured in docs/results.md, "quality against wall time", "On a CPU without
# native bf16" and "Class-conditional Fashion-MNIST"). The device class is the device type, except
# that a CPU without native bf16 is "cpu-fp32" (gankit.training.runtime.device_class): its DCGAN
# steps run in fp32, several times slower, so ten minutes there buy fewer, and other, steps.
# A GPU counterpart is listed once it has been measured on a GPU.
DATA_DEVICE_PRESETS: dict[tuple[str, str, bool], str] = {
    ("fashion-mnist", "cpu", False): "fashion-mnist-cpu",
    ("fashion-mnist", "cpu", True): "fashion-mnist-conditional-cpu",
    ("fashion-mnist", "cpu-fp32", False): "fashion-mnist-cpu-fp32",
    ("fashion-mnist", "cpu-fp32", True): "fashion-mnist-conditional-cpu",
}


def recommended_preset(cfg: RunConfig, device_class: str | None) -> str | None:
    """The preset of :data:`DATA_DEVICE_PRESETS` for ``cfg``'s data on ``device_class`` (DCGAN runs only), or None."""
    if cfg.model.name not in (None, "dcgan"):
        return None
    return DATA_DEVICE_PRESETS.get((cfg.data.name, device_class or "", bool(cfg.model.conditional)))


def preset_in_use(cfg: RunConfig, device_class: str | None) -> str | None:
    """The recommended preset when it sets at least one key ``cfg`` leaves unset (what a run's start line names)."""
    preset = recommended_preset(cfg, device_class)
    return preset if preset is not None and unset_preset_values(cfg, preset) else None


def unset_preset_values(cfg: RunConfig, preset: str) -> dict[str, Any]:
    """``{"section.key": value}`` of the shipped ``preset`` for each key that ``cfg`` leaves unset (``None``)."""
    return {f"{section}.{name}": value for section, values in load_yaml(PRESET_DIR / f"{preset}.yaml").items()
            for name, value in values.items() if getattr(getattr(cfg, section), name) is None}


def fill_from_preset(cfg: RunConfig, preset: str) -> None:
    """Set each key of the shipped ``preset`` that ``cfg`` leaves unset; the user's values win."""
    for key, value in unset_preset_values(cfg, preset).items():
        set_value(cfg, key, value)


# settings that only images have: (key, flag a user gives it with)
IMAGE_ONLY = (("data.image_size", "--image-size"), ("data.channels", "--set data.channels"),
              ("data.root", "--set data.root"))


def refuse_inapplicable(cfg: RunConfig, data_kind: str) -> None:
    """A setting that does not apply to this kind of data is an error, never silently ignored."""
    if data_kind != "points":
        return
    if cfg.train.augment.strip() != "none":
        raise ConfigError(f"train.augment applies to images only, but {cfg.data.name} is a set of 2-D points; "
                          "drop --set train.augment")
    for key, flag in IMAGE_ONLY:
        section, name = key.split(".")
        if getattr(getattr(cfg, section), name) is not None:
            raise ConfigError(f"{key} applies to images only, but {cfg.data.name} is a set of 2-D points; drop {flag}")


def resolve(cfg: RunConfig, *, data_kind: str, image_size: int | None, device_class: str | None = None) -> RunConfig:
    """Fill every ``None`` from the dataset's recommended preset on this device class (see
    :data:`DATA_DEVICE_PRESETS`), then the data kind and the loss's paper defaults; returns a new config.

    Args:
        cfg: the requested configuration (not modified).
        data_kind: ``"points"`` or ``"images"``, from the loaded dataset.
        image_size: the dataset's image side (``None`` for points).
        device_class: ``"cpu"``, ``"cpu-fp32"`` (a CPU without native bf16), ``"cuda"``, ... (see
            :func:`gankit.training.runtime.device_class`; ``None``: no per-device preset).
    """
    out = replace(cfg)
    validate(out)
    refuse_inapplicable(out, data_kind)
    preset = recommended_preset(out, device_class)
    if preset is not None:
        fill_from_preset(out, preset)
    kind = KIND_DEFAULTS[data_kind]
    tuned = dict(kind.get("loss", {}).get(out.loss.name, {}))  # this kind's replacements of paper settings
    steps = tuned.pop("steps", kind["steps"])
    spec = dataclasses.replace(get_loss(out.loss.name), **tuned)
    m, lo, t = out.model, out.loss, out.train
    m.name = m.name or kind["model"]
    m.width = m.width or kind["width"]
    m.z_dim = m.z_dim or kind["z_dim"]
    if m.d_norm is None:
        # The MLP discriminator has no batch norm to begin with (so nothing couples samples under a
        # gradient penalty); the DCGAN one takes the loss's choice (layer norm for wgan-gp).
        m.d_norm = spec.d_norm if m.name == "dcgan" else "none"
    if m.g_condition is None:  # conditional batch norm needs the DCGAN's batch norms (docs/results.md)
        m.g_condition = "batchnorm" if m.conditional and m.name == "dcgan" else "input"
    out.data.image_size = image_size
    lo.d_steps = lo.d_steps or spec.d_steps
    lo.optimizer = lo.optimizer or spec.optimizer
    lo.lr_g = lo.lr_g or spec.lr
    lo.lr_d = lo.lr_d or spec.lr
    lo.beta1 = spec.betas[0] if lo.beta1 is None else lo.beta1
    lo.beta2 = spec.betas[1] if lo.beta2 is None else lo.beta2
    lo.gp_weight = spec.gp_weight if lo.gp_weight is None else lo.gp_weight
    lo.r1_weight = spec.r1_weight if lo.r1_weight is None else lo.r1_weight
    lo.clip = spec.clip if lo.clip is None else lo.clip
    lo.ac_weight = 0.0 if lo.ac_weight is None else lo.ac_weight
    lo.reuse_fake = bool(lo.reuse_fake)
    t.steps = t.steps or steps
    t.batch_size = t.batch_size or kind["batch_size"]
    t.ema = kind["ema"] if t.ema is None else t.ema
    t.ema_rampup = kind["ema_rampup"] if t.ema_rampup is None else t.ema_rampup
    t.ema_start = 0 if t.ema_start is None else t.ema_start
    t.ema_rampup_fraction = STYLEGAN2_FRACTION if t.ema_rampup_fraction is None else t.ema_rampup_fraction
    validate(out)
    return out
