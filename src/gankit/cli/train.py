"""``gankit train``: train a GAN, DCGAN or W-GAN, or resume a run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gankit.errors import ConfigError
from gankit.training.config import (
    RunConfig,
    all_keys,
    apply_mapping,
    load_yaml,
    parse_assignment,
    qualify_key,
    set_value,
    validate,
)

HELP = "train a GAN / DCGAN / W-GAN (default: DCGAN on the bundled digits) or --resume a run"

PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"

# flag -> config key; only flags the user actually gives are applied
FLAG_KEYS = {
    "model": "model.name", "loss": "loss.name", "data": "data.name", "steps": "train.steps",
    "batch_size": "train.batch_size", "d_steps": "loss.d_steps", "image_size": "data.image_size",
    "seed": "train.seed", "device": "train.device", "precision": "train.precision", "ema": "train.ema",
    "on_nan": "train.on_nan",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="mlp | dcgan (default: mlp for 2-D toy data, dcgan for images)")
    parser.add_argument("--loss", help="gan-minimax | gan-ns | wgan | wgan-gp | hinge (default gan-ns)")
    parser.add_argument("--data", help="ring8 | grid25 | swissroll | digits | fashion-mnist | mnist | cifar10 | folder:PATH")
    parser.add_argument("--steps", type=int, help="generator steps")
    parser.add_argument("--batch-size", type=int, help="global batch size (split across ranks under torchrun)")
    parser.add_argument("--d-steps", type=int, help="K discriminator steps per generator step")
    parser.add_argument("--image-size", type=int, help="image side, a power of two (images only)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto | cpu | cuda | mps")
    parser.add_argument("--precision", help="auto (bf16 for the DCGAN where the device has it) | fp32 | bf16 | fp16")
    parser.add_argument("--ema", type=float, help="EMA decay of the generator's weights (0 = off)")
    parser.add_argument("--on-nan", help="stop | rollback")
    parser.add_argument("--out", help="run folder (default: runs/NNNN-<model>-<loss>-<data>)")
    parser.add_argument("--runs", default="runs", help="parent of auto-numbered run folders (default: runs)")
    parser.add_argument("--config", help="a YAML preset: a file, or a name from 'gankit train --list-presets'")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set any config key, e.g. --set loss.lr_g=1e-4 (repeatable)")
    parser.add_argument("--resume", metavar="RUN", help="continue RUN from its latest checkpoint")
    parser.add_argument("--nproc", type=int, metavar="N",
                        help="train on N local processes with DDP (starts torchrun; --batch-size stays the global batch)")
    parser.add_argument("--list-keys", action="store_true", help="print every config key with its default and exit")
    parser.add_argument("--list-presets", action="store_true", help="print the shipped presets and exit")


def preset_path(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    shipped = PRESET_DIR / f"{name}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
    raise ConfigError(f"--config {name}: no such file or preset; presets are {names}")


def explicit_settings(args: argparse.Namespace) -> dict[str, object]:
    """The config keys set on the command line, flags first, then --set (last one wins)."""
    settings: dict[str, object] = {}
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is not None:
            settings[key] = value
    for assignment in args.set:
        key, value = parse_assignment(assignment)
        settings[key] = value
    return settings


def build_config(args: argparse.Namespace) -> RunConfig:
    cfg = RunConfig()
    if args.config:
        path = preset_path(args.config)
        apply_mapping(cfg, load_yaml(path), str(path))
    for key, value in explicit_settings(args).items():
        set_value(cfg, key, value)
    return cfg


def _print_keys() -> None:
    cfg = RunConfig().to_dict()
    for key in all_keys():
        section, name = key.split(".")
        print(f"{key:24s} {cfg[section][name]!r}")


def _launch(args: argparse.Namespace) -> int:
    """``--nproc N``: check the settings here once, then let torchrun start N copies of this command."""
    from gankit.training.launch import launch

    if not args.resume:
        validate(build_config(args))
    argv = list(getattr(args, "raw_argv", None) or [])
    return launch(args.nproc, argv[argv.index("train") + 1:] if "train" in argv else argv)


def run(args: argparse.Namespace) -> int:
    from gankit import training

    if args.list_keys:
        _print_keys()
        return 0
    if args.list_presets:
        for path in sorted(PRESET_DIR.glob("*.yaml")):
            first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
            print(f"{path.stem:16s} {first}")
        return 0
    if args.nproc is not None:
        return _launch(args)
    if args.resume:
        if args.config or args.out:
            raise ConfigError("--resume continues a run as it was configured; drop --config/--out")
        settings = {qualify_key(key): value for key, value in explicit_settings(args).items()}
        probe = RunConfig()
        for key, value in settings.items():
            set_value(probe, key, value)
        validate(probe)  # a bad value is reported before the run is loaded
        result = training.resume(args.resume, overrides=settings)
    else:
        cfg = build_config(args)
        validate(cfg)  # before any data is loaded or device touched
        result = training.train(cfg, out=args.out, runs_root=args.runs)
    speaks = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 reports for all
    if result.interrupted:
        if speaks:
            print(f"stopped at step {result.step}; checkpoint {result.last_checkpoint}; "
                  f"continue with: gankit train --resume {result.run_dir}")
        return 130
    if speaks:
        print(f"done: {result.step} steps; samples in {result.run_dir / 'samples.png'}, "
              f"checkpoint {result.last_checkpoint}")
    return 0
