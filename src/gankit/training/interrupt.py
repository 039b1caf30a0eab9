"""Clean interruption: the first SIGINT/SIGTERM finishes the step and saves; a second quits at once.

Quitting at once is safe because every checkpoint is written atomically: the folder always holds
the previous complete checkpoint.

Under torchrun a Ctrl-C reaches each worker twice: from the terminal, and forwarded by torchrun's
agent a moment later. ``debounce_s`` treats a repeat of the same signal within that time as the
same request, so that the workers still stop cleanly (torchrun then waits 30 s before SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable


class GracefulInterrupt:
    """Context manager that turns the first SIGINT/SIGTERM into a stop request."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, log: Callable[[str], None] = print, *, debounce_s: float = 0.0) -> None:
        self.log = log
        self.debounce_s = debounce_s
        self.requested = False
        self.signum: int | None = None
        self._first_at = 0.0
        self._previous: dict[int, object] = {}

    def _say(self, message: str) -> None:
        # The handler runs between two bytecodes of the main thread, possibly inside a print to the
        # same stream: Python then raises "reentrant call" (bpo-24283), so fall back to a raw write.
        try:
            self.log(message)
        except (RuntimeError, OSError):
            with contextlib.suppress(OSError):
                os.write(2, (message + "\n").encode())

    def _handle(self, signum: int, _frame) -> None:
        if self.requested and signum == self.signum and time.monotonic() - self._first_at < self.debounce_s:
            return  # the same request delivered twice (terminal and launcher)
        if self.requested:
            try:
                self._say("second signal: quitting now; the last complete checkpoint is intact")
                for stream in (sys.stdout, sys.stderr):  # os._exit skips the flush at exit
                    with contextlib.suppress(Exception):
                        stream.flush()
            finally:
                os._exit(128 + signum)
        self.requested, self.signum, self._first_at = True, signum, time.monotonic()
        self._say(f"{signal.Signals(signum).name} received: finishing this step and saving a checkpoint "
                  "(send it again to quit at once)")

    def __enter__(self) -> GracefulInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
