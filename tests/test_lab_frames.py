"""The lab's frame maths against independent references (float64, explicit tolerances).

* the heat map equals D evaluated point by point on the grid's coordinates;
* the arrows equal -dL_G/dx by autograd, one point at a time, for every loss;
* D* equals p_r / (p_r + p_g) with both densities from scipy;
* the manifold's density equals p_z / |det J_G| (closed form for a linear G, autograd for a smooth one);
* a frame's scores equal gankit.divergences / POT on the same samples.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import ot
import pytest
import torch
from scipy.stats import multivariate_normal
from torch import nn

from gankit.data import toy_modes
from gankit.divergences import js, wasserstein
from gankit.lab import frames as F
from gankit.losses import LOSSES
from gankit.metrics.toy import grid_histogram, histogram_grid


def small_D(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0))


def test_grid_points_are_cell_centres_row_by_row():
    g = F.grid_points((-1.0, 3.0, 0.0, 2.0), 4).double().numpy()
    assert g.shape == (16, 2)
    assert np.allclose(g[:4, 0], [-0.5, 0.5, 1.5, 2.5]) and np.allclose(g[:4, 1], 0.25)  # row 0: y_min
    assert np.allclose(g[4:8, 1], 0.75) and np.allclose(g[::4, 0], -0.5)


@pytest.mark.parametrize("score", [False, True])
def test_heat_map_equals_D_on_the_grid(score):
    D, n, extent = small_D(), 12, (-2.0, 2.0, -1.0, 3.0)
    heat = F.d_heatmap(D, F.grid_points(extent, n), n, score=score)
    xs = np.linspace(-2, 2, n + 1)[:-1] + 2.0 / n  # cell centres, built independently
    ys = np.linspace(-1, 3, n + 1)[:-1] + 2.0 / n
    for j in (0, 5, n - 1):
        for i in (0, 7, n - 1):
            with torch.no_grad():
                logit = float(D(torch.tensor([[xs[i], ys[j]]], dtype=torch.float32)))
            want = logit if score else 1 / (1 + math.exp(-logit))
            assert heat[j, i] == pytest.approx(want, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_arrows_equal_minus_dLG_dx_by_autograd(loss):
    D, g_loss = small_D(1), LOSSES[loss].g_loss
    fake = torch.randn(9, 2, generator=torch.Generator().manual_seed(3))
    arrows = F.generator_arrows(g_loss, D, fake)
    for i in range(len(fake)):  # one point at a time: l_i = L_G of a batch of one
        x = fake[i:i + 1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(g_loss(D(x)), x)
        assert arrows[i] == pytest.approx(-grad[0].double().numpy(), rel=1e-5, abs=1e-7)
    assert all(p.grad is None for p in D.parameters())  # D's weights untouched


def test_nonsaturating_arrow_has_its_closed_form():
    """-dl/dx = (1 - sigmoid(f)) grad f for -log sigmoid(f) (tutorial eq. 1-2), on a linear D."""
    D = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    with torch.no_grad():
        D[0].weight.copy_(torch.tensor([[0.7, -1.3]]))
        D[0].bias.fill_(0.2)
    x = torch.tensor([[0.5, 1.0], [-2.0, 0.1]])
    f = (x @ torch.tensor([0.7, -1.3]) + 0.2).double()
    want = (1 - torch.sigmoid(f))[:, None] * torch.tensor([0.7, -1.3], dtype=torch.float64)
    assert F.generator_arrows(LOSSES["gan-ns"].g_loss, D, x) == pytest.approx(want.numpy(), rel=1e-6)


def scipy_mixture(points: np.ndarray, centres: np.ndarray, std: float) -> np.ndarray:
    return np.mean([multivariate_normal(c, std * std * np.eye(2)).pdf(points) for c in centres], axis=0)


def test_log_densities_match_scipy():
    modes, std = toy_modes("ring8")
    grid = F.grid_points(F.EXTENTS["ring8"], 20)
    s = math.hypot(std, 0.08)
    want = scipy_mixture(grid.double().numpy(), modes.numpy(), s)
    assert np.exp(F.log_mixture_density(grid, modes, s).numpy()) == pytest.approx(want, rel=1e-9, abs=1e-300)
    samples = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    kde = scipy_mixture(grid.double().numpy(), samples.double().numpy(), 0.08)
    got = np.exp(F.log_kde(grid, samples, 0.08).numpy())
    big = kde > 1e-6 * kde.max()  # float32 distances: relative accuracy where the density is not negligible
    assert got[big] == pytest.approx(kde[big], rel=2e-4)


def test_optimal_d_matches_its_formula():
    modes, std = toy_modes("ring8")
    grid = F.grid_points(F.EXTENTS["ring8"], 24)
    h = 0.08
    samples = torch.randn(64, 2, generator=torch.Generator().manual_seed(1)) * 0.3
    log_pr = F.log_mixture_density(grid, modes, math.hypot(std, h))
    log_pg = F.log_kde(grid, samples, h)
    dstar = F.optimal_d(log_pr, log_pg)
    pr = scipy_mixture(grid.double().numpy(), modes.numpy(), math.hypot(std, h))
    pg = scipy_mixture(grid.double().numpy(), samples.double().numpy(), h)
    defined = (pr + pg) >= 1e-4 * (pr + pg).max()
    assert np.isnan(dstar[~defined]).all() and not np.isnan(dstar[defined]).any()
    assert dstar[defined] == pytest.approx((pr / (pr + pg))[defined], abs=1e-4)
    assert ((dstar[defined] >= 0) & (dstar[defined] <= 1)).all()
    # identical densities give 1/2 everywhere (Goodfellow et al. 2014, Prop. 1 at p_g = p_r)
    same = F.optimal_d(log_pr, log_pr.clone())
    assert same[~np.isnan(same)] == pytest.approx(0.5)


def test_latent_axis_cells_hold_equal_mass():
    from scipy.stats import norm

    axis = F.latent_axis(11, "normal")
    assert np.diff(norm.cdf(axis)) == pytest.approx(np.full(10, 0.098), rel=1e-9)
    assert F.latent_axis(5, "uniform") == pytest.approx([-1, -0.5, 0, 0.5, 1])


@pytest.mark.parametrize("flip", [False, True])
def test_manifold_of_a_linear_generator_is_exact(flip):
    G = nn.Linear(2, 2)
    A = torch.tensor([[1.5, 0.3], [-0.2, 0.8]])
    if flip:
        A = A[[1, 0]]  # swapping the outputs reverses orientation: every cell is folded
    with torch.no_grad():
        G.weight.copy_(A)
        G.bias.copy_(torch.tensor([0.1, -0.4]))
    mesh, density = F.manifold(G, 9, 2, "uniform")
    axis = np.linspace(-1, 1, 9)
    z = np.stack(np.meshgrid(axis, axis), axis=-1)  # z[a, b] = (axis[b], axis[a])
    assert mesh == pytest.approx(z @ A.double().numpy().T + [0.1, -0.4], abs=1e-6)
    det = float(torch.linalg.det(A.double()))
    want = 0.25 / abs(det)  # p_z = 1/4 on [-1, 1]^2, change of variables
    assert np.abs(density) == pytest.approx(np.full((8, 8), want), rel=1e-5)
    assert (np.sign(density) == np.sign(det)).all()


def test_manifold_density_matches_the_jacobian_of_a_smooth_generator():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    G64 = copy.deepcopy(G).double()
    n = 41
    mesh, density = F.manifold(G, n, 2, "uniform")
    axis = np.linspace(-1, 1, n)
    centres = (axis[:-1] + axis[1:]) / 2
    errors = []
    for a in range(0, n - 1, 7):
        for b in range(0, n - 1, 7):
            z = torch.tensor([centres[b], centres[a]], dtype=torch.float64)
            J = torch.autograd.functional.jacobian(G64, z)
            want = 0.25 / abs(float(torch.linalg.det(J)))
            errors.append(abs(abs(density[a, b]) - want) / want)
    assert max(errors) < 0.02  # cells are small: the Jacobian is nearly constant on each


def test_encode_round_trips_with_nan():
    a = np.array([[1.5, np.nan], [-np.inf, 3.25]])
    field = F.encode(a)
    assert field["dtype"] == "f32" and field["shape"] == [2, 2]
    back = F.decode(field)
    assert back[0, 0] == 1.5 and np.isnan(back[0, 1]) and back[1, 0] == -np.inf


def test_a_frames_scores_match_gankit_divergences_and_pot(tmp_path):
    from gankit.lab.session import Pane
    from gankit.training.config import load_config

    cfg = load_config(None, {"data.name": "ring8", "model.width": 32, "train.batch_size": 64, "train.device": "cpu"})
    pane = Pane(cfg, tmp_path)
    for _ in range(5):
        pane.step()
    frame = pane.frame(metrics=True)
    m = frame["metrics"]
    with torch.no_grad():
        fake = pane.parts.G(pane.z_metrics).double().numpy()
    real = pane.metrics_real
    # W1: POT's exact transport with uniform weights, written out here
    cost = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    w1 = ot.emd2(np.full(len(fake), 1 / len(fake)), np.full(len(real), 1 / len(real)), cost)
    assert m["w1"] == pytest.approx(w1, rel=1e-9) == pytest.approx(wasserstein(fake, real), rel=1e-9)
    modes, std = toy_modes("ring8")
    edges = histogram_grid(modes.numpy(), std, real)
    assert m["js_hist"] == pytest.approx(float(js(grid_histogram(fake, edges), grid_histogram(real, edges))), rel=1e-12)
    d = np.linalg.norm(fake[:, None] - modes.numpy()[None], axis=-1)
    hq = d.min(axis=1) <= 3 * std
    assert m["high_quality"] == pytest.approx(hq.mean())
    assert m["modes_captured"] == len(set(d.argmin(axis=1)[hq].tolist()))
    # the frame's D* and heat share a grid, and its numbers are the arrays' own
    heat, dstar = F.decode(frame["heat"]), F.decode(frame["dstar"])
    assert frame["numbers"]["dstar_gap"] == pytest.approx(float(np.nanmean(np.abs(heat - dstar))), rel=1e-5)
    assert frame["numbers"]["heat_max"] == pytest.approx(float(heat.max()), rel=1e-6)
