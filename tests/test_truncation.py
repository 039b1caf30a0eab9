"""The truncation trick at sampling time: z <- psi z (the prior's mean is 0), through the API and the CLI."""

from __future__ import annotations

import pytest
import torch

from gankit import runs
from gankit.cli import main
from gankit.errors import ConfigError
from gankit.models.sampling import seeded_noise
from gankit.runs.evaluate import evaluate_run
from gankit.runs.sampling import generate_samples, load_generator
from gankit.training.config import RunConfig, set_value


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    cfg = RunConfig()
    for key, value in {"data.name": "ring8", "data.n_points": 2048, "model.width": 32, "model.depth": 2,
                       "train.steps": 30, "train.batch_size": 64, "train.device": "cpu", "train.tensorboard": False,
                       "train.report": False}.items():
        set_value(cfg, key, value)
    return runs.train(cfg, out=tmp_path_factory.mktemp("trunc") / "toy", log=lambda _: None).run_dir


def test_truncation_scales_the_seeded_codes_towards_the_prior_mean(toy_run):
    G = load_generator(toy_run)
    z = seeded_noise(500, G.z_dim, G.noise, seed=3)
    assert torch.equal(G.sample(500, seed=3, truncation=1.0), G.sample(500, seed=3))
    with torch.no_grad():
        torch.testing.assert_close(G.sample(500, seed=3, truncation=0.5), G(0.5 * z))
        at_the_mean = G(torch.zeros(1, G.z_dim))
    # psi -> 0: every code goes to the prior's mean, so every sample to G(0)
    tiny = G.sample(500, seed=3, truncation=1e-6)
    torch.testing.assert_close(tiny, at_the_mean.expand_as(tiny), rtol=0, atol=1e-4)


@pytest.mark.parametrize("psi", [0.0, -0.5, 1.5, float("nan"), True])
def test_a_truncation_outside_zero_one_is_refused(toy_run, psi):
    with pytest.raises(ConfigError, match=r"truncation must be in \(0, 1\]"):
        load_generator(toy_run).sample(4, truncation=psi)


def test_evaluate_and_sample_record_the_truncation(toy_run, tmp_path, capsys):
    drawn = generate_samples(toy_run, 100, truncation=0.7)
    assert drawn["truncation"] == 0.7
    assert evaluate_run(toy_run, n=400, write=False, truncation=0.7)["truncation"] == 0.7
    assert main(["evaluate", str(toy_run), "--n", "400", "--truncation", "0.7"]) == 0
    assert "truncation 0.7" in capsys.readouterr().out
    assert main(["sample", str(toy_run), "--n", "8", "--truncation", "0.7", "--out", str(tmp_path / "s.npz")]) == 0
    assert "truncation 0.7" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["sample", "{run}", "--truncation", "1.5", "--out", "{tmp}/s.png"], "truncation must be in (0, 1]"),
    (["sample", "{run}", "--truncation", "0.5", "--interpolate", "--out", "{tmp}/w.png"],
     "--truncation does not go with --interpolate"),
    (["evaluate", "{run}", "--truncation", "0"], "truncation must be in (0, 1]"),
    (["evaluate", "--samples", "{tmp}/x.npz", "--data", "ring8", "--truncation", "0.5"],
     "it does not go with --samples"),
])
def test_bad_truncation_flags_are_one_line_errors(toy_run, tmp_path, capsys, argv, message):
    argv = [a.format(run=toy_run, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
