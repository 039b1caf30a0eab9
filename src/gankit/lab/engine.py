"""The lab's engine: one background thread owns the trainers; the web server only talks to it through
a bounded command queue and the newest frame.

* Commands (:class:`gankit.lab.controls.Command`, validated before they get here) wait in a queue of
  :data:`QUEUE_SIZE`; a full queue refuses the next one (the page shows "busy"), it never blocks.
* Frames go to a :class:`FrameBus` that keeps only the newest one: a slow, frozen or closed browser
  misses frames, it never holds training up. Frames are made only while someone watches, at most
  ``fps`` per second, and encoded to JSON once for every watcher.
* A bad value that only the build can find (rare: the config's checks ran first) leaves the running
  panes as they were and shows as ``error`` in the next frame.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gankit.errors import GankitError
from gankit.lab import scenarios as S
from gankit.lab.controls import LIVE_CONTROLS, Command, LabError, apply_controls
from gankit.lab.frames import EXTENTS
from gankit.lab.session import Pane
from gankit.training.config import RunConfig, replace, set_value

QUEUE_SIZE = 64
METRICS_EVERY_S = 2.0  # the sample metrics (exact W1 among them) at most this often while playing
SHARED = ("data.name", "train.batch_size", "model.noise", "train.seed")  # side-by-side panes share these


class PaneLike(Protocol):
    """What the engine needs of a pane (a training :class:`Pane` or a replay)."""

    diverged: str | None
    extent: tuple[float, float, float, float]

    @property
    def step_count(self) -> int: ...
    def step(self) -> None: ...
    def phase(self) -> str: ...
    def flush(self) -> None: ...
    def frame(self, *, metrics: bool) -> dict[str, Any]: ...
    def close(self) -> Path | None: ...


class FrameBus:
    """The newest frame (JSON text) and the watchers to wake when it changes; older frames are dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.version = 0
        self.text: str | None = None
        self._wakers: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.wanted = threading.Event()  # a new watcher wants a frame now

    def publish(self, text: str) -> None:
        with self._lock:
            self.version += 1
            self.text = text
            wakers = list(self._wakers.values())
        for wake in wakers:
            try:
                wake()
            except RuntimeError:  # the watcher's event loop has closed
                pass

    def latest(self) -> tuple[int, str | None]:
        with self._lock:
            return self.version, self.text

    def watch(self, wake: Callable[[], None]) -> int:
        with self._lock:
            self._next += 1
            self._wakers[self._next] = wake
        self.wanted.set()
        return self._next

    def unwatch(self, token: int) -> None:
        with self._lock:
            self._wakers.pop(token, None)

    @property
    def watchers(self) -> int:
        with self._lock:
            return len(self._wakers)


class Rate:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window, self.marks = window, deque()

    def add(self, count: float, now: float) -> None:
        self.marks.append((now, count))
        while self.marks and now - self.marks[0][0] > self.window:
            self.marks.popleft()

    def value(self, now: float) -> float:
        while self.marks and now - self.marks[0][0] > self.window:
            self.marks.popleft()
        if len(self.marks) < 2:
            return 0.0
        span = now - self.marks[0][0]
        return sum(c for _, c in list(self.marks)[1:]) / span if span > 0 else 0.0


