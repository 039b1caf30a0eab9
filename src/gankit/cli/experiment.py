"""``gankit experiment``: reproduce the tutorial's analysis (figures + numbers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gankit.errors import ConfigError

HELP = "reproduce one of the tutorial's analyses (or 'all', with a report.md); --list names them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", nargs="?", help="an experiment from --list, or 'all'")
    parser.add_argument("--out", default="experiments",
                        help="folder for NAME.png, NAME.json (and report.md for 'all'); default: experiments")
    parser.add_argument("--quick", action="store_true", help="a small budget (seconds to a few minutes each)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every network and sample (default 0)")
    parser.add_argument("--list", action="store_true", help="print the experiments and exit")


def run(args: argparse.Namespace) -> int:
    from gankit.experiments import EXPERIMENTS, get_experiment, run_all, run_experiment

    if args.list:
        width = max(map(len, EXPERIMENTS))
        for name, module in EXPERIMENTS.items():
            print(f"{name:<{width}}  {module.TITLE}")
        return 0
    if args.name is None:
        raise ConfigError("give an experiment NAME, 'all', or --list to see the names")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0; got {args.seed}")
    if args.name == "all":
        run_all(args.out, quick=args.quick, seed=args.seed)
        print(f"wrote {Path(args.out) / 'report.md'}")
        return 0
    module = get_experiment(args.name)  # a one-line error naming the choices, before any work
    result = run_experiment(args.name, args.out, quick=args.quick, seed=args.seed)
    for line in module.summary(result):
        print(line)
    out = Path(args.out)
    print(f"wrote {out / f'{args.name}.png'} and {out / f'{args.name}.json'} ({result['meta']['wall_s']:.1f} s)")
    return 0
