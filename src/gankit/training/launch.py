"""``gankit train --nproc N``: start N ranks on this machine through torchrun's own launcher.

This is only a shortcut for ``torchrun --standalone --nproc-per-node N -m gankit train ...``: the
same elastic agent starts, watches and stops the workers (a worker that dies makes the agent stop
the others). It runs in this process so that a failed job ends with one line, not the agent's
traceback. Several machines are started with torchrun itself (see the README).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from gankit.errors import ConfigError, GankitError
from gankit.training.distributed import launched_by_torchrun

EXIT_INTERRUPTED = 130
EXIT_USAGE = 2


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (or an abbreviation argparse accepted)."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if len(name) > 2 and "--nproc".startswith(name):
            skip = "=" not in token
            continue
        out.append(token)
    return out


def torchrun_command(nproc: int, train_argv: Sequence[str]) -> list[str]:
    """The torchrun arguments that run ``gankit train <train_argv>`` on ``nproc`` local ranks."""
    return ["--standalone", f"--nproc-per-node={nproc}", "-m", "gankit", "train", *strip_nproc(train_argv)]


def describe_failures(failures: dict) -> str:
    """One line naming each failed rank and how it ended (exit code or signal)."""
    parts = []
    for rank, failure in sorted(failures.items()):
        code = failure.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.Signals._value2member_map_ \
            else f"exit status {code}"
        parts.append(f"rank {rank} ({how})")
    return ", ".join(parts)


def launch(nproc: int, train_argv: Sequence[str]) -> int:
    """Run ``gankit train`` on ``nproc`` local ranks; the exit status of the job."""
    if launched_by_torchrun():
        raise ConfigError("--nproc starts torchrun itself, but this process already runs under torchrun; drop --nproc")
    if nproc < 1:
        raise ConfigError(f"--nproc must be >= 1; got {nproc}")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(torchrun_command(nproc, train_argv)))
    except SignalException:
        return EXIT_INTERRUPTED  # the workers were told to save and stop, and said so
    except ChildFailedError as err:
        codes = {failure.exitcode for failure in err.failures.values()}
        if codes == {EXIT_INTERRUPTED}:
            return EXIT_INTERRUPTED
        if codes == {EXIT_USAGE}:
            return EXIT_USAGE  # each rank already printed its one-line error
        raise GankitError(f"the {nproc}-rank job failed: {describe_failures(err.failures)}; "
                          "see the ranks' messages above") from None
    return 0
