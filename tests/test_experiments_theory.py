"""The W-GAN-argument experiments (critic-vs-w1, wgan-figure2, ns-gradient, d-strength), quick budgets.

Each claim asserted here held on seeds 0, 1 and 2 of the quick budget when it was written; the
margins are wider than the spread seen there. References are independent of the code under test
where one exists: the exact W1 = |theta| of a translation, scipy quadrature for JS and KL,
closed forms (moment matching, the JS of a mixture against one of its components), and autograd
against finite differences.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from gankit.experiments import EXPERIMENTS
from gankit.experiments import critic_vs_w1 as cw
from gankit.experiments import d_strength as ds
from gankit.experiments import ns_gradient as nsg
from gankit.experiments import wgan_figure2 as wf2

LOG2 = math.log(2.0)
NAMES = ("critic-vs-w1", "wgan-figure2", "ns-gradient", "d-strength")


def _strict_json(result: dict) -> dict:
    """Round-trip through JSON that refuses NaN / inf, as the files are written."""
    return json.loads(json.dumps(result, allow_nan=False))


def _scipy_js_normals(m0: float, s0: float, m1: float, s1: float) -> float:
    """JS(N(m0, s0^2) || N(m1, s1^2)) in nats by adaptive quadrature."""
    p, q = stats.norm(m0, s0), stats.norm(m1, s1)

    def half(a, b):
        def integrand(x):
            pa = a.pdf(x)
            return 0.0 if pa == 0 else pa * math.log(2 * pa / (a.pdf(x) + b.pdf(x)))
        lo, hi = min(m0, m1) - 12 * max(s0, s1), max(m0, m1) + 12 * max(s0, s1)
        return integrate.quad(integrand, lo, hi, points=[m0, m1], limit=200)[0]

    return 0.5 * half(p, q) + 0.5 * half(q, p)


@pytest.fixture(scope="module")
def critic():
    return _strict_json(cw.numbers(quick=True, seed=0))


@pytest.fixture(scope="module")
def figure2():
    return _strict_json(wf2.numbers(quick=True, seed=0))


@pytest.fixture(scope="module")
def nsgrad():
    return _strict_json(nsg.numbers(quick=True, seed=0))


@pytest.fixture(scope="module")
def strength():
    return _strict_json(ds.numbers(quick=True, seed=0))


def test_registered_with_the_common_shape():
    for name in NAMES:
        module = EXPERIMENTS[name]
        assert module.TITLE and module.CLAIM
        assert callable(module.numbers) and callable(module.plot) and callable(module.summary)


# --------------------------------------------------------------------------- critic-vs-w1


def test_critic_estimate_tracks_the_exact_w1(critic):
    theta = np.asarray(critic["theta"])
    assert np.array_equal(critic["w1"], np.abs(theta))  # W1 of a translation by theta is |theta|
    for fam in critic["families"]:
        r = critic["results"][fam]
        est = np.asarray(r["critic_mean"])
        assert r["pearson"] > 0.99 and r["spearman"] == 1.0, fam
        assert stats.pearsonr(np.abs(theta), est)[0] == pytest.approx(r["pearson"], abs=1e-9)
        apart = theta > 0
        # a soft penalty: above W1, by at most a quarter (the penalised optimum is theta + theta^2/20 for lines)
        assert np.all(est[apart] > 0.97 * theta[apart]), fam
        assert np.all(est[apart] < 1.25 * theta[apart] + 0.05), fam
        assert np.all(np.abs(est[~apart]) < 0.05), fam
        assert 1.0 < r["slope"] < 1.3, fam


def test_critic_estimate_is_near_the_penalised_optimum(critic):
    theta = np.asarray(critic["theta"])
    lines_opt = np.asarray(critic["results"]["lines"]["penalised_optimum"])
    assert np.allclose(lines_opt, theta + theta**2 / 20.0, rtol=0, atol=1e-12)  # lambda = 10
    for fam in ("gauss", "lines"):
        r = critic["results"][fam]
        gap = np.abs(np.asarray(r["critic_mean"]) - np.asarray(r["penalised_optimum"]))
        assert np.all(gap < 0.1 * theta + 0.05), fam


def test_penalised_critic_tends_to_w1_as_lambda_grows():
    x = np.linspace(-10.0, 12.0, 4001)
    slope, est = cw.penalised_critic_1d(x, (0.0, 1.0), (2.0, 1.0), lam=1e9)
    assert est == pytest.approx(stats.wasserstein_distance(*(stats.norm(m, 1).ppf(np.linspace(1e-4, 1 - 1e-4, 20001))
                                                            for m in (0.0, 2.0))), abs=1e-3)
    assert np.all(slope >= 1.0)
    assert cw.penalised_critic_1d(x, (0.0, 1.0), (2.0, 1.0), lam=10.0)[1] > est


def test_gan_js_estimate_saturates_for_disjoint_supports(critic):
    theta = np.asarray(critic["theta"])
    for fam in ("lines", "ring8"):
        r = critic["results"][fam]
        js = np.asarray(r["js_gan_mean"])
        assert np.all(np.abs(js[theta >= 0.5] - LOG2) < 0.01), fam
        assert np.all(np.abs(np.asarray(r["js_exact"])[theta >= 0.5] - LOG2) < 1e-3), fam
        assert abs(js[theta == 0][0]) < 0.01
    gauss = critic["results"]["gauss"]
    reference = [_scipy_js_normals(0.0, 1.0, t, 1.0) for t in theta]
    assert np.allclose(gauss["js_exact"], reference, atol=1e-6)
    assert np.allclose(gauss["js_gan_mean"], reference, atol=0.02)


def test_clipping_gives_a_tiny_lipschitz_constant_and_weights_at_the_bound(critic):
    c = critic["settings"]["clip"]
    for fam in critic["families"]:
        r = critic["results"][fam]
        assert max(r["clip_lipschitz"]) < 0.01, fam
        lip = np.asarray(r["critic_lipschitz"])
        assert lip.min() > 0.9 and lip.max() < 2.0, fam
        assert r["clip_pearson"] > 0.9, fam
        assert r["normalised_excess"] < 0.05, fam  # duality: E_P f - E_Q f <= L W1
    w = critic["weights"]
    assert w["clip"]["max_abs"] <= c * (1 + 1e-6) and w["clip"]["at_bound"] > 0.3
    assert w["penalty"]["max_abs"] > 10 * c


def test_the_1d_sign_trap_lands_on_one_of_the_two_penalised_optima(critic):
    # with the penalty from step 1 a 1-D critic keeps its initial sign; either way |estimate| ~ 1
    trap = critic["sign_trap"]
    assert trap["runs"] == len(trap["estimates"]) >= 3
    assert all(0.8 < abs(e) < 1.2 for e in trap["estimates"])
    assert trap["wrong_sign"] == sum(e < 0 for e in trap["estimates"])


# --------------------------------------------------------------------------- wgan-figure2


def test_saturated_discriminator_is_flat_at_the_fakes(figure2):
    assert len(figure2["seeds"]) >= 3
    assert max(figure2["d_fake"]) < 1e-3
    assert max(figure2["d_grad_fake_ratio"]) < 1e-3
    assert max(figure2["minimax_grad_fake_ratio"]) < 1e-3
    assert min(figure2["ns_grad_fake"]) > 1.0  # the non-saturating loss still pushes


def test_critic_slope_is_about_one_and_constant(figure2):
    target = figure2["penalised_slope_fake"]
    assert 1.0 < target < 1.3
    for mean, std, between in zip(figure2["critic_grad_fake_mean"], figure2["critic_grad_fake_std"],
                                  figure2["critic_grad_between_mean"], strict=True):
        assert abs(mean - target) < 0.15 and std < 0.1 and abs(between - target) < 0.15
    assert all(figure2["w1"] < e < figure2["penalised_estimate"] + 0.3 for e in figure2["critic_estimate"])


def test_gan_curves_match_autograd():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.linspace(-3, 3, 41, dtype=torch.float64)[:, None].requires_grad_(True)
    net = net.double()
    logit = net(x)[:, 0]
    curves = wf2.gan_curves(*(v.detach().numpy() for v in (logit, torch.autograd.grad(logit.sum(), x)[0][:, 0])))
    for key, fn in (("d_grad", torch.sigmoid), ("minimax_grad", lambda t: torch.log1p(-torch.sigmoid(t))),
                    ("ns_grad", lambda t: -torch.log(torch.sigmoid(t)))):
        (g,) = torch.autograd.grad(fn(net(x)[:, 0]).sum(), x)
        assert np.allclose(curves[key], g[:, 0].abs().numpy(), rtol=1e-9, atol=1e-12), key


# --------------------------------------------------------------------------- ns-gradient


def test_ns_gradient_identity_holds(nsgrad):
    assert nsgrad["max_rel_error"] < 1e-6
    assert nsgrad["minimax_max_rel_error"] < 1e-6
    for c in nsgrad["checks"]:
        assert np.linalg.norm(c["rhs"]) > 0.1  # not a trivial 0 = 0


def test_ns_gradient_divergences_match_scipy():
    mu, sigma = 0.7, 0.9
    pg = stats.norm(mu, sigma).pdf

    def pr(x):
        return math.exp(float(nsg.log_target(np.array(x))))

    kl_rev = integrate.quad(lambda x: pg(x) * math.log(pg(x) / pr(x)), -12, 12, limit=200)[0]
    kl_fwd = integrate.quad(lambda x: pr(x) * math.log(pr(x) / pg(x)), -6.5, 6.5, limit=200)[0]
    js = 0.5 * integrate.quad(lambda x: pr(x) * math.log(2 * pr(x) / (pr(x) + pg(x))), -12, 12, limit=200)[0] \
        + 0.5 * integrate.quad(lambda x: pg(x) * math.log(2 * pg(x) / (pr(x) + pg(x))), -12, 12, limit=200)[0]
    o = nsg.objectives(mu, sigma, np.linspace(*nsg.WIDE, 20_001), np.linspace(*nsg.NARROW, 6_501))
    assert o["reverse_kl"] == pytest.approx(kl_rev, abs=1e-6)
    assert o["forward_kl"] == pytest.approx(kl_fwd, abs=1e-6)
    assert o["js"] == pytest.approx(js, abs=1e-6)


def test_ns_objective_is_mode_seeking_and_ml_is_moment_matching(nsgrad):
    m = nsgrad["minima"]
    step_mu = nsgrad["mu"][1] - nsgrad["mu"][0]
    step_s = nsgrad["sigma"][1] - nsgrad["sigma"][0]
    # NS: on one mode; value = KL(A || (A + B)/2) - 2 JS((A + B)/2 || A) for disjoint components A, B
    js_half = 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2)) + 0.5 * math.log(4 / 3)
    assert abs(m["ns"]["mu"] - 2.0) <= step_mu and abs(m["ns"]["sigma"] - 0.5) <= step_s
    assert m["ns"]["value"] == pytest.approx(LOG2 - 2 * js_half, abs=5e-3)
    # maximum likelihood over Gaussians: moment matching, mean 0 and variance 0.5^2 + 2^2
    assert abs(m["forward"]["mu"]) <= step_mu / 2 + 1e-12
    assert abs(m["forward"]["sigma"] - math.sqrt(4.25)) <= step_s
    assert abs(m["minimax"]["mu"]) <= step_mu and m["minimax"]["sigma"] > 1.5  # covers both modes
    ends = nsgrad["path_ends"]
    assert abs(ends["ns"]["narrow"]["mu"] - 2.0) < 0.05 and abs(ends["ns"]["narrow"]["sigma"] - 0.5) < 0.05
    # from the broad start the NS descent stalls on the symmetric local minimum
    assert abs(ends["ns"]["broad"]["mu"]) < 0.3 and ends["ns"]["broad"]["value"] > m["ns"]["value"] + 1.0


# --------------------------------------------------------------------------- d-strength


def test_optimal_discriminator_gradient_matches_finite_differences():
    p_g = (1.5, 0.7)
    z = torch.randn(512, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.linspace(-3, 4, 9, dtype=torch.float64)[:, None]
    ref = stats.norm(0, 1).logpdf(x.numpy()[:, 0]) - stats.norm(*p_g).logpdf(x.numpy()[:, 0])
    assert np.allclose(ds.optimal_logit(x, p_g).numpy(), ref, atol=1e-12)
    for fn in ds.LOSS_FNS.values():
        g = ds.generator_gradient(lambda t: ds.optimal_logit(t, p_g), p_g, z, fn)
        h = 1e-6

        def value(mu, sigma, fn=fn):
            with torch.no_grad():
                return float(fn(ds.optimal_logit(mu + sigma * z, p_g)))  # D* frozen at p_g

        fd = [(value(p_g[0] + h, p_g[1]) - value(p_g[0] - h, p_g[1])) / (2 * h),
              (value(p_g[0], p_g[1] + h) - value(p_g[0], p_g[1] - h)) / (2 * h)]
        assert np.allclose(g, fd, rtol=1e-5, atol=1e-8)


def test_strong_discriminator_gradients_align_with_d_star(strength):
    over = strength["cases"]["overlap"]
    for loss in ("minimax", "ns"):
        e = over[loss]
        assert min(np.asarray(e["cosine"])[:, -1]) > 0.95, loss
        assert e["norm_mean"][-1] == pytest.approx(e["norm_star"], rel=0.2), loss
        assert e["norm_mean"][0] < 0.05 * e["norm_star"], loss  # a weak D barely moves G
    assert strength["cases"]["far"]["ns"]["cosine_min"][-1] > 0.95


def test_weak_discriminator_gradients_do_not_point_like_d_stars(strength):
    for name, case in strength["cases"].items():
        assert case["k"][0] == 1
        for loss in ("minimax", "ns"):
            assert case[loss]["cosine_mean"][0] < 0.5, (name, loss)  # after one D step: far from D*'s direction


def test_far_case_minimax_gradient_vanishes_and_ns_does_not(strength):
    far = strength["cases"]["far"]
    mm, ns = far["minimax"], far["ns"]
    assert mm["norm_star"] < 1e-5 and ns["norm_star"] > 1.0
    assert mm["norm_fall"] > 5.0  # falls from its peak as D is trained longer
    assert ns["norm_mean"][-1] > 100 * mm["norm_mean"][-1]


# --------------------------------------------------------------------------- plots and summaries


@pytest.mark.parametrize("name", NAMES)
def test_plot_writes_a_png_and_summary_has_lines(name, critic, figure2, nsgrad, strength, tmp_path):
    result = {"critic-vs-w1": critic, "wgan-figure2": figure2, "ns-gradient": nsgrad, "d-strength": strength}[name]
    module = EXPERIMENTS[name]
    path = tmp_path / f"{name}.png"
    module.plot(result, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    lines = module.summary(result)
    assert lines and all(isinstance(line, str) and line for line in lines)
