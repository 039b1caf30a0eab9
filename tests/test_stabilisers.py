"""The stabilisers of #17: spectral normalisation, R1, DiffAugment and orthogonal initialisation,
each against an independent computation, plus their config keys and checkpoints."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import gankit
from gankit.data import diffaugment as DA
from gankit.errors import ConfigError
from gankit.losses import LOSSES, discriminator_phase, r1_penalty
from gankit.models import build_models
from gankit.models.spectral import orthogonal_init, spectral_normalise
from gankit.training import phases
from gankit.training.config import AUGMENTATIONS, RunConfig, set_value, validate

# ------------------------------------------------------------------------------ spectral norm

@pytest.mark.parametrize("model,shape", [("dcgan", (1, 16, 16)), ("mlp", (2,))])
def test_spectral_norm_makes_every_layer_1_lipschitz(model, shape):
    torch.manual_seed(0)
    _, D = build_models(model, data_shape=shape, z_dim=8, width=8, d_norm="spectral")
    assert not any(isinstance(m, nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm) for m in D.modules())
    D.train()
    for _ in range(30):  # power iteration converges over training forwards
        D(torch.randn(8, *shape))
    layers = [m for m in D.modules() if hasattr(m, "parametrizations")]
    assert len(layers) >= 3
    for layer in layers:
        sigma = torch.linalg.svdvals(layer.weight.detach().flatten(1))[0]
        assert float(sigma) == pytest.approx(1.0, abs=0.02)  # against an exact SVD


def test_spectral_normalise_divides_by_the_largest_singular_value():
    torch.manual_seed(1)
    layer = nn.Linear(6, 5)
    raw = layer.weight.detach().clone()
    spectral_normalise(layer)
    layer.train()
    for _ in range(50):
        layer(torch.randn(3, 6))
    expected = raw / torch.linalg.svdvals(raw)[0]
    assert torch.allclose(layer.weight.detach(), expected, atol=1e-4)


# ------------------------------------------------------------------------------ R1

def test_r1_is_the_squared_gradient_norm_on_real_data():
    torch.manual_seed(2)
    _, D = build_models("mlp", data_shape=(2,), z_dim=2, width=16)
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x)
    expected = grad.square().sum(1).mean()  # E ||grad D(x)||^2, computed separately
    assert torch.allclose(r1_penalty(D(x), x), expected, rtol=1e-5)
    spec = dataclasses.replace(LOSSES["gan-ns"], r1_weight=10.0)
    loss, stats = discriminator_phase(spec, D, real, fake)
    plain, _ = discriminator_phase(LOSSES["gan-ns"], D, real, fake)
    assert torch.allclose(stats["r1"], expected, rtol=1e-5)
    assert torch.allclose(loss, plain + 5.0 * expected, rtol=1e-5)  # gamma / 2 * R1
    loss.backward()  # the double backward works
    assert all(p.grad is not None for p in D.parameters())


# ------------------------------------------------------------------------------ DiffAugment

def images(n=6, c=3, s=16, seed=3):
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_augment_is_the_identity_when_off():
    x = images()
    assert DA.augment(x, ()) is x
    assert DA.parse_policy("none") == () and DA.parse_policy("") == ()
    assert tuple(DA.TRANSFORMS) == AUGMENTATIONS  # the config's list names the real transforms


@pytest.mark.parametrize("name", ["color", "translation", "cutout"])
def test_each_transform_is_differentiable(name):
    x = images(4, 2, 8).double().requires_grad_(True)

    def fixed(inp):
        torch.manual_seed(7)  # the same random parameters at every evaluation
        return DA.TRANSFORMS[name](inp)

    assert torch.autograd.gradcheck(fixed, (x,), eps=1e-6, atol=1e-5)


def test_translation_shifts_with_zeros_and_cutout_zeros_a_square():
    x = images(8, 1, 16)
    torch.manual_seed(4)
    shifted = DA.translation(x)
    for i in range(len(x)):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(shifted[i], shift(x[i], dy, dx))]
        assert matches, i  # each image is x shifted by at most 1/8 of 16 = 2 pixels, zero filled
    torch.manual_seed(5)
    cut = DA.cutout(torch.ones(8, 1, 16, 16))
    zeros = (cut == 0).flatten(1).sum(1)
    assert ((zeros > 0) & (zeros <= 64)).all()  # at most an 8x8 square, clipped at the border


def shift(img, dy, dx):
    out = torch.zeros_like(img)
    h, w = img.shape[-2:]
    ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    yd, xd = slice(max(0, dy), min(h, h + dy)), slice(max(0, dx), min(w, w + dx))
    out[:, ys, xs] = img[:, yd, xd]
    return out


def test_the_same_policy_reaches_real_and_fake_in_both_phases(monkeypatch):
    seen = []

    def spy(x, policy, rows=None):
        seen.append((x.shape[0], policy))
        return x

    monkeypatch.setattr(phases, "augment", spy)
    G, D = build_models("dcgan", data_shape=(1, 16, 16), z_dim=8, width=4)
    p = phases.make_phases(LOSSES["gan-ns"], G, D, policy=("translation", "cutout"))
    p.d(images(5, 1, 16), torch.rand(5, 8))
    p.g(torch.rand(5, 8))
    assert seen == [(5, ("translation", "cutout"))] * 3  # real, fake (D phase), fake (G phase)


def test_augmentation_draws_the_global_batch_and_keeps_this_ranks_rows():
    x = images(8, 1, 16)
    torch.manual_seed(9)
    whole = DA.augment(x, ("color", "translation", "cutout"))
    torch.manual_seed(9)
    second_half = DA.augment(x[4:], ("color", "translation", "cutout"), rows=(8, slice(4, 8)))
    assert torch.allclose(second_half, whole[4:], atol=1e-6)


# ------------------------------------------------------------------------------ init and config

def test_orthogonal_init_gives_orthogonal_rows():
    torch.manual_seed(6)
    layer = orthogonal_init(nn.Linear(16, 8))
    w = layer.weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-5) and torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("key,value,message", [
    ("train.augment", "translaton", "did you mean 'translation'"),
    ("loss.r1_weight", -1.0, "loss.r1_weight must be >= 0"),
    ("model.d_norm", "spectrall", "did you mean 'spectral'"),
    ("model.init", "xavier", "model.init must be one of dcgan, orthogonal"),
])
def test_new_keys_are_validated_in_one_line(key, value, message):
    cfg = RunConfig()
    set_value(cfg, key, value)
    with pytest.raises(ConfigError, match=message):
        validate(cfg)


def test_a_run_with_every_stabiliser_checkpoints_and_resumes_exactly(tmp_path):
    keys = {"data.name": "digits", "data.image_size": 16, "model.width": 8, "train.batch_size": 16,
            "train.device": "cpu", "train.threads": 1, "loss.name": "hinge", "model.d_norm": "spectral",
            "loss.r1_weight": 1.0, "train.augment": "translation,cutout,color", "model.init": "orthogonal",
            "train.checkpoint_every": 2}
    straight = gankit.train(gankit.load_config(None, {**keys, "train.steps": 4}), out=tmp_path / "a", log=lambda _: None)
    gankit.train(gankit.load_config(None, {**keys, "train.steps": 2}), out=tmp_path / "b", log=lambda _: None)
    resumed = gankit.resume(tmp_path / "b", overrides={"train.steps": 4}, log=lambda _: None)
    for name, p in straight.D.state_dict().items():
        assert torch.equal(p, resumed.D.state_dict()[name]), name  # spectral-norm vectors included
    for name, p in straight.G.state_dict().items():
        assert torch.equal(p, resumed.G.state_dict()[name]), name
