"""The rough edges a new user hit in their first hour, each pinned by a test that failed before its fix."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.cli
from gankit.cli.sample import real_points, write_samples

TOY = ["--data", "ring8", "--set", "data.n_points=512", "--set", "model.width=16", "--batch-size", "32",
       "--device", "cpu"]


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gankit.cli.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def progress_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("step ")]


def test_a_critics_progress_shows_its_mean_values_not_a_sigmoid(tmp_path):
    rc, out, err = cli("train", *TOY, "--loss", "wgan-gp", "--steps", "10", "--set", "train.log_every=5",
                       "--out", str(tmp_path / "w"))
    assert rc == 0, err
    lines = progress_lines(out)
    assert lines and all("f(x) " in line and "f(G(z)) " in line and "D(x)" not in line for line in lines)
    rows = [json.loads(r) for r in (tmp_path / "w" / "stats.jsonl").read_text().splitlines()]
    assert all(abs(r["f_real"] - r["f_fake"] - r["w_estimate"]) < 1e-5 for r in rows)  # W = E f(x) - E f(G(z))
    rc, out, err = cli("train", *TOY, "--loss", "gan-ns", "--steps", "5", "--set", "train.log_every=5",
                       "--out", str(tmp_path / "g"))
    assert rc == 0, err
    assert all("D(x) " in line and "f(x)" not in line for line in progress_lines(out))


def test_a_fresh_run_raises_no_diversity_alert(tmp_path):
    rc, out, err = cli("train", *TOY, "--steps", "10", "--set", "train.log_every=1", "--out", str(tmp_path / "r"))
    assert rc == 0, err
    assert "diversity collapsed" not in out


def test_resuming_a_finished_run_says_how_to_continue(tmp_path):
    run = tmp_path / "r"
    assert cli("train", *TOY, "--steps", "6", "--out", str(run))[0] == 0
    rc, _, err = cli("train", "--resume", str(run))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "already finished its 6 steps" in err and f"gankit train --resume {run} --steps 12" in err
    rc, out, err = cli("train", "--resume", str(run), "--steps", "8")  # the advice works
    assert rc == 0 and "done: 8 steps" in out, err


def test_the_done_line_counts_one_step_in_the_singular(tmp_path):
    rc, out, _ = cli("train", *TOY, "--steps", "1", "--out", str(tmp_path / "r"))
    assert rc == 0 and "done: 1 step;" in out


def test_list_keys_shows_the_resolved_defaults_of_each_kind(capsys):
    rc, out, _ = cli("train", "--list-keys")
    assert rc == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("train.", "loss.", "model."))}
    assert "points: 4000 | images: 1000" in rows["train.steps"]
    assert "points: 256 | images: 64" in rows["train.batch_size"]
    assert "points: 0.001 | images: 0.0002" in rows["loss.lr_g"]
    assert not any(" None " in rows[key] for key in ("train.steps", "train.batch_size", "loss.lr_g", "loss.lr_d"))


def test_print_config_is_a_dry_run_of_the_resolved_config(tmp_path):
    rc, out, err = cli("train", "--data", "ring8", "--loss", "wgan-gp", "--device", "cpu", "--print-config",
                       "--out", str(tmp_path / "never"))
    assert rc == 0, err
    cfg = json.loads(out)
    assert cfg["loss"]["d_steps"] == 5 and cfg["loss"]["gp_weight"] == 0.1 and cfg["train"]["steps"] == 4000
    assert cfg["model"]["name"] == "mlp" and cfg["train"]["precision"] == "fp32"
    assert not (tmp_path / "never").exists()  # nothing was trained or written


@pytest.mark.parametrize("flag", [["--image-size", "64"], ["--set", "data.channels=3"], ["--set", "data.root=/tmp"]])
def test_a_setting_that_does_not_apply_is_an_error(tmp_path, flag):
    rc, _, err = cli("train", *TOY, *flag, "--steps", "1", "--out", str(tmp_path / "r"))
    assert rc == 2 and "applies to images only, but ring8 is a set of 2-D points" in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_a_misspelt_loss_suggests_the_closest_name():
    rc, _, err = cli("train", "--loss", "wgangp")
    assert rc == 2 and "did you mean 'wgan-gp'?" in err


def test_type_errors_name_the_type_in_words():
    rc, _, err = cli("train", "--set", "train.steps=many")
    assert rc == 2 and "train.steps must be an integer, got 'many'" in err


def test_an_output_folder_with_a_trailing_slash_is_named_once(tmp_path):
    rc, out, err = cli("experiment", "parallel-lines", "--quick", "--out", f"{tmp_path}/exp/")
    assert rc == 0, err
    assert "//" not in out and f"{tmp_path}/exp/parallel-lines.png" in out


def blue_pixels(png: bytes) -> int:
    """Pixels close to matplotlib's tab:blue (the real data's colour)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(rgb - np.array([31, 119, 180])).sum(axis=2) < 60).sum())


def test_a_2d_sample_png_draws_the_real_data_too(tmp_path):
    fake = torch.randn(500, 2).numpy().astype("float32") * 0.05  # a collapsed generator
    samples = {"points": fake, "data": "ring8"}
    reference = real_points(samples)
    assert reference is not None and reference.shape == (2000, 2)
    write_samples(tmp_path / "with.png", samples, reference=reference)
    write_samples(tmp_path / "without.png", samples)
    assert blue_pixels((tmp_path / "with.png").read_bytes()) > 100
    assert blue_pixels((tmp_path / "without.png").read_bytes()) == 0
    assert real_points({"images": np.zeros((1, 1, 8, 8), np.uint8), "data": "digits"}) is None


