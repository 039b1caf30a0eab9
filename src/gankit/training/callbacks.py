"""Hooks a user's code runs inside training: their own logging, plots or early stopping.

A callback is any object with some of the methods below (all optional); pass a list of them as
``gankit.train(config, callbacks=[...])``. Each receives the :class:`~gankit.training.loop.Trainer`,
whose ``step``, ``cfg`` and ``parts`` (``G``, ``D``, ``ema``, optimisers, dataset) it may read.

* ``on_start(trainer)``: once, before the first step of this call (also on a resume).
* ``on_step(trainer)``: after every generator step. The step's statistics stay on the device
  (reading them would sync the GPU); call ``trainer.stats.drain()`` only if you need them now.
* ``on_log(trainer, rows)``: every ``train.log_every`` steps, with the rows just written to
  ``stats.jsonl`` (plain floats).
* ``on_eval(trainer, scores)``: after every periodic evaluation (``train.eval_every``), with the
  scores written to ``evals.jsonl``.
* ``on_end(trainer)``: once, when the run stops (finished or interrupted).

A callback stops the run early by calling ``trainer.request_stop()``; the trainer then saves a
checkpoint and returns as it does on Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

HOOKS = ("on_start", "on_step", "on_log", "on_eval", "on_end")


class Callbacks:
    """The user's callbacks, called in the order given; a hook a callback lacks is skipped."""

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not any(callable(getattr(callback, hook, None)) for hook in HOOKS):
                raise TypeError(f"{callback!r} is not a callback: give it one of the methods {', '.join(HOOKS)}")

    def _hooks(self, hook: str) -> list[Callable[..., Any]]:
        return [fn for callback in self.callbacks if callable(fn := getattr(callback, hook, None))]

    def on_start(self, trainer: Any) -> None:
        for fn in self._hooks("on_start"):
            fn(trainer)

    def on_step(self, trainer: Any) -> None:
        for fn in self._hooks("on_step"):
            fn(trainer)

    def on_log(self, trainer: Any, rows: list[dict]) -> None:
        for fn in self._hooks("on_log"):
            fn(trainer, rows)

    def on_eval(self, trainer: Any, scores: dict[str, Any]) -> None:
        for fn in self._hooks("on_eval"):
            fn(trainer, scores)

    def on_end(self, trainer: Any) -> None:
        for fn in self._hooks("on_end"):
            fn(trainer)

    def __bool__(self) -> bool:
        return bool(self.callbacks)
