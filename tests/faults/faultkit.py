"""Helpers of the fault tests: a tiny toy run, the CLI in-process and in a subprocess,
and checks that compare two runs bit for bit.

The toy run is the 8-Gaussian ring with a 32-unit MLP, batch 64, statistics and a checkpoint
every 5 steps: a step takes milliseconds, so a run can be killed, resumed and compared many times.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

import gankit.cli
from gankit.training import checkpoint

CHECKPOINT_EVERY = 5
TOY_FLAGS = [
    "--data", "ring8", "--set", "data.n_points=2048", "--set", "model.width=32", "--batch-size", "64",
    "--set", "train.log_every=5", "--set", f"train.checkpoint_every={CHECKPOINT_EVERY}",
    "--set", "train.sample_every=100000", "--set", "train.threads=1", "--device", "cpu",
]
# What must be bit-identical between an interrupted and an uninterrupted run. The stored config
# is left out: train.steps (which a resume may change) is part of it.
STATE_KEYS = ("step", "G", "D", "opt_g", "opt_d", "ema", "data_order", "rng")


def toy_argv(out: Path, steps: int, *extra: str) -> list[str]:
    return ["train", *TOY_FLAGS, "--steps", str(steps), "--out", str(out), *extra]


def cli_in_process(argv: Sequence[str]) -> tuple[int, str, str]:
    """Run ``gankit.cli.main(argv)`` here; returns (exit status, stdout, stderr).

    argparse ends bad command lines with ``SystemExit(2)`` (one line on stderr, as the console
    script shows it); that status is returned like any other.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = gankit.cli.main(list(argv))
        except SystemExit as exit_:
            rc = exit_.code if isinstance(exit_.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def subprocess_env(cache: Path, **extra: str) -> dict[str, str]:
    # unbuffered output: the tests watch the log to time their signals
    env = {**os.environ, "GANKIT_CACHE": str(cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def spawn(argv: Sequence[str], log: Path, env: dict[str, str], *, python_code: str | None = None) -> subprocess.Popen:
    """Start ``python -m gankit ARGV`` (or ``python -c CODE ARGV``) with stdout and stderr in ``log``."""
    head = ["-c", python_code] if python_code else ["-m", "gankit"]
    handle = log.open("wb")
    try:
        return subprocess.Popen([sys.executable, *head, *argv], stdout=handle, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    finally:
        handle.close()  # the child holds its own copy of the descriptor


def wait_for_text(log: Path, text: str, proc: subprocess.Popen, *, timeout: float = 120.0) -> bool:
    """Poll ``log`` until it contains ``text`` (True) or the process ends without it (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return text in log.read_text(errors="replace")
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    raise AssertionError(f"no {text!r} after {timeout} s; log:\n{log.read_text(errors='replace')[-2000:]}")


def assert_identical(a, b, where: str = "state") -> None:
    """Nested dicts/lists of tensors and plain values are equal, tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_training_state(run_a: Path, run_b: Path) -> None:
    """The latest checkpoints of two runs hold the same step, weights, optimisers, RNGs and data order."""
    a = checkpoint.load(checkpoint.find(run_a))
    b = checkpoint.load(checkpoint.find(run_b))
    for key in STATE_KEYS:
        assert_identical(a[key], b[key], key)


def stats_rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def assert_same_stats(run: Path, reference: Path) -> None:
    """``stats.jsonl`` has each step once, in order, with the reference's numbers (alerts aside)."""
    rows, ref = stats_rows(run), stats_rows(reference)
    assert [r["step"] for r in rows] == list(range(1, len(ref) + 1)), "steps missing or repeated"
    for row, want in zip(rows, ref, strict=True):
        row.pop("alerts", None)
        want.pop("alerts", None)
        assert row == want, f"stats of step {row['step']} differ"


def assert_every_checkpoint_loads(run: Path) -> int:
    """Each ``step_*.ckpt`` left in the run verifies and parses; ``latest`` (if any) names one. Returns the count."""
    directory = run / "checkpoints"
    files = checkpoint.list_checkpoints(directory)
    for path in files:
        state = checkpoint.load(path)
        assert state["step"] == int(path.stem.split("_")[1])
    pointer = directory / checkpoint.LATEST
    if pointer.exists():
        target = directory / pointer.read_text().strip()
        assert target in files, f"latest names {target.name}, which is missing"
    return len(files)


def one_line(text: str) -> str:
    """The single line of ``text`` (an error message); fails if there are more or none."""
    lines = text.splitlines()
    assert len(lines) == 1 and text.endswith("\n"), f"expected one line, got {text!r}"
    assert "Traceback" not in text
    return lines[0]
