"""Shapes, layouts, initialisation and noise of gankit.models."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from scipy import stats
from torch import nn

from gankit.errors import ConfigError
from gankit.models import (
    MODELS,
    NOISE,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    build_models,
    init_weights,
    sample_noise,
)

SIZES = (8, 16, 32, 64, 128)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --------------------------------------------------------------------------- noise


def test_uniform_noise_is_u_minus1_1() -> None:
    g = torch.Generator().manual_seed(1)
    z = sample_noise(20_000, 3, "uniform", generator=g, dtype=torch.float64)
    assert z.shape == (20_000, 3) and z.dtype == torch.float64
    assert z.min() >= -1.0 and z.max() < 1.0
    ks = stats.kstest(z.flatten().numpy(), stats.uniform(loc=-1.0, scale=2.0).cdf)
    assert ks.pvalue > 1e-3


def test_normal_noise_is_standard_normal() -> None:
    g = torch.Generator().manual_seed(2)
    z = sample_noise(20_000, 3, "normal", generator=g, dtype=torch.float64)
    ks = stats.kstest(z.flatten().numpy(), stats.norm().cdf)
    assert ks.pvalue > 1e-3


def test_noise_is_reproducible_with_generator() -> None:
    a = sample_noise(7, 5, generator=torch.Generator().manual_seed(3))
    b = sample_noise(7, 5, generator=torch.Generator().manual_seed(3))
    c = sample_noise(7, 5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_noise_rejects_unknown_distribution_listing_choices() -> None:
    with pytest.raises(ConfigError) as err:
        sample_noise(4, 2, "cauchy")
    msg = str(err.value)
    assert "cauchy" in msg and all(name in msg for name in NOISE) and "\n" not in msg


# --------------------------------------------------------------------------- mlp


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_mlp_shapes(norm: str) -> None:
    g = MLPGenerator(z_dim=8, out_dim=2, width=16, depth=3)
    d = MLPDiscriminator(in_dim=2, width=16, depth=3, norm=norm)
    x = g(sample_noise(10, 8))
    assert x.shape == (10, 2)
    assert d(x).shape == (10,)
    assert g.z_dim == 8 and g.data_shape == (2,)
    assert sum(isinstance(m, nn.Linear) for m in g.modules()) == 4  # 3 hidden + output
    assert sum(isinstance(m, nn.LayerNorm) for m in d.modules()) == (3 if norm == "layer" else 0)


def test_mlp_generator_output_is_unbounded_linear() -> None:
    g = MLPGenerator(z_dim=2, width=8, depth=1)
    assert isinstance(g.net[-1], nn.Linear)
    assert not any(isinstance(m, (nn.Tanh, nn.Sigmoid)) for m in g.modules())
    # scaling the last layer scales the output: no squashing nonlinearity at the end
    with torch.no_grad():
        g.net[-1].weight.mul_(100.0)
        g.net[-1].bias.fill_(0.0)
    assert g(sample_noise(256, 2)).abs().max() > 1.0


def test_mlp_rejects_unknown_norm() -> None:
    with pytest.raises(ConfigError, match="none, layer, spectral"):
        MLPDiscriminator(norm="instance")


# --------------------------------------------------------------------------- dcgan


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size: int, channels: int) -> None:
    g = DCGANGenerator(z_dim=6, image_size=size, channels=channels, width=2)
    d = DCGANDiscriminator(image_size=size, channels=channels, width=2)
    x = g(sample_noise(3, 6))
    assert x.shape == (3, channels, size, size)
    assert d(x).shape == (3,)
    levels = int(math.log2(size // 4))
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules()) == levels
    assert sum(isinstance(m, nn.Conv2d) for m in d.modules()) == levels + 1  # + the logit conv
    assert g.z_dim == 6 and g.data_shape == (channels, size, size)


def test_dcgan_generator_accepts_4d_noise() -> None:
    g = DCGANGenerator(z_dim=5, image_size=8, channels=1, width=2)
    z = sample_noise(4, 5)
    g.eval()
    assert torch.equal(g(z), g(z[:, :, None, None]))


def test_dcgan_64_width_128_layout() -> None:
    g = DCGANGenerator(z_dim=100, image_size=64, channels=3, width=128)
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 100
    assert linears[0].out_features == 4 * 4 * 1024
    ups = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in ups] == [
        (1024, 512),
        (512, 256),
        (256, 128),
        (128, 3),
    ]
    assert all(m.stride == (2, 2) and m.kernel_size == (4, 4) and m.padding == (1, 1) for m in ups)
    leaves = [m for m in g.modules() if len(list(m.children())) == 0]
    assert isinstance(leaves[-1], nn.Tanh) and leaves[-2] is ups[-1]
    # BN + ReLU after the projection and after every hidden up-conv, none on the output
    assert [m.num_features for m in g.modules() if isinstance(m, nn.BatchNorm2d)] == [
        1024,
        512,
        256,
        128,
    ]
    assert sum(isinstance(m, nn.ReLU) for m in g.modules()) == 4
    with torch.no_grad():
        assert g(sample_noise(2, 100)).shape == (2, 3, 64, 64)


@pytest.mark.parametrize("size", [32, 128])
def test_dcgan_block_count_follows_image_size(size: int) -> None:
    g = DCGANGenerator(z_dim=4, image_size=size, channels=3, width=4)
    ups = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    expected = [4 * 2**k for k in reversed(range(int(math.log2(size // 4))))] + [3]
    chans = [ups[0].in_channels] + [m.out_channels for m in ups]
    assert chans == expected  # 32: 16->8->4->3, 128: 64->32->16->8->4->3


def test_dcgan_discriminator_layout() -> None:
    d = DCGANDiscriminator(image_size=64, channels=3, width=8, norm="batch")
    mods = list(d.modules())
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)) for m in mods)
    assert not any(isinstance(m, nn.Linear) for m in mods)
    assert not any(isinstance(m, nn.Sigmoid) for m in mods)
    convs = [m for m in mods if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, 8),
        (8, 16),
        (16, 32),
        (32, 64),
        (64, 1),
    ]
    assert all(
        c.stride == (2, 2) and c.kernel_size == (4, 4) and c.padding == (1, 1) for c in convs[:-1]
    )
    assert (
        convs[-1].stride == (1, 1)
        and convs[-1].padding == (0, 0)
        and convs[-1].kernel_size == (4, 4)
    )
    # norm on every block but the first: the first conv is followed directly by LeakyReLU
    leaves = [m for m in mods if len(list(m.children())) == 0]
    first = leaves.index(convs[0])
    assert isinstance(leaves[first + 1], nn.LeakyReLU)
    assert [m.num_features for m in mods if isinstance(m, nn.BatchNorm2d)] == [16, 32, 64]
    assert all(m.negative_slope == 0.2 for m in mods if isinstance(m, nn.LeakyReLU))


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_critic_variants_treat_samples_independently(norm: str) -> None:
    d = DCGANDiscriminator(image_size=16, channels=1, width=4, norm=norm).double()
    mods = list(d.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in mods)
    assert sum(isinstance(m, nn.GroupNorm) for m in mods) == (1 if norm == "layer" else 0)
    x = torch.randn(6, 1, 16, 16, dtype=torch.float64)
    # training mode: a per-sample critic gives each sample the same logit alone or in a batch
    assert torch.allclose(d(x)[:2], d(x[:2]), rtol=0, atol=1e-12)


def test_batchnorm_discriminator_mixes_samples() -> None:
    # the invariant above can fail: batch norm couples samples in training mode
    d = DCGANDiscriminator(image_size=16, channels=1, width=4, norm="batch").double()
    x = torch.randn(6, 1, 16, 16, dtype=torch.float64)
    assert not torch.allclose(d(x)[:2], d(x[:2]), rtol=0, atol=1e-6)


def test_dcgan_init_statistics() -> None:
    g = DCGANGenerator(z_dim=100, image_size=32, channels=3, width=64)
    d = DCGANDiscriminator(image_size=32, channels=3, width=64)
    for net in (g, d):
        weights = torch.cat(
            [
                m.weight.detach().flatten()
                for m in net.modules()
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
            ]
        ).double()
        assert weights.numel() > 100_000
        assert abs(weights.mean().item()) < 1e-3
        assert abs(weights.std().item() - 0.02) < 1e-3
        bn = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        bn_w = torch.cat([m.weight.detach() for m in bn]).double()
        assert abs(bn_w.mean().item() - 1.0) < 5e-3
        assert abs(bn_w.std().item() - 0.02) < 5e-3
        assert all(torch.count_nonzero(m.bias) == 0 for m in bn)
        biases = [
            m.bias
            for m in net.modules()
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and m.bias is not None
        ]
        assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


def test_init_weights_reinitialises_any_module() -> None:
    net = nn.Sequential(nn.Linear(200, 300), nn.BatchNorm1d(300))
    init_weights(net)
    w = net[0].weight.detach().double()
    assert abs(w.std().item() - 0.02) < 1e-3
    assert abs(net[1].weight.detach().double().mean().item() - 1.0) < 0.01


def test_dcgan_generator_output_in_tanh_range() -> None:
    g = DCGANGenerator(z_dim=8, image_size=16, channels=3, width=4)
    with torch.no_grad():
        for layer in g.upsample:  # push pre-activations far out so Tanh saturates
            if isinstance(layer, nn.ConvTranspose2d) and layer.bias is not None:
                layer.bias.fill_(50.0)
        x = g(sample_noise(8, 8, "normal") * 100)
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.max() > 0.999  # saturates at +1, so the bound is what limits it


@pytest.mark.parametrize("size", [4, 48, 512])
def test_dcgan_rejects_unsupported_sizes(size: int) -> None:
    with pytest.raises(ConfigError, match="8, 16, 32, 64, 128, 256"):
        DCGANGenerator(image_size=size, width=2)
    with pytest.raises(ConfigError):
        DCGANDiscriminator(image_size=size, width=2)


def test_dcgan_tiny_width_keeps_channels_positive() -> None:
    g = DCGANGenerator(z_dim=2, image_size=32, channels=1, width=1)
    d = DCGANDiscriminator(image_size=32, channels=1, width=1)
    chans = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert min(chans) >= 1
    assert d(g(sample_noise(2, 2))).shape == (2,)
    with pytest.raises(ConfigError):
        DCGANGenerator(width=0)


# --------------------------------------------------------------------------- build_models


def test_build_models_mlp_and_dcgan() -> None:
    g, d = build_models("mlp", data_shape=(2,), z_dim=8, width=16, depth=2, d_norm="layer")
    assert isinstance(g, MLPGenerator) and isinstance(d, MLPDiscriminator)
    assert g.z_dim == 8 and g.data_shape == (2,) and d.norm == "layer"
    _, d_batch = build_models("mlp", data_shape=(2,), z_dim=8, width=16)
    assert d_batch.norm == "none"  # the mlp has no batch norm (documented mapping)

    g, d = build_models("dcgan", data_shape=(1, 32, 32), z_dim=10, width=4, d_norm="layer")
    assert isinstance(g, DCGANGenerator) and isinstance(d, DCGANDiscriminator)
    assert g.z_dim == 10 and g.data_shape == (1, 32, 32) and d.norm == "layer"
    assert d(g(sample_noise(2, 10))).shape == (2,)


@pytest.mark.parametrize(
    ("model", "shape", "needle"),
    [
        ("resnet", (2,), "mlp, dcgan"),
        ("mlp", (1, 28, 28), "dcgan"),
        ("dcgan", (2,), "mlp"),
        ("dcgan", (3, 32, 16), "square"),
        ("dcgan", (3, 28, 28), "8, 16, 32"),
    ],
)
def test_build_models_errors(model: str, shape: tuple[int, ...], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_models(model, data_shape=shape, z_dim=4, width=4)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("model,shape", [("mlp", (2,)), ("dcgan", (1, 8, 8))])
def test_build_models_rejects_unknown_norm(model: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="batch, layer, none, spectral"):
        build_models(model, data_shape=shape, z_dim=4, width=4, d_norm="instance")


def test_models_dict_and_no_losses_import() -> None:
    assert set(MODELS) == {"mlp", "dcgan"}
    # models sit below losses in the import graph: importing them must not load gankit.losses
    code = "import sys, gankit.models; sys.exit('gankit.losses' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
