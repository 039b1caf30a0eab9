"""gankit bench: FLOP counts against hand counts, the reference loop's behaviour, and the command's JSON."""

import json
import math
import sys

import pytest
import torch
from torch import nn

import gankit.cli as cli
from gankit.bench import (
    PEAK_TFLOPS,
    ReferenceLoop,
    conv2d_flops,
    conv_transpose2d_flops,
    count_flops,
    dcgan_forward_flops,
    images_per_second_limit,
    linear_flops,
    peak_tflops,
)
from gankit.bench.runner import BenchOptions, make_trainer, synthetic_dataset, trainer_flops
from gankit.models import DCGANDiscriminator, DCGANGenerator, build_models

# ------------------------------------------------------------------------------------------- FLOPs


def test_one_layer_counts_match_the_hand_formulas():
    n, c_in, c_out, k = 3, 5, 7, 4
    conv = nn.Conv2d(c_in, c_out, k, stride=2, padding=1)
    x = torch.randn(n, c_in, 12, 10)
    h_out, w_out = conv(x).shape[-2:]
    assert (h_out, w_out) == (6, 5)
    assert count_flops(lambda: conv(x)) == 2 * n * c_out * h_out * w_out * c_in * k * k == conv2d_flops(n, c_in, c_out, k, 6, 5)
    up = nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=1)
    y = torch.randn(n, c_in, 6, 5)
    assert up(y).shape[-2:] == (12, 10)
    assert count_flops(lambda: up(y)) == 2 * n * c_in * 6 * 5 * c_out * k * k == conv_transpose2d_flops(n, c_in, c_out, k, 6, 5)
    fc = nn.Linear(11, 13)
    assert count_flops(lambda: fc(torch.randn(n, 11))) == 2 * n * 11 * 13 == linear_flops(n, 11, 13)


@pytest.mark.parametrize("size,width", [(16, 8), (32, 4), (64, 2)])
def test_dcgan_forward_flops_match_the_counter(size, width):
    G = DCGANGenerator(z_dim=100, image_size=size, channels=3, width=width)
    D = DCGANDiscriminator(image_size=size, channels=3, width=width)
    hand = dcgan_forward_flops(size, width, channels=3, z_dim=100)
    with torch.no_grad():
        assert count_flops(lambda: G(torch.rand(2, 100))) == 2 * hand["G"]
        assert count_flops(lambda: D(torch.rand(2, 3, size, size))) == 2 * hand["D"]


def test_a_training_step_counts_every_forward_and_backward_product(tmp_path):
    """gankit's step = D phase (G fwd, D fwd x2, D bwd x2) + G phase (G fwd, D fwd, D input-bwd, G bwd).

    A backward pass costs twice its forward (input and weight gradients) except where no gradient
    is wanted: the real/detached input of D's first conv, the noise into G's first Linear, and D's
    weights while D is frozen.
    """
    n, size, width = 4, 16, 8
    opts = BenchOptions(device="cpu", precision="fp32", channels_last="false")
    data = synthetic_dataset("dcgan", 64, image_size=size, channels=3, seed=0)
    trainer = make_trainer(data, opts, width=width, batch_size=n, device=torch.device("cpu"), threads=1, run_dir=tmp_path)
    fg, fd = dcgan_forward_flops(size, width).values()
    d_first = conv2d_flops(1, 3, width, 4, size // 2, size // 2)
    g_first = linear_flops(1, 100, 16 * width * 2)
    d_phase = fg + 2 * fd + 2 * (2 * fd - d_first)
    g_phase = fg + fd + fd + (2 * fg - g_first)
    assert trainer_flops(trainer) == n * (d_phase + g_phase)


def test_peak_table_lookup():
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == PEAK_TFLOPS["H100"]["bf16"]
    assert peak_tflops("NVIDIA H100 PCIe", "bf16") == PEAK_TFLOPS["H100 PCIe"]["bf16"]  # the longer name wins
    assert peak_tflops("NVIDIA H200", "fp32") == PEAK_TFLOPS["H200"]["fp32"]
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "tf32") == PEAK_TFLOPS["A100"]["tf32"]
    assert peak_tflops("AMD EPYC", "bf16") is None
    for rates in PEAK_TFLOPS.values():  # tensor cores: bf16 = 2 x tf32 > CUDA-core fp32
        assert rates["bf16"] == pytest.approx(2 * rates["tf32"], rel=1e-3) and rates["tf32"] > rates["fp32"]
    assert images_per_second_limit(1000.0, 2e9) == pytest.approx(1000e12 / 2e9)


