"""Typed run configuration: one dataclass per part, composed into :class:`RunConfig`.

Values left as ``None`` are filled by :func:`resolve` from the loss's paper defaults
(:data:`gankit.losses.LOSSES`) and the data's shape, and the *resolved* config is what a run
writes to ``config.json``. Presets are YAML files of the same nested shape; command-line
overrides are ``--set section.key=value`` (or a bare ``key=value`` when the key is unique).
Everything is checked: unknown keys, wrong types and out-of-range values raise
:class:`gankit.errors.ConfigError` naming the valid choices.
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SWITCHES = ("auto", "true", "false")
COMPILE_MODES = ("off", "model", "step")
ON_NAN = ("stop", "rollback")
DIST_BACKENDS = ("auto", "nccl", "gloo")
MAX_TOY_POINTS = 100_000_000  # 800 MB of float32 2-D points
# text keys that YAML may hand over as a bool (`compile: off` is False): (word for False, word for True)
BOOL_WORDS = {"train.compile": ("off", "model")}


@dataclass
class ModelConfig:
    """Which networks to build (see :mod:`gankit.models`)."""

    name: str | None = None  # mlp | dcgan; default: mlp for 2-D points, dcgan for images
    width: int | None = None  # dcgan: base channels (FC goes to 4x4x(8*width)); mlp: hidden units
    depth: int = 3  # mlp hidden layers
    z_dim: int | None = None  # dcgan 100 (the paper), mlp 2
    noise: str = "uniform"  # uniform U(-1, 1) as in the tutorial, or normal N(0, I)
    d_norm: str | None = None  # batch | layer | none; default from the loss (layer for wgan-gp)


@dataclass
class DataConfig:
    """Which data to train on (see :mod:`gankit.data`)."""

    name: str = "digits"  # ring8 | grid25 | swissroll | digits | fashion-mnist | mnist | cifar10 | folder:PATH
    image_size: int | None = None  # default: the source's own (32 for digits and 28x28 sets, 64 for folders)
    channels: int | None = None  # force 1 or 3 channels
    root: str | None = None  # where the source's files live
    n_points: int = 100_000  # size of the fixed pre-sampled toy set


@dataclass
class LossConfig:
    """The objective and its optimiser; ``None`` takes the loss's paper default."""

    name: str = "gan-ns"  # gan-minimax | gan-ns | wgan | wgan-gp | hinge
    d_steps: int | None = None  # K discriminator steps per generator step
    optimizer: str | None = None  # adam | rmsprop
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    gp_weight: float | None = None  # lambda of the gradient penalty (wgan-gp)
    clip: float | None = None  # weight clipping c (wgan)


@dataclass
class TrainConfig:
    """The schedule and the run's bookkeeping."""

    steps: int | None = None  # generator steps; default depends on the data (see resolve)
    batch_size: int | None = None  # global batch (split across ranks); default depends on the data
    seed: int = 0
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (autocast); auto: bf16 on CUDA, see setup.resolve_runtime
    ema: float | None = None  # EMA decay of G's weights; 0 turns it off; default 0.99 for toy points, off for images
    log_every: int = 50  # statistics are read from the device (one sync) this often
    sample_every: int = 500  # fixed-noise sample grid
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    n_samples_grid: int = 64
    on_nan: str = "stop"  # stop | rollback (reload the last checkpoint with a lower learning rate)
    eval_every: int = 0  # score samples this often and keep checkpoints/best.ckpt; 0 turns it off
    eval_n: int = 2000  # samples per periodic evaluation
    threads: int = 0  # CPU threads for torch; 0 picks a measured-good count (see setup.pick_threads)
    channels_last: str = "auto"  # auto | true | false: NHWC conv models and batches; auto: on for dcgan on cuda/cpu
    compile: str = "off"  # off | model (torch.compile G and D) | step (each phase's forward + loss as one graph)
    cudnn_benchmark: bool = True  # let cuDNN time its conv algorithms once per shape (CUDA only)
    sync_bn: bool = False  # under torchrun: batch-norm statistics over the global batch (SyncBatchNorm, CUDA)
    dist_backend: str = "auto"  # under torchrun: auto (nccl on GPUs, gloo on CPUs) | nccl | gloo
    dist_timeout: float = 600.0  # under torchrun: seconds before a rank gives up on a dead or stalled peer


