"""User-facing errors.

Every problem a user can fix (a bad flag, config value, dataset or checkpoint) is raised as a
:class:`GankitError`. The command line prints its message as one line and exits with status 2,
without a traceback, so each message must say what is wrong *and* how to fix it.
:class:`GankitError` derives from :class:`ValueError` so library callers can catch either.
"""


class GankitError(ValueError):
    """A problem with the user's input, stated in one line with the fix."""


class ConfigError(GankitError):
    """A configuration key, type or value is invalid."""


class DataError(GankitError):
    """A dataset is missing, empty, corrupt or of the wrong kind."""


class CheckpointError(GankitError):
    """A checkpoint is unreadable, truncated, foreign or unsafe."""


class DistributedError(GankitError):
    """A rank lost contact with the others (a peer died, hung or the network failed).

    Its process group cannot be torn down cleanly, so the command line exits at once after the message.
    """


def one_line(err: BaseException, *, limit: int = 160, with_type: bool = False) -> str:
    """An exception's message on one line (whitespace collapsed, cut at ``limit`` characters).

    Args:
        err: the exception to describe.
        limit: the longest text returned; longer messages end in ``...``.
        with_type: prefix the exception's class name (``OSError: ...``), useful when the message
            alone is ambiguous. An empty message always gives the class name.
    """
    text = " ".join(str(err).split())
    if with_type or not text:
        text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(err: BaseException, *, limit: int = 200) -> str:
    """The first line of an exception's message (a compiler's or collective's long report), cut at ``limit``."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else type(err).__name__
    return text[:limit]
