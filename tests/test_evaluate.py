"""``gankit evaluate`` and the evaluation library: sample files, runs, caches and one-line errors.

Image tests use the bundled 8x8 digits and a small stand-in for the domain classifier (a fixed
random network), so they run offline in seconds; the numbers they produce mean nothing beyond the
invariants checked here.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import gankit.cli
from gankit.data import images_to_uint8, load_dataset, toy_sample
from gankit.errors import GankitError
from gankit.metrics import evaluate as E
from gankit.metrics import features as F
from gankit.metrics.image import fid_state_size, image_metrics
from gankit.metrics.toy import evaluate_toy
from gankit.training import evaluation as EV
from gankit.training.config import load_config
from gankit.training.distributed import Ranks


class StandInClassifier(nn.Module):
    """The domain-classifier interface on 8x8 grayscale digits: a fixed random two-layer net."""

    num_features, image_size, channels, tag = 16, 8, 1, "standin-v1"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.hidden = nn.Parameter(torch.randn(64, 16, generator=g) / 8, requires_grad=False)
        self.head = nn.Parameter(torch.randn(16, 10, generator=g), requires_grad=False)
        self.rows_seen = 0  # how many images went through features(), to observe caching

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.rows_seen += len(x)
        return torch.relu((x.float() / 255).flatten(1) @ self.hidden)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x.float() / 255).flatten(1) @ self.hidden) @ self.head


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Own cache root, the evaluate command registered, the in-memory caches empty."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(gankit.cli.COMMANDS, "evaluate", "evaluate")
    E.clear_cache()
    yield
    E.clear_cache()


@pytest.fixture
def standin(monkeypatch):
    net = StandInClassifier()

    def load(data, *, image_size, path=None, device=None):
        if data != "digits" or image_size != 8:
            raise GankitError(f"no classifier for {data} at {image_size}px; run: gankit evaluator train --data {data}")
        return net

    monkeypatch.setattr(F, "load_classifier", load)
    return net


def cli(*argv: str) -> int:
    return gankit.cli.main(["evaluate", *argv])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("gankit evaluate: error: ") and err.count("\n") == 1, err
    return err


# --------------------------------------------------------------------------------------------
# toy points


def test_cli_scores_a_toy_sample_file(tmp_path, capsys):
    points = toy_sample("ring8", 1000, generator=torch.Generator().manual_seed(3)).numpy()
    np.savez(tmp_path / "s.npz", points=points)
    assert cli(str(tmp_path / "s.npz"), "--samples", str(tmp_path / "s.npz"), "--data", "ring8") == 2
    capsys.readouterr()
    assert cli("--samples", str(tmp_path / "s.npz"), "--data", "ring8", "--device", "cpu") == 0
    out = capsys.readouterr().out
    expected = evaluate_toy(points, "ring8", seed=0)
    assert "8 / 8" in out and f"{expected['w1']:.4g}" in out
    assert E.evaluate_samples({"points": points}, "ring8")["metrics"] == expected


def test_evaluate_run_writes_metrics_json(tmp_path, monkeypatch, capsys):
    import gankit.runs.evaluate

    draws = toy_sample("grid25", 10_000, generator=torch.Generator().manual_seed(4)).numpy()

    def fake_generate(path, n, *, seed=0, ema=True, device="cpu", truncation=1.0):
        return {"points": draws[:n], "data": "grid25", "image_size": None, "step": 700, "ema": True}

    monkeypatch.setattr(gankit.runs.evaluate, "generate_samples", fake_generate)
    run = tmp_path / "runs" / "0001"
    (run / "checkpoints").mkdir(parents=True)
    assert cli(str(run / "checkpoints" / "step_0000700.ckpt"), "--device", "cpu") == 0
    assert f"wrote {run}/metrics.json" in capsys.readouterr().out
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["n"] == 2500 and saved["step"] == 700 and saved["data"] == "grid25"
    assert saved["metrics"] == evaluate_toy(draws[:2500], "grid25", seed=0)
    assert not list(run.glob("*.tmp"))  # atomic write leaves no temp file behind


def test_no_ema_scores_the_raw_generator_of_the_same_run(tmp_path, capsys):
    from gankit import train
    from gankit.runs.sampling import generate_samples

    cfg = load_config(None, {"data.name": "ring8", "data.n_points": 2048, "train.steps": 30, "train.ema": 0.9,
                             "train.tensorboard": False, "train.report": False})
    run = train(cfg, out=tmp_path / "run", log=lambda _: None).run_dir
    scores = {}
    for flag, ema in (("--ema", True), ("--no-ema", False)):
        assert cli(str(run), flag, "--device", "cpu") == 0
        assert ("EMA weights" if ema else "raw weights") in capsys.readouterr().out
        saved = json.loads((run / "metrics.json").read_text())
        drawn = generate_samples(run, 2500, seed=0, ema=ema)
        direct = evaluate_toy(drawn["points"], "ring8", seed=0)
        assert saved["ema"] is ema and saved["metrics"]["w1"] == pytest.approx(direct["w1"])
        scores[ema] = saved["metrics"]["w1"]
    assert scores[True] != scores[False]  # two different generators were scored


def test_non_finite_metrics_become_null_in_json(tmp_path):
    path = E.write_metrics(tmp_path / "m.json", {"metrics": {"reverse_kl": math.inf, "w1": 1.5}})
    assert json.loads(path.read_text()) == {"metrics": {"reverse_kl": None, "w1": 1.5}}


# --------------------------------------------------------------------------------------------
# images


def reference_images(n: int) -> torch.Tensor:
    """The real subset the evaluator compares with: a fixed seed-0 permutation of digits."""
    digits = load_dataset("digits", image_size=8).data
    return digits[torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))[:n]]


def test_cli_scores_images_that_equal_the_real_set(tmp_path, standin, capsys):
    images = reference_images(300)
    np.savez(tmp_path / "s.npz", images=images.numpy())
    assert cli("--samples", str(tmp_path / "s.npz"), "--data", "digits", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "FID" in out and "class histogram" in out and "classifier-standin-v1" in out
    m = E.evaluate_samples({"images": images}, "digits")["metrics"]
    assert abs(m["fid"]) < 1e-6
    assert m["precision"] == m["recall"] == m["coverage"] == 1.0
    counts = torch.bincount(standin.logits(images).argmax(dim=1), minlength=10)
    assert m["class_counts"] == counts.tolist() and m["classes_covered"] == int((counts > 0).sum())


def test_image_metrics_match_direct_computation(standin):
    digits = load_dataset("digits", image_size=8).data
    fake = digits[-200:].flip(-1)  # mirrored digits: a plausible but different distribution
    m = E.evaluate_samples({"images": fake}, "digits", seed=5)["metrics"]
    real = standin.features(reference_images(200))
    probs = standin.logits(fake).softmax(dim=1)
    direct = image_metrics(real, standin.features(fake), probs=probs, seed=5)
    assert m["fid"] > 0.01
    for key, value in direct.items():
        assert m[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_real_features_are_cached_in_memory_and_on_disk(tmp_path, standin):
    images = reference_images(100)
    first = E.evaluate_samples({"images": images}, "digits")
    assert standin.rows_seen == 200  # 100 real + 100 generated
    E.evaluate_samples({"images": images}, "digits")
    assert standin.rows_seen == 300  # the real features came from memory
    E.clear_cache()
    again = E.evaluate_samples({"images": images}, "digits")
    assert standin.rows_seen == 400  # ... and after clearing memory, from disk
    assert again == first
    files = list((tmp_path / "cache" / "stats").glob("*.npz"))
    assert len(files) == 1 and "digits" in files[0].name and "8px" in files[0].name
    with np.load(files[0], allow_pickle=False) as z:
        assert z["features"].shape == (100, 16)


def test_cache_off_writes_no_stats(tmp_path, monkeypatch, standin):
    monkeypatch.setenv("GANKIT_CACHE", "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.cache/gankit must stay untouched too
    E.evaluate_samples({"images": reference_images(50)}, "digits")
    assert not list(tmp_path.rglob("*.npz"))


def test_with_the_real_domain_classifier_interface(tmp_path, capsys):
    """gankit's own (here untrained) DomainClassifier, saved where load_classifier looks for it."""
    classifier = pytest.importorskip("gankit.metrics.classifier")
    torch.manual_seed(0)
    net = classifier.DomainClassifier(data="digits", image_size=8, channels=1, num_classes=10)
    classifier.save_classifier(net.eval(), classifier.default_path("digits", 8))
    path = write(tmp_path, images=reference_images(60).numpy())
    assert cli("--samples", path, "--data", "digits", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "features classifier-digits-8px-c1-" in out and "class histogram" in out
    m = E.evaluate_samples({"images": reference_images(60)}, "digits")["metrics"]
    assert abs(m["fid"]) < 1e-6 and m["precision"] == m["recall"] == 1.0  # samples == real subset


# --------------------------------------------------------------------------------------------
# periodic evaluation during training: summed float64 FID state instead of gathered features


class BlendGenerator(nn.Module):
    """z [N, 4] -> a softmax blend of 16 real digits [N, 1, 8, 8] in model space [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.templates = reference_images(16).float().flatten(1) / 127.5 - 1
        self.mix = nn.Parameter(3 * torch.randn(4, 16, generator=torch.Generator().manual_seed(1)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return ((z @ self.mix).softmax(dim=1) @ self.templates.to(z.device)).view(-1, 1, 8, 8)


def digits_config():
    return load_config(overrides={"data.name": "digits", "data.image_size": 8, "model.z_dim": 4})


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_periodic_fid_from_summed_rank_states_equals_the_gathered_score(standin, world_size):
    """Each rank's float64 sums, added as all_reduce(SUM) adds them, give ImageEvaluator.score's FID
    and class histogram on the same (gathered) features."""
    G, cfg, cpu, n = BlendGenerator(), digits_config(), torch.device("cpu"), 150
    ev = E.image_evaluator("digits", image_size=8, n=n)
    per_rank = [EV.image_statistics(ev, EV.generate_share(G, cfg, n=n, device=cpu, ranks=Ranks(r, world_size)), cpu)
                for r in range(world_size)]
    assert [len(p) for p in per_rank] == [2] * world_size
    assert per_rank[0][0].shape == (fid_state_size(16),) and per_rank[0][1].shape == (10,)
    summed = [torch.stack(parts).sum(dim=0) for parts in zip(*per_rank, strict=True)]
    got = EV.score_statistics(ev, summed)

    whole = EV.generate_share(G, cfg, n=n, device=cpu)  # every raw feature on one process: the old path
    want = ev.score(*ev.extract(images_to_uint8(whole)))
    assert set(got) == {"fid", "class_counts", "classes_covered"}
    assert want["fid"] > 0.01
    assert got["fid"] == pytest.approx(want["fid"], rel=1e-6)
    assert got["class_counts"] == want["class_counts"] and sum(got["class_counts"]) == n
    assert got["classes_covered"] == want["classes_covered"] > 1


def test_evaluate_generator_reports_fid_and_class_histogram(standin):
    G, cfg, cpu = BlendGenerator(), digits_config(), torch.device("cpu")
    metric, value, metrics = EV.evaluate_generator(G, cfg, n=120, device=cpu)
    ev = E.image_evaluator("digits", image_size=8, n=120)
    want = ev.score(*ev.extract(images_to_uint8(EV.generate_share(G, cfg, n=120, device=cpu))))
    assert metric == "fid" and value == metrics["fid"] == pytest.approx(want["fid"], rel=1e-6)
    assert metrics == {"fid": value, "class_counts": want["class_counts"], "classes_covered": want["classes_covered"]}


def test_sum_over_ranks_sends_one_flat_vector_and_restores_shapes(monkeypatch):
    calls = []

    def all_reduce(t, op):  # a stand-in for 2 ranks that hold the same tensors
        calls.append(t.shape)
        t.mul_(2)

    monkeypatch.setattr(EV.dist, "all_reduce", all_reduce)
    state, counts = torch.arange(21, dtype=torch.float64), torch.tensor([3.0, 0.0, 5.0], dtype=torch.float64)
    out = EV.sum_over_ranks([state, counts], Ranks(0, 2, enabled=True), torch.device("cpu"))
    assert calls == [(24,)]
    assert torch.equal(out[0], 2 * state) and torch.equal(out[1], 2 * counts)
    assert EV.sum_over_ranks([state], Ranks(), torch.device("cpu"))[0] is state  # one process: no collective


def test_default_feature_space():
    assert F.default_feature_space("fashion-mnist") == "classifier"
    assert F.default_feature_space("folder:/some/pictures") == "inception"


# --------------------------------------------------------------------------------------------
# one-line errors, exit status 2


def write(tmp_path, **arrays) -> str:
    np.savez(tmp_path / "s.npz", **arrays)
    return str(tmp_path / "s.npz")


@pytest.mark.parametrize(
    ("arrays", "data", "extra", "message"),
    [
        ({"pics": np.zeros((20, 1, 8, 8), np.uint8)}, "digits", [], "exactly one of"),
        ({"images": np.zeros((20, 1, 8, 8), np.float32)}, "digits", [], "uint8"),
        ({"images": np.zeros((20, 1, 8, 6), np.uint8)}, "digits", [], "uint8"),
        ({"points": np.zeros((20, 3), np.float32)}, "ring8", [], r"\[N, 2\]"),
        ({"points": np.array([["a", "b"]] * 20)}, "ring8", [], "not numbers"),
        ({"points": np.full((20, 2), np.nan, np.float32)}, "ring8", [], "NaN"),
        ({"points": np.zeros((5, 2), np.float32)}, "ring8", [], "at least"),
        ({"points": np.zeros((20, 2), np.float32)}, "ring8", ["--n", "50"], "fewer than --n 50"),
        ({"points": np.zeros((20, 2), np.float32)}, "digits", [], "not a toy dataset"),
        ({"images": np.zeros((20, 3, 8, 8), np.uint8)}, "digits", [], "shape"),
        ({"images": np.zeros((20, 1, 8, 8), np.uint8)}, "ring8", [], "points dataset"),
        ({"images": np.zeros((20, 1, 8, 8), np.uint8)}, "no-such-data", [], "no-such-data"),
        ({"images": np.zeros((20, 1, 16, 16), np.uint8)}, "digits", [], "no classifier"),
    ],
)
def test_bad_sample_files_are_one_line_errors(tmp_path, capsys, standin, arrays, data, extra, message):
    assert cli("--samples", write(tmp_path, **arrays), "--data", data, "--device", "cpu", *extra) == 2
    assert pytest.importorskip("re").search(message, one_line_error(capsys))


def test_missing_and_unreadable_files(tmp_path, capsys):
    assert cli("--samples", str(tmp_path / "nope.npz"), "--data", "ring8") == 2
    assert "not found" in one_line_error(capsys)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert cli("--samples", str(tmp_path / "junk.npz"), "--data", "ring8") == 2
    assert "not a readable .npz" in one_line_error(capsys)
    np.save(tmp_path / "single.npy", np.zeros((20, 2), np.float32))
    assert cli("--samples", str(tmp_path / "single.npy"), "--data", "ring8") == 2
    assert "single array" in one_line_error(capsys)
    np.savez(tmp_path / "pickled.npz", points=np.array([object()] * 20, dtype=object))
    assert cli("--samples", str(tmp_path / "pickled.npz"), "--data", "ring8") == 2
    assert "pickled.npz" in one_line_error(capsys)


def test_argument_combinations(tmp_path, capsys):
    assert cli() == 2
    assert "either a RUN or --samples" in one_line_error(capsys)
    assert cli("--samples", "x.npz") == 2
    assert "--samples needs --data" in one_line_error(capsys)
    assert cli("run", "--data", "ring8") == 2
    assert "--data only goes with --samples" in one_line_error(capsys)


def test_missing_inception_weights_name_the_file_and_the_place(tmp_path, capsys):
    path = write(tmp_path, images=np.zeros((20, 1, 8, 8), np.uint8))
    assert cli("--samples", path, "--data", "digits", "--features", "inception", "--device", "cpu") == 2
    err = one_line_error(capsys)
    assert "weights-inception-2015-12-05-6726825d.pth" in err
    assert str(tmp_path / "cache" / "weights") in err and "--inception-weights" in err
    assert cli("--samples", path, "--data", "digits", "--inception-weights", str(tmp_path / "w.pth")) == 2
    assert "w.pth not found" in one_line_error(capsys)
    (tmp_path / "junk.pth").write_bytes(b"\x80\x04K\x01.")  # a bare pickle, not a torch file
    assert cli("--samples", path, "--data", "digits", "--inception-weights", str(tmp_path / "junk.pth")) == 2
    assert "is not a plain Inception state dict" in one_line_error(capsys)
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pth")  # a state dict of something else
    assert cli("--samples", path, "--data", "digits", "--inception-weights", str(tmp_path / "other.pth")) == 2
    assert "does not hold FID Inception-v3 weights" in one_line_error(capsys)


# --------------------------------------------------------------------------------------------
# Inception wiring (random weights: the numbers mean nothing; the real weights are untested offline)


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    pytest.importorskip("torch_fidelity", reason="the inception feature space needs torch-fidelity")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.slow
def test_inception_extractor_wiring(random_inception_weights):
    from gankit.metrics.inception import InceptionExtractor

    ext = InceptionExtractor(random_inception_weights)
    gray = reference_images(3)
    feats, probs = ext.features_and_probs(gray)
    assert feats.shape == (3, 2048) and probs.shape == (3, 1008)
    assert torch.allclose(probs.sum(dim=1), torch.ones(3), atol=1e-5)
    rgb_feats, _ = ext.features_and_probs(gray.repeat(1, 3, 1, 1))  # grayscale == replicated RGB
    assert torch.equal(feats, rgb_feats)
    assert ext.tag.startswith("inception-") and len(ext.tag) > len("inception-")


@pytest.mark.slow
def test_cli_with_inception_weights_file(tmp_path, capsys, standin, random_inception_weights):
    path = write(tmp_path, images=reference_images(12).numpy())
    argv = ["--samples", path, "--data", "digits", "--inception-weights", str(random_inception_weights)]
    assert cli(*argv, "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "features inception-" in out and "Inception Score" in out
    assert "class histogram" in out  # from the domain classifier, beside the Inception metrics
    assert len(list((tmp_path / "cache" / "stats").glob("*inception-*.npz"))) == 1
