"""SIGINT / SIGTERM: the first finishes the step, checkpoints and exits 130; a second quits at once.

The resumed run must equal an uninterrupted one bit for bit (CPU). For the second signal the
checkpoint write is made to hang (a patched ``checkpoint.save`` that sleeps for ten minutes), so the
process can only end in time if the second signal really quits at once; the checkpoint written
before the signals must stay intact.
"""

from __future__ import annotations

import re
import signal

import pytest
from faultkit import (
    assert_every_checkpoint_loads,
    assert_same_stats,
    assert_same_training_state,
    cli_in_process,
    spawn,
    subprocess_env,
    toy_argv,
    wait_for_text,
)

from gankit.training import checkpoint
from gankit.training.interrupt import GracefulInterrupt

ENDLESS = 1_000_000


@pytest.mark.slow  # a subprocess each (a few seconds to start under load)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_exits_130_and_the_resume_is_bit_exact(sig, tmp_path, cache_dir, reference_run):
    run, log = tmp_path / "run", tmp_path / "run.log"
    proc = spawn(toy_argv(run, ENDLESS), log, subprocess_env(cache_dir))
    assert wait_for_text(log, "step 10/", proc), log.read_text()
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == 130, log.read_text()[-2000:]
    text = log.read_text()
    assert f"{sig.name} received: finishing this step and saving a checkpoint" in text
    stopped = re.search(r"stopped at step (\d+); checkpoint (\S+); continue with: gankit train --resume (\S+)", text)
    assert stopped, text[-2000:]
    step = int(stopped[1])
    assert stopped[3] == str(run)
    assert checkpoint.find(run).name == checkpoint.checkpoint_name(step) == stopped[2].rsplit("/", 1)[-1]
    assert checkpoint.load(checkpoint.find(run))["step"] == step
    assert_every_checkpoint_loads(run)
    assert len(text.splitlines()) == len(set(text.splitlines())), "a message was printed twice"

    final = step + 12
    rc, out, err = cli_in_process(["train", "--resume", str(run), "--steps", str(final)])
    assert rc == 0 and f"resuming {run} at step {step} of {final}" in out, err
    reference = reference_run(final)
    assert_same_training_state(run, reference)
    assert_same_stats(run, reference)


# The child trains with checkpoints every 5 steps; from the second checkpoint on, saving hangs.
HANG_SAVES = """
import sys, time
import gankit.cli
from gankit.training import checkpoint

real_save, calls = checkpoint.save, []

def hanging_save(*args, **kwargs):
    calls.append(1)
    if len(calls) == 1:
        return real_save(*args, **kwargs)
    print("saving hangs now", flush=True)
    time.sleep(600)

checkpoint.save = hanging_save
sys.exit(gankit.cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_quits_at_once_and_keeps_the_last_checkpoint(sig, tmp_path, cache_dir):
    run, log = tmp_path / "run", tmp_path / "run.log"
    proc = spawn(toy_argv(run, ENDLESS), log, subprocess_env(cache_dir), python_code=HANG_SAVES)
    assert wait_for_text(log, "saving hangs now", proc), log.read_text()
    proc.send_signal(sig)
    assert wait_for_text(log, f"{sig.name} received", proc), log.read_text()
    assert proc.poll() is None  # the first signal waits for the (hanging) save
    proc.send_signal(sig)
    # without the quick exit the child sleeps for 600 s and this wait fails
    assert proc.wait(timeout=60) == 128 + sig, log.read_text()[-2000:]
    text = log.read_text()
    assert "second signal: quitting now; the last complete checkpoint is intact" in text
    assert "stopped at step" not in text and "Traceback" not in text
    assert assert_every_checkpoint_loads(run) == 1
    assert checkpoint.load(checkpoint.find(run))["step"] == 5


def test_the_handler_survives_a_reentrant_print(monkeypatch, capfd):
    """A signal landing inside a print makes a print in the handler raise; the handler must not."""

    def reentrant(_message: str) -> None:
        raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stdout>'>")

    class Exited(Exception):
        pass

    def fake_exit(status: int) -> None:
        raise Exited(status)

    monkeypatch.setattr("gankit.training.interrupt.os._exit", fake_exit)
    stop = GracefulInterrupt(log=reentrant)
    stop._handle(signal.SIGTERM, None)
    assert stop.requested and stop.signum == signal.SIGTERM
    with pytest.raises(Exited) as exited:
        stop._handle(signal.SIGTERM, None)
    assert exited.value.args == (128 + signal.SIGTERM,)
    err = capfd.readouterr().err.splitlines()
    assert err == ["SIGTERM received: finishing this step and saving a checkpoint (send it again to quit at once)",
                   "second signal: quitting now; the last complete checkpoint is intact"]


def test_handlers_are_restored_after_the_run():
    before = {sig: signal.getsignal(sig) for sig in GracefulInterrupt.SIGNALS}
    with GracefulInterrupt(log=lambda _: None):
        assert all(signal.getsignal(sig) != before[sig] for sig in GracefulInterrupt.SIGNALS)
    assert {sig: signal.getsignal(sig) for sig in GracefulInterrupt.SIGNALS} == before
