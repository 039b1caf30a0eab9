"""The ``gankit`` command line.

Each subcommand is a module in this package with ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. They are listed by hand in :data:`COMMANDS`; only commands that work are
listed. Errors the user can fix are :class:`gankit.errors.GankitError` and print as one line with
exit status 2; so do bad flags.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from gankit import __version__
from gankit.errors import DistributedError, GankitError

# name -> module under gankit.cli (imported lazily so ``gankit --help`` stays fast)
COMMANDS: dict[str, str] = {
    "train": "train",
    "sample": "sample",
    "evaluate": "evaluate",
    "divergence": "divergence",
    "evaluator": "evaluator",
    "experiment": "experiment",
    "bench": "bench",
    "report": "report",
    "lab": "lab",
}

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) with a pointer to --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="gankit",
        description="GAN, DCGAN and W-GAN from the theory up.",
    )
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"gankit.cli.{module_name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def one_line(text: object) -> str:
    """``text`` as one printable line: control characters (a user's ``\\r`` say) are shown escaped."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in str(text))


def _one_line_warning(command: str):
    """A ``warnings.showwarning`` that prints ``gankit CMD: warning: message`` (no file/line dump)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"gankit {command}: warning: {one_line(' '.join(str(message).split()))}", file=file or sys.stderr)

    return show


def _exit_now(status: int) -> None:
    """Flush and leave without interpreter teardown (the process group's destructors)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gankit`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)  # bad flags exit here with one line (SystemExit 2)
    args.raw_argv = list(sys.argv[1:] if argv is None else argv)  # what `train --nproc` hands to torchrun
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return EXIT_USAGE if argv is None and len(sys.argv) <= 1 else 0
    rank = os.environ.get("RANK") if os.environ.get("WORLD_SIZE", "1") != "1" else None  # under torchrun
    who = f"gankit {args.command}" + (f" (rank {rank})" if rank is not None else "")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            if rank not in (None, "0"):
                warnings.simplefilter("ignore")  # rank 0 speaks for all
            return int(args._run(args) or 0)
    except GankitError as err:
        print(f"{who}: error: {one_line(err)}", file=sys.stderr)
        if isinstance(err, DistributedError):  # a broken process group may abort at exit
            _exit_now(EXIT_USAGE)
        return EXIT_USAGE
    except OSError as err:  # a disk or permission problem the user can fix; say which file
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        print(f"{who}: error: cannot access{one_line(where)}: {one_line(err.strerror or err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"gankit {args.command}: interrupted", file=sys.stderr)
        return 130
