"""The fast path: auto choices, channels_last batches, bf16 autocast, compile fallback, no host sync."""

import math
import shutil
import sys
import warnings
from pathlib import Path

import pytest
import torch

import gankit
from gankit.data import Dataset, load_dataset
from gankit.divergences import wasserstein
from gankit.errors import ConfigError
from gankit.training.batches import EpochBatches
from gankit.training.config import RunConfig, parse_assignment, set_value, validate
from gankit.training.loop import Trainer
from gankit.training.runtime import cpu_has_native_bf16, device_class, pick_threads, resolve_runtime
from gankit.training.setup import build

CPU = torch.device("cpu")


def config(**settings) -> RunConfig:
    cfg = RunConfig()
    base = {"train.device": "cpu", "train.log_every": 10, "train.sample_every": 1000, "train.checkpoint_every": 1000}
    for key, value in {**base, **settings}.items():
        set_value(cfg, key, value)
    return cfg


def images(n=64, size=16, channels=3, seed=0) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    return Dataset("synthetic", "images", torch.randint(0, 256, (n, channels, size, size), generator=gen, dtype=torch.uint8))


def dcgan_config(**settings) -> RunConfig:
    return config(**{"model.width": 8, "train.batch_size": 16, "train.threads": 1, **settings})


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in module.state_dict().values() if t.is_floating_point()])


# ---------------------------------------------------------------------------------------------- config


def test_new_keys_are_validated_and_yaml_words_read_back():
    for key, bad in (("train.channels_last", "yes please"), ("train.compile", "graph"), ("train.precision", "fp8")):
        cfg = RunConfig()
        set_value(cfg, key, bad)
        with pytest.raises(ConfigError, match=f"{key} must be one of"):
            validate(cfg)
    cfg = RunConfig()
    for text in ("train.compile=off", "train.channels_last=true"):  # YAML 1.1 hands these over as bools
        set_value(cfg, *parse_assignment(text))
    assert (cfg.train.compile, cfg.train.channels_last) == ("off", "true")
    validate(cfg)


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse avx2 avx512f\n")
    assert not cpu_has_native_bf16(info)
    info.write_text("processor : 0\nflags : fpu sse avx2 avx512f avx512_bf16\n")
    assert cpu_has_native_bf16(info)
    assert not cpu_has_native_bf16(tmp_path / "missing")


def test_a_cpu_without_native_bf16_is_its_own_device_class(monkeypatch):
    import gankit.training.runtime as runtime

    for native, expected in ((True, "cpu"), (False, "cpu-fp32")):
        monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda native=native: native)
        assert device_class(CPU) == expected
        assert device_class(torch.device("cuda")) == "cuda"  # the flag is the CPU's; a GPU run ignores it


def test_thread_choice():
    assert pick_threads("mlp", cores=8, load=0.0) == 1  # tiny matmuls: one thread
    assert pick_threads("dcgan", cores=8, load=0.5) == 8
    assert pick_threads("dcgan", cores=2, load=7.5) == 1  # a saturated machine: OpenMP barriers stall


def test_auto_choices_on_the_cpu(monkeypatch):
    import gankit.training.runtime as runtime

    for native in (True, False):
        monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda native=native: native)
        cfg = config(**{"model.name": "dcgan"})
        out = resolve_runtime(cfg, CPU)
        assert out.train.precision == ("bf16" if native else "fp32")
        assert out.train.channels_last == "true" and out.train.threads >= 1
        assert cfg.train.precision == "auto"  # the request is not modified
    toy = resolve_runtime(config(**{"model.name": "mlp"}), CPU)
    assert (toy.train.precision, toy.train.channels_last, toy.train.threads) == ("fp32", "false", 1)
    explicit = resolve_runtime(config(**{"model.name": "dcgan", "train.precision": "fp32", "train.channels_last": "false",
                                         "train.threads": 2}), CPU)
    assert (explicit.train.precision, explicit.train.channels_last, explicit.train.threads) == ("fp32", "false", 2)