# --------------------------------------------------------------------------------- metrics


def test_fid_is_gankits_own_formula_and_matches_torchmetrics_and_scipy():
    import scipy.linalg
    from torchmetrics.image.fid import _compute_fid  # the reference, in the test only

    from gankit.metrics.image import feature_stats, fid_from_stats

    source = (Path(__file__).resolve().parent.parent / "src" / "gankit").rglob("*.py")
    assert not any("_compute_fid" in p.read_text() for p in source)  # no private torchmetrics API
    g = torch.Generator().manual_seed(0)
    a = torch.randn(600, 48, generator=g, dtype=torch.float64)
    b = torch.randn(500, 48, generator=g, dtype=torch.float64) @ torch.randn(48, 48, generator=g, dtype=torch.float64) * 0.3
    (m1, s1), (m2, s2) = feature_stats(a), feature_stats(b)
    ours = fid_from_stats(m1, s1, m2, s2)
    assert ours == pytest.approx(float(_compute_fid(m1, s1, m2, s2)), rel=1e-9)
    root = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float((m1 - m2).square().sum()) + np.trace(s1.numpy()) + np.trace(s2.numpy()) - 2 * np.trace(root)
    assert ours == pytest.approx(expected, rel=1e-7)
    assert abs(fid_from_stats(m1, s1, m1, s1)) < 1e-9


def test_kid_on_few_samples_uses_real_subsets_and_says_their_size():
    from gankit.metrics.image import effective_kid_subset, image_metrics, kid

    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g) + 0.5
    mean, std = kid(real, fake)  # 300 samples, fewer than the default subsets of 1,000
    assert std > 0 and effective_kid_subset(300, 300) == 150
    assert image_metrics(real, fake)["kid_subset_size"] == 150
    assert effective_kid_subset(5000, 4000) == 1000  # large sets keep the standard size


def test_the_metrics_table_names_the_feature_space():
    from gankit.cli.evaluate import format_table

    metrics = {"fid": 3.0, "kid_mean": 0.01, "kid_std": 0.001, "kid_subset_size": 1000, "precision": 0.7,
               "recall": 0.6, "density": 1.0, "coverage": 0.8, "is_mean": 8.0, "is_std": 0.1}
    table = format_table({"metrics": metrics, "features": "classifier"})
    assert "Inception Score" not in table and "IS formula (classifier classes)" in table
    assert "FID, classifier features" in table and "KID, classifier features" in table
    assert "(subsets of 1000)" in table
    assert "Inception Score (Inception-v3 classes)" in format_table({"metrics": metrics, "features": "inception"})


def test_native_28x28_fashion_mnist_samples_are_scored(tmp_path, monkeypatch):
    from gankit.data.images import load_fashion_mnist
    from gankit.errors import DataError
    from gankit.metrics import classifier as C
    from gankit.metrics.evaluate import clear_cache, evaluate_samples

    try:
        native, _ = load_fashion_mnist("test", None)
    except DataError as err:
        pytest.skip(f"Fashion-MNIST is not installed here ({err})")
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    clear_cache()
    torch.manual_seed(0)  # untrained weights define a feature space as well as any
    C.save_classifier(C.DomainClassifier(data="fashion-mnist", image_size=32, channels=1, num_classes=10).eval(),
                      C.default_path("fashion-mnist", 32))
    samples = native[:200].numpy()  # uint8 [200, 1, 28, 28], the data set's own size
    result = evaluate_samples({"images": samples}, "fashion-mnist")
    clear_cache()
    assert result["resized_from"] == 28 and result["metrics"]["fid"] >= 0
    rc, out, err = cli("evaluate", "--samples", str(save_npz(tmp_path / "s.npz", samples)), "--data", "fashion-mnist")
    clear_cache()
    assert rc == 0, err
    assert "28x28 samples brought to the evaluator's input" in out


def save_npz(path, images):
    np.savez(path, images=images)
    return path


def fake_weights(tmp_path) -> tuple[Path, str]:
    state = {"fc.weight": torch.zeros(2, 2), "Mixed_7c.branch_pool.conv.weight": torch.zeros(1)}
    blob = tmp_path / "blob.pth"
    torch.save(state, blob)
    import hashlib

    return blob, hashlib.sha256(blob.read_bytes()).hexdigest()


def test_download_weights_is_verified_and_atomic(tmp_path):
    from gankit.errors import GankitError
    from gankit.metrics.inception import download_weights

    blob, digest = fake_weights(tmp_path)
    good = tmp_path / f"weights-test-{digest[:8]}.pth"
    good.write_bytes(blob.read_bytes())
    saved = download_weights(good.as_uri(), tmp_path / "weights")
    assert saved == tmp_path / "weights" / good.name and saved.read_bytes() == blob.read_bytes()
    wrong = tmp_path / "weights-test-00000000.pth"
    wrong.write_bytes(blob.read_bytes())
    with pytest.raises(GankitError, match="not kept"):
        download_weights(wrong.as_uri(), tmp_path / "other")
    assert not list((tmp_path / "other").iterdir())
    with pytest.raises(GankitError, match="could not download .*put it in"):
        download_weights("http://127.0.0.1:9/weights-x-12345678.pth", tmp_path / "other", timeout=5)
