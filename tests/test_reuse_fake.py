"""``loss.reuse_fake``: at K = 1 the G update reuses the D update's fake batch (one G forward per step).

The step is held against a hand-written step in plain torch (the pytorch/examples DCGAN loop's
order: D on real and the detached fake, Adam; then G through the updated D on the same fake, Adam).
Resume through it is checked in tests/test_training.py, two ranks against one in tests/test_distributed.py.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from gankit import runs
from gankit.cli.lab import lab_config
from gankit.errors import ConfigError
from gankit.training import checkpoint
from gankit.training.config import RunConfig, from_saved, set_value
from gankit.training.graphstep import capture_blocker
from gankit.training.loop import Trainer
from gankit.training.setup import build


def config(**settings) -> RunConfig:
    cfg = RunConfig()
    base = {"train.device": "cpu", "train.log_every": 10, "train.sample_every": 1000, "train.checkpoint_every": 1000,
            "data.name": "ring8", "data.n_points": 2048, "model.width": 32, "train.batch_size": 64, "train.steps": 6,
            "train.ema": 0.0, "loss.reuse_fake": True}
    for key, value in {**base, **settings}.items():
        set_value(cfg, key, value)
    return cfg


def recorded(trainer: Trainer, name: str, store: list) -> None:
    """Wrap one of the trainer's draws (``noise``, ``batches.next``) so that its results are kept."""
    owner = trainer.batches if name == "next" else trainer
    original = getattr(owner, name)

    def keep(*args, **kwargs):
        out = original(*args, **kwargs)
        store.append(out.detach().clone())
        return out

    setattr(owner, name, keep)


def adam_like(opt: torch.optim.Optimizer, params) -> torch.optim.Adam:
    group = opt.param_groups[0]
    return torch.optim.Adam(params, lr=group["lr"], betas=group["betas"])


def test_one_step_equals_a_hand_written_step_on_the_same_fake_batch(tmp_path):
    parts = build(config(**{"model.name": "mlp"}))
    trainer = Trainer(parts, tmp_path, log=lambda _: None)
    G, D = copy.deepcopy(parts.G), copy.deepcopy(parts.D)
    opt_g, opt_d = adam_like(parts.opt_g, G.parameters()), adam_like(parts.opt_d, D.parameters())
    reals, codes = [], []
    recorded(trainer, "next", reals)
    recorded(trainer, "noise", codes)
    trainer.train_step()
    assert len(reals) == 1 and len(codes) == 1  # one real batch and one draw of z for both updates

    real, z = reals[0], codes[0]
    fake = G(z)  # gan-ns: D maximises log D(x) + log(1 - D(G(z))), G maximises log D(G(z))
    loss_d = (F.binary_cross_entropy_with_logits(D(real), torch.ones(len(real)))
              + F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(len(z))))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = F.binary_cross_entropy_with_logits(D(fake), torch.ones(len(z)))  # the updated D, the same fake
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    for mine, theirs in ((G, parts.G), (D, parts.D)):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reuse, forwards, draws", [(True, 1, 1), (False, 2, 2)])
def test_g_runs_forward_once_per_step_when_the_fake_batch_is_reused(tmp_path, reuse, forwards, draws):
    parts = build(config(**{"loss.reuse_fake": reuse, "data.name": "digits", "data.image_size": 8,
                            "model.width": 8, "train.batch_size": 16}))
    trainer = Trainer(parts, tmp_path, log=lambda _: None)
    calls, codes = [], []
    parts.G.register_forward_hook(lambda *_: calls.append(1))
    recorded(trainer, "noise", codes)
    for _ in range(3):
        trainer.train_step()
    assert len(calls) == 3 * forwards and len(codes) == 3 * draws
    assert trainer.batches.position == 3


@pytest.mark.parametrize("settings", [
    {"model.conditional": True, "loss.name": "hinge", "model.d_norm": "spectral"},
    {"data.name": "digits", "data.image_size": 8, "model.width": 8, "train.batch_size": 16, "model.conditional": True,
     "loss.ac_weight": 1.0, "train.augment": "translation,cutout,color", "train.ema": 0.9},
    {"loss.name": "wgan-gp", "loss.d_steps": 1},
])
def test_reuse_trains_conditional_augmented_and_penalised_runs(tmp_path, settings):
    result = runs.train(config(**settings), out=tmp_path / "run", log=lambda _: None)
    rows = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(1, 7))
    assert all(torch.isfinite(torch.tensor(row["loss_g"])) and torch.isfinite(torch.tensor(row["loss_d"])) for row in rows)
    assert json.loads(checkpoint.load(result.last_checkpoint)["config"])["loss"]["reuse_fake"] is True


def test_reuse_needs_one_d_step_per_g_step():
    with pytest.raises(ConfigError, match=r"K = 5 D steps per G step \(wgan-gp\); set --d-steps 1") as err:
        build(config(**{"loss.name": "wgan-gp"}))
    assert "\n" not in str(err.value)


def test_reuse_refuses_a_compiled_step():
    with pytest.raises(ConfigError, match="train.compile=step does not compile; use train.compile=model"):
        build(config(**{"train.compile": "step"}))


def test_reuse_is_validated_and_old_configs_read_false():
    cfg = RunConfig()
    with pytest.raises(ConfigError, match="loss.reuse_fake must be true or false"):
        set_value(cfg, "loss.reuse_fake", "sometimes")
    saved = {"loss": {"name": "gan-ns"}}  # a run saved before the key existed trained with fresh codes
    assert from_saved(saved).loss.reuse_fake is False


def test_the_cuda_graph_is_not_captured_with_a_reused_fake_batch():
    """Not yet run on a GPU, so a captured step refuses it by name (the run goes on eagerly)."""
    stand_in = SimpleNamespace(device=torch.device("cuda"), scaler=None, ranks=SimpleNamespace(enabled=False),
                               cfg=SimpleNamespace(loss=SimpleNamespace(reuse_fake=True)),
                               batches=SimpleNamespace(data=torch.empty(0, device="meta")))
    assert "loss.reuse_fake" in capture_blocker(stand_in)
    stand_in.cfg.loss.reuse_fake = False
    assert "loss.reuse_fake" not in (capture_blocker(stand_in) or "")


def test_cli_with_k_above_one_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gankit", "train", "--data", "ring8", "--loss", "wgan",
                             "--set", "loss.reuse_fake=true", "--steps", "2", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "loss.reuse_fake=true" in result.stderr and "--d-steps 1" in result.stderr


def test_the_lab_refuses_a_reused_fake_batch():
    """The lab's slow motion steps D and G apart and its K control changes K live: fresh codes only."""
    args = argparse.Namespace(config=None, data=None, loss=None, seed=None, set=["loss.reuse_fake=true"])
    with pytest.raises(ConfigError, match="gankit lab steps D and G one at a time.*drop loss.reuse_fake"):
        lab_config(args)
    args.set = []
    assert not lab_config(args).loss.reuse_fake
