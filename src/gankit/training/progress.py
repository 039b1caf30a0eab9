"""Progress: a tqdm bar on a terminal, plain lines otherwise; both show ETA, steps/s and key stats."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

KEYS = (("loss_d", "loss_d"), ("loss_g", "loss_g"), ("d_real", "D(x)"), ("d_fake", "D(G(z))"),
        ("w_estimate", "W"), ("grad_norm_g", "|g_G|"))
# a critic's sigmoid(f) is about 0 or 1 and means nothing: show its mean values instead
CRITIC_KEYS = (("loss_d", "loss_d"), ("loss_g", "loss_g"), ("f_real", "f(x)"), ("f_fake", "f(G(z))"),
               ("w_estimate", "W"), ("grad_norm_g", "|g_G|"))


def summarise(row: dict, *, critic: bool = False) -> str:
    """One line of a statistics row: D's probabilities for a discriminator, f's mean values for a critic."""
    keys = CRITIC_KEYS if critic else KEYS
    return "  ".join(f"{label} {row[key]:.4g}" for key, label in keys if key in row)


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Reports progress every time statistics are read back from the device."""

    def __init__(self, total: int, start: int, log: Callable[[str], None] = print, *, tty: bool | None = None,
                 critic: bool = False) -> None:
        self.total, self.start, self.log, self.critic = total, start, log, critic
        self.t0 = time.perf_counter()
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.bar = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, leave=True)

    def update(self, step: int, rows: list[dict]) -> None:
        last = rows[-1] if rows else {}
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(summarise(last, critic=self.critic), refresh=True)
            return
        elapsed = time.perf_counter() - self.t0
        rate = (step - self.start) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        self.log(f"step {step}/{self.total}  {rate:.2f} steps/s  ETA {_clock(eta)}  {summarise(last, critic=self.critic)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
