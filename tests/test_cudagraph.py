"""train.cuda_graph: the whole step as one CUDA graph.

On the CPU the capture itself cannot run, so a stand-in recorder takes its place: warm-up runs
the step, "capture" records it without running it, and each replay reruns it into the same output
row. That exercises everything around the graph (static index buffers, the device-side EMA count,
the statistics row, the warm-up's undo, invalidation, the fallback) against the eager loop. The
CUDA tests run the real capture and skip without a GPU.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gankit.data import Dataset
from gankit.errors import ConfigError
from gankit.training import checkpoint
from gankit.training.config import RunConfig, set_value
from gankit.training.graphstep import WARMUP_STEPS, CapturedStep, CaptureError, restore, snapshot
from gankit.training.loop import Trainer
from gankit.training.runtime import resolve_runtime
from gankit.training.setup import build, set_capturable

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


def config(**settings) -> RunConfig:
    cfg = RunConfig()
    base = {"train.device": "cpu", "train.log_every": 10, "train.sample_every": 1000, "train.checkpoint_every": 1000,
            "model.width": 8, "train.batch_size": 16, "train.threads": 1, "train.precision": "fp32",
            "train.tensorboard": False, "train.report": False}
    for key, value in {**base, **settings}.items():
        set_value(cfg, key, value)
    return cfg


def images(n=96, size=16, channels=1, classes=4, seed=0) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 256, (n, channels, size, size), generator=gen, dtype=torch.uint8)
    return Dataset("synthetic", "images", data, labels=torch.arange(n) % classes)


def trainer_of(tmp_path, name, **settings) -> Trainer:
    (tmp_path / name).mkdir()
    return Trainer(build(config(**settings), dataset=images()), tmp_path / name, log=lambda _: None)


def weights(trainer: Trainer) -> torch.Tensor:
    p = trainer.parts
    nets = [p.G, p.D] + ([p.ema.module] if p.ema is not None else [])
    return torch.cat([t.detach().double().flatten().cpu() for m in nets for t in m.state_dict().values()
                      if t.is_floating_point()])


class RerunGraph:
    """A replay that reruns the recorded step and writes its row into the captured output tensor."""

    def __init__(self, body, out: torch.Tensor) -> None:
        self.body, self.out = body, out

    def replay(self) -> None:
        row = self.body()
        self.out.resize_(row.shape).copy_(row)


class RerunRecorder:
    """The CPU stand-in for :class:`gankit.training.graphstep.CudaRecorder` (see the module docstring)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.captures, self.warm_ups = fail, 0, 0

    def warm_up(self, body, device) -> None:
        self.warm_ups += 1
        for _ in range(WARMUP_STEPS):
            body()

    def capture(self, body, device):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.captures += 1
        out = torch.empty(0)
        return RerunGraph(body, out), out


def with_stand_in(trainer: Trainer, recorder: RerunRecorder) -> Trainer:
    trainer.captured = CapturedStep(trainer, recorder)
    return trainer


def rows(trainer: Trainer) -> list[dict]:
    return trainer.flush_stats()


# ------------------------------------------------------------------------------------------- config
def test_the_option_is_validated_and_auto_resolves_by_device():
    cfg = config(**{"train.cuda_graph": "sometimes"})
    with pytest.raises(ConfigError, match="train.cuda_graph must be one of auto, on, off"):
        build(cfg, dataset=images())
    assert resolve_runtime(config(), torch.device("cpu")).train.cuda_graph == "off"
    cuda = torch.device("cuda")
    on_gpu = {"train.precision": "bf16", "train.channels_last": "true"}
    assert resolve_runtime(config(**on_gpu), cuda).train.cuda_graph == "on"
    assert resolve_runtime(config(**on_gpu), cuda, world_size=2).train.cuda_graph == "off"
    assert resolve_runtime(config(**{**on_gpu, "train.precision": "fp16"}), cuda).train.cuda_graph == "off"
    assert resolve_runtime(config(**{**on_gpu, "train.compile": "model"}), cuda).train.cuda_graph == "on"
    assert resolve_runtime(config(**{**on_gpu, "train.cuda_graph": "off"}), cuda).train.cuda_graph == "off"


def test_on_without_cuda_is_a_one_line_error():
    with pytest.raises(ConfigError) as err:
        build(config(**{"train.cuda_graph": "on"}), dataset=images())
    assert "needs a CUDA GPU" in str(err.value) and "\n" not in str(err.value)


