"""The generator's EMA: standing batch-norm statistics for the averaged weights, and the ramp-up."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import gankit
from gankit.errors import ConfigError
from gankit.models import DCGANGenerator, MLPGenerator
from gankit.training.ema import EMA, batch_norms


def drifted_ema(seed: int = 0) -> tuple[DCGANGenerator, EMA]:
    """A small DCGAN generator and an EMA whose weights differ from it (a few noisy updates)."""
    torch.manual_seed(seed)
    G = DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4)
    ema = EMA(G, 0.5)
    for _ in range(3):
        with torch.no_grad():
            for p in G.parameters():
                p.add_(0.05 * torch.randn_like(p))
        G.train()
        G(torch.randn(16, 8))  # moves the raw G's running statistics
        ema.update(G)
    return G, ema


def batch_statistics(module: torch.nn.Module, z: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mean, unbiased variance) per channel of every batch norm's input, computed directly."""
    net = copy.deepcopy(module).train()
    found = []

    def grab(_module, inputs):
        x = inputs[0].double()
        dims = [d for d in range(x.dim()) if d != 1]
        found.append((x.mean(dims), x.var(dims, unbiased=True)))

    for m in batch_norms(net):
        m.register_forward_pre_hook(grab)
    with torch.no_grad():
        net(z)
    return found


def test_standing_statistics_equal_the_batch_statistics_of_the_ema_weights():
    G, ema = drifted_ema()
    assert ema.stale
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    expected = batch_statistics(ema.module, z)
    ema.standing_statistics(lambda n: z[:n], batch_size=64, batches=1)
    assert not ema.stale and not ema.module.training
    norms = batch_norms(ema.module)
    assert len(norms) == len(expected) == 2  # 16x16: the projection's and one up-block's
    for m, (mean, var) in zip(norms, expected, strict=True):
        assert torch.allclose(m.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
        assert torch.allclose(m.running_var.double(), var, rtol=1e-5, atol=1e-6)
        assert m.momentum == 0.1  # restored
    # the raw generator's statistics (what the EMA copy used to carry) are another thing
    assert not torch.allclose(batch_norms(G)[0].running_mean, batch_norms(ema.module)[0].running_mean)


def test_standing_statistics_average_several_batches():
    _, ema = drifted_ema(2)
    g = torch.Generator().manual_seed(3)
    zs = [torch.randn(32, 8, generator=g) for _ in range(3)]
    per_batch = [batch_statistics(ema.module, z) for z in zs]
    queue = iter(zs)
    ema.standing_statistics(lambda n: next(queue), batch_size=32, batches=3)
    for i, m in enumerate(batch_norms(ema.module)):
        mean = torch.stack([stats[i][0] for stats in per_batch]).mean(0)
        assert torch.allclose(m.running_mean.double(), mean, rtol=1e-5, atol=1e-6)


def test_a_network_without_batch_norm_is_never_stale():
    G = MLPGenerator(z_dim=2, out_dim=2, width=8, depth=2)
    ema = EMA(G, 0.9)
    ema.update(G)
    assert not ema.stale


@pytest.mark.parametrize("t", [1, 10, 100, 10_000])
def test_the_rampup_follows_the_generator_early_and_reaches_the_decay(t):
    ema = EMA(torch.nn.Linear(2, 2), 0.999, rampup="tf")
    assert ema.decay_at(t) == pytest.approx(min(0.999, (1 + t) / (10 + t)))
    assert EMA(torch.nn.Linear(2, 2), 0.999, rampup=True).decay_at(t) == ema.decay_at(t)  # a bool, as old configs
    assert EMA(torch.nn.Linear(2, 2), 0.999).decay_at(t) == 0.999


def stylegan2_decay(t: int, decay: float, fraction: float) -> float:
    """StyleGAN2-ADA's ramp-up, written as it counts: images, with the half-life in images."""
    batch = 64
    ema_nimg = min(batch * math.log(0.5) / math.log(decay), t * batch * fraction)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@pytest.mark.parametrize("t", [1, 20, 1000, 13_000, 13_900, 100_000])
@pytest.mark.parametrize("fraction", [0.05, 0.2])
def test_the_stylegan2_rampup_caps_the_half_life_at_a_fraction_of_the_steps(t, fraction):
    ema = EMA(torch.nn.Linear(2, 2), 0.999, rampup="stylegan2", rampup_fraction=fraction)
    assert ema.decay_at(t) == pytest.approx(stylegan2_decay(t, 0.999, fraction), rel=1e-12)
    assert ema.decay_at(t) <= 0.999
    # the weight of update t - h in the average is half that of update t: h is the half-life
    halflife = min(math.log(0.5) / math.log(0.999), fraction * t)
    assert ema.decay_at(t) ** halflife == pytest.approx(0.5)


@pytest.mark.parametrize("rampup", ["off", "tf", "stylegan2"])
def test_the_device_decay_equals_the_host_decay(rampup):
    ema = EMA(torch.nn.Linear(2, 2), 0.99, rampup=rampup, rampup_fraction=0.1)
    for t in [1, 2, 7, 50, 68, 69, 70, 1000]:
        on_device = ema.device_decay(torch.tensor(float(t)))
        assert on_device.dtype == torch.float32 and on_device.dim() == 0
        assert on_device.item() == pytest.approx(ema.decay_at(t), rel=1e-6)


@pytest.mark.parametrize("rampup", ["off", "tf", "stylegan2"])
def test_before_its_start_the_ema_is_a_copy_and_after_it_averages_with_the_unstarted_decay(rampup):
    started = EMA(torch.nn.Linear(2, 2), 0.99, rampup=rampup, start=5)
    plain = EMA(torch.nn.Linear(2, 2), 0.99, rampup=rampup)
    for t in range(1, 12):
        want = 0.0 if t <= 5 else plain.decay_at(t)
        assert started.decay_at(t) == want
        assert started.device_decay(torch.tensor(float(t))).item() == pytest.approx(want, rel=1e-6)
    torch.manual_seed(0)
    G = torch.nn.Linear(3, 3)
    ema = EMA(G, 0.9, rampup=rampup, start=2)
    for step in range(1, 4):
        before = [p.clone() for p in ema.module.parameters()]
        with torch.no_grad():
            for p in G.parameters():
                p.add_(torch.randn_like(p))
        ema.update(G)
        for old, new, raw in zip(before, ema.module.parameters(), G.parameters(), strict=True):
            if step <= 2:
                assert torch.equal(new, raw)  # a copy
            else:  # theta <- beta theta_ema + (1 - beta) theta
                beta = ema.decay_at(step)
                torch.testing.assert_close(new, beta * old + (1 - beta) * raw)
    with pytest.raises(ValueError, match="start"):
        EMA(G, 0.9, start=-1)


def test_an_unknown_rampup_or_fraction_is_refused():
    with pytest.raises(ValueError, match="must be one of off, tf, stylegan2"):
        EMA(torch.nn.Linear(2, 2), 0.99, rampup="karras")
    with pytest.raises(ValueError, match="fraction"):
        EMA(torch.nn.Linear(2, 2), 0.99, rampup="stylegan2", rampup_fraction=0.0)


def test_the_rampup_keys_are_validated_in_one_line():
    with pytest.raises(ConfigError, match="ema_rampup") as err:
        gankit.load_config(None, {"train.ema_rampup": "karras"})
    assert "stylegan2" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="ema_rampup_fraction"):
        gankit.load_config(None, {"train.ema_rampup_fraction": 1.5})
    assert gankit.load_config(None, {"train.ema_rampup": True}).train.ema_rampup == "tf"  # YAML's bools, as before
    with pytest.raises(ConfigError, match="train.ema_start must be >= 0"):
        gankit.load_config(None, {"train.ema_start": -3})


