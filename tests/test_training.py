"""The trainer end to end on small problems: schedule, clipping, learning, outputs, resume."""

import json

import numpy as np
import pytest
import torch

from gankit import runs
from gankit.data import load_dataset
from gankit.divergences import wasserstein
from gankit.training import checkpoint
from gankit.training.config import RunConfig, set_value
from gankit.training.defaults import resolve
from gankit.training.loop import Trainer
from gankit.training.setup import build


def make_config(**settings) -> RunConfig:
    cfg = RunConfig()
    base = {"train.device": "cpu", "train.log_every": 10, "train.sample_every": 1000, "train.checkpoint_every": 1000}
    for key, value in {**base, **settings}.items():
        set_value(cfg, key, value)
    return cfg


def toy_config(loss="gan-ns", **settings) -> RunConfig:
    return make_config(**{"data.name": "ring8", "data.n_points": 2048, "loss.name": loss, "model.width": 64,
                          "train.batch_size": 128, "train.steps": 6, **settings})


def flat_weights(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in module.state_dict().values() if t.is_floating_point()])


@pytest.mark.parametrize("k", [1, 3])
def test_k_discriminator_steps_per_generator_step(tmp_path, k):
    parts = build(toy_config(**{"loss.d_steps": k}))
    trainer = Trainer(parts, tmp_path, log=lambda _: None)
    counts = {"d": 0, "g": 0}
    parts.opt_d.register_step_post_hook(lambda *_: counts.__setitem__("d", counts["d"] + 1))
    parts.opt_g.register_step_post_hook(lambda *_: counts.__setitem__("g", counts["g"] + 1))
    for _ in range(4):
        trainer.train_step()
    assert counts == {"d": 4 * k, "g": 4}
    assert trainer.batches.position == 4 * k  # every D step draws a fresh real batch


def test_weight_clipping_bounds_every_critic_weight(tmp_path):
    parts = build(toy_config("wgan", **{"loss.clip": 0.01}))
    trainer = Trainer(parts, tmp_path, log=lambda _: None)
    for _ in range(3):
        trainer.train_step()
    for p in parts.D.parameters():
        assert p.abs().max() <= 0.01 + 1e-12


def test_generator_step_leaves_discriminator_untouched(tmp_path):
    parts = build(toy_config())
    trainer = Trainer(parts, tmp_path, log=lambda _: None)
    before = flat_weights(parts.D)
    trainer.generator_step()
    assert torch.equal(before, flat_weights(parts.D))
    assert all(p.requires_grad for p in parts.D.parameters())


def test_toy_run_lowers_w1_to_the_data(tmp_path):
    cfg = toy_config("gan-ns", **{"train.steps": 800, "data.n_points": 20000, "model.width": 128, "train.batch_size": 256,
                                  "loss.lr_g": 1e-3, "loss.lr_d": 1e-3})
    data = load_dataset("ring8", n_points=2000, seed=123).data.double().numpy()
    parts = build(cfg)
    z = torch.Generator().manual_seed(5)

    def w1_now() -> float:
        with torch.no_grad():
            x = parts.G(torch.rand(2000, parts.G.z_dim, generator=z) * 2 - 1).double().numpy()
        return wasserstein(x, data)

    start = w1_now()
    Trainer(parts, tmp_path, log=lambda _: None).run()
    end = w1_now()
    print(f"W1 to the data: {start:.3f} -> {end:.3f}")
    assert end < 0.5 * start, (start, end)


def test_run_folder_layout_and_stats(tmp_path):
    cfg = toy_config(**{"train.steps": 20, "train.sample_every": 10, "train.checkpoint_every": 10})
    result = runs.train(cfg, out=tmp_path / "run", log=lambda _: None)
    run = result.run_dir
    for name in ("config.json", "stats.jsonl", "samples.png", "generator.safetensors", "samples/step_0000010.png"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 21))
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "w_estimate"):
        assert all(np.isfinite(r[key]) for r in rows), key
    saved = json.loads((run / "config.json").read_text())
    expected = resolve(cfg, data_kind="points", image_size=None)
    assert saved["loss"]["lr_g"] == expected.loss.lr_g and saved["model"]["name"] == "mlp"  # resolved values are written
    assert {k for k, v in saved["loss"].items() if v is None} <= {"clip"}  # None: no clipping
    assert checkpoint.latest_path(run / "checkpoints").name == "step_0000020.ckpt"


def test_digits_dcgan_produces_images(tmp_path):
    cfg = make_config(**{"train.steps": 3, "train.batch_size": 16, "model.width": 8})
    result = runs.train(cfg, out=tmp_path / "run", log=lambda _: None)
    from PIL import Image

    grid = Image.open(result.run_dir / "samples.png")
    assert grid.size[0] > 32 and grid.mode == "L"
    state = checkpoint.load(result.last_checkpoint)
    assert state["data_shape"] == [1, 32, 32] and state["step"] == 3