@dataclass
class RunConfig:
    """A whole run: model, data, loss and schedule."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


_SECTION_TYPES = {"model": ModelConfig, "data": DataConfig, "loss": LossConfig, "train": TrainConfig}


def all_keys() -> list[str]:
    """Every settable key as ``section.key``."""
    return [f"{s}.{f.name}" for s, cls in _SECTION_TYPES.items() for f in fields(cls)]


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _field_type(cls: type, name: str) -> Any:
    hints = typing.get_type_hints(cls)
    return hints[name]


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field annotation (int, float, str, bool or X | None)."""
    args = typing.get_args(annotation)
    is_optional = type(None) in args
    base = next((a for a in args if a is not type(None)), annotation) if args else annotation
    if value is None:
        if is_optional:
            return None
        raise ConfigError(f"{key} cannot be empty; give a {base.__name__}")
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif base is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):  # YAML 1.1 reads true/false/on/off as bools; these switches are words
            return BOOL_WORDS.get(key, ("false", "true"))[value]
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, datetime.date):  # YAML reads 2020-01-01 (a folder name, say) as a date
            return value.isoformat()
    raise ConfigError(f"{key} must be a {base.__name__}, got {value!r}")


def _split_key(key: str) -> tuple[str, str]:
    if "." in key:
        section, name = key.split(".", 1)
        if section not in _SECTION_TYPES:
            raise ConfigError(
                f"unknown config section '{section}'{_suggest(section, list(_SECTION_TYPES))}; "
                f"sections are {', '.join(_SECTION_TYPES)}"
            )
        names = [f.name for f in fields(_SECTION_TYPES[section])]
        if name not in names:
            raise ConfigError(
                f"unknown config key '{key}'{_suggest(key, all_keys())}; "
                f"keys of '{section}' are {', '.join(names)}"
            )
        return section, name
    owners = [s for s, cls in _SECTION_TYPES.items() if key in {f.name for f in fields(cls)}]
    if len(owners) == 1:
        return owners[0], key
    if len(owners) > 1:
        raise ConfigError(f"config key '{key}' is ambiguous; write one of {', '.join(f'{s}.{key}' for s in owners)}")
    raise ConfigError(f"unknown config key '{key}'{_suggest(key, all_keys())}; run 'gankit train --list-keys' for all keys")


def qualify_key(key: str) -> str:
    """``section.key`` for a full or unique bare key; unknown keys raise ConfigError."""
    return ".".join(_split_key(key))