# --------------------------------------------------------------------------------------- reference


def test_reference_loop_syncs_three_times_per_step_and_trains(monkeypatch):
    torch.manual_seed(0)
    G, D = build_models("dcgan", data_shape=(3, 16, 16), z_dim=100, width=8)
    data = synthetic_dataset("dcgan", 64, image_size=16, channels=3, seed=0).data
    ref = ReferenceLoop(G, D, data, batch_size=16, device=torch.device("cpu"))
    assert isinstance(ref.D[-1], nn.Sigmoid) and isinstance(ref.criterion, nn.BCELoss)
    before = torch.cat([p.detach().flatten().clone() for p in ref.D.parameters()])
    calls = []
    original = torch.Tensor.item

    def spy(self):
        if sys._getframe(1).f_code.co_filename.endswith("reference.py"):  # not Adam's CPU step counters
            calls.append(1)
        return original(self)

    monkeypatch.setattr(torch.Tensor, "item", spy)
    for _ in range(5):  # 4 batches per epoch: the loader restarts
        ref.step()
    assert len(calls) == 15
    assert all(0.0 < v < 1.0 for v in ref.last.values())  # probabilities, as the script prints
    after = torch.cat([p.detach().flatten() for p in ref.D.parameters()])
    assert not torch.equal(before, after)
    assert all(p.dtype == torch.float32 for p in ref.G.parameters())


# --------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def bench_cli(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "bench", "bench")
    return cli.main


def test_bench_quick_writes_json_with_every_figure(bench_cli, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_cli(["bench", "--device", "cpu", "--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(a) reference" in printed and "(c) best" in printed and "data path" in printed
    result = json.loads(out.read_text())
    assert set(result) >= {"machine", "options", "gankit_settings", "runs", "sweep", "data_path", "limit"}
    a, b, c = result["runs"]
    assert [r["name"] for r in (a, b, c)] == ["reference", "gankit", "gankit-best"]
    assert a["batch_size"] == b["batch_size"] == result["options"]["batch_size"]
    for run in (a, b, c):
        for key in ("ms_per_step", "images_per_s", "tflops", "speedup", "flops_per_step", "flops_per_image"):
            assert isinstance(run[key], int | float) and math.isfinite(run[key]) and run[key] > 0, key
        assert run["images_per_s"] == pytest.approx(run["batch_size"] / (run["ms_per_step"] / 1000))
        assert run["tflops"] == pytest.approx(run["flops_per_step"] / (run["ms_per_step"] / 1000) / 1e12)
        assert run["peak_share"] is None  # no peak is known for a CPU
    assert a["speedup"] == 1.0
    assert c["images_per_s"] == max(p["images_per_s"] for p in result["sweep"])
    assert {p["batch_size"] for p in result["sweep"]} >= {b["batch_size"]}
    d = result["data_path"]
    assert d["epoch_batches_per_s"] > 0 and d["dataloader_batches_per_s"] > 0
    assert isinstance(d["reference_loader_bound"], bool)
    assert result["limit"]["images_per_s"] is None and result["machine"]["threads"] >= 1


def test_bench_rejects_bad_options_in_one_line(bench_cli, capsys):
    assert bench_cli(["bench", "--device", "cpu", "--precision", "fp8"]) == 2
    err = capsys.readouterr().err
    assert "--precision must be one of" in err and len(err.strip().splitlines()) == 1


def test_bench_rejects_a_bad_cuda_graph_value_in_one_line(bench_cli, capsys):
    assert bench_cli(["bench", "--device", "cpu", "--cuda-graph", "sometimes"]) == 2
    err = capsys.readouterr().err
    assert "--cuda-graph must be one of auto, on, off" in err and len(err.strip().splitlines()) == 1
