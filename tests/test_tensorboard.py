"""TensorBoard logging: the event files, read back with tensorboard's own reader, hold exactly what
stats.jsonl and evals.jsonl hold, plus the sample images; off means no event file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gankit
from gankit.runs import resume, train

EventAccumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator").EventAccumulator


def toy(**keys) -> gankit.RunConfig:
    settings = {"data.name": "ring8", "data.n_points": 512, "model.width": 16, "train.batch_size": 32,
                "train.device": "cpu", "train.steps": 30, "train.log_every": 5, "train.sample_every": 10,
                "train.eval_every": 10, "train.eval_n": 200, **keys}
    return gankit.load_config(None, settings)


def events(run: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    acc.Reload()
    return acc


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scalars_equal_stats_jsonl_and_evals_jsonl(tmp_path):
    run = train(toy(), out=tmp_path / "run", log=lambda _: None).run_dir
    acc = events(run)
    rows = jsonl(run / "stats.jsonl")
    numeric = sorted(k for k in rows[0] if k not in ("step", "alerts"))
    assert {f"train/{k}" for k in numeric} <= set(acc.Tags()["scalars"])
    for key in numeric:
        logged = {e.step: e.value for e in acc.Scalars(f"train/{key}")}
        assert sorted(logged) == [r["step"] for r in rows]
        for row in rows:
            assert logged[row["step"]] == pytest.approx(row[key], rel=1e-6, abs=1e-7)  # float32 events
    evals = jsonl(run / "evals.jsonl")
    assert [e.step for e in acc.Scalars("eval/w1")] == [r["step"] for r in evals] == [10, 20, 30]
    assert [e.value for e in acc.Scalars("eval/w1")] == pytest.approx([r["w1"] for r in evals], rel=1e-6)
    assert [e.step for e in acc.Images("samples")] == [10, 20, 30]  # a scatter at each sample step


def test_image_runs_log_the_fixed_noise_grid(tmp_path):
    cfg = gankit.load_config(None, {"data.name": "digits", "data.image_size": 16, "model.width": 8, "train.steps": 4,
                                    "train.batch_size": 16, "train.sample_every": 2, "train.log_every": 2,
                                    "train.device": "cpu", "train.tensorboard_histograms": True})
    run = train(cfg, out=tmp_path / "run", log=lambda _: None).run_dir
    acc = events(run)
    images = acc.Images("samples")
    assert [e.step for e in images] == [2, 4] and images[0].width > 16 and images[0].height > 16
    histograms = acc.Tags()["histograms"]
    assert any(t.startswith("weights/G/") for t in histograms) and any(t.startswith("grads/D/") for t in histograms)


def test_off_writes_no_events(tmp_path):
    run = train(toy(**{"train.tensorboard": False, "train.eval_every": 0}), out=tmp_path / "run",
                log=lambda _: None).run_dir
    assert not (run / "tensorboard").exists()


def test_a_resume_continues_the_curves_without_duplicates(tmp_path):
    run = train(toy(**{"train.steps": 10, "train.eval_every": 0}), out=tmp_path / "run", log=lambda _: None).run_dir
    resume(run, overrides={"train.steps": 20}, log=lambda _: None)
    steps = [e.step for e in events(run).Scalars("train/loss_d")]
    assert steps == list(range(1, 21))


def test_a_resume_from_an_older_checkpoint_drops_the_stale_events(tmp_path):
    """Steps 6-10 were logged, then the run is resumed from step 5: only the new 6-10 remain."""
    cfg = toy(**{"train.steps": 10, "train.eval_every": 0, "train.checkpoint_every": 5})
    run = train(cfg, out=tmp_path / "run", log=lambda _: None).run_dir
    (run / "checkpoints" / "step_0000010.ckpt").unlink()
    (run / "checkpoints" / "latest").write_text("step_0000005.ckpt\n")
    resume(run, overrides={"train.steps": 12}, log=lambda _: None)
    scalars = events(run).Scalars("train/loss_d")
    logged = {e.step: e.value for e in scalars}
    rows = jsonl(run / "stats.jsonl")
    assert [e.step for e in scalars] == [r["step"] for r in rows] == list(range(1, 13))  # each step once
    assert [logged[r["step"]] for r in rows] == pytest.approx([r["loss_d"] for r in rows], rel=1e-6, abs=1e-7)
