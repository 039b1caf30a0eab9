"""Typed run configuration: one dataclass per part, composed into :class:`RunConfig`.

Each key is declared once, as a dataclass field made by :func:`setting`: its type (``Literal[...]``
for a closed set of choices), its bounds, the command-line flag that sets it (if any) and whether a
resume may change it. Everything else is derived from that declaration: :func:`validate`,
:func:`resumable_keys`, the flags of ``gankit train`` (:func:`flag_settings`) and ``--list-keys``
(:func:`describe_keys`).

Values left as ``None`` are filled by :func:`gankit.training.defaults.resolve` from the data kind
and the loss's paper settings, and the *resolved* config is what a run writes to ``config.json``.
Presets are YAML files of the same nested shape (:func:`load_config`); command-line overrides are
``--set section.key=value`` (or a bare ``key=value`` when the key is unique). Unknown keys, wrong
types and out-of-range values raise :class:`gankit.errors.ConfigError` naming the valid choices.
This module imports neither torch nor the rest of gankit, so the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import json
import math
import typing
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from gankit.errors import ConfigError

MAX_TOY_POINTS = 100_000_000  # 800 MB of float32 2-D points
AUGMENTATIONS = ("color", "translation", "cutout")  # gankit.data.diffaugment.TRANSFORMS
PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"


def setting(default: Any, doc: str, *, low: float | None = None, low_open: bool = False, high: float | None = None,
            high_open: bool = False, high_text: str | None = None, hint: str | None = None,
            resumable: bool = False, flag: str | None = None, yaml_bools: tuple[str, str] | None = None,
            check: str | None = None) -> Any:
    """Declare one config key: its default and everything the library derives from it.

    Args:
        default: the value when nothing sets it (``None``: resolved from the data kind and loss).
        doc: one line for ``--list-keys`` and the flag's ``--help``.
        low, low_open: the lower bound, and whether it is excluded (``> low``) or allowed (``>= low``).
        high, high_open: the upper bound, likewise.
        high_text: how the upper bound is written in messages (``2**32``), default the number.
        hint: a note appended to a range message (what a typical value is).
        resumable: ``--resume`` may change the key (it steers the schedule and bookkeeping, not the
            trajectory's math).
        flag: the ``gankit train`` flag that sets it (``--steps``), if it has one besides ``--set``.
        yaml_bools: for a text key that YAML may read as a bool (``compile: off`` is False): the
            words for False and True.
        check: the name of an extra check in :data:`CHECKS` (a value with inner structure).
    """
    meta = {"doc": doc, "low": low, "low_open": low_open, "high": high, "high_open": high_open,
            "high_text": high_text, "hint": hint, "resumable": resumable, "flag": flag, "yaml_bools": yaml_bools,
            "check": check}
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    """Which networks to build (see :mod:`gankit.models`)."""

    name: Literal["mlp", "dcgan", "custom"] | None = setting(
        None, "network family; default mlp for 2-D points, dcgan for images (custom: your own G and D "
              "through gankit.train(G=..., D=...))", flag="--model")
    width: int | None = setting(None, "dcgan: base channels (FC goes to 4x4x(8*width)); mlp: hidden units",
                                low=0, low_open=True)
    depth: int = setting(3, "mlp hidden layers", low=0, low_open=True)
    z_dim: int | None = setting(None, "latent dimension; default 100 for dcgan (the paper), 2 for mlp",
                                low=0, low_open=True)
    noise: Literal["uniform", "normal"] = setting("uniform", "latent distribution: U(-1, 1) as in the tutorial, or N(0, I)")
    d_norm: Literal["batch", "layer", "none", "spectral"] | None = setting(
        None, "discriminator norm; default from the loss (layer for wgan-gp); spectral: spectral normalisation")
    init: Literal["dcgan", "orthogonal"] = setting(
        "dcgan", "weight initialisation of gankit's networks: N(0, 0.02) as the DCGAN paper, or orthogonal")
    conditional: bool = setting(
        False, "class-conditional G(z, y) and projection D(x, y) (Miyato & Koyama 2018) on the data's labels "
               "(digits, fashion-mnist, mnist, cifar10, ring8, grid25, folder:PATH with one subfolder per class)")
    g_condition: Literal["input", "batchnorm"] | None = setting(
        None, "conditional G: the class embedding concatenated to z (input), or also a class gain and bias in "
              "every batch norm (batchnorm: conditional batch norm, dcgan only); default batchnorm for a "
              "conditional dcgan, else input")


@dataclass
class DataConfig:
    """Which data to train on (see :mod:`gankit.data`)."""

    name: str = setting("digits", "ring8 | grid25 | swissroll | digits | fashion-mnist | mnist | cifar10 | folder:PATH",
                        flag="--data")
    image_size: int | None = setting(None, "image side, a power of two (images only); default the source's own "
                                           "(32 for digits and 28x28 sets, 64 for folders)", flag="--image-size")
    channels: Literal[1, 3] | None = setting(None, "force 1 or 3 channels (images only)")
    root: str | None = setting(None, "where the source's files live")
    n_points: int = setting(100_000, "size of the fixed pre-sampled toy set", low=0, low_open=True,
                            high=MAX_TOY_POINTS, hint="the toy set is held in memory")


@dataclass
class LossConfig:
    """The objective and its optimiser; ``None`` takes the loss's paper default."""

    name: Literal["gan-minimax", "gan-ns", "wgan", "wgan-gp", "hinge"] = setting("gan-ns", "the objective",
                                                                                  flag="--loss")
    d_steps: int | None = setting(None, "K discriminator steps per generator step", low=0, low_open=True,
                                  flag="--d-steps")
    optimizer: Literal["adam", "rmsprop"] | None = setting(None, "optimiser of both networks")
    lr_g: float | None = setting(None, "generator learning rate", low=0, low_open=True)
    lr_d: float | None = setting(None, "discriminator learning rate", low=0, low_open=True)
    beta1: float | None = setting(None, "Adam beta1", low=0, high=1, high_open=True)
    beta2: float | None = setting(None, "Adam beta2", low=0, high=1, high_open=True)
    gp_weight: float | None = setting(None, "lambda of the gradient penalty (wgan-gp)", low=0)
    r1_weight: float | None = setting(None, "gamma of the R1 penalty on real data, gamma/2 E|grad D(x)|^2; 0 is off",
                                      low=0)
    clip: float | None = setting(None, "weight clipping c (wgan)", low=0, low_open=True)
    reuse_fake: bool | None = setting(
        None, "K = 1 only: the G update reuses the D update's fake batch G(z) (pytorch/examples' DCGAN does) "
              "instead of fresh z (the tutorial's Algorithm 1), one G forward fewer per step; default false")
    ac_weight: float | None = setting(
        None, "conditional runs: weight of AC-GAN's auxiliary classification loss (Odena et al. 2017): D also "
              "classifies real images, G is pushed towards images D assigns to the asked class; 0 is off; default "
              "0 (1 in the fashion-mnist-conditional-cpu preset)", low=0)


@dataclass
class TrainConfig:
    """The schedule and the run's bookkeeping."""

    steps: int | None = setting(None, "generator steps; default depends on the data", low=0, low_open=True,
                                resumable=True, flag="--steps")
    batch_size: int | None = setting(None, "global batch (split across ranks under torchrun); default depends on "
                                           "the data", low=0, low_open=True, flag="--batch-size")
    seed: int = setting(0, "seed of the networks, the data order and the noise", low=0, high=2**32, high_open=True,
                        high_text="2**32", flag="--seed")
    device: Literal["auto", "cpu", "cuda", "mps"] = setting("auto", "auto picks cuda, then mps, then cpu",
                                                            resumable=True, flag="--device")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = setting(
        "auto", "autocast precision; auto: bf16 for the DCGAN where the device has it", flag="--precision")
    ema: float | None = setting(None, "EMA decay of G's weights; 0 turns it off; default 0.99 for toy points, "
                                      "off for images", low=0, high=1, high_open=True,
                                hint="0 turns EMA off, 0.999 is typical", flag="--ema")
    augment: str = setting("none", "DiffAugment of real and fake images in every D and G phase: none, or a comma "
                                   "list of " + ", ".join(AUGMENTATIONS), check="augmentations")
    ema_rampup: Literal["off", "tf", "stylegan2"] | None = setting(
        None, "EMA ramp-up: tf, decay min(decay, (1 + t) / (10 + t)); stylegan2, half-life at most "
              "ema_rampup_fraction of the steps done; default stylegan2 for images, off for toy points",
        yaml_bools=("off", "tf"))
    ema_rampup_fraction: float | None = setting(
        None, "stylegan2 ramp-up: the EMA's half-life is at most this fraction of the steps done; default 0.05 "
              "(StyleGAN2-ADA's), 0.01 in the fashion-mnist-cpu preset", low=0, low_open=True, high=1)
    ema_start: int | None = setting(None, "the EMA copies G's weights for this many steps before it averages them "
                                          "(BigGAN's ema_start); default 0", low=0)
    log_every: int = setting(50, "statistics are read from the device (one sync) this often", low=0, low_open=True,
                             resumable=True)
    sample_every: int = setting(500, "fixed-noise sample grid every this many steps", low=0, low_open=True,
                                resumable=True)
    checkpoint_every: int = setting(1000, "checkpoint every this many steps", low=0, low_open=True, resumable=True)
    keep_checkpoints: int = setting(3, "step checkpoints kept", low=0, low_open=True, resumable=True)
    n_samples_grid: int = setting(64, "samples in the fixed-noise grid", low=0, low_open=True)
    on_nan: Literal["stop", "rollback"] = setting(
        "stop", "on a non-finite loss: stop, or reload the last checkpoint with lower learning rates",
        resumable=True, flag="--on-nan")
    minutes: float = setting(0.0, "stop after this many minutes of training (evaluations not counted) and finish as "
                                  "if train.steps were done; 0 turns the budget off", low=0, resumable=True,
                             flag="--minutes")
    eval_every: int = setting(0, "score samples this often and keep checkpoints/best.ckpt; 0 turns it off", low=0,
                              resumable=True)
    eval_n: int = setting(2000, "samples per periodic evaluation", low=0, low_open=True, resumable=True)
    eval_auto_evaluator: bool = setting(False, "train the built-in data set's missing domain classifier before step 1 "
                                               "(train.eval_every needs it)", resumable=True)
    tensorboard: bool = setting(True, "log statistics, evaluations and samples to RUN/tensorboard "
                                      "(tensorboard --logdir runs)", resumable=True)
    report: bool = setting(True, "write RUN/report.html and RUN/progress.gif when the run stops", resumable=True)
    tensorboard_histograms: bool = setting(False, "also log G's and D's weight and gradient histograms",
                                           resumable=True)
    threads: int = setting(0, "CPU threads for torch; 0 picks a measured-good count", low=0, resumable=True)
    channels_last: Literal["auto", "true", "false"] = setting(
        "auto", "NHWC conv models and batches; auto: on for dcgan on cuda and cpu")
    compile: Literal["off", "model", "step"] = setting(
        "off", "torch.compile G and D (model), or each phase's forward and loss as one graph (step)",
        yaml_bools=("off", "model"))
    cuda_graph: Literal["auto", "on", "off"] = setting(
        "auto", "capture the whole training step as one CUDA graph; auto: on for CUDA unless fp16 or torchrun",
        yaml_bools=("off", "on"), resumable=True)
    cudnn_benchmark: bool = setting(True, "let cuDNN time its conv algorithms once per shape (CUDA only)")
    sync_bn: bool = setting(False, "under torchrun: batch-norm statistics over the global batch (SyncBatchNorm, CUDA)")
    dist_backend: Literal["auto", "nccl", "gloo"] = setting(
        "auto", "under torchrun: auto (nccl on GPUs, gloo on CPUs) | nccl | gloo", resumable=True)
    dist_timeout: float = setting(600.0, "under torchrun: seconds before a rank gives up on a dead or stalled peer",
                                  low=0, low_open=True, resumable=True)


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


# ----------------------------------------------------------------------------- the declarations


@dataclass(frozen=True)
class Key:
    """One declared key, as the rest of the library reads it."""

    name: str  # section.key
    type: Any  # the resolved annotation
    default: Any
    meta: typing.Mapping[str, Any]

    @property
    def choices(self) -> tuple[Any, ...] | None:
        literal = _literal(self.type)
        return typing.get_args(literal) if literal is not None else None

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.type)


