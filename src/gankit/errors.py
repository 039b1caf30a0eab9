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