# ------------------------------------------------------------------------------------------- layout


def test_channels_last_batches_hold_the_same_values():
    data = images().data
    plain = EpochBatches(data, 16, seed=3, device=CPU)
    nhwc = EpochBatches(data, 16, seed=3, device=CPU, memory_format=torch.channels_last)
    for _ in range(6):  # crosses an epoch boundary (4 batches per epoch)
        a, b = plain.next(), nhwc.next()
        assert b.is_contiguous(memory_format=torch.channels_last) and not b.is_contiguous()
        assert torch.equal(a, b)


def test_fast_and_fp32_paths_agree_on_a_dcgan(tmp_path):
    """Same seed: fp32 NCHW, fp32 NHWC and bf16 NHWC give the same shapes, finite and close losses."""
    runs = {}
    for name, prec, nhwc in (("fp32", "fp32", "false"), ("fp32-nhwc", "fp32", "true"), ("bf16-nhwc", "bf16", "true")):
        parts = build(dcgan_config(**{"train.precision": prec, "train.channels_last": nhwc}), dataset=images())
        assert parts.cfg.train.precision == prec and parts.cfg.train.channels_last == nhwc
        conv = parts.D.features[0].weight
        assert conv.is_contiguous(memory_format=torch.channels_last) == (nhwc == "true")
        trainer = Trainer(parts, tmp_path / name, log=lambda _: None)
        for _ in range(3):
            trainer.train_step()
        rows = trainer.stats.drain()
        with torch.no_grad():
            out = parts.G(torch.rand(5, parts.G.z_dim))
        assert out.shape == (5, 3, 16, 16) and out.dtype == torch.float32
        runs[name] = rows
    for rows in runs.values():
        assert all(torch.isfinite(torch.tensor(list(r.values()), dtype=torch.float64)).all() for r in rows)
    for key in ("loss_d", "loss_g"):
        ref, nhwc, fast = (runs[n][0][key] for n in ("fp32", "fp32-nhwc", "bf16-nhwc"))
        assert nhwc == pytest.approx(ref, rel=1e-4, abs=1e-5)  # layout changes only summation order
        assert fast == pytest.approx(ref, rel=5e-2)  # bf16 keeps 8 bits of mantissa


@pytest.mark.slow
def test_bf16_trains_the_toy_as_well_as_fp32(tmp_path):
    """ring8, 800 steps: both precisions more than halve W1 to the data and end within 0.15 of each other."""
    data = load_dataset("ring8", n_points=2000, seed=123).data.double().numpy()
    ends = {}
    for prec in ("fp32", "bf16"):
        parts = build(config(**{"data.name": "ring8", "data.n_points": 20000, "model.width": 128, "train.batch_size": 256,
                                "loss.lr_g": 1e-3, "loss.lr_d": 1e-3, "train.precision": prec}))
        z = torch.Generator().manual_seed(5)

        def w1_now(parts=parts, z=z) -> float:
            with torch.no_grad():
                return wasserstein(parts.G(torch.rand(2000, 2, generator=z) * 2 - 1).double().numpy(), data)

        start = w1_now()
        trainer = Trainer(parts, tmp_path / prec, log=lambda _: None)
        for _ in range(800):
            trainer.train_step()
        rows = trainer.stats.drain()
        assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in rows)
        ends[prec] = w1_now()
        assert ends[prec] < 0.5 * start, (prec, start, ends[prec])
    assert abs(ends["bf16"] - ends["fp32"]) < 0.15, ends


# ------------------------------------------------------------------------------------------ compile


