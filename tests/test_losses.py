"""Loss values, gradients, the gradient penalty and the training phases of gankit.losses.

References are written out by hand in float64 numpy from the formulas in the papers:
sigmoid(x) = 1 / (1 + exp(-x)), then logs; gradients are differentiated by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.losses import (
    LOSSES,
    LossSpec,
    after_discriminator_step,
    clip_weights_,
    d_loss_gan,
    d_loss_hinge,
    d_loss_wgan,
    discriminator_phase,
    g_loss_hinge,
    g_loss_minimax,
    g_loss_nonsaturating,
    g_loss_wgan,
    generator_phase,
    get_loss,
    gradient_penalty,
)
from gankit.models import DCGANDiscriminator, MLPDiscriminator

REAL = np.array([-3.0, -0.5, 0.0, 1.2, 4.0])
FAKE = np.array([-2.0, 0.3, 2.5, -6.0])  # a different batch size on purpose


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def t(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def close(a: torch.Tensor, b: float | np.ndarray, tol: float = 1e-12) -> bool:
    return np.allclose(a.detach().numpy(), b, rtol=tol, atol=tol)


# --------------------------------------------------------------------------- values and gradients


def test_d_loss_gan_value_and_gradient() -> None:
    r, f = t(REAL), t(FAKE)
    loss = d_loss_gan(r, f)
    expected = -np.mean(np.log(sigmoid(REAL))) - np.mean(np.log(1.0 - sigmoid(FAKE)))
    assert close(loss, expected)
    loss.backward()
    # d/dr -log s(r) = -(1 - s(r)); d/df -log(1 - s(f)) = s(f)
    assert close(r.grad, -(1.0 - sigmoid(REAL)) / REAL.size)
    assert close(f.grad, sigmoid(FAKE) / FAKE.size)


def test_d_loss_gan_at_half_is_2_log_2() -> None:
    # D = 1/2 everywhere (logit 0) is the equilibrium of the tutorial's eq. 1-1: V = -log 4
    zeros = torch.zeros(8, dtype=torch.float64)
    assert close(d_loss_gan(zeros, zeros), 2.0 * math.log(2.0))


def test_g_loss_minimax_value_and_gradient() -> None:
    f = t(FAKE)
    loss = g_loss_minimax(f)
    assert close(loss, np.mean(np.log(1.0 - sigmoid(FAKE))))
    loss.backward()
    assert close(f.grad, -sigmoid(FAKE) / FAKE.size)  # d/df log(1 - s(f)) = -s(f)


def test_g_loss_nonsaturating_value_and_gradient() -> None:
    f = t(FAKE)
    loss = g_loss_nonsaturating(f)
    assert close(loss, -np.mean(np.log(sigmoid(FAKE))))
    loss.backward()
    assert close(f.grad, -(1.0 - sigmoid(FAKE)) / FAKE.size)  # d/df -log s(f)


def test_minimax_gradient_saturates_nonsaturating_does_not() -> None:
    logit = -20.0  # D(G(z)) = s(-20) ~ 2e-9: D rejects the sample confidently
    f_mm, f_ns = t(np.array([logit])), t(np.array([logit]))
    g_loss_minimax(f_mm).backward()
    g_loss_nonsaturating(f_ns).backward()
    s = 1.0 / (1.0 + math.exp(-logit))
    assert abs(f_mm.grad.item()) == pytest.approx(s, rel=1e-9)
    assert abs(f_mm.grad.item()) < 1e-8
    assert f_ns.grad.item() == pytest.approx(-(1.0 - s), rel=1e-12)
    assert abs(f_ns.grad.item()) > 0.999_999
    # and the ratio of the two is e^{-f} (their gradients differ by exactly that factor)
    assert f_ns.grad.item() / f_mm.grad.item() == pytest.approx(math.exp(-logit), rel=1e-9)


def test_wgan_losses() -> None:
    r, f = t(REAL), t(FAKE)
    loss = d_loss_wgan(r, f)
    assert close(loss, -(REAL.mean() - FAKE.mean()))
    loss.backward()
    assert close(r.grad, -np.ones_like(REAL) / REAL.size)
    assert close(f.grad, np.ones_like(FAKE) / FAKE.size)
    f2 = t(FAKE)
    g = g_loss_wgan(f2)
    assert close(g, -FAKE.mean())
    g.backward()
    assert close(f2.grad, -np.ones_like(FAKE) / FAKE.size)


def test_hinge_losses() -> None:
    r, f = t(REAL), t(FAKE)
    loss = d_loss_hinge(r, f)
    assert close(loss, np.mean(np.maximum(0.0, 1.0 - REAL)) + np.mean(np.maximum(0.0, 1.0 + FAKE)))
    loss.backward()
    assert close(r.grad, -(REAL < 1.0).astype(float) / REAL.size)
    assert close(f.grad, (FAKE > -1.0).astype(float) / FAKE.size)
    assert close(g_loss_hinge(t(FAKE)), -FAKE.mean())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_logits_are_finite(dtype: torch.dtype) -> None:
    big = torch.tensor([-100.0, 100.0, -100.0, 100.0], dtype=dtype)
    for fn in (d_loss_gan, d_loss_wgan, d_loss_hinge):
        r = big.clone().requires_grad_(True)
        f = big.flip(0).clone().requires_grad_(True)
        loss = fn(r, f)
        loss.backward()
        assert (
            torch.isfinite(loss) and torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()
        )
    for fn in (g_loss_minimax, g_loss_nonsaturating, g_loss_wgan, g_loss_hinge):
        f = big.clone().requires_grad_(True)
        loss = fn(f)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(f.grad).all()
    # limits: -log s(-100) = -log(1 - s(100)) = 100 + log(1 + e^-100) ~ 100; -log s(100) ~ 0
    r = torch.tensor([-100.0], dtype=dtype)
    assert d_loss_gan(r, -r).item() == pytest.approx(200.0, rel=1e-6)
    assert d_loss_gan(-r, r).item() == pytest.approx(0.0, abs=1e-30)


# --------------------------------------------------------------------------- gradient penalty


def linear_critic(w: torch.Tensor, b: float = 0.3):
    """f(x) = w . flatten(x) + b, so grad_x f = w everywhere."""

    def critic(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ w + b

    return critic


@pytest.mark.parametrize("shape", [(16, 2), (5, 2, 3, 3)])
def test_gradient_penalty_of_linear_critic(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(0)
    dim = int(np.prod(shape[1:]))
    w = torch.randn(dim, dtype=torch.float64, generator=g).requires_grad_(True)
    real = torch.randn(shape, dtype=torch.float64, generator=g)
    fake = torch.randn(shape, dtype=torch.float64, generator=g)
    gp, norm = gradient_penalty(linear_critic(w), real, fake, generator=g)
    wn = np.linalg.norm(w.detach().numpy())
    assert gp.dim() == 0 and norm.dim() == 0 and not norm.requires_grad
    assert close(gp, (wn - 1.0) ** 2)
    assert close(norm, wn)
    # create_graph: the penalty differentiates w.r.t. the critic, d/dw (|w| - 1)^2 = 2(|w| - 1) w/|w|
    (10.0 * gp).backward()
    assert close(w.grad, 10.0 * 2.0 * (wn - 1.0) * w.detach().numpy() / wn)


def test_gradient_penalty_vanishes_for_unit_norm_critic() -> None:
    w = torch.tensor([0.6, -0.8], dtype=torch.float64)  # |w| = 1
    real, fake = torch.randn(32, 2, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    gp, norm = gradient_penalty(linear_critic(w), real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-28)
    assert norm.item() == pytest.approx(1.0, rel=1e-14)


def test_gradient_penalty_of_quadratic_critic() -> None:
    # f(x) = |x|^2 / 2 has grad x; with real == fake, x_hat = x whatever epsilon is
    x = torch.randn(40, 3, dtype=torch.float64)
    gp, norm = gradient_penalty(lambda v: 0.5 * v.square().sum(1), x, x.clone())
    norms = np.linalg.norm(x.numpy(), axis=1)
    assert close(gp, np.mean((norms - 1.0) ** 2))
    assert close(norm, norms.mean())


def test_gradient_penalty_interpolates_between_real_and_fake() -> None:
    # f(x) = |x|^2 / 2 at x_hat = eps x + (1 - eps) x~ with x = +a, x~ = -a (|a| = 1):
    # grad norm = |2 eps - 1|, which lies in [0, 1] and averages 1/2 for eps ~ U[0, 1]
    a = torch.tensor([[0.6, 0.8]], dtype=torch.float64).repeat(20_000, 1)
    seen: list[torch.Tensor] = []

    def critic(v: torch.Tensor) -> torch.Tensor:
        seen.append(v.detach())
        return 0.5 * v.square().sum(1)

    _, norm = gradient_penalty(critic, a, -a, generator=torch.Generator().manual_seed(5))
    eps = (seen[0][:, 0] / 0.6 + 1.0) / 2.0  # invert x_hat = (2 eps - 1) a
    assert eps.min() >= 0.0 and eps.max() <= 1.0
    assert torch.allclose(seen[0], (2 * eps[:, None] - 1) * a, atol=1e-12)
    assert norm.item() == pytest.approx(0.5, abs=0.01)  # 5 sigma ~ 0.01 at n = 20k
    assert eps.std().item() > 0.25  # per-sample draws, not one shared epsilon


# --------------------------------------------------------------------------- clipping


def test_clip_weights_bounds_every_parameter() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 1.0)
    before = [p.detach().clone() for p in net.parameters()]
    clip_weights_(net, 0.01)
    for p, old in zip(net.parameters(), before, strict=True):
        assert p.abs().max() <= 0.01
        inside = old.abs() <= 0.01
        assert torch.equal(p[inside], old[inside])  # values already inside are untouched
        assert torch.equal(p[~inside], 0.01 * old[~inside].sign())
    with pytest.raises(ConfigError):
        clip_weights_(net, 0.0)


def test_after_discriminator_step_clips_only_for_wgan() -> None:
    d = MLPDiscriminator(width=8, depth=1)
    with torch.no_grad():
        d.net[0].weight.fill_(0.5)
    after_discriminator_step(get_loss("gan-ns"), d)
    assert d.net[0].weight.max().item() == 0.5
    after_discriminator_step(get_loss("wgan"), d)
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01


# --------------------------------------------------------------------------- specs


def test_loss_defaults_match_the_papers() -> None:
    table = {
        # name: (optimizer, lr, betas or None, d_steps, gp_weight, clip, d_norm)
        "gan-minimax": ("adam", 2e-4, (0.5, 0.999), 1, 0.0, None, "batch"),  # DCGAN
        "gan-ns": ("adam", 2e-4, (0.5, 0.999), 1, 0.0, None, "batch"),  # DCGAN
        "wgan": ("rmsprop", 5e-5, None, 5, 0.0, 0.01, "batch"),  # Arjovsky et al., Alg. 1
        "wgan-gp": ("adam", 1e-4, (0.0, 0.9), 5, 10.0, None, "layer"),  # Gulrajani et al., Alg. 1
        "hinge": ("adam", 2e-4, (0.5, 0.999), 1, 0.0, None, "batch"),  # SN-GAN setting C
    }
    assert set(LOSSES) == set(table)
    for name, (opt, lr, betas, d_steps, gp, clip, d_norm) in table.items():
        spec = LOSSES[name]
        assert isinstance(spec, LossSpec) and spec.name == name
        assert (spec.optimizer, spec.lr, spec.d_steps, spec.gp_weight, spec.clip, spec.d_norm) == (
            opt,
            lr,
            d_steps,
            gp,
            clip,
            d_norm,
        )
        if betas is not None:
            assert spec.betas == betas
    pairs = {name: (s.d_loss, s.g_loss) for name, s in LOSSES.items()}
    assert pairs["gan-minimax"] == (d_loss_gan, g_loss_minimax)
    assert pairs["gan-ns"] == (d_loss_gan, g_loss_nonsaturating)
    assert pairs["wgan"] == pairs["wgan-gp"] == (d_loss_wgan, g_loss_wgan)
    assert pairs["hinge"] == (d_loss_hinge, g_loss_hinge)
    with pytest.raises(AttributeError):
        LOSSES["wgan"].lr = 1.0  # type: ignore[misc]  # frozen


def test_get_loss_error_lists_choices() -> None:
    assert get_loss("wgan-gp") is LOSSES["wgan-gp"]
    with pytest.raises(ConfigError) as err:
        get_loss("lsgan")
    msg = str(err.value)
    assert "lsgan" in msg and all(name in msg for name in LOSSES) and "\n" not in msg


# --------------------------------------------------------------------------- phases


def affine_critic(w: torch.Tensor, b: float) -> nn.Module:
    lin = nn.Linear(w.numel(), 1).double()
    with torch.no_grad():
        lin.weight.copy_(w[None])
        lin.bias.fill_(b)
    return nn.Sequential(nn.Flatten(), lin, nn.Flatten(0))


@pytest.mark.parametrize("name", list(LOSSES))
def test_discriminator_phase_values_and_stats(name: str) -> None:
    spec = get_loss(name)
    w = np.array([1.5, -2.0])
    d = affine_critic(torch.tensor(w), 0.25)
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(12, 2, dtype=torch.float64, generator=gen)
    # the penalty interpolates pairs, so it needs equal batch sizes; the others need not
    n_fake = real.shape[0] if spec.gp_weight > 0 else 9
    fake = torch.randn(n_fake, 2, dtype=torch.float64, generator=gen) + 1.0
    loss, stats = discriminator_phase(spec, d, real, fake, generator=gen)
    r = real.numpy() @ w + 0.25
    f = fake.numpy() @ w + 0.25
    expected = spec.d_loss(torch.tensor(r), torch.tensor(f)).item()
    keys = {"loss_d", "d_real", "d_fake", "w_estimate", "f_real", "f_fake"}
    if spec.gp_weight > 0:
        expected += spec.gp_weight * (np.linalg.norm(w) - 1.0) ** 2
        keys |= {"gp", "grad_norm_critic"}
        assert close(stats["gp"], (np.linalg.norm(w) - 1.0) ** 2)
        assert close(stats["grad_norm_critic"], np.linalg.norm(w))
    assert set(stats) == keys
    assert close(loss, expected)
    assert close(stats["loss_d"], expected)
    assert close(stats["d_real"], sigmoid(r).mean())
    assert close(stats["d_fake"], sigmoid(f).mean())
    assert close(stats["w_estimate"], r.mean() - f.mean())
    assert close(stats["f_real"], r.mean()) and close(stats["f_fake"], f.mean())
    for value in stats.values():
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in d.parameters())


def test_generator_phase_reaches_the_generator() -> None:
    w = torch.tensor([0.5, 1.0], dtype=torch.float64)
    d = affine_critic(w, -0.5)
    fake = torch.randn(7, 2, dtype=torch.float64, requires_grad=True)
    loss, stats = generator_phase(get_loss("gan-ns"), d, fake)
    f = fake.detach().numpy() @ w.numpy() - 0.5
    assert close(loss, -np.mean(np.log(sigmoid(f))))
    assert (
        set(stats) == {"loss_g"}
        and stats["loss_g"].dim() == 0
        and not stats["loss_g"].requires_grad
    )
    loss.backward()
    # chain rule: dL/dx_i = -(1 - s(f_i)) / N * w
    expected = -(1.0 - sigmoid(f))[:, None] / f.size * w.numpy()[None]
    assert close(fake.grad, expected)


def test_wgan_gp_phase_on_dcgan_critic_double_backward() -> None:
    spec = get_loss("wgan-gp")
    d = DCGANDiscriminator(image_size=16, channels=1, width=4, norm=spec.d_norm)
    real, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1
    loss, stats = discriminator_phase(spec, d, real, fake)
    loss.backward()
    grads = [p.grad for p in d.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert stats["gp"].item() >= 0.0 and stats["grad_norm_critic"].item() > 0.0
    assert torch.isclose(
        stats["loss_d"], -stats["w_estimate"] + 10.0 * stats["gp"], rtol=1e-5, atol=1e-6
    )


def test_phases_report_in_float32_for_half_precision_logits() -> None:
    # under autocast D may return bfloat16 logits; losses and stats are formed in float32
    lin = nn.Linear(2, 1)

    def d(x: torch.Tensor) -> torch.Tensor:
        return lin(x).squeeze(1).to(torch.bfloat16)

    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    loss, stats = discriminator_phase(get_loss("wgan-gp"), d, real, fake)
    assert loss.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in stats.values())
    g_loss, _ = generator_phase(get_loss("gan-ns"), d, fake)
    assert g_loss.dtype == torch.float32
