"""The divergence guard: a NaN in a loss or a weight stops the run cleanly (exit 2, one line naming
the step and the last good checkpoint, which stays intact), and ``--on-nan rollback`` recovers.

NaNs are injected by wrapping the loss phases the training loop calls (``generator_phase``,
``discriminator_phase``) so that one chosen call returns a NaN loss.
"""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from faultkit import cli_in_process, one_line, stats_rows, toy_argv

from gankit.training import checkpoint, loop, phases
from gankit.training.stats import first_nonfinite

STEPS = 30


def learning_rate(run) -> float:
    """The resolved lr_g the run started with (config.json)."""
    return json.loads((run / "config.json").read_text())["loss"]["lr_g"]


def inject_nan(monkeypatch, phase: str, calls: set[int] | None = None, *, from_call: int | None = None) -> list[int]:
    """Make the given calls (1-based) of ``phases.<phase>`` return a NaN loss; returns the hit calls."""
    real = getattr(phases, phase)
    count, hits = [0], []

    def poisoned(*args, **kwargs):
        loss, stats = real(*args, **kwargs)
        count[0] += 1
        if (calls and count[0] in calls) or (from_call is not None and count[0] >= from_call):
            hits.append(count[0])
            loss = loss * math.nan
            stats = {**stats, "loss_g" if phase == "generator_phase" else "loss_d": loss.detach()}
        return loss, stats

    monkeypatch.setattr(phases, phase, poisoned)
    return hits


def assert_last_good_checkpoint(run, step: int) -> None:
    found = checkpoint.find(run)
    assert found.name == checkpoint.checkpoint_name(step)
    state = checkpoint.load(found)
    assert state["step"] == step
    for part in ("G", "D"):
        assert all(torch.isfinite(t).all() for t in state[part].values() if t.is_floating_point())
    assert checkpoint.list_checkpoints(run / "checkpoints")[-1] == found  # nothing newer was written


@pytest.mark.parametrize(("phase", "key"), [("generator_phase", "loss_g"), ("discriminator_phase", "loss_d")])
def test_a_nan_loss_stops_the_run_naming_the_step_and_the_good_checkpoint(phase, key, tmp_path, monkeypatch):
    run = tmp_path / "run"
    hits = inject_nan(monkeypatch, phase, {13})
    rc, _, err = cli_in_process(toy_argv(run, STEPS))
    assert rc == 2 and hits == [13]
    good = run / "checkpoints" / "step_0000010.ckpt"
    message = one_line(err)
    # the NaN loss also makes that step's gradient norms NaN; the key it was injected into is named
    named = re.fullmatch(rf"gankit train: error: training diverged at step 13 \(non-finite ([a-z_, ]+)\); the last "
                         rf"good checkpoint is {re.escape(str(good))}; lower the learning rates or try --on-nan rollback",
                         message)
    assert named and key in named[1].split(", "), message
    assert_last_good_checkpoint(run, 10)
    assert [r["step"] for r in stats_rows(run)] == list(range(1, 11))  # nothing past the good checkpoint


def test_a_nan_weight_is_caught_before_it_is_checkpointed(tmp_path, monkeypatch):
    """Statistics of step 10 are finite, but a weight goes NaN right after: the step-10 checkpoint is refused."""
    real = loop.Trainer.train_step

    def train_step(self):
        real(self)
        if self.step == 10:
            with torch.no_grad():
                next(self.parts.D.parameters()).view(-1)[0] = math.nan

    monkeypatch.setattr(loop.Trainer, "train_step", train_step)
    run = tmp_path / "run"
    rc, _, err = cli_in_process(toy_argv(run, STEPS))
    assert rc == 2
    good = run / "checkpoints" / "step_0000005.ckpt"
    assert one_line(err) == (f"gankit train: error: weights became non-finite by step 10; the last good checkpoint "
                             f"{good} is kept; lower the learning rates")
    assert_last_good_checkpoint(run, 5)


def test_rollback_recovers_from_one_nan_with_halved_learning_rates(tmp_path, monkeypatch, reference_run):
    run = tmp_path / "run"
    hits = inject_nan(monkeypatch, "generator_phase", {13})
    rc, out, err = cli_in_process(toy_argv(run, STEPS, "--on-nan", "rollback"))
    assert rc == 0 and hits == [13], err
    assert err == ""
    rollbacks = re.findall(r"warning: training diverged at step (\d+) .*; rolled back to step (\d+) "
                           r"\((step_\d+\.ckpt)\) with learning rates halved \(lr_g now (\S+); rollback 1 of 3\)", out)
    lr = learning_rate(run)
    assert rollbacks == [("13", "10", "step_0000010.ckpt", f"{lr / 2:.3g}")]
    assert f"done: {STEPS} steps" in out
    final = checkpoint.load(checkpoint.find(run))
    assert final["step"] == STEPS
    for opt in ("opt_g", "opt_d"):
        assert [g["lr"] for g in final[opt]["param_groups"]] == [lr / 2]
    for part in ("G", "D"):
        assert all(torch.isfinite(t).all() for t in final[part].values() if t.is_floating_point())
    rows = stats_rows(run)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert all(math.isfinite(v) for r in rows for k, v in r.items() if isinstance(v, float))
    # up to the checkpoint it rolled back to, the run is the uninterrupted one
    assert rows[:10] == stats_rows(reference_run(STEPS))[:10]


def test_rollback_gives_up_after_three_tries(tmp_path, monkeypatch):
    run = tmp_path / "run"
    inject_nan(monkeypatch, "generator_phase", from_call=13)  # every step from the 13th call on
    rc, out, err = cli_in_process(toy_argv(run, STEPS, "--on-nan", "rollback"))
    assert rc == 2
    assert re.findall(r"rollback (\d) of 3", out) == ["1", "2", "3"]
    assert re.fullmatch(r"gankit train: error: training diverged at step \d+ \(non-finite [a-z_, ]*loss_g[a-z_, ]*\); the last good "
                        r"checkpoint is \S+step_0000010\.ckpt; .*", one_line(err))
    assert_last_good_checkpoint(run, 10)


def test_each_rollback_to_the_same_checkpoint_lowers_the_rate_further(tmp_path, monkeypatch):
    """A retry from the same checkpoint at the same rate would diverge identically (resume is bit-exact)."""
    run = tmp_path / "run"
    inject_nan(monkeypatch, "generator_phase", from_call=13)
    _, out, _ = cli_in_process(toy_argv(run, STEPS, "--on-nan", "rollback"))
    lr = learning_rate(run)
    assert re.findall(r"lr_g now (\S+);", out) == [f"{lr / 2:.3g}", f"{lr / 4:.3g}", f"{lr / 8:.3g}"]


def test_skipped_fp16_steps_are_not_divergence():
    """The fp16 loss scaler skips steps whose scaled gradients overflow; their gradient norms are inf
    or NaN by design. Only losses and other statistics count as divergence."""
    skipped = {"step": 1, "loss_d": 1.4, "loss_g": 0.6, "grad_norm_d": math.inf, "grad_norm_g": math.nan}
    assert first_nonfinite([skipped]) is None
    diverged = {**skipped, "step": 2, "loss_g": math.nan}
    assert first_nonfinite([skipped, diverged]) is diverged
    assert first_nonfinite([{"step": 3, "grad_norm_critic": math.inf}])["step"] == 3  # a penalty statistic counts