@pytest.mark.parametrize("loss, extra", [("gan-ns", {}), ("wgan-gp", {}), ("gan-ns", {"loss.reuse_fake": True})],
                         ids=["gan-ns", "wgan-gp", "gan-ns-reuse-fake"])
def test_resume_is_bit_exact(tmp_path, loss, extra):
    """N steps straight equal N/2 steps, a stop, and a resume for N/2 more (CPU, bit for bit)."""
    cfg = toy_config(loss, **{"train.steps": 12, "train.ema": 0.9, "data.n_points": 600, **extra})  # epochs roll over
    straight = runs.train(cfg, out=tmp_path / "straight", log=lambda _: None)
    set_value(cfg, "train.steps", 6)
    runs.train(cfg, out=tmp_path / "split", log=lambda _: None)
    resumed = runs.resume(tmp_path / "split", overrides={"train.steps": 12}, log=lambda _: None)
    a, b = checkpoint.load(straight.last_checkpoint), checkpoint.load(resumed.last_checkpoint)
    for key in ("G", "D", "ema"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    rows = [json.loads(x)["step"] for x in (tmp_path / "split" / "stats.jsonl").read_text().splitlines()]
    assert rows == list(range(1, 13))  # no duplicated or missing steps


def test_resume_refuses_a_changed_model(tmp_path):
    from gankit.errors import ConfigError

    runs.train(toy_config(), out=tmp_path / "run", log=lambda _: None)
    with pytest.raises(ConfigError, match="loss.name is 'gan-ns' there"):
        runs.resume(tmp_path / "run", overrides={"loss.name": "wgan"}, log=lambda _: None)


def test_fresh_run_refuses_an_existing_run(tmp_path):
    from gankit.errors import ConfigError

    runs.train(toy_config(), out=tmp_path / "run", log=lambda _: None)
    with pytest.raises(ConfigError, match="already holds a run"):
        runs.train(toy_config(), out=tmp_path / "run", log=lambda _: None)


def test_periodic_evaluation_keeps_the_best_checkpoint(tmp_path):
    cfg = toy_config(**{"train.steps": 20, "train.eval_every": 10, "train.eval_n": 500})
    result = runs.train(cfg, out=tmp_path / "run", log=lambda _: None)
    best = checkpoint.load(result.run_dir / "checkpoints" / "best.ckpt")
    rows = [json.loads(x) for x in (result.run_dir / "evals.jsonl").read_text().splitlines()]
    scores = {r["step"]: r["w1"] for r in rows}
    assert sorted(scores) == [10, 20]
    assert best["best"]["w1"] == pytest.approx(min(scores.values()))
    assert best["step"] == min(scores, key=scores.get)


def test_a_time_budget_stops_the_run_early_and_finishes_it(tmp_path):
    cfg = toy_config(**{"train.steps": 100_000, "train.minutes": 0.002, "train.eval_every": 1000,
                        "train.eval_n": 200})
    result = runs.train(cfg, out=tmp_path / "run", log=lambda _: None)
    assert 1 <= result.step < 100_000 and not result.interrupted
    assert (result.run_dir / "generator.safetensors").is_file() and (result.run_dir / "samples.png").is_file()
    rows = [json.loads(x) for x in (result.run_dir / "evals.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == result.step  # the last step is scored, as a finished run's is
    assert rows[-1]["seconds"] >= 0.12  # 0.002 min
    assert checkpoint.load(checkpoint.find(result.run_dir))["step"] == result.step


def test_evaluation_time_is_not_training_time(tmp_path, monkeypatch):
    import time

    import gankit.training.loop as loop

    real = loop.evaluate_generator

    def slow_evaluation(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate_generator", slow_evaluation)
    cfg = toy_config(**{"train.steps": 3, "train.eval_every": 1, "train.eval_n": 200})
    run = runs.train(cfg, out=tmp_path / "run", log=lambda _: None).run_dir
    seconds = [json.loads(x)["seconds"] for x in (run / "evals.jsonl").read_text().splitlines()]
    assert len(seconds) == 3 and seconds[-1] < 1.0  # three 1-s evaluations happened, none is counted


def test_periodic_evaluations_record_the_wall_clock_seconds_across_a_resume(tmp_path):
    cfg = toy_config()
    for key, value in {"train.steps": 10, "train.eval_every": 5, "train.eval_n": 200,
                       "train.checkpoint_every": 5}.items():
        set_value(cfg, key, value)
    run = runs.train(cfg, out=tmp_path / "run", log=lambda _: None).run_dir
    runs.resume(run, overrides={"train.steps": 15}, log=lambda _: None)
    rows = [json.loads(line) for line in (run / "evals.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15]
    seconds = [r["seconds"] for r in rows]
    assert 0 < seconds[0] < seconds[1] < seconds[2]  # the resumed run counts on from the first call's time
    assert checkpoint.load(checkpoint.find(run))["seconds"] >= seconds[2]
