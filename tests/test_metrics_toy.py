"""Toy mode metrics (VEEGAN / PacGAN) on constructed point sets with known answers."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
from scipy.spatial.distance import jensenshannon

from gankit.errors import GankitError
from gankit.metrics.toy import (
    grid_histogram,
    histogram_grid,
    mode_metrics,
    reverse_kl_uniform,
)

STD = 0.02


def ring(k: int = 8, radius: float = 2.0) -> np.ndarray:
    t = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def around(modes: np.ndarray, per_mode: int, std: float, seed: int) -> np.ndarray:
    """``per_mode`` Gaussian points around each mode, equal counts (a perfect generator)."""
    rng = np.random.default_rng(seed)
    centres = np.repeat(modes, per_mode, axis=0)
    return centres + std * rng.standard_normal(centres.shape)


def test_all_modes_captured():
    modes = ring()
    m = mode_metrics(around(modes, 300, STD, 0), modes, STD)
    assert m["modes_captured"] == 8 and m["n_modes"] == 8
    # P(||z|| <= 3) for a 2-D standard normal is 1 - exp(-9/2) = 0.98889; 2400 points -> sd 0.002
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert m["reverse_kl"] == pytest.approx(0.0, abs=0.005)
    # same distribution as the fresh true samples: both distances small
    assert m["w1"] < 0.2 and m["js_hist"] < 0.1


def test_collapsed_generator_has_reverse_kl_log_modes():
    modes = ring()
    points = around(modes[:1], 2000, STD / 3, 1)  # tight: every point is high quality
    m = mode_metrics(points, modes, STD)
    assert m["modes_captured"] == 1
    assert m["high_quality"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_off_mode_noise_has_no_high_quality_sample():
    modes = ring()
    rng = np.random.default_rng(2)
    points = 0.5 * rng.standard_normal((1000, 2))  # inside the ring, far from every mode
    m = mode_metrics(points, modes, STD)
    assert m["high_quality"] == 0.0
    assert m["modes_captured"] == 0
    assert m["reverse_kl"] == math.inf


def test_reverse_kl_matches_scipy_entropy_definition():
    from scipy.stats import entropy

    counts = np.array([10, 0, 30, 5, 0, 55, 0, 0])
    assert reverse_kl_uniform(counts) == pytest.approx(entropy(counts / 100, np.full(8, 1 / 8)), rel=1e-12)


def test_w1_is_exact_emd_to_the_given_true_samples():
    modes = ring()
    x, y = around(modes, 50, STD, 3), around(modes, 50, STD, 4) + 0.1
    m = mode_metrics(x, modes, STD, real=y)
    n = len(x)
    ref = ot.emd2(np.full(n, 1 / n), np.full(n, 1 / n), ot.dist(x, y, metric="euclidean"))
    assert m["w1"] == pytest.approx(ref, rel=1e-9)


def test_js_hist_against_scipy_and_its_bounds():
    modes = ring()
    x, y = around(modes, 100, STD, 5), around(modes, 100, STD, 6)
    edges = histogram_grid(modes, STD, y)
    p, q = grid_histogram(x, edges), grid_histogram(y, edges)
    assert p.sum() == len(x) and q.sum() == len(y)  # nothing dropped
    m = mode_metrics(x, modes, STD, real=y)
    assert m["js_hist"] == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-9)  # scipy returns sqrt(JS)
    assert mode_metrics(x, modes, STD, real=x)["js_hist"] == 0.0
    far = mode_metrics(x + 100.0, modes, STD, real=y)  # all mass in the overflow cell
    assert far["js_hist"] == pytest.approx(math.log(2), rel=1e-12)


def test_fresh_true_samples_are_seeded():
    modes = ring()
    x = around(modes, 40, STD, 7)
    assert mode_metrics(x, modes, STD, seed=1) == mode_metrics(x, modes, STD, seed=1)
    assert mode_metrics(x, modes, STD, seed=1)["w1"] != mode_metrics(x, modes, STD, seed=2)["w1"]


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(GankitError, match=r"\[N, 2\]"):
        mode_metrics(np.zeros((5, 3)), ring(), STD)
    with pytest.raises(GankitError, match="NaN"):
        mode_metrics(np.full((5, 2), np.nan), ring(), STD)
    with pytest.raises(GankitError, match="std"):
        mode_metrics(np.zeros((5, 2)), ring(), 0.0)


def test_evaluate_toy_on_ring8_true_samples():
    torch = pytest.importorskip("torch")
    data = pytest.importorskip("gankit.data")
    from gankit.metrics.toy import evaluate_toy

    points = data.toy_sample("ring8", 2500, generator=torch.Generator().manual_seed(11))
    m = evaluate_toy(points, "ring8", seed=0)
    assert m["modes_captured"] == 8 == m["n_modes"]
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert m["reverse_kl"] < 0.01
    swiss = evaluate_toy(data.toy_sample("swissroll", 500, generator=torch.Generator().manual_seed(1)), "swissroll")
    assert set(swiss) == {"w1", "js_hist"}  # no modes to count
