"""``gankit report``: a run's self-contained HTML page (and progress.gif), or several runs compared."""

from __future__ import annotations

import argparse

HELP = "write RUN/report.html (curves, samples, metrics, config) and RUN/progress.gif; several runs: --out compare.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", metavar="RUN", nargs="+", help="run folders written by 'gankit train'")
    parser.add_argument("--out", metavar="FILE.html",
                        help="with one run: write its page here instead of RUN/report.html; with several: one page "
                             "comparing them on shared axes (without --out, each run gets its own report)")
    parser.add_argument("--gif", action=argparse.BooleanOptionalAction, default=True,
                        help="also write RUN/progress.gif, the fixed-noise samples over training (default: yes; "
                             "not with a comparison)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gankit.errors import ConfigError
    from gankit.runs.animation import write_progress_gif
    from gankit.runs.compare import write_comparison
    from gankit.runs.report import read_run, write_report

    if args.out is not None and Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out {args.out}: the page is HTML; name it FILE.html")
    for run_dir in args.runs:
        read_run(run_dir)  # refuse a bad folder before writing anything
    if args.out is not None and len(args.runs) > 1:
        path = write_comparison(args.runs, args.out)
        print(f"wrote {path} ({len(args.runs)} runs compared)")
        return 0
    for run_dir in args.runs:
        path = write_report(run_dir, out=args.out)
        print(f"wrote {path}")
        if args.gif:
            gif = write_progress_gif(run_dir)
            print(f"wrote {gif}" if gif is not None else f"no progress.gif for {run_dir}: it has no snapshot yet")
    return 0