def test_a_failing_compile_falls_back_with_one_line_warning(monkeypatch, tmp_path):
    def broken(fn, **_):
        def call(*args, **kwargs):
            raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found\nlong traceback text")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match=r"train.compile=model failed \(RuntimeError: InvalidCxxCompiler") as record:
        parts = build(dcgan_config(**{"train.compile": "model"}), dataset=images())
    assert all("\n" not in str(w.message) for w in record)
    trainer = Trainer(parts, tmp_path, log=lambda _: None)
    trainer.train_step()  # the eager phases train
    assert trainer.step == 1


@pytest.mark.parametrize("mode", ["model", "step"])
def test_rehearsal_leaves_no_trace(monkeypatch, tmp_path, mode):
    """With torch.compile as the identity, compile=model|step trains bit for bit like compile=off."""
    monkeypatch.setattr(torch, "compile", lambda fn, **_: fn)
    weights = {}
    for name in ("off", mode):
        parts = build(dcgan_config(**{"train.compile": name, "train.precision": "fp32"}), dataset=images())
        trainer = Trainer(parts, tmp_path / name, log=lambda _: None)
        for _ in range(2):
            trainer.train_step()
        weights[name] = (flat(parts.G), flat(parts.D))
    assert torch.equal(weights["off"][0], weights[mode][0]) and torch.equal(weights["off"][1], weights[mode][1])


def test_gradient_penalty_keeps_the_discriminator_phase_eager(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **_: fn)
    with pytest.warns(UserWarning, match="double backward"):
        parts = build(dcgan_config(**{"train.compile": "model", "loss.name": "wgan-gp"}), dataset=images())
    assert parts.phases is not None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="inductor needs a C++ compiler")
def test_real_compile_of_the_toy_mlp_matches_eager(tmp_path):
    rows = {}
    for mode in ("off", "model"):
        cfg = config(**{"data.name": "ring8", "data.n_points": 512, "model.width": 16, "train.batch_size": 64,
                        "train.compile": mode})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer = Trainer(build(cfg), tmp_path / mode, log=lambda _: None)
        assert not [w for w in caught if "train.compile" in str(w.message)]  # a fallback would hide a broken compile
        for _ in range(3):
            trainer.train_step()
        rows[mode] = trainer.stats.drain()
    for a, b in zip(rows["off"], rows["model"], strict=True):
        for key in ("loss_d", "loss_g"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5)


# ------------------------------------------------------------------------------------------ no sync

SYNCING = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


@pytest.fixture
def host_reads(monkeypatch):
    """Records every Tensor method that reads values back to the host, when gankit's code calls it."""
    root = str(Path(gankit.__file__).parent)
    calls: list[str] = []
    for name in SYNCING:
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            caller = sys._getframe(1).f_code
            if caller.co_filename.startswith(root):
                calls.append(f"{_name} in {Path(caller.co_filename).name}:{caller.co_name}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return calls


@pytest.mark.parametrize("settings", [
    {"train.precision": "bf16", "train.channels_last": "true"},
    {"loss.name": "wgan-gp", "train.precision": "fp32", "train.ema": 0.9},
    {"loss.name": "wgan", "train.precision": "fp32"},
], ids=["gan-ns-bf16-nhwc", "wgan-gp-ema", "wgan-clip"])
def test_train_step_reads_nothing_back_to_the_host(tmp_path, host_reads, settings):
    trainer = Trainer(build(dcgan_config(**settings), dataset=images()), tmp_path, log=lambda _: None)
    host_reads.clear()  # building may read values (it is not the step)
    for _ in range(2):
        trainer.train_step()
    assert host_reads == []
    trainer.flush_stats()  # the one sync per tick, which the spy must see
    assert any("drain" in call for call in host_reads)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_train_step_never_synchronises(tmp_path):
    cfg = config(**{"train.device": "cuda", "model.width": 16, "train.batch_size": 32})
    trainer = Trainer(build(cfg, dataset=images(n=256, size=32)), tmp_path, log=lambda _: None)
    for _ in range(3):  # cuDNN's algorithm search happens here
        trainer.train_step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(trainer.flush_stats()) == 8
