"""Pre-flight: what would stop a run halfway (no evaluator, no disk space, an unwritable folder) stops
it before step 1, in one line, with nothing written; a missing classifier can be trained first."""

from __future__ import annotations

import contextlib
import io
import json
from collections import namedtuple

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.cli
from gankit.metrics import classifier as C
from gankit.metrics.evaluate import clear_cache
from gankit.training import preflight

DIGITS = ["--data", "digits", "--image-size", "16", "--set", "model.width=8", "--batch-size", "16",
          "--steps", "4", "--device", "cpu", "--set", "train.threads=1", "--set", "train.log_every=1",
          "--set", "train.eval_every=2", "--set", "train.eval_n=100"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A cache with no trained classifier, and no evaluator remembered from other tests."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    clear_cache()
    yield
    clear_cache()


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gankit.cli.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_a_missing_classifier_stops_the_run_before_anything_is_written(tmp_path):
    run = tmp_path / "run"
    rc, out, err = cli("train", *DIGITS, "--out", str(run))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "needs the digits domain classifier" in err and "gankit evaluator train --data digits --image-size 16" in err
    assert "--set train.eval_auto_evaluator=true" in err
    assert not run.exists() and "step 1" not in out


def stats(run) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def test_eval_auto_evaluator_trains_it_first_and_leaves_the_trajectory_alone(tmp_path, monkeypatch):
    calls = []

    def quick_train(data, *, image_size, device, root, log):
        calls.append((data, image_size))
        torch.manual_seed(12345)  # as the real training does: reseeds torch's generators
        torch.rand(1000)
        model = C.DomainClassifier(data=data, image_size=image_size, channels=1, num_classes=10).eval()
        C.save_classifier(model, C.default_path(data, image_size))
        return model, 0.1

    monkeypatch.setattr(preflight.classifier, "train_classifier", quick_train)
    auto = tmp_path / "auto"
    rc, out, err = cli("train", *DIGITS, "--set", "train.eval_auto_evaluator=true", "--out", str(auto))
    assert rc == 0, err
    assert calls == [("digits", 16)] and "training the digits domain classifier at 16x16 first" in out
    clear_cache()
    again = tmp_path / "again"  # the classifier exists now: the same run without training it
    rc, _, err = cli("train", *DIGITS, "--out", str(again))
    assert rc == 0 and len(calls) == 1, err
    assert stats(auto) == stats(again)  # bit for bit: the classifier's seeding did not leak into the run


def write_folder(path, n=20, size=16):
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path / f"{i}.png")


def test_missing_inception_weights_stop_a_folder_run_before_step_1(tmp_path):
    write_folder(tmp_path / "pics")
    run = tmp_path / "run"
    argv = [a if a != "digits" else f"folder:{tmp_path / 'pics'}" for a in DIGITS]
    rc, _, err = cli("train", *argv, "--out", str(run))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "train.eval_every 2 cannot score this run" in err and "Inception" in err
    assert not run.exists()


def test_too_little_disk_for_the_kept_checkpoints(tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda _path: Usage(10**9, 10**9 - 1000, 1000))
    run = tmp_path / "run"
    rc, _, err = cli("train", "--data", "ring8", "--steps", "2", "--device", "cpu", "--out", str(run))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "checkpoints of" in err and "only 0.0 MiB are free" in err and "train.keep_checkpoints" in err
    assert not run.exists()


def test_checkpoint_size_estimate_is_close_to_a_real_checkpoint(tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--data", "ring8", "--steps", "2", "--device", "cpu", "--out", str(run))[0] == 0
    real = (run / "checkpoints" / "step_0000002.ckpt").stat().st_size
    cfg = gankit.load_config(None, {"data.name": "ring8", "train.device": "cpu"})
    from gankit.training.setup import build

    estimate = preflight.checkpoint_bytes(build(cfg))
    assert real <= estimate <= 1.5 * real


def test_an_unwritable_run_folder_is_one_line(tmp_path, monkeypatch):
    def refuse(path, payload):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(preflight, "atomic_write_bytes", refuse)
    rc, _, err = cli("train", "--data", "ring8", "--steps", "2", "--device", "cpu", "--out", str(tmp_path / "run"))
    assert rc == 2 and err.strip() == (f"gankit train: error: cannot write to the run folder {tmp_path / 'run'}: "
                                       "Permission denied; fix its permissions or choose another --out")
