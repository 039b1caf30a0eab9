"""gankit.divergences against scipy, POT and closed forms (float64, explicit tolerances)."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from gankit import divergences as dv
from gankit.errors import GankitError

LOG2 = math.log(2.0)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _euclidean_cost(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Built by broadcasting in the test so that the reference does not share gankit's code path.
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))


def _normal_pdf(mu: float, sigma: float = 1.0):
    return lambda x: scipy.stats.norm.pdf(x, loc=mu, scale=sigma)


# --------------------------------------------------------------------------------------------
# discrete KL / JS


def test_kl_matches_scipy_entropy_unnormalised_input():
    rng = _rng(1)
    p, q = rng.uniform(0.1, 3.0, size=7), rng.uniform(0.1, 3.0, size=7)
    assert dv.kl(p, q) == pytest.approx(scipy.stats.entropy(p, q), rel=1e-12, abs=1e-14)
    assert dv.kl(p, q, base=2) == pytest.approx(scipy.stats.entropy(p, q, base=2), rel=1e-12)
    assert isinstance(dv.kl(p, q), float)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_kl_along_axis_matches_scipy(axis):
    rng = _rng(2)
    p, q = rng.uniform(0.0, 1.0, size=(4, 6)), rng.uniform(0.05, 1.0, size=(4, 6))
    got = dv.kl(p, q, axis=axis, base=3)
    want = scipy.stats.entropy(p, q, base=3, axis=axis)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_kl_is_infinite_when_q_misses_support_and_zero_mass_of_p_is_ignored():
    assert dv.kl([0.5, 0.5, 0.0], [1.0, 0.0, 0.0]) == math.inf
    # 0 log(0/q) = 0: p's empty bins contribute nothing; hand-derived: KL = 1 * log(1 / 0.5)
    assert dv.kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(LOG2, rel=1e-15)
    assert dv.kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(scipy.stats.entropy([1, 0], [0.5, 0.5]))


def test_kl_is_not_symmetric():
    p, q = np.array([0.9, 0.1]), np.array([0.5, 0.5])
    kl_pq = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    kl_qp = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert dv.kl(p, q) == pytest.approx(kl_pq, rel=1e-13)
    assert dv.kl(q, p) == pytest.approx(kl_qp, rel=1e-13)
    assert abs(dv.kl(p, q) - dv.kl(q, p)) > 0.1
    # finite one way, infinite the other
    assert dv.kl([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(LOG2, rel=1e-15)
    assert dv.kl([0.25, 0.25, 0.5], [0.5, 0.5, 0.0]) == math.inf


def test_js_matches_scipy_jensenshannon_squared():
    rng = _rng(3)
    p, q = rng.uniform(0, 2, size=9), rng.uniform(0, 2, size=9)
    assert dv.js(p, q) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-10)
    assert dv.js(p, q, base=2) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-10)
    pb, qb = rng.uniform(0, 2, size=(5, 3)), rng.uniform(0, 2, size=(5, 3))
    np.testing.assert_allclose(
        dv.js(pb, qb, axis=0), jensenshannon(pb, qb, axis=0) ** 2, rtol=1e-10, atol=1e-14
    )


def test_js_of_disjoint_supports_is_log2():
    assert dv.js([1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 1.0]) == pytest.approx(LOG2, abs=1e-12)
    assert dv.js([1.0, 0.0], [0.0, 1.0], base=2) == pytest.approx(1.0, abs=1e-12)
    batch = np.eye(6)[:3], np.eye(6)[3:]
    np.testing.assert_allclose(dv.js(*batch), LOG2, atol=1e-12)


def test_identical_distributions_give_zero():
    p = _rng(4).uniform(0, 1, size=10)
    assert dv.kl(p, 3 * p) == pytest.approx(0.0, abs=1e-15)
    assert dv.js(p, p) == pytest.approx(0.0, abs=1e-15)


masses = st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=2, max_size=8)


@st.composite
def pairs(draw):
    p = draw(masses.filter(lambda v: sum(v) > 1e-6))
    q = draw(
        st.lists(st.floats(0.0, 10.0), min_size=len(p), max_size=len(p)).filter(
            lambda v: sum(v) > 1e-6
        )
    )
    return np.array(p), np.array(q)


@settings(max_examples=60, deadline=None)
@given(pairs())
def test_kl_nonnegative_and_matches_scipy(pq):
    p, q = pq
    value = dv.kl(p, q)
    assert value >= -1e-12
    ref = scipy.stats.entropy(p, q)
    assert value == pytest.approx(ref, rel=1e-9, abs=1e-12) or (
        math.isinf(value) and math.isinf(ref)
    )


@settings(max_examples=60, deadline=None)
@given(pairs())
def test_js_symmetric_and_bounded(pq):
    p, q = pq
    a, b = dv.js(p, q), dv.js(q, p)
    assert a == pytest.approx(b, abs=1e-12)
    assert 0.0 <= a <= LOG2
    assert 0.0 <= dv.js(p, q, base=2) <= 1.0


@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        ([0.5, 0.5], [0.2, 0.3, 0.5], "same shape"),
        ([0.5, -0.1, 0.6], [0.2, 0.3, 0.5], "negative"),
        ([0.5, float("nan"), 0.5], [0.2, 0.3, 0.5], "NaN"),
        ([0.5, 0.5, 0.0], [0.2, float("inf"), 0.5], "NaN or inf"),
        ([0.0, 0.0, 0.0], [0.2, 0.3, 0.5], "zero total mass"),
        (["a", "b"], [0.5, 0.5], "numbers"),
        ([], [], "empty"),
    ],
)
def test_discrete_errors_are_one_line_value_errors(p, q, match):
    for fn in (dv.kl, dv.js, dv.gan_value_at_optimum_discrete):
        with pytest.raises(ValueError, match=match) as info:
            fn(p, q)
        assert isinstance(info.value, GankitError)
        assert "\n" not in str(info.value)


def test_bad_base_and_axis_raise():
    with pytest.raises(GankitError, match="base"):
        dv.kl([0.5, 0.5], [0.5, 0.5], base=1)
    with pytest.raises(GankitError, match="base"):
        dv.js([0.5, 0.5], [0.5, 0.5], base=-2)
    with pytest.raises(GankitError, match="axis"):
        dv.kl([0.5, 0.5], [0.5, 0.5], axis=2)


# --------------------------------------------------------------------------------------------
# densities and Gaussians


def test_kl_gaussian_univariate_closed_form_vs_numerical_integration():
    mu0, var0, mu1, var1 = 0.3, 0.8, -1.1, 2.5
    closed = dv.kl_gaussian(mu0, var0, mu1, var1)
    # hand-derived univariate formula
    want = 0.5 * (var0 / var1 + (mu1 - mu0) ** 2 / var1 - 1 + math.log(var1 / var0))
    assert closed == pytest.approx(want, rel=1e-13)
    grid = np.linspace(-20, 20, 40001)
    numeric = dv.kl_density(_normal_pdf(mu0, var0**0.5), _normal_pdf(mu1, var1**0.5), grid)
    assert numeric == pytest.approx(closed, rel=1e-8)
    # independent quadrature with scipy
    p, q = scipy.stats.norm(mu0, var0**0.5), scipy.stats.norm(mu1, var1**0.5)
    quad, _ = scipy.integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -30, 30)
    assert closed == pytest.approx(quad, rel=1e-8)
    assert dv.kl_gaussian(mu0, var0, mu0, var0) == pytest.approx(0.0, abs=1e-15)


def test_kl_gaussian_multivariate_vs_monte_carlo_and_2d_grid():
    mu0, mu1 = np.array([0.0, 0.5]), np.array([1.0, -0.5])
    cov0 = np.array([[1.0, 0.3], [0.3, 0.5]])
    cov1 = np.array([[1.5, -0.2], [-0.2, 0.8]])
    closed = dv.kl_gaussian(mu0, cov0, mu1, cov1)
    n0, n1 = scipy.stats.multivariate_normal(mu0, cov0), scipy.stats.multivariate_normal(mu1, cov1)
    x = n0.rvs(size=200_000, random_state=5)
    log_ratio = n0.logpdf(x) - n1.logpdf(x)
    stderr = log_ratio.std() / math.sqrt(len(x))
    assert abs(closed - log_ratio.mean()) < 4 * stderr
    # 2-D grid: callables receive points [Mx, My, 2]
    axis = np.linspace(-9, 9, 721)
    numeric = dv.kl_density(n0.pdf, n1.pdf, (axis, axis))
    assert numeric == pytest.approx(closed, rel=1e-6)
    # d = 1 multivariate agrees with the univariate form
    assert dv.kl_gaussian([1.0], [[2.0]], [0.0], [[0.5]]) == pytest.approx(
        dv.kl_gaussian(1.0, 2.0, 0.0, 0.5), rel=1e-14
    )


def test_kl_gaussian_errors():
    with pytest.raises(GankitError, match="positive definite"):
        dv.kl_gaussian([0, 0], [[1, 2], [2, 1]], [0, 0], np.eye(2))
    with pytest.raises(GankitError, match="positive definite"):
        dv.kl_gaussian(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(GankitError, match="symmetric"):
        dv.kl_gaussian([0, 0], [[1, 0.5], [0, 1]], [0, 0], np.eye(2))
    with pytest.raises(GankitError, match=r"\[d, d\]"):
        dv.kl_gaussian([0, 0], np.eye(3), [0, 0], np.eye(2))


def test_js_density_matches_scipy_quad():
    p, q = scipy.stats.norm(0.0, 1.0), scipy.stats.norm(1.5, 0.7)

    def integrand(x):
        m = 0.5 * (p.pdf(x) + q.pdf(x))
        return 0.5 * p.pdf(x) * math.log(p.pdf(x) / m) + 0.5 * q.pdf(x) * math.log(q.pdf(x) / m)

    want, _ = scipy.integrate.quad(integrand, -15, 15, limit=200)
    got = dv.js_density(p.pdf, q.pdf, np.linspace(-15, 15, 30001))
    assert got == pytest.approx(want, rel=1e-7)
    assert dv.js_density(p.pdf, q.pdf, np.linspace(-15, 15, 30001), base=2) == pytest.approx(
        want / LOG2, rel=1e-7
    )


def test_density_helpers_accept_values_and_flag_missing_support():
    grid = np.linspace(-1, 2, 301)
    uniform01 = ((grid >= 0) & (grid <= 1)).astype(float)
    shifted = ((grid >= 0.5) & (grid <= 1.5)).astype(float)
    assert dv.kl_density(uniform01, shifted, grid) == math.inf
    assert dv.kl_density(uniform01, uniform01, grid) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(GankitError, match="one density value per grid point"):
        dv.kl_density(uniform01[:-1], shifted, grid)
    with pytest.raises(GankitError, match="strictly increasing"):
        dv.js_density(uniform01, shifted, grid[::-1])
    with pytest.raises(GankitError, match="negative"):
        dv.js_density(-uniform01, shifted, grid)
    with pytest.raises(GankitError, match="zero on the whole grid"):
        dv.js_density(np.zeros_like(grid), shifted, grid)


# --------------------------------------------------------------------------------------------
# D* and V(D*, G)


def test_optimal_discriminator_values_and_zero_over_zero():
    p_r, p_g = np.array([0.2, 0.0, 0.0, 0.3]), np.array([0.6, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(
        dv.optimal_discriminator(p_r, p_g), [0.25, 0.0, 0.5, 1.0], rtol=0, atol=1e-15
    )
    assert dv.optimal_discriminator(0.0, 0.0) == 0.5


def test_optimal_discriminator_of_two_gaussians_is_a_sigmoid():
    # N(0,1) vs N(2,1): log p_r/p_g = 2 - 2x, so D* = sigmoid(2 - 2x)
    d_star = dv.optimal_discriminator(_normal_pdf(0.0), _normal_pdf(2.0))
    x = np.linspace(-5, 7, 101)
    np.testing.assert_allclose(d_star(x), scipy.special.expit(2 - 2 * x), rtol=1e-12, atol=1e-15)


def test_gan_value_at_optimum_equals_2js_minus_2log2_on_gaussians():
    p_r, p_g = _normal_pdf(0.0, 1.0), _normal_pdf(1.7, 1.3)
    grid = np.linspace(-15, 17, 32001)
    value = dv.gan_value_at_optimum(p_r, p_g, grid)
    assert value == pytest.approx(2 * dv.js_density(p_r, p_g, grid) - 2 * LOG2, abs=1e-6)

    # independent: quad of E_pr log D* + E_pg log(1 - D*) written with D* explicitly
    def integrand(x):
        d = p_r(x) / (p_r(x) + p_g(x))
        return p_r(x) * math.log(d) + p_g(x) * math.log1p(-d)

    want, _ = scipy.integrate.quad(integrand, -15, 17, limit=200)
    assert value == pytest.approx(want, abs=1e-6)
    assert -2 * LOG2 - 1e-9 <= value <= 0.0
    assert dv.gan_value_at_optimum(p_r, p_r, grid) == pytest.approx(-2 * LOG2, abs=1e-6)


def test_d_star_maximises_the_pointwise_objective():
    # a log y + b log(1 - y) is maximised at y = a / (a + b)  (Goodfellow et al., Prop. 1)
    a, b = np.array([0.3, 1.2, 0.05]), np.array([0.9, 0.4, 0.05])
    d = dv.optimal_discriminator(a, b)
    best = a * np.log(d) + b * np.log1p(-d)
    for delta in (-0.02, 0.02):
        other = np.clip(d + delta, 1e-9, 1 - 1e-9)
        assert np.all(a * np.log(other) + b * np.log1p(-other) < best)


def test_gan_value_on_2d_grid_and_discrete():
    n0 = scipy.stats.multivariate_normal([0, 0], np.eye(2))
    n1 = scipy.stats.multivariate_normal([1, 1], 1.5 * np.eye(2))
    axis = np.linspace(-9, 10, 501)
    value = dv.gan_value_at_optimum(n0.pdf, n1.pdf, (axis, axis))
    assert value == pytest.approx(
        2 * dv.js_density(n0.pdf, n1.pdf, (axis, axis)) - 2 * LOG2, abs=1e-6
    )
    rng = _rng(6)
    p, q = rng.uniform(0, 1, 12), rng.uniform(0, 1, 12)
    want = 2 * jensenshannon(p, q) ** 2 - 2 * LOG2
    assert dv.gan_value_at_optimum_discrete(p, q) == pytest.approx(want, abs=1e-12)
    assert dv.gan_value_at_optimum_discrete(p, p) == pytest.approx(-2 * LOG2, abs=1e-14)


# --------------------------------------------------------------------------------------------
# Wasserstein-1


def test_wasserstein_1d_matches_scipy_with_weights():
    rng = _rng(7)
    x, y = rng.normal(size=40), rng.normal(1.0, 2.0, size=55)
    wx, wy = rng.uniform(0, 1, 40), rng.uniform(0, 1, 55)
    assert dv.wasserstein(x, y) == pytest.approx(scipy.stats.wasserstein_distance(x, y), rel=1e-12)
    assert dv.wasserstein(x, y, wx, wy) == pytest.approx(
        scipy.stats.wasserstein_distance(x, y, wx, wy), rel=1e-12
    )
    # [N, 1] is the same as [N]
    assert dv.wasserstein(x[:, None], y[:, None]) == pytest.approx(dv.wasserstein(x, y), rel=1e-15)


@pytest.mark.parametrize("d", [2, 5])
def test_wasserstein_nd_matches_pot_emd2(d):
    rng = _rng(8 + d)
    x, y = rng.normal(size=(60, d)), rng.normal(0.5, 1.5, size=(45, d))
    a, b = np.full(60, 1 / 60), np.full(45, 1 / 45)
    want = ot.emd2(a, b, _euclidean_cost(x, y))
    assert dv.wasserstein(x, y) == pytest.approx(want, rel=1e-10)
    wx, wy = rng.uniform(0.1, 1, 60), rng.uniform(0.1, 1, 45)
    want_w = ot.emd2(wx / wx.sum(), wy / wy.sum(), _euclidean_cost(x, y))
    assert dv.wasserstein(x, y, wx, wy) == pytest.approx(want_w, rel=1e-10)


def test_wasserstein_of_shifted_copy_is_the_shift():
    rng = _rng(9)
    x1 = rng.normal(size=200)
    assert dv.wasserstein(x1, x1 + 0.7) == pytest.approx(0.7, abs=1e-12)
    for d in (2, 5):
        x = rng.normal(size=(80, d))
        shift = rng.normal(size=d)
        assert dv.wasserstein(x, x + shift) == pytest.approx(np.linalg.norm(shift), rel=1e-9)
    assert dv.wasserstein(x, x) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("d", "shift"), [(1, 1.0), (2, 1.0), (2, 0.0), (5, 3.0)])
def test_sinkhorn_within_documented_error_of_exact(d, shift):
    rng = _rng(10 + d)
    x = rng.normal(size=(150, d))
    y = 1.5 * rng.normal(size=(120, d)) + shift / math.sqrt(d)
    exact = dv.wasserstein(x, y)
    approx = dv.wasserstein(x, y, method="sinkhorn")
    bound = dv.SINKHORN_ERROR * _euclidean_cost(x, y).mean()
    # the entropic plan is feasible up to the marginal tolerance, so it cannot beat exact
    assert -1e-4 * bound <= approx - exact <= bound


def test_sinkhorn_smaller_reg_is_closer_and_shifted_copy():
    rng = _rng(11)
    x = rng.normal(size=(120, 2))
    shift = np.array([2.0, -1.0])
    exact = math.sqrt(5.0)
    approx = dv.wasserstein(x, x + shift, method="sinkhorn")
    assert 0.0 <= approx - exact <= dv.SINKHORN_ERROR * _euclidean_cost(x, x + shift).mean()
    tighter = dv.wasserstein(x, x + shift, method="sinkhorn", reg=0.003)
    assert exact - 1e-6 <= tighter < approx


def test_torch_tensors_give_the_same_result_as_numpy():
    rng = _rng(12)
    x, y = rng.normal(size=(70, 3)), rng.normal(0.3, 1.0, size=(50, 3))
    wy = rng.uniform(0.1, 1.0, size=50)
    xt, yt, wyt = (torch.from_numpy(v) for v in (x, y, wy))
    assert dv.wasserstein(xt, yt, y_weights=wyt) == pytest.approx(
        dv.wasserstein(x, y, y_weights=wy), rel=1e-12
    )
    assert dv.wasserstein(xt[:, 0], yt[:, 0]) == pytest.approx(
        dv.wasserstein(x[:, 0], y[:, 0]), rel=1e-12
    )
    sk_np = dv.wasserstein(x, y, method="sinkhorn")
    sk_t = dv.wasserstein(xt, yt, method="sinkhorn")
    assert sk_t == pytest.approx(sk_np, rel=1e-10)
    # float32 tensors are promoted to float64
    assert dv.wasserstein(xt.float(), y) == pytest.approx(
        dv.wasserstein(x.astype(np.float32).astype(np.float64), y), rel=1e-12
    )
    # discrete helpers accept tensors too
    p, q = torch.tensor([0.2, 0.8]), np.array([0.5, 0.5])
    assert dv.kl(p, q) == pytest.approx(scipy.stats.entropy([0.2, 0.8], q), rel=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sinkhorn_on_cuda_matches_numpy():
    rng = _rng(13)
    x, y = rng.normal(size=(300, 2)), rng.normal(1.0, 1.0, size=(200, 2))
    on_gpu = dv.wasserstein(
        torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda(), method="sinkhorn"
    )
    assert on_gpu == pytest.approx(dv.wasserstein(x, y, method="sinkhorn"), rel=1e-8)
    assert dv.wasserstein(torch.from_numpy(x).cuda(), y) == pytest.approx(
        dv.wasserstein(x, y), rel=1e-12
    )


def test_wasserstein_errors():
    x = np.zeros((5, 2))
    cases = [
        ((x, np.zeros((5, 3))), {}, "same dimension"),
        ((np.zeros((2, 2, 2)), x), {}, r"\[N\] or \[N, d\]"),
        ((np.full((3, 2), np.nan), x), {}, "NaN"),
        ((np.zeros((0, 2)), x), {}, "no samples"),
        ((x, x), {"method": "greedy"}, "unknown method"),
        ((x, x, [1, 1]), {}, r"shape \(5,\)"),
        ((x, x, [1, -1, 1, 1, 1]), {}, "negative"),
        ((x, x, None, np.zeros(5)), {}, "zero total mass"),
        ((x, x), {"method": "sinkhorn", "reg": 0.0}, "reg"),
        ((x, x), {"max_iter": 0}, "max_iter"),
        ((x, x), {"method": "sinkhorn", "tol": -1.0}, "tol"),
    ]
    for args, kwargs, match in cases:
        with pytest.raises(ValueError, match=match) as info:
            dv.wasserstein(*args, **kwargs)
        assert isinstance(info.value, GankitError)
        assert "\n" not in str(info.value)


def test_solver_iteration_caps_are_reported():
    rng = _rng(14)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    with pytest.raises(GankitError, match="max_iter"):
        dv.wasserstein(x, y, max_iter=2)
    with pytest.warns(RuntimeWarning, match="max_iter"):
        dv.wasserstein(x, y, method="sinkhorn", max_iter=3)


# --------------------------------------------------------------------------------------------
# parallel lines


def test_parallel_lines_analytic_values():
    res = dv.parallel_lines(np.array([-1.5, 0.0, 0.25]))
    np.testing.assert_array_equal(res.kl, [math.inf, 0.0, math.inf])
    np.testing.assert_allclose(res.js, [LOG2, 0.0, LOG2], rtol=0, atol=0)
    np.testing.assert_allclose(res.w1, [1.5, 0.0, 0.25], rtol=0, atol=0)
    np.testing.assert_array_equal(res.tv, [1.0, 0.0, 1.0])
    scalar = dv.parallel_lines(0.0)
    assert (scalar.kl, scalar.js, scalar.w1, scalar.tv) == (0.0, 0.0, 0.0, 0.0)
    assert isinstance(dv.parallel_lines(2.0).w1, float)
    with pytest.raises(GankitError, match="NaN"):
        dv.parallel_lines([0.0, float("nan")])


def test_parallel_lines_samples():
    x0, x1 = dv.parallel_lines_samples(0.7, n=300, seed=3)
    assert x0.shape == x1.shape == (300, 2)
    assert np.all(x0[:, 0] == 0.0) and np.all(x1[:, 0] == 0.7)
    assert np.all((x0[:, 1] >= 0) & (x0[:, 1] <= 1)) and np.all((x1[:, 1] >= 0) & (x1[:, 1] <= 1))
    # Z ~ U[0, 1]: a Kolmogorov-Smirnov test does not reject uniformity
    assert scipy.stats.kstest(x0[:, 1], "uniform").pvalue > 1e-3
    again = dv.parallel_lines_samples(0.7, n=300, seed=3)
    np.testing.assert_array_equal(again[1], x1)
    with pytest.raises(GankitError, match="positive integer"):
        dv.parallel_lines_samples(0.7, n=0)


def test_parallel_lines_estimates():
    thetas = np.array([-1.0, 0.5, 2.0])
    est = dv.parallel_lines_estimate(thetas, n=500, seed=0)
    np.testing.assert_allclose(est.w1, np.abs(thetas), rtol=0.03)
    # the W1 estimate is the exact EMD of the samples
    x0, x1 = dv.parallel_lines_samples(0.5, n=500, seed=0)
    assert est.w1[1] == pytest.approx(ot.emd2([], [], _euclidean_cost(x0, x1)), rel=1e-10)
    # offsets wider than a histogram cell: disjoint histograms, the analytic values exactly
    np.testing.assert_array_equal(est.kl, math.inf)
    np.testing.assert_allclose(est.js, LOG2, atol=1e-12)
    np.testing.assert_allclose(est.tv, 1.0, atol=1e-12)
    # theta = 0: both sample sets fill the same cells, the estimates are sampling noise
    zero = dv.parallel_lines_estimate(0.0, n=2000, seed=1)
    assert zero.js < 0.02 and zero.tv < 0.1 and zero.kl < 0.05
    assert zero.w1 < 0.05