def _literal(annotation: Any) -> Any:
    """The ``Literal[...]`` inside an annotation (``Literal[...] | None`` included), else None."""
    if typing.get_origin(annotation) is Literal:
        return annotation
    return next((a for a in typing.get_args(annotation) if typing.get_origin(a) is Literal), None)


@functools.cache
def declared_keys() -> tuple[Key, ...]:
    """Every key in declaration order, with its type and metadata."""
    out = []
    for section, cls in _SECTION_TYPES.items():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            out.append(Key(f"{section}.{f.name}", hints[f.name], f.default, f.metadata))
    return tuple(out)


def all_keys() -> list[str]:
    """Every settable key as ``section.key``."""
    return [key.name for key in declared_keys()]


def choices(name: str) -> tuple[str, ...]:
    """The choices of a ``Literal`` key (``train.precision``), as text."""
    return tuple(str(c) for c in declared(name).choices or ())


def resumable_keys() -> frozenset[str]:
    """The keys ``--resume`` may change: they steer the schedule and bookkeeping, not the trajectory's math."""
    return frozenset(key.name for key in declared_keys() if key.meta["resumable"])


def flag_settings() -> list[tuple[str, Key]]:
    """``(flag, key)`` for every key that ``gankit train`` sets through a flag of its own."""
    return [(key.meta["flag"], key) for key in declared_keys() if key.meta["flag"]]