def set_value(cfg: RunConfig, key: str, value: Any) -> None:
    """Set ``section.key`` (or a unique bare key) on ``cfg`` after checking its type."""
    section, name = _split_key(key)
    part = getattr(cfg, section)
    setattr(part, name, _coerce(value, _field_type(type(part), name), f"{section}.{name}"))


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` with the value read as YAML data (never executed)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and value.lower() in {"none", "null"}:
        value = None
    elif isinstance(value, str):
        value = _number_or_text(value)
    return key.strip(), value


def _number_or_text(text: str) -> int | float | str:
    """YAML 1.1 reads ``1e-4`` as text; users mean a number."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def apply_mapping(cfg: RunConfig, mapping: dict[str, Any], origin: str) -> None:
    """Apply a nested ``{section: {key: value}}`` mapping (a preset file's content)."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"{origin} must hold a mapping of sections (model, data, loss, train)")
    for section, values in mapping.items():
        if section not in _SECTION_TYPES:
            raise ConfigError(
                f"{origin}: unknown section '{section}'{_suggest(str(section), list(_SECTION_TYPES))}; "
                f"sections are {', '.join(_SECTION_TYPES)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: section '{section}' must be a mapping of key: value")
        for name, value in values.items():
            set_value(cfg, f"{section}.{name}", value)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a preset; YAML is parsed as data only (``safe_load``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{at}; fix the syntax") from None
    return data or {}


def from_dict(mapping: dict[str, Any], origin: str = "config") -> RunConfig:
    """Build a config from a nested mapping (``config.json`` or a preset)."""
    cfg = RunConfig()
    apply_mapping(cfg, mapping, origin)
    return cfg


def replace(cfg: RunConfig) -> RunConfig:
    """A deep copy."""
    return from_dict(cfg.to_dict())


def _choice(value: str, choices: typing.Iterable[str], key: str) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got '{value}'{_suggest(value, choices)}")


def _positive(value: float | None, key: str, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number; got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key} must be {'>= 0' if allow_zero else '> 0'}; got {value}")


def validate(cfg: RunConfig) -> None:
    """Range and choice checks that need no other module."""
    t, lo, m = cfg.train, cfg.loss, cfg.model
    _choice(t.device, DEVICES, "train.device")
    _choice(t.precision, PRECISIONS, "train.precision")
    _choice(t.channels_last, SWITCHES, "train.channels_last")
    _choice(t.compile, COMPILE_MODES, "train.compile")
    _choice(t.on_nan, ON_NAN, "train.on_nan")
    _choice(t.dist_backend, DIST_BACKENDS, "train.dist_backend")
    _positive(t.dist_timeout, "train.dist_timeout")
    for key in ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
                "n_samples_grid"):
        _positive(getattr(t, key), f"train.{key}")
    _positive(t.threads, "train.threads", allow_zero=True)
    _positive(t.eval_every, "train.eval_every", allow_zero=True)
    _positive(t.eval_n, "train.eval_n")
    if t.ema is not None and not 0.0 <= t.ema < 1.0:
        raise ConfigError(f"train.ema must be in [0, 1) (0 turns EMA off, 0.999 is typical); got {t.ema}")
    if not 0 <= t.seed < 2**32:
        raise ConfigError(f"train.seed must be in [0, 2**32); got {t.seed}")
    _positive(lo.d_steps, "loss.d_steps")
    _positive(lo.lr_g, "loss.lr_g")
    _positive(lo.lr_d, "loss.lr_d")
    _positive(lo.gp_weight, "loss.gp_weight", allow_zero=True)
    _positive(lo.clip, "loss.clip")
    for key in ("beta1", "beta2"):
        value = getattr(lo, key)
        if value is not None and not 0.0 <= value < 1.0:
            raise ConfigError(f"loss.{key} must be in [0, 1); got {value}")
    if lo.optimizer is not None:
        _choice(lo.optimizer, ("adam", "rmsprop"), "loss.optimizer")
    _positive(m.width, "model.width")
    _positive(m.depth, "model.depth")
    _positive(m.z_dim, "model.z_dim")
    _choice(m.noise, ("uniform", "normal"), "model.noise")
    if m.d_norm is not None:
        _choice(m.d_norm, ("batch", "layer", "none"), "model.d_norm")
    _positive(cfg.data.n_points, "data.n_points")
    if cfg.data.n_points > MAX_TOY_POINTS:
        raise ConfigError(f"data.n_points must be at most {MAX_TOY_POINTS:,} (the toy set is held in memory); "
                          f"got {cfg.data.n_points:,}")
    if cfg.data.channels is not None:
        _choice(str(cfg.data.channels), ("1", "3"), "data.channels")


__all__ = [
    "DataConfig", "LossConfig", "ModelConfig", "RunConfig", "TrainConfig", "all_keys", "apply_mapping",
    "from_dict", "load_yaml", "parse_assignment", "replace", "set_value", "validate",
]


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
        "model": "mlp", "width": 128, "z_dim": 2, "steps": 4000, "batch_size": 256, "ema": 0.99,
        "loss": {
            "gan-minimax": {"lr": 1e-3},
            "gan-ns": {"lr": 1e-3},
            "hinge": {"lr": 1e-3},
            "wgan": {"lr": 5e-4},
            "wgan-gp": {"lr": 1e-3, "betas": (0.5, 0.9), "gp_weight": 0.1, "steps": 4000},
        },
    },
    "images": {"model": "dcgan", "width": 32, "z_dim": 100, "steps": 1000, "batch_size": 64, "ema": 0.0},
}


def resolve(cfg: RunConfig, *, data_kind: str, image_size: int | None) -> RunConfig:
    """Fill every ``None`` from the data kind and the loss's paper defaults; returns a new config.

    Args:
        cfg: the requested configuration (not modified).
        data_kind: ``"points"`` or ``"images"``, from the loaded dataset.
        image_size: the dataset's image side (``None`` for points).
    """
    import dataclasses  # this module's own `replace` copies configs

    from gankit.losses import get_loss  # training sits above losses; import here keeps config light

    out = replace(cfg)
    validate(out)
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
    out.data.image_size = image_size
    lo.d_steps = lo.d_steps or spec.d_steps
    lo.optimizer = lo.optimizer or spec.optimizer
    lo.lr_g = lo.lr_g or spec.lr
    lo.lr_d = lo.lr_d or spec.lr
    lo.beta1 = spec.betas[0] if lo.beta1 is None else lo.beta1
    lo.beta2 = spec.betas[1] if lo.beta2 is None else lo.beta2
    lo.gp_weight = spec.gp_weight if lo.gp_weight is None else lo.gp_weight
    lo.clip = spec.clip if lo.clip is None else lo.clip
    t.steps = t.steps or steps
    t.batch_size = t.batch_size or kind["batch_size"]
    t.ema = kind["ema"] if t.ema is None else t.ema
    validate(out)
    return out
