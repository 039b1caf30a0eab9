"""Health alerts (``gankit.training.health``): each fires on constructed statistics and stays quiet
on healthy ones; the diversity measure matches scipy; a real run logs and stores its alerts."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

import gankit.cli
from gankit.training.health import HealthMonitor, mean_pairwise_distance

WINDOW = 10
WARMUP = 20  # generator steps before the diversity alert may fire


def rows(n: int, start: int = 1, **values: float) -> list[dict]:
    return [{"step": start + i, **values} for i in range(n)]


def monitor(loss: str = "gan-ns", **kwargs) -> HealthMonitor:
    return HealthMonitor(loss, window=WINDOW, warmup=WARMUP, **kwargs)


HEALTHY_GAN = {"d_real": 0.7, "d_fake": 0.3, "loss_d": 1.2, "loss_g": 0.9}
WON = {"d_real": 0.995, "d_fake": 0.004}


# ----------------------------------------------------------------------- discriminator wins

@pytest.mark.parametrize("loss", ["gan-minimax", "gan-ns"])
def test_discriminator_win_fires_once_the_window_is_full(loss):
    m = monitor(loss)
    assert m.check(rows(WINDOW - 1, **WON)) == []  # not a whole window yet
    alerts = m.check(rows(1, start=WINDOW, **WON))
    assert len(alerts) == 1 and "\n" not in alerts[0]
    assert alerts[0].startswith(f"the discriminator has won outright for {WINDOW} steps (D(x) 0.995, D(G(z)) 0.004)")
    # the saturating minimax loss is the usual cause; the advice names the loss not already in use
    assert ("--loss gan-ns" in alerts[0]) == (loss == "gan-minimax")


def test_discriminator_win_uses_the_window_mean():
    """Means over the last WINDOW rows (numpy as reference): 0.999 and 0.985 average to 0.992 > 0.99."""
    values = [0.999, 0.985] * (WINDOW // 2)
    assert np.mean(values) > 0.99 and min(values) < 0.99
    batch = [{"step": i + 1, "d_real": v, "d_fake": 0.001} for i, v in enumerate(values)]
    alerts = monitor().check(batch)
    assert len(alerts) == 1 and f"D(x) {np.mean(values):.3f}" in alerts[0]
    # older rows leave the window: after WINDOW healthy rows the mean is healthy again
    m = monitor(repeat_every=1)
    m.check(rows(WINDOW, **WON))
    assert m.check(rows(WINDOW, start=WINDOW + 1, **HEALTHY_GAN)) == []


@pytest.mark.parametrize("values", [
    HEALTHY_GAN,
    {"d_real": 0.9899, "d_fake": 0.001},  # just inside the bounds
    {"d_real": 0.999, "d_fake": 0.0101},
    {"d_real": 0.999, "d_fake": 0.5},  # D(x) high alone is not a win
])
def test_discriminator_win_stays_quiet(values):
    assert monitor().check(rows(3 * WINDOW, **values)) == []


@pytest.mark.parametrize("loss", ["wgan", "wgan-gp", "hinge"])
def test_discriminator_win_is_only_for_the_gan_losses(loss):
    """Critic outputs are not probabilities, so D(x)/D(G(z)) thresholds mean nothing there."""
    assert monitor(loss).check(rows(WINDOW, **WON)) == []


def test_an_alert_is_not_repeated_within_repeat_every_steps():
    m = monitor(repeat_every=100)
    assert len(m.check(rows(WINDOW, **WON))) == 1  # at step 10
    assert m.check(rows(89, start=WINDOW + 1, **WON)) == []  # up to step 99
    assert m.check(rows(1, start=WINDOW + 89 + 1, **WON)) == []  # step 100: 90 steps later
    assert len(m.check(rows(10, start=101, **WON))) == 1  # step 110: 100 steps later


# ------------------------------------------------------------------------- diversity collapse

@pytest.mark.parametrize(("ratio", "fires"), [(0.0, True), (0.05, True), (0.0999, True), (0.1, False), (0.6, False),
                                              (1.3, False), (None, False)])
def test_diversity_collapse_fires_below_a_tenth(ratio, fires):
    alerts = monitor().check(rows(1, start=WARMUP, **HEALTHY_GAN), diversity_ratio=ratio)
    assert len(alerts) == int(fires)
    if fires:
        assert alerts[0].startswith(f"sample diversity collapsed to {ratio:.1%} of the data's (mode collapse)")
        assert "\n" not in alerts[0]


def test_diversity_collapse_waits_for_the_warmup_and_is_not_repeated():
    m = monitor(repeat_every=50)
    # a fresh generator maps all its noise near one point: no alert before it has had a chance
    assert m.check(rows(1, start=1, **HEALTHY_GAN), diversity_ratio=0.01) == []
    assert m.check(rows(1, start=10, **HEALTHY_GAN), diversity_ratio=0.01) == []
    assert len(m.check(rows(1, start=WARMUP, **HEALTHY_GAN), diversity_ratio=0.01)) == 1
    assert m.check(rows(1, start=WARMUP + 1, **HEALTHY_GAN), diversity_ratio=0.01) == []
    assert len(m.check(rows(1, start=WARMUP + 50, **HEALTHY_GAN), diversity_ratio=0.01)) == 1


def test_the_default_warmup_keeps_a_fresh_run_quiet():
    m = HealthMonitor("gan-ns")
    assert m.check(rows(1, start=1, **HEALTHY_GAN), diversity_ratio=0.0) == []
    assert m.check(rows(1, start=10, **HEALTHY_GAN), diversity_ratio=0.0) == []
    assert len(m.check(rows(1, start=m.warmup, **HEALTHY_GAN), diversity_ratio=0.0)) == 1


def test_no_rows_no_alerts():
    assert monitor().check([], diversity_ratio=0.0) == []


# ----------------------------------------------------------------- critic gradient-norm drift

@pytest.mark.parametrize(("norm", "fires"), [(0.2, True), (0.4999, True), (0.5, False), (1.0, False), (2.0, False),
                                             (2.0001, True), (9.0, True)])
def test_gradient_norm_drift_fires_outside_half_to_two(norm, fires):
    alerts = monitor("wgan-gp").check(rows(WINDOW, grad_norm_critic=norm, loss_d=-1.0))
    assert len(alerts) == int(fires)
    if fires:
        assert alerts[0].startswith(f"the critic's gradient norm averages {norm:.3g}, far from the 1 the penalty asks for")


def test_gradient_norm_drift_uses_the_window_mean():
    norms = [0.1, 3.5] * (WINDOW // 2)  # each far from 1, but the mean is 1.8: inside [0.5, 2]
    batch = [{"step": i + 1, "grad_norm_critic": v} for i, v in enumerate(norms)]
    assert 0.5 <= np.mean(norms) <= 2.0
    assert monitor("wgan-gp").check(batch) == []


def test_gradient_norm_drift_needs_the_statistic():
    """Losses without a penalty report no grad_norm_critic: nothing to check."""
    assert monitor("wgan").check(rows(3 * WINDOW, loss_d=-1.0, w_estimate=0.5)) == []


def test_all_three_alerts_at_once_are_separate_lines():
    m = HealthMonitor("gan-ns", window=WINDOW, warmup=WINDOW)
    alerts = m.check(rows(WINDOW, grad_norm_critic=5.0, **WON), diversity_ratio=0.02)
    assert [a.split(" ")[1] for a in alerts] == ["discriminator", "diversity", "critic's"]
    assert all("\n" not in a and a.count("; try") == 1 for a in alerts)


# ---------------------------------------------------------------------------- the measure itself

@pytest.mark.parametrize("shape", [(50, 2), (17, 1, 8, 8), (9, 3, 4, 4)])
def test_mean_pairwise_distance_matches_scipy(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    want = pdist(x.reshape(shape[0], -1).numpy()).mean()  # mean over the n(n-1)/2 distinct pairs
    got = float(mean_pairwise_distance(x))
    assert got == pytest.approx(want, rel=1e-5)


def test_mean_pairwise_distance_of_identical_samples_is_zero():
    assert float(mean_pairwise_distance(torch.ones(8, 2))) == pytest.approx(0.0, abs=1e-6)
    assert float(mean_pairwise_distance(torch.ones(1, 2))) == 0.0  # one sample: no pairs


# ---------------------------------------------------------------------------------- a real run

def test_a_run_logs_its_alerts_and_stores_them_in_the_ticks_last_row(tmp_path):
    """A generator that cannot learn (learning rates of 1e-12) keeps all its samples near one point
    past the warm-up: the collapse alert fires from step 200 on, at a tick."""
    run = tmp_path / "run"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gankit.cli.main(["train", "--data", "ring8", "--set", "data.n_points=512", "--set", "model.width=16",
                              "--batch-size", "32", "--steps", "210", "--set", "train.log_every=5", "--device", "cpu",
                              "--set", "loss.lr_g=1e-12", "--set", "loss.lr_d=1e-12", "--out", str(run)])
    assert rc == 0, err.getvalue()
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    with_alerts = [r for r in stats if "alerts" in r]
    assert with_alerts and all(r["step"] % 5 == 0 for r in with_alerts)  # only the last row of a tick
    assert any("sample diversity collapsed" in a for r in with_alerts for a in r["alerts"])
    logged = [line for line in out.getvalue().splitlines() if line.startswith("warning: step ")]
    assert logged == [f"warning: step {r['step']}: {a}" for r in with_alerts for a in r["alerts"]]