def type_text(key: Key) -> str:
    """The key's type as ``--list-keys`` shows it: its choices, or int / float / text / bool."""
    if key.choices is not None:
        return " | ".join(str(c) for c in key.choices)
    base = value_type(key.type)
    return {str: "text"}.get(base, base.__name__)


def value_type(annotation: Any) -> Any:
    """The Python type a key's values have: that of its choices for a Literal, else the non-None type."""
    literal = _literal(annotation)
    if literal is not None:
        return type(typing.get_args(literal)[0])
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


# ----------------------------------------------------------------------------- setting values


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


TYPE_WORDS = {int: "an integer", float: "a number", str: "text", bool: "true or false"}


@functools.cache
def _by_name() -> dict[str, Key]:
    return {key.name: key for key in declared_keys()}


def declared(name: str) -> Key:
    """The declaration of ``section.key`` (already qualified)."""
    return _by_name()[name]


def _coerce(value: Any, key: Key) -> Any:
    """Check ``value`` against a key's type (int, float, str, bool, a Literal of them, or X | None)."""
    base = value_type(key.type)
    if value is None:
        if key.optional:
            return None
        raise ConfigError(f"{key.name} cannot be empty; give {TYPE_WORDS.get(base, base.__name__)}")
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
            return (key.meta["yaml_bools"] or ("false", "true"))[value]
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, datetime.date):  # YAML reads 2020-01-01 (a folder name, say) as a date
            return value.isoformat()
    raise ConfigError(f"{key.name} must be {TYPE_WORDS.get(base, base.__name__)}, got {value!r}")


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
    setattr(getattr(cfg, section), name, _coerce(value, declared(f"{section}.{name}")))


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