def test_the_rampup_fraction_is_stylegan2s_unless_the_preset_or_the_user_sets_it():
    from gankit.training.config import from_saved
    from gankit.training.defaults import resolve

    def fraction(data, device, **keys):
        cfg = gankit.load_config(None, {"data.name": data, **keys})
        return resolve(cfg, data_kind="images", image_size=32, device_class=device).train.ema_rampup_fraction

    assert fraction("fashion-mnist", "cpu") == 0.01  # the fashion-mnist-cpu preset's
    assert fraction("fashion-mnist", "cuda") == fraction("digits", "cpu") == 0.05  # StyleGAN2-ADA's
    assert fraction("fashion-mnist", "cpu", **{"train.ema_rampup_fraction": 0.2}) == 0.2
    saved = resolve(gankit.load_config(None, {"data.name": "fashion-mnist"}), data_kind="images", image_size=32,
                    device_class="cpu").to_dict()
    del saved["train"]["ema_rampup_fraction"]  # a run saved before the key existed trained with 0.05
    assert from_saved(saved).train.ema_rampup_fraction == 0.05


def test_a_run_exports_the_ema_generator_with_its_own_statistics(tmp_path):
    cfg = gankit.load_config(None, {"data.name": "digits", "data.image_size": 16, "model.width": 8,
                                    "train.steps": 6, "train.batch_size": 16, "train.ema": 0.9,
                                    "train.device": "cpu", "train.threads": 1})
    run = gankit.train(cfg, out=tmp_path / "run", log=lambda _: None)
    assert run.config.train.ema_rampup == "stylegan2"  # the image default
    raw, averaged = batch_norms(run.G)[0], batch_norms(run.ema)[0]
    assert not torch.allclose(raw.running_mean, averaged.running_mean)
    exported = gankit.load_generator(run.run_dir)
    assert torch.equal(batch_norms(exported.net)[0].running_mean, averaged.running_mean.cpu())