def _plain(value: Any) -> Any:
    """``value`` with non-finite floats as strings (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(frame: dict[str, Any]) -> str:
    try:
        return json.dumps(frame, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_plain(frame), separators=(",", ":"), allow_nan=False)


class Engine:
    """The lab's training thread: panes, play state, commands in, frames out.

    Args:
        base: the requested config of the first pane (validated).
        runs_root: parent of the lab's run folders.
        fps: most frames per second.
        make_panes: builds the panes from the requested configs and drawing (replays pass their own).
        replay: this engine replays a finished run (commands are limited to play, pause, step, reset, speed).
    """

    def __init__(self, base: RunConfig, runs_root: str | Path = "runs", *, fps: float = 12.0,
                 make_panes: Callable[[list[RunConfig], np.ndarray | None], list[PaneLike]] | None = None,
                 replay: bool = False, speed: float = 0.0) -> None:
        self.base, self.runs_root, self.fps, self.replay = base, Path(runs_root), fps, replay
        self.configs: list[RunConfig] = [base]
        self.panes: list[PaneLike] = []
        self.drawn: np.ndarray | None = None
        self.make_panes = make_panes or self._make_panes
        self.commands: queue.Queue[Command] = queue.Queue(maxsize=QUEUE_SIZE)
        self.bus = FrameBus()
        self.lock = threading.Lock()  # guards configs and extent, read by the server's validators
        self.playing, self.slowmo, self.speed, self.slow_ms = False, False, speed, 700.0
        self.scenario: str | None = None
        self.error: dict[str, Any] | None = None
        self.notes: deque[str] = deque(maxlen=8)
        self.closed: list[Path] = []
        self.frames_made = 0
        self.steps_done = 0
        self.cpu_steps = self.cpu_frames = 0.0  # CPU seconds of this thread spent training / making frames
        self._steps_rate, self._frames_rate = Rate(), Rate()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dirty = True
        self._metrics_at = 0.0
        self.ready = threading.Event()

    # --------------------------------------------------------------------- for the server
    def state(self) -> tuple[list[RunConfig], tuple[float, float, float, float]]:
        """Copies of each pane's requested config and the plotted square, to validate a message against."""
        with self.lock:
            return [replace(c) for c in self.configs], EXTENTS[self.configs[0].data.name]

    def submit(self, command: Command) -> None:
        """Queue a validated command; a full queue is a :class:`LabError` (never a wait)."""
        try:
            self.commands.put_nowait(command)
        except queue.Full:
            raise LabError("the lab is busy (too many commands waiting); try again") from None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gankit-lab-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> list[Path]:
        """Stop the thread and finish every pane's run folder; returns the folders written."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.closed

    # ------------------------------------------------------------------------- panes
    def _make_panes(self, configs: list[RunConfig], drawn: np.ndarray | None) -> list[PaneLike]:
        labels = ["A", "B"] if len(configs) > 1 else [""]
        return [Pane(c, self.runs_root, label=label, drawn=drawn, log=self._note) for c, label in zip(configs, labels, strict=True)]

    def _note(self, message: str) -> None:
        self.notes.append(message)

    def _rebuild(self, configs: list[RunConfig], drawn: np.ndarray | None) -> bool:
        """New panes from ``configs``; the old ones keep running when the build fails."""
        try:
            panes = self.make_panes(configs, drawn)
        except GankitError as err:
            self._fail(str(err))
            return False
        self._close_panes()
        with self.lock:
            self.configs, self.drawn, self.panes = configs, drawn, panes
        self._dirty = True
        self._metrics_at = 0.0
        return True

    def _close_panes(self) -> None:
        for pane in self.panes:
            try:
                folder = pane.close()
            except (GankitError, OSError) as err:
                self._note(f"closing a run failed: {err}")
                folder = None
            if folder is not None:
                self.closed.append(folder)

    def _fail(self, message: str) -> None:
        seq = (self.error or {}).get("seq", 0) + 1
        self.error = {"seq": seq, "message": message}
        self._dirty = True

    # ---------------------------------------------------------------------- commands
    def _apply(self, c: Command) -> None:
        if c.cmd == "play":
            if any(p.diverged for p in self.panes):
                self._fail("a pane diverged; press reset (or lower the learning rates) to train again")
            else:
                self.playing = True
        elif c.cmd == "pause":
            self.playing = False
        elif c.cmd == "step":
            self.playing = False
            if not any(p.diverged for p in self.panes):
                self._advance(phase=self.slowmo)
        elif c.cmd == "reset":
            self._rebuild([replace(x) for x in self.configs], self.drawn)
        elif c.cmd == "speed":
            self.speed = c.value
        elif c.cmd == "slowmo":
            self.slowmo = c.value
        elif c.cmd == "set":
            self._set(c)
        elif c.cmd == "draw":
            self._rebuild([replace(x) for x in self.configs], None if c.points is None else np.asarray(c.points))
        elif c.cmd == "scenario":
            self._scenario(c.value)
        elif c.cmd == "compare":
            configs = [self.configs[0]] if c.config is None else [self.configs[0], _copy_shared(self.configs[0], c.config)]
            self._rebuild(configs, self.drawn)
        self._dirty = True

    def _set(self, c: Command) -> None:
        live = all(name in LIVE_CONTROLS and value is not None for name, value in c.values.items())
        if live and c.pane < len(self.panes) and isinstance(self.panes[c.pane], Pane):
            self.panes[c.pane].set_live(c.values, c.config)
            with self.lock:
                self.configs[c.pane] = c.config
            return
        configs = list(self.configs)
        configs[c.pane] = c.config
        if c.pane == 0 and len(configs) > 1:
            configs[1] = _copy_shared(c.config, configs[1])
        self._rebuild(configs, self.drawn if c.config.data.name == self.configs[0].data.name else None)

    def _scenario(self, name: str) -> None:
        spec = S.SCENARIOS[name]
        base = replace(self.base)
        set_value(base, "data.name", spec["data"])
        try:
            configs = [apply_controls(base, {"data": spec["data"], **values})[1] for values in spec["panes"]]
        except LabError as err:
            self._fail(f"scenario {name}: {err}")
            return
        if self._rebuild(configs, None):
            self.scenario, self.slowmo, self.playing = name, False, True

    # ------------------------------------------------------------------------ the loop
    def _advance(self, *, phase: bool) -> None:
        t = time.thread_time()
        for pane in self.panes:
            if phase:
                pane.phase()
            else:
                pane.step()
        self.cpu_steps += time.thread_time() - t
        self.steps_done += 1
        self._steps_rate.add(1, time.monotonic())
        if any(getattr(p, "finished", False) for p in self.panes):
            self.playing = False
        if any(p.diverged for p in self.panes):
            self.playing = False
            self._fail(next(p.diverged for p in self.panes if p.diverged))

    def _drain(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                self._apply(command)
            except GankitError as err:
                self._fail(str(err))

    def _publish(self, *, metrics: bool) -> None:
        now, t = time.monotonic(), time.thread_time()
        for pane in self.panes:
            pane.flush()
        frame = {
            "type": "frame", "seq": self.frames_made + 1, "extent": list(self.panes[0].extent),
            "data": self.configs[0].data.name, "drawn": self.drawn is not None, "playing": self.playing,
            "slowmo": self.slowmo, "speed": self.speed, "scenario": self.scenario, "replay": self.replay,
            "rates": {"steps_per_s": round(self._steps_rate.value(now), 1), "fps": round(self._frames_rate.value(now), 1)},
            "error": self.error, "notes": list(self.notes),
            "panes": [pane.frame(metrics=metrics) for pane in self.panes],
        }
        self.bus.publish(to_json(frame))
        self.cpu_frames += time.thread_time() - t
        self.frames_made += 1
        self._frames_rate.add(1, now)

    def _run(self) -> None:
        if not self._rebuild(self.configs, self.drawn):
            self.playing = False
        self.ready.set()
        next_frame = next_step = next_phase = 0.0
        try:
            while not self._stop.is_set():
                self._drain()
                now = time.monotonic()
                watching = self.bus.watchers > 0
                if self.bus.wanted.is_set():
                    self.bus.wanted.clear()
                    self._dirty = True
                if self.playing and self.panes:
                    if self.slowmo:
                        if now >= next_phase:
                            self._advance(phase=True)
                            next_phase = now + self.slow_ms / 1000.0
                            self._dirty = True
                    else:
                        deadline = next_frame if watching else now + 0.1
                        while self.playing and not self._stop.is_set() and self.commands.empty():
                            now = time.monotonic()
                            if now >= deadline:
                                break
                            if self.speed > 0 and now < next_step:
                                time.sleep(min(next_step, deadline) - now)
                                continue
                            self._advance(phase=False)
                            next_step = max(next_step + 1.0 / self.speed, now) if self.speed > 0 else now
                now = time.monotonic()
                if watching and self.panes and (self._dirty or (self.playing and now >= next_frame)):
                    due = not self.playing or now >= self._metrics_at
                    self._publish(metrics=due)
                    if due:
                        self._metrics_at = time.monotonic() + METRICS_EVERY_S
                    self._dirty = False
                    # on a fixed beat (not "now + 1/fps"), so the time a frame takes does not lower the rate
                    # at least half a beat stays for training when a frame takes longer than a beat
                    next_frame = max(next_frame + 1.0 / self.fps, now + 0.5 / self.fps)
                if not self.playing or (self.slowmo and time.monotonic() < next_phase):
                    wait = 0.05 if not self.playing else max(0.0, min(0.05, next_phase - time.monotonic()))
                    try:
                        command = self.commands.get(timeout=wait)
                    except queue.Empty:
                        continue
                    try:
                        self._apply(command)
                    except GankitError as err:
                        self._fail(str(err))
        finally:
            self._close_panes()


def _copy_shared(source: RunConfig, target: RunConfig) -> RunConfig:
    """``target`` with ``source``'s data, batch size, noise and seed."""
    out = replace(target)
    for key in SHARED:
        section, name = key.split(".")
        set_value(out, key, getattr(getattr(source, section), name))
    return out