def test_the_cli_refuses_on_without_cuda_in_one_line(tmp_path):
    if CUDA:
        pytest.skip("this machine has a GPU")
    proc = subprocess.run([sys.executable, "-m", "gankit", "train", "--data", "ring8", "--steps", "1", "--out",
                           str(tmp_path / "run"), "--set", "train.cuda_graph=on"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "train.cuda_graph=on needs a CUDA GPU" in proc.stderr


# --------------------------------------------------------------------- the captured step, on the CPU
CASES = {
    "gan-ns-ema": {"train.ema": 0.99},
    "wgan-gp": {"loss.name": "wgan-gp", "train.ema": 0.9, "train.ema_rampup": "tf"},  # gan-ns-ema: stylegan2
    "wgan-clip": {"loss.name": "wgan"},
    "conditional-hinge-sn-augment": {"model.conditional": True, "loss.name": "hinge", "model.d_norm": "spectral",
                                     "train.augment": "color,translation,cutout", "train.ema": 0.99,
                                     "train.ema_rampup": "off", "model.g_condition": "batchnorm"},
    "conditional-ac-gan-ema-start": {"model.conditional": True, "loss.ac_weight": 0.5, "train.ema": 0.99,
                                     "train.ema_start": 2},
}


@pytest.mark.parametrize("settings", CASES.values(), ids=CASES.keys())
def test_the_replayed_step_trains_exactly_as_the_eager_loop(tmp_path, settings):
    # one after the other: the two share torch's RNG, which each build seeds
    eager = trainer_of(tmp_path, "eager", **settings)
    for _ in range(7):  # past an epoch boundary (96 images, batch 16, K up to 5)
        eager.train_step()
    graphed = with_stand_in(trainer_of(tmp_path, "graph", **settings), recorder := RerunRecorder())
    for _ in range(7):
        graphed.train_step()
    assert recorder.captures == 1 and graphed.captured is not None
    # the same data order, RNG draws, weights, optimiser moments and EMA (the EMA's blend is written
    # as a product and a sum instead of a lerp: equal to rounding)
    assert torch.allclose(weights(graphed), weights(eager), rtol=1e-5, atol=1e-6)
    assert graphed.batches.state_dict() == eager.batches.state_dict()
    if eager.parts.ema is not None:
        assert graphed.parts.ema.updates == eager.parts.ema.updates == 7
    for a, b in zip(rows(graphed), rows(eager), strict=True):
        assert a.keys() == b.keys() and a["step"] == b["step"]
        assert all(math.isclose(a[k], b[k], rel_tol=1e-4, abs_tol=1e-5) for k in a), (a, b)


def test_warm_up_leaves_no_trace(tmp_path):
    trainer = with_stand_in(trainer_of(tmp_path, "run", **{"train.ema": 0.99}), RerunRecorder())
    for _ in range(2):
        trainer.train_step()  # optimiser state and EMA exist
    saved, before = snapshot(trainer), weights(trainer)
    opt_state = [v.clone() for s in trainer.parts.opt_d.state.values() for v in s.values() if torch.is_tensor(v)]
    rng = torch.get_rng_state()
    for _ in range(3):
        trainer.captured.body()
    assert not torch.equal(weights(trainer), before)
    restore(trainer, saved)
    assert torch.equal(weights(trainer), before)
    after = [v for s in trainer.parts.opt_d.state.values() for v in s.values() if torch.is_tensor(v)]
    assert all(torch.equal(a, b) for a, b in zip(after, opt_state, strict=True))
    assert torch.equal(torch.get_rng_state(), rng) and trainer.parts.ema.updates == 2


def test_a_fresh_optimiser_stays_fresh_across_warm_up(tmp_path):
    eager = trainer_of(tmp_path, "eager")
    eager.train_step()
    graphed = with_stand_in(trainer_of(tmp_path, "graph"), RerunRecorder())
    graphed.train_step()  # warm-up creates Adam's state from nothing; it must be zeroed, as if never made
    for opt_a, opt_b in ((graphed.parts.opt_g, eager.parts.opt_g), (graphed.parts.opt_d, eager.parts.opt_d)):
        for sa, sb in zip(opt_a.state.values(), opt_b.state.values(), strict=True):
            assert float(sa["step"]) == float(sb["step"]) == 1.0
            assert torch.allclose(sa["exp_avg"], sb["exp_avg"], atol=1e-7)


def test_a_failed_capture_warns_once_and_trains_eagerly_from_the_same_state(tmp_path):
    eager = trainer_of(tmp_path, "eager")
    for _ in range(4):
        eager.train_step()
    graphed = trainer_of(tmp_path, "graph")
    logged: list[str] = []
    graphed.log = logged.append
    with_stand_in(graphed, RerunRecorder(fail=True))
    for _ in range(4):
        graphed.train_step()
    assert graphed.captured is None
    assert len(logged) == 1 and logged[0].startswith("warning: train.cuda_graph: the step could not be captured")
    assert "operation not permitted when stream is capturing" in logged[0]
    assert torch.equal(weights(graphed), weights(eager))  # the failed attempt's warm-up was undone


def test_loading_a_checkpoint_or_changing_a_rate_recaptures(tmp_path):
    trainer = with_stand_in(trainer_of(tmp_path, "run"), recorder := RerunRecorder())
    for _ in range(3):
        trainer.train_step()
    state = trainer.state_dict()
    trainer.load_state_dict(state)  # new optimiser state tensors: the graph must be captured anew
    trainer.train_step()
    assert recorder.captures == 2
    trainer.train_step()
    assert recorder.captures == 2
    for group in trainer.parts.opt_g.param_groups:
        group["lr"] *= 0.5  # a rollback (or a callback's schedule): the graph holds the old rate
    trainer.train_step()
    assert recorder.captures == 3


def test_resume_through_a_captured_step_is_exact(tmp_path):
    straight = with_stand_in(trainer_of(tmp_path, "straight", **{"train.ema": 0.99}), RerunRecorder())
    for _ in range(3):
        straight.train_step()
    state = checkpoint.load(checkpoint.save(tmp_path / "ckpt", 3, straight.state_dict(), keep=1))
    for _ in range(3):
        straight.train_step()
    resumed = with_stand_in(trainer_of(tmp_path, "resumed", **{"train.ema": 0.99}), RerunRecorder())
    resumed.load_state_dict(state)  # restores torch's RNG too
    for _ in range(3):
        resumed.train_step()
    assert torch.allclose(weights(resumed), weights(straight), rtol=1e-6, atol=1e-7)


def test_set_capturable_keeps_step_counts_where_each_optimiser_reads_them():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.RMSprop([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    set_capturable(opt, True)
    assert opt.param_groups[0]["capturable"] is True and opt.state[p]["step"].device == p.device
    set_capturable(opt, False)
    assert opt.param_groups[0]["capturable"] is False and opt.state[p]["step"].device.type == "cpu"
    opt.step()
    assert float(opt.state[p]["step"]) == 2.0


def test_capture_errors_are_gankit_errors():
    assert issubclass(CaptureError, Exception) and CaptureError("x").args == ("x",)


# ---------------------------------------------------------------------------------------- on a GPU
def cuda_trainer(tmp_path, name, mode, **settings) -> Trainer:
    cfg = config(**{"train.device": "cuda", "train.cuda_graph": mode, "model.width": 16, "train.batch_size": 32,
                    **settings})
    (tmp_path / name).mkdir()
    return Trainer(build(cfg, dataset=images(n=256, size=32, channels=3)), tmp_path / name, log=print)


GPU_CASES = {
    "gan-ns-bf16-nhwc": {"train.precision": "bf16", "train.channels_last": "true"},
    "gan-ns-fp32-ema": {"train.ema": 0.99},
    "wgan-gp": {"loss.name": "wgan-gp"},
    "wgan-clip": {"loss.name": "wgan"},
    "conditional-hinge-sn-augment": {"model.conditional": True, "loss.name": "hinge", "model.d_norm": "spectral",
                                     "train.augment": "color,translation,cutout", "train.precision": "bf16"},
}


@needs_cuda
@pytest.mark.parametrize("settings", GPU_CASES.values(), ids=GPU_CASES.keys())
def test_cuda_graph_and_eager_agree_on_the_first_steps(tmp_path, settings):
    torch.backends.cudnn.deterministic = True  # the two runs' convolution algorithms must not differ
    try:
        eager = cuda_trainer(tmp_path, "eager", "off", **settings)
        for _ in range(6):  # one after the other: the two share torch's RNG, which each build seeds
            eager.train_step()
        graphed = cuda_trainer(tmp_path, "graph", "on", **settings)
        for _ in range(6):
            graphed.train_step()
    finally:
        torch.backends.cudnn.deterministic = False
    assert graphed.captured is not None and graphed.captured.graph is not None, "the step fell back to eager"
    bf16 = graphed.cfg.train.precision == "bf16"
    tolerance = 5e-2 if bf16 else 1e-3
    for a, b in zip(rows(graphed), rows(eager), strict=True):
        for key in a:
            assert math.isclose(a[key], b[key], rel_tol=tolerance, abs_tol=tolerance), (key, a, b)
    assert torch.allclose(weights(graphed), weights(eager), rtol=tolerance, atol=tolerance)


@needs_cuda
def test_cuda_replays_never_synchronise(tmp_path):
    trainer = cuda_trainer(tmp_path, "run", "on", **{"train.precision": "bf16", "train.channels_last": "true",
                                                     "train.ema": 0.999})
    for _ in range(3):  # capture happens here
        trainer.train_step()
    assert trainer.captured is not None
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(12):  # past an epoch boundary (256 images, batch 32)
            trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    got = trainer.flush_stats()
    assert len(got) == 15 and all(math.isfinite(v) for row in got for v in row.values() if isinstance(v, float))


class TinyG(torch.nn.Module):
    """A one-layer generator of 3x32x32 images from 8-d codes (a user's own network)."""

    z_dim = 8

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(8, 3 * 32 * 32)

    def forward(self, z):
        return torch.tanh(self.net(z)).view(-1, 3, 32, 32)


class SyncingD(torch.nn.Module):
    """A linear critic that branches on a value: a host sync in every step."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 1))

    def forward(self, x):
        out = self.net(x).squeeze(1)
        if float(out.mean()) > 1e9:  # a branch on a value: a host sync
            out = out * 0
        return out


class CaptureBreakingD(SyncingD):
    """A linear critic that synchronises only while a graph is being captured."""

    def forward(self, x):
        if torch.cuda.is_current_stream_capturing():
            torch.cuda.synchronize()  # fine in warm-up, illegal during a capture
        return self.net(x).squeeze(1)


def four_steps_of(D: torch.nn.Module, tmp_path) -> tuple[Trainer, list[str]]:
    """A captured run of TinyG against ``D`` after four steps, and what it logged."""
    cfg = config(**{"train.device": "cuda", "train.cuda_graph": "on", "train.batch_size": 32})
    logged: list[str] = []
    trainer = Trainer(build(cfg, dataset=images(n=256, size=32, channels=3), networks=(TinyG(), D)), tmp_path,
                      log=logged.append)
    for _ in range(4):
        trainer.train_step()
    return trainer, logged


@needs_cuda
def test_a_capture_that_syncs_falls_back_to_eager(tmp_path):
    trainer, logged = four_steps_of(SyncingD(), tmp_path)
    assert trainer.captured is None and trainer.step == 4
    assert sum("could not be captured" in line for line in logged) == 1


@needs_cuda
def test_a_capture_that_fails_inside_leaves_the_random_numbers_usable(tmp_path):
    trainer, logged = four_steps_of(CaptureBreakingD(), tmp_path)
    assert trainer.captured is None and trainer.step == 4
    assert sum("could not be captured" in line for line in logged) == 1
    assert torch.rand(3, device="cuda").shape == (3,)  # torch's generator left capture mode


@needs_cuda
def test_cuda_graph_run_killed_and_resumed_matches_its_checkpoint(tmp_path):
    """A graph run stopped at step 20 and resumed to 40 equals a straight 40-step run (within rounding)."""
    settings = {"train.ema": 0.99, "train.checkpoint_every": 20, "train.cudnn_benchmark": False}
    torch.backends.cudnn.deterministic = True  # cuDNN's algorithm choice must not differ between the two runs
    try:
        straight = cuda_trainer(tmp_path, "straight", "on", **settings)
        for _ in range(20):
            straight.train_step()
        saved = straight.save_checkpoint()
        for _ in range(20):
            straight.train_step()
        resumed = cuda_trainer(tmp_path, "resumed", "on", **settings)
        resumed.load_state_dict(checkpoint.load(saved))
        for _ in range(20):
            resumed.train_step()
        again = cuda_trainer(tmp_path, "again", "on", **settings)  # how far two straight runs differ
        for _ in range(40):
            again.train_step()
    finally:
        torch.backends.cudnn.deterministic = False
    assert resumed.captured is not None and resumed.step == straight.step == 40
    run_to_run = float((weights(again) - weights(straight)).abs().max())
    resume = float((weights(resumed) - weights(straight)).abs().max())
    assert resume <= max(10 * run_to_run, 1e-6), f"resumed differs by {resume:.3g}, two straight runs by {run_to_run:.3g}"


@needs_cuda
def test_a_cuda_graph_run_killed_with_sigkill_resumes_to_the_end(tmp_path):
    """kill -9 after a checkpoint, then --resume: the run finishes, each step recorded once, the graph in use."""
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "gankit", "train", "--data", "digits", "--device", "cuda", "--out", str(run),
            "--set", "train.cuda_graph=on", "--set", "train.checkpoint_every=200", "--set", "train.tensorboard=false",
            "--set", "train.report=false"]
    proc = subprocess.Popen([*argv, "--steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / checkpoint.checkpoint_name(400)).exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()[-2000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run([sys.executable, "-m", "gankit", "train", "--resume", str(run), "--steps", "1000"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "could not be captured" not in done.stdout + done.stderr
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 1000
    assert json.loads((run / "config.json").read_text())["train"]["cuda_graph"] == "on"