# Keys added after gankit first saved runs, with the value every run saved before them trained with.
# A saved (resolved) config that lacks one is read with this value, not with today's default for a
# new run (which may differ, as g_condition's does for conditional DCGANs).
ADDED_KEYS: dict[str, Any] = {"model.g_condition": "input", "loss.ac_weight": 0.0, "train.ema_start": 0,
                               "train.ema_rampup_fraction": 0.05, "loss.reuse_fake": False}


def from_saved(mapping: dict[str, Any], origin: str = "config") -> RunConfig:
    """:func:`from_dict` for a run's own saved, resolved config (its ``config.json`` or checkpoint):
    keys it lacks take the value of :data:`ADDED_KEYS`, the one its run trained with."""
    cfg = from_dict(mapping, origin)
    for key, value in ADDED_KEYS.items():
        section, name = key.split(".")
        if name not in mapping.get(section, {}):
            setattr(getattr(cfg, section), name, value)
    return cfg


def replace(cfg: RunConfig) -> RunConfig:
    """A deep copy."""
    return from_dict(cfg.to_dict())


# ----------------------------------------------------------------------------- presets


def preset_names() -> list[str]:
    """The presets shipped in ``gankit/configs``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str | Path) -> Path:
    """A preset file: a path that exists, or the name of a shipped preset."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = PRESET_DIR / f"{name}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(f"--config {name}: no such file or preset; presets are {', '.join(preset_names())}")


