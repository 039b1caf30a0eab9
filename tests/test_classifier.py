"""The domain classifier (``classifier`` feature space) and ``gankit evaluator``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.metrics import accuracy_score

import gankit.cli
from gankit.errors import CheckpointError, DataError, GankitError
from gankit.metrics import classifier as C

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
HAS_FASHION = all(
    (FASHION_DIR / f"{p}-{k}-idx{d}-ubyte.gz").is_file()
    for p in ("train", "t10k")
    for k, d in (("images", 3), ("labels", 1))
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # never read or write the user's ~/.cache/gankit
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


def _model(**kw) -> C.DomainClassifier:
    torch.manual_seed(0)
    opts = dict(data="digits", image_size=32, channels=1, num_classes=10)
    opts.update(kw)
    model = C.DomainClassifier(**opts)
    # give BatchNorm non-trivial running statistics, so a round-trip must restore buffers too
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.logits(torch.randint(0, 256, (16, opts["channels"], opts["image_size"], opts["image_size"]),
                                       dtype=torch.uint8))
    return model.eval()


def _images(n: int, c: int = 1, s: int = 32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, s, s), generator=g, dtype=torch.uint8)


# --------------------------------------------------------------------------------------------
# the network


@pytest.mark.parametrize(("channels", "size"), [(1, 32), (3, 16), (1, 8), (3, 64)])
def test_shapes_and_attributes(channels, size):
    model = _model(channels=channels, image_size=size, num_classes=7)
    x = _images(5, channels, size)
    with torch.no_grad():
        f, z, p = model.features(x), model.logits(x), model.probs(x)
    assert f.shape == (5, C.NUM_FEATURES) and model.num_features == C.NUM_FEATURES
    assert z.shape == (5, 7) and p.shape == (5, 7) and model.num_classes == 7
    assert (model.image_size, model.channels, model.data) == (size, channels, "digits")
    assert bool((f >= 0).all())  # the features follow a ReLU
    np.testing.assert_allclose(p.double().sum(1).numpy(), np.ones(5), rtol=0, atol=1e-6)
    # softmax computed independently in float64 from the logits
    ref = torch.softmax(z.double(), dim=1)
    np.testing.assert_allclose(p.double().numpy(), ref.numpy(), rtol=0, atol=1e-6)


def test_uint8_and_model_space_inputs_agree():
    model = _model()
    x = _images(6)
    # the documented map x / 127.5 - 1, written out here independently of to_model_space
    x_float = x.double() / 127.5 - 1.0
    with torch.no_grad():
        a = model.features(x).double()
        b = model.features(x_float.float()).double()
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5)


def test_wrong_input_shape_is_one_line_error():
    model = _model()
    with pytest.raises(DataError) as err:
        model.features(_images(2, 3, 32))
    assert "[N, 1, 32, 32]" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError):
        model.features(_images(2, 1, 16))


def test_features_independent_of_batch_composition():
    # eval mode: a row's features must not depend on what else is in the batch
    model = _model()
    x = _images(8)
    with torch.no_grad():
        whole = model.features(x).double()
        parts = torch.cat([model.features(x[:3]), model.features(x[3:])]).double()
    np.testing.assert_allclose(whole.numpy(), parts.numpy(), rtol=0, atol=1e-5)


def test_extractor_runs_the_body_once_and_equals_separate_calls():
    # features_and_probs takes the logits from the features it computed, not from a second pass
    from gankit.metrics.features import ClassifierExtractor

    model = _model()
    passes = []
    model.body.register_forward_hook(lambda *_: passes.append(1))
    x = _images(8)
    f, p = ClassifierExtractor(model).features_and_probs(x)
    assert len(passes) == 1
    with torch.no_grad():
        assert torch.equal(f, model.features(x)) and torch.equal(p, model.logits(x).softmax(dim=1))


def test_augment_is_a_shift_and_maybe_a_flip():
    x = _images(16, 2, 16)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(C.augment(x, g, shift=0, flip=False), x)
    out = C.augment(x, torch.Generator().manual_seed(3), shift=2, flip=True)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        candidates = [
            src[:, dy : dy + 16, dx : dx + 16]
            for src in (padded[i], padded[i].flip(2))
            for dy in range(5)
            for dx in range(5)
        ]
        assert any(torch.equal(out[i], c) for c in candidates), i


# --------------------------------------------------------------------------------------------
# files


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = _model()
    path = C.save_classifier(model, tmp_path / "sub" / "digits.safetensors", test_accuracy=0.5)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["digits.safetensors"]  # no temp file left
    loaded = C.load_classifier("digits", image_size=32, path=str(path))
    assert not loaded.training
    x = _images(7)
    with torch.no_grad():
        assert torch.equal(model.features(x), loaded.features(x))
        assert torch.equal(model.logits(x), loaded.logits(x))
    assert loaded.tag == model.tag and loaded.tag.startswith("digits-32px-c1-")
    before = loaded.tag
    with torch.no_grad():
        next(loaded.parameters()).add_(1.0)
    assert loaded.tag != before  # the tag names the weights
    meta = C.read_metadata(path)
    assert meta["format"] == C.FORMAT and meta["data"] == "digits"
    assert (meta["image_size"], meta["channels"], meta["num_classes"]) == ("32", "1", "10")
    assert float(meta["test_accuracy"]) == 0.5


def test_loading_leaves_the_callers_random_stream_alone(tmp_path):
    # a training run that loads its evaluator mid-run (a callback, a first evaluation) keeps its path
    path = C.save_classifier(_model(), tmp_path / "digits.safetensors")
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    C.load_classifier("digits", image_size=32, path=str(path))
    assert torch.equal(torch.rand(4), expected)


def test_default_path_follows_gankit_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "elsewhere"))
    assert C.default_path("fashion-mnist", 32) == tmp_path / "elsewhere" / "evaluators" / "fashion-mnist-32.safetensors"
    model = _model()
    C.save_classifier(model, C.default_path("digits", 32))
    assert C.load_classifier("digits", image_size=32).tag == model.tag
    monkeypatch.setenv("GANKIT_CACHE", "off")  # disables the image cache only
    assert C.default_path("digits", 32) == Path("~/.cache/gankit").expanduser() / "evaluators" / "digits-32.safetensors"


@pytest.mark.parametrize(("size", "flag"), [(32, ""), (64, " --image-size 64")])
def test_missing_file_names_the_command(size, flag):
    with pytest.raises(GankitError) as err:
        C.load_classifier("fashion-mnist", image_size=size)
    msg = str(err.value)
    assert type(err.value) is GankitError
    assert "\n" not in msg
    assert f"gankit evaluator train --data fashion-mnist{flag}" in msg
    assert msg.endswith(f"--data fashion-mnist{flag}")


def test_missing_explicit_path_names_out(tmp_path):
    path = tmp_path / "mine.safetensors"
    with pytest.raises(GankitError) as err:
        C.load_classifier("digits", image_size=32, path=str(path))
    assert f"gankit evaluator train --data digits --out {path}" in str(err.value)


def _foreign_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    files["text"] = tmp_path / "text.safetensors"
    files["text"].write_text("not a model\n")
    files["empty"] = tmp_path / "empty.safetensors"
    files["empty"].write_bytes(b"")
    files["no_metadata"] = tmp_path / "plain.safetensors"
    save_file({"w": torch.randn(3, 3)}, str(files["no_metadata"]))
    files["other_format"] = tmp_path / "other.safetensors"
    save_file({"w": torch.randn(3, 3)}, str(files["other_format"]), metadata={"format": "pt"})
    good = C.save_classifier(_model(), tmp_path / "good.safetensors")
    files["truncated"] = tmp_path / "truncated.safetensors"
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        meta = dict(f.metadata())
    tensors = load_file(str(good))
    files["old_arch"] = tmp_path / "old.safetensors"
    save_file(tensors, str(files["old_arch"]), metadata={**meta, "arch_version": "0"})
    files["wrong_width"] = tmp_path / "wrong_width.safetensors"
    save_file(tensors, str(files["wrong_width"]), metadata={**meta, "num_features": "64"})
    files["missing_key"] = tmp_path / "missing_key.safetensors"
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(files["missing_key"]), metadata=meta)
    return files


def test_foreign_or_damaged_files_are_checkpoint_errors(tmp_path):
    for kind, path in _foreign_files(tmp_path).items():
        with pytest.raises(CheckpointError) as err:
            C.load_classifier("digits", image_size=32, path=str(path))
        assert "\n" not in str(err.value), kind
        assert str(path) in str(err.value), kind


def test_mismatched_dataset_size_or_channels_are_checkpoint_errors(tmp_path):
    small = C.save_classifier(_model(image_size=16), tmp_path / "small.safetensors")
    with pytest.raises(CheckpointError) as err:
        C.load_classifier("digits", image_size=32, path=str(small))
    assert "16x16" in str(err.value) and "32x32" in str(err.value)
    good = C.save_classifier(_model(), tmp_path / "digits.safetensors")
    with pytest.raises(CheckpointError) as err:
        C.load_classifier("mnist", image_size=32, path=str(good))
    assert "digits" in str(err.value) and "mnist" in str(err.value)
    with pytest.raises(CheckpointError) as err:
        C.load_classifier("digits", image_size=32, path=str(good), channels=3)
    assert "3 channel" in str(err.value)
    assert C.load_classifier("digits", image_size=32, path=str(good), channels=1).channels == 1


# --------------------------------------------------------------------------------------------
# training


def test_digits_held_out_split_is_a_fixed_partition():
    x_tr, y_tr, x_te, y_te = C.labelled_splits("digits")
    again = C.labelled_splits("digits")
    assert all(torch.equal(a, b) for a, b in zip((x_tr, y_tr, x_te, y_te), again, strict=True))
    assert len(x_tr) + len(x_te) == 1797 and len(x_te) == round(0.2 * 1797)
    assert len(y_tr) == len(x_tr) and len(y_te) == len(x_te)
    # disjoint: no held-out image appears among the training images (digits has no duplicates)
    train_rows = {bytes(r.numpy().tobytes()) for r in x_tr}
    assert not any(bytes(r.numpy().tobytes()) in train_rows for r in x_te)
    assert set(y_te.tolist()) == set(range(10))


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    lines: list[str] = []
    runs = [
        C.train_classifier("digits", epochs=2, batch_size=32, seed=0, out=out / f"run{i}.safetensors",
                           log=lines.append)
        for i in range(2)
    ]
    return runs, out, lines


def test_quick_digits_training_beats_chance_on_held_out(digits_runs):
    (model, acc), _ = digits_runs[0]
    _, _, x_te, y_te = C.labelled_splits("digits")
    with torch.no_grad():
        pred = model.logits(x_te).argmax(1).numpy()
    reference = accuracy_score(y_te.numpy(), pred)
    assert acc == pytest.approx(reference, abs=1e-12)
    assert acc > 0.8  # chance is 0.1


def test_training_is_reproducible_under_seed(digits_runs):
    ((m0, a0), (m1, a1)), out, _ = digits_runs
    assert a0 == a1
    s0, s1 = m0.state_dict(), m1.state_dict()
    assert s0.keys() == s1.keys()
    assert all(torch.equal(s0[k], s1[k]) for k in s0)
    # the files hold the same tensors (safetensors does not fix the order of its metadata)
    f0, f1 = load_file(str(out / "run0.safetensors")), load_file(str(out / "run1.safetensors"))
    assert all(torch.equal(f0[k], s0[k]) and torch.equal(f1[k], s0[k]) for k in s0)


def test_training_logs_and_saves(digits_runs):
    ((model, acc), _), out, lines = digits_runs
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 4  # 2 epochs x 2 runs
    assert all("loss" in line and "train acc" in line and "test acc" in line for line in epoch_lines)
    assert f"{acc:.4f}" in lines[-1] and str(out / "run1.safetensors") in lines[-1]
    meta = C.read_metadata(out / "run0.safetensors")
    assert float(meta["test_accuracy"]) == pytest.approx(acc, abs=1e-6)
    assert meta["seed"] == "0" and meta["epochs"] == "2"
    loaded = C.load_classifier("digits", image_size=32, path=out / "run0.safetensors")
    assert loaded.tag == model.tag


def test_unlabelled_or_bad_settings_are_rejected():
    with pytest.raises(DataError):
        C.train_classifier("ring8", epochs=1, save=False, log=None)
    with pytest.raises(GankitError):
        C.train_classifier("digits", epochs=0, save=False, log=None)
    with pytest.raises(GankitError):
        C.train_classifier("digits", batch_size=1, save=False, log=None)
    with pytest.raises(GankitError):
        C.train_classifier("digits", lr=float("nan"), save=False, log=None)


def test_classifier_extractor_accepts_it(digits_runs):
    from gankit.metrics.features import ClassifierExtractor

    ((model, _), _), _, _ = digits_runs
    ext = ClassifierExtractor(model)
    x = _images(4)
    f, p = ext.features_and_probs(x)
    assert f.shape == (4, model.num_features) and p.shape == (4, model.num_classes)
    assert ext.tag.endswith(model.tag)


# --------------------------------------------------------------------------------------------
# the command line


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setitem(gankit.cli.COMMANDS, "evaluator", "evaluator")
    return gankit.cli.main


def test_cli_train_then_info(cli, tmp_path, capsys):
    out = tmp_path / "d.safetensors"
    threads = torch.get_num_threads()
    rc = cli(["evaluator", "train", "--data", "digits", "--epochs", "1", "--batch-size", "32",
              "--device", "cpu", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "epoch 1/1" in text and str(out) in text
    acc = float(C.read_metadata(out)["test_accuracy"])
    assert f"test accuracy {acc:.4f}" in text
    assert cli(["evaluator", "info", "--path", str(out)]) == 0
    assert f"test accuracy {acc:.4f}" in capsys.readouterr().out
    assert torch.get_num_threads() == threads  # restored for the caller


def test_cli_threads_leave_busy_cores_alone(monkeypatch):
    from gankit.cli.evaluator import free_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    for load, default, want in [(0.3, 4, 4), (0.3, 2, 2), (1.5, 4, 3), (3.99, 4, 1), (9.0, 4, 1)]:
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, 0.0, 0.0))
        assert free_threads(default) == want, (load, default)

    def no_loadavg():
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", no_loadavg)
    assert free_threads(3) == 3


def test_cli_info_default_place(cli, capsys):
    C.save_classifier(_model(), C.default_path("digits", 32), test_accuracy=0.875)
    assert cli(["evaluator", "info"]) == 0
    listing = capsys.readouterr().out
    assert str(C.default_path("digits", 32)) in listing and "0.8750" in listing
    assert cli(["evaluator", "info", "--data", "digits"]) == 0
    assert "0.8750" in capsys.readouterr().out
    assert cli(["evaluator", "info", "--data", "fashion-mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gankit evaluator train --data fashion-mnist" in err


def test_cli_errors_are_one_line(cli, capsys):
    assert cli(["evaluator", "train", "--data", "ring8", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "labelled" in err
    for argv in (["evaluator"], ["evaluator", "train", "--data", "digits", "--threads", "0"]):
        with pytest.raises(SystemExit) as exit_:
            cli(argv)
        assert exit_.value.code == 2


# --------------------------------------------------------------------------------------------
# the real thing


@pytest.mark.slow
@pytest.mark.skipif(not HAS_FASHION, reason=f"Fashion-MNIST files not in {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_default_training_reaches_90_percent(tmp_path):
    out = tmp_path / "fashion.safetensors"
    model, acc = C.train_classifier("fashion-mnist", out=out, log=print)
    x_te, y_te = C.labelled_splits("fashion-mnist")[2:]
    assert len(y_te) == 10_000
    loaded = C.load_classifier("fashion-mnist", image_size=32, path=os.fspath(out))
    with torch.no_grad():
        preds = torch.cat([loaded.logits(x_te[i : i + 1000]).argmax(1) for i in range(0, 10_000, 1000)])
    assert acc == pytest.approx(accuracy_score(y_te.numpy(), preds.numpy()), abs=1e-12)
    assert acc >= 0.90
