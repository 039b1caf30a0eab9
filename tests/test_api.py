"""The public Python API (``import gankit``): configs, training with callbacks and your own networks,
resume, reloading a generator, scoring, and the experiments."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import gankit
from gankit.errors import ConfigError


def toy(**keys) -> gankit.RunConfig:
    return gankit.load_config(None, {"data.name": "ring8", "data.n_points": 512, "model.width": 16,
                                     "train.batch_size": 32, "train.steps": 12, "train.device": "cpu",
                                     "train.log_every": 4, **keys})


def quiet(_line: str) -> None:
    pass


def test_load_config_applies_a_preset_then_overrides_and_checks_them():
    cfg = gankit.load_config("toy-ring8", {"train.steps": 7}, seed=3, loss={"d_steps": 2})
    assert (cfg.train.steps, cfg.train.seed, cfg.loss.d_steps, cfg.data.name) == (7, 3, 2, "ring8")
    with pytest.raises(ConfigError, match="did you mean 'train.steps'"):
        gankit.load_config(None, {"train.step": 1})
    with pytest.raises(ConfigError, match="presets are"):
        gankit.load_config("no-such-preset")


def test_train_returns_the_trained_networks_and_callbacks_see_every_step(tmp_path):
    class Count:
        def __init__(self):
            self.steps, self.logged, self.started, self.ended = [], [], 0, 0

        def on_start(self, trainer):
            self.started += 1

        def on_step(self, trainer):
            self.steps.append(trainer.step)

        def on_log(self, trainer, rows):
            self.logged += [r["step"] for r in rows]

        def on_end(self, trainer):
            self.ended += 1

    count = Count()
    run = gankit.train(toy(), out=tmp_path / "run", log=quiet, callbacks=[count])
    assert count.steps == list(range(1, 13)) and count.logged == list(range(1, 13))
    assert (count.started, count.ended) == (1, 1)
    assert isinstance(run.G, nn.Module) and isinstance(run.D, nn.Module) and run.ema is not None
    assert run.generator is run.ema and run.config.train.steps == 12 and run.step == 12
    x = run.sample(50, seed=1)
    assert x.shape == (50, 2) and torch.equal(x, run.sample(50, seed=1))
    G = gankit.load_generator(run.run_dir)
    assert torch.equal(G.sample(50, seed=1), x)  # the exported EMA generator is the one in memory


def test_a_callback_stops_the_run_with_a_checkpoint(tmp_path):
    class StopAt5:
        def on_step(self, trainer):
            if trainer.step == 5:
                trainer.request_stop()

    run = gankit.train(toy(), out=tmp_path / "run", log=quiet, callbacks=[StopAt5()])
    assert run.interrupted and run.step == 5 and run.last_checkpoint.name == "step_0000005.ckpt"
    resumed = gankit.resume(run, log=quiet)
    assert resumed.step == 12 and not resumed.interrupted


def test_a_callback_needs_a_hook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match="on_step"):
        gankit.train(toy(), out=None, log=quiet, callbacks=[object()])
    assert not (tmp_path / "runs").exists()  # refused before a run folder was made


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.z_dim = 3
        self.net = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z):
        return self.net(z)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x).flatten()


def test_your_own_networks_train_save_reload_and_score(tmp_path):
    torch.manual_seed(0)
    G, D = Generator(), Critic()
    run = gankit.train(toy(**{"loss.name": "wgan-gp"}), out=tmp_path / "run", log=quiet, G=G, D=D)
    assert run.G is G and run.D is D
    saved = json.loads((run.run_dir / "config.json").read_text())
    assert saved["model"]["name"] == "custom" and saved["model"]["z_dim"] == 3
    with pytest.raises(ConfigError, match="pass the generator module"):
        gankit.load_generator(run.run_dir)
    reloaded = gankit.load_generator(run.run_dir, G=Generator())
    assert torch.equal(reloaded.sample(20, seed=2), run.sample(20, seed=2))
    scored = gankit.evaluate(run)
    assert scored["step"] == 12 and "modes_captured" in scored["metrics"]
    assert (run.run_dir / "metrics.json").is_file()
    with pytest.raises(ConfigError, match="pass both G and D"):
        gankit.train(toy(), out=tmp_path / "other", log=quiet, G=Generator())
    resumed = gankit.resume(run.run_dir, overrides={"train.steps": 14}, log=quiet, G=Generator(), D=Critic())
    assert resumed.step == 14


def test_evaluate_takes_a_folder_or_samples(tmp_path):
    run = gankit.train(toy(), out=tmp_path / "run", log=quiet)
    from_folder = gankit.evaluate(str(run.run_dir), write=False)
    from_run = gankit.evaluate(run, write=False)
    assert from_folder["metrics"] == from_run["metrics"]
    points = {"points": run.sample(300).numpy()}
    assert gankit.evaluate(points, data="ring8")["n"] == 300
    with pytest.raises(gankit.errors.GankitError, match="needs data="):
        gankit.evaluate(points)


def test_the_experiments_are_reachable_from_the_api():
    assert "parallel-lines" in gankit.experiments.EXPERIMENTS
    result = gankit.experiments.EXPERIMENTS["parallel-lines"].numbers(quick=True)
    assert result
