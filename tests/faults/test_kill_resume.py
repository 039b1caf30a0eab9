"""kill -9 at random moments, resume each time: nothing is lost, duplicated or corrupted.

A toy run is started in a subprocess and SIGKILLed after a random delay (from a seeded RNG, so the
delays are the same on every run of the test); it is resumed and killed again, ten times, then
resumed to the end. After every kill each checkpoint left on disk must verify and load; at the end
the weights, optimisers, RNG states and data order must equal an uninterrupted run's bit for bit,
and ``stats.jsonl`` must hold every step once with the uninterrupted run's numbers.

The run is configured for far more steps than the kills leave time for, so all ten kills land
during training; the last resume then sets ``--steps`` a little past the last checkpoint (a resume
may change ``train.steps``), and the reference is a straight run of that many steps.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from faultkit import (
    CHECKPOINT_EVERY,
    assert_every_checkpoint_loads,
    assert_identical,
    assert_same_stats,
    assert_same_training_state,
    cli_in_process,
    one_line,
    spawn,
    subprocess_env,
    toy_argv,
    wait_for_text,
)
from safetensors import safe_open

from gankit.training import checkpoint

KILLS = 10
MAX_DELAY_S = 0.6  # after the run says it started (or resumed); a few to a few dozen steps
ENDLESS = 1_000_000
SEED = 20240607


@pytest.mark.slow
def test_kill9_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path, cache_dir, reference_run):
    rng = random.Random(SEED)
    run = tmp_path / "run"
    env = subprocess_env(cache_dir)
    kills, fresh_starts, checkpoints_checked, steps_at_kill = 0, 0, 0, []
    for attempt in range(3 * KILLS):
        if kills == KILLS:
            break
        latest = checkpoint.latest_path(run / "checkpoints") if (run / "checkpoints").is_dir() else None
        if latest is None:
            if run.exists():
                # killed before its first checkpoint: nothing to resume, and resume says so in one line
                rc, _, err = cli_in_process(["train", "--resume", str(run)])
                assert rc == 2 and "holds no checkpoint" in one_line(err)
                shutil.rmtree(run)
            argv, started = toy_argv(run, ENDLESS), "run folder:"
            fresh_starts += 1
        else:
            argv, started = ["train", "--resume", str(run)], "resuming"
        log = tmp_path / f"attempt-{attempt:02d}.log"
        proc = spawn(argv, log, env)
        assert wait_for_text(log, started, proc), log.read_text()
        delay = rng.uniform(0.0, MAX_DELAY_S)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL
            proc.wait()
            kills += 1
        assert proc.returncode == -9, f"the run ended by itself (status {proc.returncode}):\n{log.read_text()[-2000:]}"
        checkpoints_checked += assert_every_checkpoint_loads(run)
        latest = checkpoint.latest_path(run / "checkpoints") if (run / "checkpoints").is_dir() else None
        steps_at_kill.append(checkpoint.load(latest)["step"] if latest else 0)
    assert kills == KILLS

    # one more resume, to a few checkpoints past the last one; then compare with a straight run
    last = checkpoint.load(checkpoint.find(run))["step"]
    final = last + 3 * CHECKPOINT_EVERY + 2  # ends between two periodic checkpoints
    log = tmp_path / "final.log"
    proc = spawn(["train", "--resume", str(run), "--steps", str(final)], log, env)
    assert proc.wait(timeout=600) == 0, log.read_text()[-2000:]
    assert f"done: {final} steps" in log.read_text()
    assert_every_checkpoint_loads(run)
    assert not list((run / "checkpoints").glob(".*.tmp")), "half-written files were left behind"
    reference = reference_run(final)
    assert_same_training_state(run, reference)
    assert_same_stats(run, reference)
    # the exported generator too (safetensors orders its metadata at random, so compare contents)
    for name in ("generator.safetensors",):
        with safe_open(run / name, "pt") as got, safe_open(reference / name, "pt") as want:
            assert got.metadata() == want.metadata()
            assert_identical({k: got.get_tensor(k) for k in got.keys()}, {k: want.get_tensor(k) for k in want.keys()})
    print(f"kills survived: {kills}; fresh starts: {fresh_starts}; checkpoint step after each kill: {steps_at_kill}; "
          f"checkpoint files verified: {checkpoints_checked}; final step {final}")
