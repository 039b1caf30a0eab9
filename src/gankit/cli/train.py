"""``gankit train``: train a GAN, DCGAN or W-GAN, or resume a run.

The config flags (``--steps``, ``--loss``, ...) are derived from the config's declarations
(:func:`gankit.training.config.flag_settings`); any other key is set with ``--set KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import os

from gankit.errors import ConfigError
from gankit.training.config import (
    PRESET_DIR,
    RunConfig,
    describe_keys,
    flag_settings,
    load_config,
    parse_assignment,
    qualify_key,
    set_value,
    validate,
    value_type,
)

HELP = "train a GAN / DCGAN / W-GAN (default: DCGAN on the bundled digits) or --resume a run"


def plural(n: int, word: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for flag, key in flag_settings():
        kind = value_type(key.type)
        options = " | ".join(str(c) for c in key.choices) + "; " if key.choices is not None else ""
        parser.add_argument(flag, type=kind if kind in (int, float) else None,
                            help=f"{options}{key.meta['doc']} ({key.name})")
    parser.add_argument("--out", help="run folder (default: runs/NNNN-<model>-<loss>-<data>)")
    parser.add_argument("--runs", default="runs", help="parent of auto-numbered run folders (default: runs)")
    parser.add_argument("--config", help="a YAML preset: a file, or a name from 'gankit train --list-presets'")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set any config key, e.g. --set loss.lr_g=1e-4 (repeatable)")
    parser.add_argument("--resume", metavar="RUN", help="continue RUN from its latest checkpoint")
    parser.add_argument("--nproc", type=int, metavar="N",
                        help="train on N local processes with DDP (starts torchrun; --batch-size stays the global batch)")
    parser.add_argument("--list-keys", action="store_true",
                        help="print every config key with its default (resolved for points and images) and exit")
    parser.add_argument("--print-config", action="store_true",
                        help="dry run: print the resolved config these flags give (data loaded, nothing trained) and exit")
    parser.add_argument("--list-presets", action="store_true", help="print the shipped presets and exit")


def explicit_settings(args: argparse.Namespace) -> dict[str, object]:
    """The config keys set on the command line, flags first, then --set (last one wins)."""
    settings: dict[str, object] = {}
    for flag, key in flag_settings():
        value = getattr(args, _dest(flag))
        if value is not None:
            settings[key.name] = value
    for assignment in args.set:
        key, value = parse_assignment(assignment)
        settings[key] = value
    return settings


def build_config(args: argparse.Namespace) -> RunConfig:
    """The preset (if any) with the command line's settings on top, validated."""
    return load_config(args.config, explicit_settings(args))


def _print_keys() -> None:
    """Every key: its type, its default, and for keys resolved per kind what points and images get."""
    from gankit.training.defaults import resolve

    kinds = {"points": resolve(RunConfig(), data_kind="points", image_size=None).to_dict(),
             "images": resolve(RunConfig(), data_kind="images", image_size=32).to_dict()}
    print("defaults of keys resolved per kind are shown for the default loss (gan-ns); "
          "'gankit train ... --print-config' shows them for any setting")
    for key, kind, default, doc in describe_keys():
        if default == "(resolved)":
            section, name = key.split(".")
            default = " | ".join(f"{k}: {values[section][name]!r}" for k, values in kinds.items())
        print(f"{key:24s} {default:32s} {kind:36s} {doc}")


def _print_config(cfg: RunConfig) -> None:
    """The config a run of ``cfg`` would write to config.json: resolved against its data and device."""
    from gankit.training.defaults import resolve
    from gankit.training.runtime import device_class, pick_device, resolve_runtime
    from gankit.training.setup import load_data

    dataset = load_data(cfg)
    image_size = dataset.shape[-1] if dataset.kind == "images" else None
    device = pick_device(cfg.train.device)
    resolved = resolve_runtime(resolve(cfg, data_kind=dataset.kind, image_size=image_size,
                                       device_class=device_class(device)),
                               device)
    print(resolved.to_json())


def _launch(args: argparse.Namespace) -> int:
    """``--nproc N``: check the settings here once, then let torchrun start N copies of this command."""
    from gankit.training.launch import launch

    if not args.resume:
        build_config(args)
    argv = list(getattr(args, "raw_argv", None) or [])
    return launch(args.nproc, argv[argv.index("train") + 1:] if "train" in argv else argv)


def run(args: argparse.Namespace) -> int:
    from gankit import runs

    if args.list_keys:
        _print_keys()
        return 0
    if args.list_presets:
        for path in sorted(PRESET_DIR.glob("*.yaml")):
            first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
            print(f"{path.stem:16s} {first}")
        return 0
    if args.print_config:
        if args.resume:
            raise ConfigError("--print-config shows a new run's config; a run's own is in RUN/config.json")
        _print_config(build_config(args))
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
        result = runs.resume(args.resume, overrides=settings)
    else:
        cfg = build_config(args)  # validated before any data is loaded or device touched
        result = runs.train(cfg, out=args.out, runs_root=args.runs)
    speaks = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 reports for all
    if result.interrupted:
        if speaks:
            print(f"stopped at step {result.step}; checkpoint {result.last_checkpoint}; "
                  f"continue with: gankit train --resume {result.run_dir}")
        return 130
    if speaks:
        print(f"done: {plural(result.step, 'step')}; samples in {result.run_dir / 'samples.png'}, "
              f"checkpoint {result.last_checkpoint}")
    return 0