def load_config(preset: str | Path | None = None, overrides: typing.Mapping[str, Any] | None = None,
                **keys: Any) -> RunConfig:
    """A config from a preset (file or shipped name) and overrides, checked.

    Args:
        preset: a YAML file or a shipped preset name (``toy-ring8``); ``None`` starts from the defaults.
        overrides: ``{"section.key" or unique bare key: value}``, applied after the preset in order.
        **keys: more overrides as keywords; a bare key (``steps=200``) or a section mapping
            (``loss={"name": "wgan-gp"}``).

    Raises:
        ConfigError: an unknown preset or key, a wrong type or an out-of-range value.
    """
    cfg = RunConfig()
    if preset is not None:
        path = preset_path(preset)
        apply_mapping(cfg, load_yaml(path), str(path))
    for key, value in {**(overrides or {}), **keys}.items():
        if key in _SECTION_TYPES and isinstance(value, dict):
            apply_mapping(cfg, {key: value}, "load_config")
        else:
            set_value(cfg, key, value)
    validate(cfg)
    return cfg


# ----------------------------------------------------------------------------- checks


def _choice(value: Any, choices: Iterable[Any], key: str) -> None:
    choices = [str(c) for c in choices]
    if str(value) not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got '{value}'{_suggest(str(value), choices)}")


def _number(x: float) -> str:
    return f"{x:g}"


def _check_bounds(value: float, key: Key) -> None:
    """The bounds of ``key.meta``: an interval ``[low, high)`` when both are set and high is open, else each side."""
    m = key.meta
    low, high = m["low"], m["high"]
    if low is None and high is None:
        return
    if not math.isfinite(value):
        raise ConfigError(f"{key.name} must be a finite number; got {value}")
    hint = f" ({m['hint']})" if m["hint"] else ""
    too_low = low is not None and (value <= low if m["low_open"] else value < low)
    too_high = high is not None and (value >= high if m["high_open"] else value > high)
    if low is not None and high is not None and m["high_open"] and (too_low or too_high):
        bracket = "(" if m["low_open"] else "["
        raise ConfigError(f"{key.name} must be in {bracket}{_number(low)}, {m['high_text'] or _number(high)}){hint}; "
                          f"got {value}")
    if too_low:
        raise ConfigError(f"{key.name} must be {'>' if m['low_open'] else '>='} {_number(low)}; got {value}")
    if too_high:
        raise ConfigError(f"{key.name} must be at most {high:,}{hint}; got {value:,}")


def validate(cfg: RunConfig) -> None:
    """Check every key against its declaration: choices and bounds (no other module is needed)."""
    for key in declared_keys():
        section, name = key.name.split(".")
        value = getattr(getattr(cfg, section), name)
        if value is None:
            continue
        if key.meta["check"]:
            CHECKS[key.meta["check"]](value, key.name)
        if key.choices is not None:
            _choice(value, key.choices, key.name)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _check_bounds(value, key)


def _augmentations(value: str, key: str) -> None:
    names = [part.strip() for part in value.split(",")]
    if value.strip() == "none":
        return
    for name in names:
        if name not in AUGMENTATIONS:
            raise ConfigError(f"{key} must be 'none' or a comma list of {', '.join(AUGMENTATIONS)}; "
                              f"got '{name}'{_suggest(name, list(AUGMENTATIONS))}")


CHECKS = {"augmentations": _augmentations}


def describe_keys() -> list[tuple[str, str, str, str]]:
    """``(key, type, default, doc)`` rows for ``--list-keys``; resumable keys are marked in the doc."""
    rows = []
    for key in declared_keys():
        default = "(resolved)" if key.default is None else repr(key.default)
        doc = key.meta["doc"] + (" [--resume may change it]" if key.meta["resumable"] else "")
        rows.append((key.name, type_text(key), default, doc))
    return rows


__all__ = [
    "DataConfig", "LossConfig", "ModelConfig", "PRESET_DIR", "RunConfig", "TrainConfig", "all_keys", "apply_mapping",
    "choices", "declared_keys", "describe_keys", "flag_settings", "from_dict", "load_config", "load_yaml", "parse_assignment",
    "preset_names", "preset_path", "replace", "resumable_keys", "set_value", "validate",
]
