"""Class-conditional GANs: labels through data, batches, networks, phases, files, sampling and scores.

The learning test trains a conditional MLP on ring8's labelled modes (a few seconds on one CPU
thread); the image paths run on the bundled digits at 8x8 with width 4.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import torch
from PIL import Image
from torch import nn

from gankit import runs
from gankit.cli import main
from gankit.data import load_dataset, toy_modes
from gankit.errors import ConfigError, GankitError
from gankit.losses import LOSSES, class_loss
from gankit.metrics import evaluate as E
from gankit.metrics import features as F
from gankit.models import build_models
from gankit.models.conditional import ConditionalGenerator, ProjectionDiscriminator
from gankit.runs.evaluate import evaluate_run
from gankit.runs.sampling import generate_samples, load_generator
from gankit.training import checkpoint
from gankit.training.batches import EpochBatches
from gankit.training.config import RunConfig, load_config, set_value
from gankit.training.phases import make_phases
from gankit.training.setup import build


def make_config(**settings) -> RunConfig:
    cfg = RunConfig()
    base = {"train.device": "cpu", "train.log_every": 50, "train.sample_every": 1000, "train.checkpoint_every": 1000,
            "train.tensorboard": False, "model.conditional": True}
    for key, value in {**base, **settings}.items():
        set_value(cfg, key, value)
    return cfg


def toy_config(**settings) -> RunConfig:
    return make_config(**{"data.name": "ring8", "data.n_points": 4096, "model.width": 64, "model.depth": 2,
                          "train.batch_size": 128, "train.steps": 300, **settings})


def digits_config(**settings) -> RunConfig:
    return make_config(**{"data.name": "digits", "data.image_size": 8, "model.width": 4, "train.batch_size": 32,
                          "train.steps": 6, "train.n_samples_grid": 20, **settings})


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A conditional ring8 run, 300 steps: enough for each class to find its mode."""
    return runs.train(toy_config(), out=tmp_path_factory.mktemp("cond") / "toy", log=lambda _: None)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return runs.train(digits_config(), out=tmp_path_factory.mktemp("cond") / "digits", log=lambda _: None)


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("model,shape", [("dcgan", (1, 8, 8)), ("mlp", (2,))])
def test_labels_reach_both_networks_and_their_embeddings(model, shape):
    torch.manual_seed(0)
    G, D = build_models(model, data_shape=shape, z_dim=6, width=8, num_classes=4, d_norm="batch")
    assert isinstance(G, ConditionalGenerator) and isinstance(D, ProjectionDiscriminator)
    assert G.z_dim == 6 and G.num_classes == D.num_classes == 4
    G.eval(), D.eval()  # running statistics: a sample's output depends on its own inputs only
    z = torch.randn(8, 6)
    y, y2 = torch.arange(8) % 4, (torch.arange(8) + 1) % 4
    x = G(z, y)
    assert x.shape == (8, *shape)
    assert not torch.allclose(G(z, y), G(z, y2))  # the label changes G's output
    assert not torch.allclose(D(x, y), D(x, y2))  # and D's logit for the same input
    assert torch.equal(G(z), G(z, torch.arange(8) % 4))  # no labels: every class in turn
    G.train(), D.train()
    D(G(z, y), y).sum().backward()
    for net in (G, D):
        grad = net.embed.weight.grad
        assert grad is not None and bool((grad.abs().sum(dim=1) > 0).all())  # every used class gets a gradient


@pytest.mark.parametrize("model,shape", [("dcgan", (1, 16, 16)), ("mlp", (2,))])
def test_projection_discriminator_is_psi_of_phi_plus_an_inner_product(model, shape):
    """Miyato & Koyama (2018), eq. 3: D(x, y) = psi(phi(x)) + <E[y], phi(x)>, with the wrapped D = psi o phi."""
    torch.manual_seed(1)
    _, D = build_models(model, data_shape=shape, z_dim=3, width=4, num_classes=3, d_norm="layer")
    nn.init.normal_(D.embed.weight)  # away from the small initial values, so the term matters
    x, y = torch.randn(5, *shape), torch.tensor([0, 1, 2, 1, 0])
    base = D.net
    phi = base.features(x).flatten(1) if model == "dcgan" else base.net[:-1](x)  # (N, F)
    want = base(x) + (D.embed.weight[y] * phi).sum(dim=1)
    torch.testing.assert_close(D(x, y), want, rtol=1e-5, atol=1e-6)
    assert sorted(D.state_dict()) == sorted(["embed.weight", *(f"net.{k}" for k in base.state_dict())])


@pytest.mark.parametrize("model,shape", [("dcgan", (1, 16, 16)), ("mlp", (2,))])
def test_the_ac_gan_head_classifies_the_projection_features_in_the_same_pass(model, shape):
    """Odena et al. (2017): P(C | x) = softmax(W phi(x) + b), on the features the projection logit uses."""
    torch.manual_seed(2)
    _, D = build_models(model, data_shape=shape, z_dim=3, width=4, num_classes=3, d_norm="layer", class_head=True)
    x, y = torch.randn(5, *shape), torch.tensor([0, 1, 2, 1, 0])
    logits, classes = D(x, y, with_classes=True)
    phi = D.net.features(x).flatten(1) if model == "dcgan" else D.net.net[:-1](x)  # (N, F)
    torch.testing.assert_close(logits, D(x, y))
    torch.testing.assert_close(classes, phi @ D.classify.weight.T + D.classify.bias, rtol=1e-5, atol=1e-6)
    assert classes.shape == (5, 3) and {"classify.weight", "classify.bias"} <= set(D.state_dict())
    _, plain = build_models(model, data_shape=shape, z_dim=3, width=4, num_classes=3, d_norm="layer")
    with pytest.raises(ValueError, match="class_head=True"):
        plain(x, y, with_classes=True)


def test_under_spectral_norm_the_ac_gan_head_is_normalised_too():
    torch.manual_seed(5)
    _, D = build_models("dcgan", data_shape=(1, 16, 16), z_dim=3, width=4, num_classes=3, d_norm="spectral",
                        class_head=True)
    D.train()
    for _ in range(30):  # power iterations, one per training forward
        D(torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0]), with_classes=True)
    sigma = torch.linalg.svdvals(D.classify.weight.detach()).max()
    assert sigma.item() == pytest.approx(1.0, abs=1e-3)


def test_the_class_loss_is_the_cross_entropy_of_the_softmax():
    torch.manual_seed(3)
    logits, labels = torch.randn(7, 4, dtype=torch.float64), torch.tensor([0, 3, 1, 1, 2, 0, 3])
    want = -scipy.special.log_softmax(logits.numpy(), axis=1)[np.arange(7), labels.numpy()].mean()
    assert class_loss(logits, labels).item() == pytest.approx(want, rel=1e-12)
    assert class_loss(logits.bfloat16(), labels).dtype == torch.float32  # never scored in half precision


def test_ac_gan_adds_its_weighted_class_losses_to_both_phases_and_trains_the_head():
    """D's phase adds w * CE(classes(real), y_real), G's adds w * CE(classes(G(z, y)), y), on top of the losses without AC."""
    torch.manual_seed(4)
    G, D = build_models("mlp", data_shape=(2,), z_dim=3, width=8, num_classes=4, class_head=True)
    spec, weight = LOSSES["gan-ns"], 0.7
    real, y_real, z, y_fake = torch.randn(6, 2), torch.tensor([0, 1, 2, 3, 0, 1]), torch.rand(6, 3), torch.tensor([3, 2, 1, 0, 3, 2])
    plain = make_phases(spec, G, D, conditional=True)
    ac = make_phases(spec, G, D, conditional=True, ac_weight=weight)
    loss_d, stats_d = ac.d(real, y_real, z, y_fake)
    want_d = class_loss(D(real, y_real, with_classes=True)[1], y_real)
    torch.testing.assert_close(loss_d, plain.d(real, y_real, z, y_fake)[0] + weight * want_d)
    torch.testing.assert_close(stats_d["class_loss_d"], want_d.detach())
    assert stats_d["loss_d"].item() == pytest.approx(loss_d.item())
    loss_d.backward()
    assert D.classify.weight.grad is not None and D.classify.weight.grad.abs().sum() > 0
    loss_g, stats_g = ac.g(z, y_fake)
    want_g = class_loss(D(G(z, y_fake), y_fake, with_classes=True)[1], y_fake)
    torch.testing.assert_close(loss_g, plain.g(z, y_fake)[0] + weight * want_g)
    torch.testing.assert_close(stats_g["class_loss_g"], want_g.detach())
    G.zero_grad()
    (loss_g - plain.g(z, y_fake)[0]).backward()  # the class term alone reaches G
    assert all(p.grad is not None for p in G.parameters()) and G.embed.weight.grad.abs().sum() > 0


def test_ac_gan_is_refused_without_classes_and_validated_in_one_line(capsys):
    with pytest.raises(ConfigError, match="loss.ac_weight=1.0 trains a classifier of the class; it needs model.conditional") as err:
        build(digits_config(**{"model.conditional": False, "loss.ac_weight": 1.0}))
    assert "\n" not in str(err.value)
    assert main(["train", "--data", "digits", "--set", "loss.ac_weight=-1", "--steps", "1"]) == 2
    assert "loss.ac_weight must be >= 0" in capsys.readouterr().err


def test_conditional_batch_norm_starts_as_the_input_embedding_alone_and_is_bn_times_gain_plus_bias():
    """de Vries et al. 2017: BN_y(h) = BN(h) (1 + dgamma_y) + dbeta_y after each of G's batch norms."""
    shape, k = (1, 16, 16), 3
    torch.manual_seed(2)
    plain, _ = build_models("dcgan", data_shape=shape, z_dim=5, width=4, num_classes=k)
    torch.manual_seed(2)
    G, _ = build_models("dcgan", data_shape=shape, z_dim=5, width=4, num_classes=k, class_norm=True)
    z, y = torch.rand(6, 5) * 2 - 1, torch.tensor([0, 1, 2, 2, 1, 0])
    torch.testing.assert_close(G(z, y), plain(z, y), rtol=0, atol=0)  # zero offsets: the same network
    norms = [m for m in G.net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(G.class_gain) == len(G.class_bias) == len(norms) == 2  # 16x16: the projection's and one up-conv's
    for table in [*G.class_gain, *G.class_bias]:
        nn.init.normal_(table.weight)
    # the same forward, written out: the plain layers, with each BN's output scaled and shifted per class
    h, tables = torch.cat([z, G.embed(y)], dim=1), iter(zip(G.class_gain, G.class_bias, strict=True))
    for layer in [*G.net.project, *G.net.upsample]:
        h = layer(h)
        if isinstance(layer, nn.BatchNorm2d):
            gain, bias = (t.weight[y].reshape(6, -1, 1, 1) for t in next(tables))
            h = h * (1 + gain) + bias
    torch.testing.assert_close(G(z, y), h)
    assert not torch.allclose(G(z, y), plain(z, y))
    G(z, y).sum().backward()
    for table in [*G.class_gain, *G.class_bias]:
        used = table.weight.grad.abs().sum(dim=1) > 0
        assert used.tolist() == [True] * k  # every class in the batch gets a gradient
    # train.sync_bn swaps each BatchNorm2d for a SyncBatchNorm: the per-class offsets still apply
    G.eval()
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(G)).eval()
    assert isinstance(synced.net.project[2], nn.SyncBatchNorm)
    torch.testing.assert_close(synced(z, y), G(z, y))


def test_conditional_batch_norm_is_validated_in_one_line():
    with pytest.raises(ConfigError, match="g_condition must be one of") as err:
        load_config(**{"model.g_condition": "film"})
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="needs model.conditional=true") as err:
        build(digits_config(**{"model.conditional": False, "model.g_condition": "batchnorm"}))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="needs gankit's dcgan generator") as err:
        build(toy_config(**{"model.g_condition": "batchnorm"}))
    assert "\n" not in str(err.value)


def test_a_conditional_batch_norm_run_exports_and_reloads_its_generator(tmp_path):
    run = runs.train(digits_config(**{"model.g_condition": "batchnorm", "train.ema": 0.9}), out=tmp_path / "cbn",
                     log=lambda _: None)
    assert len(run.G.class_gain) == 1 and bool(run.G.class_gain[0].weight.abs().sum() > 0)  # 8x8: one BN, trained
    G = load_generator(run.run_dir / "generator.safetensors")
    assert torch.equal(G.net.class_gain[0].weight, run.ema.class_gain[0].weight.cpu())
    assert G.sample(4, classes=[0, 1, 2, 3]).shape == (4, 1, 8, 8)


def test_conditional_batch_norm_is_the_dcgan_default_and_older_runs_load_as_they_trained(tmp_path):
    from safetensors.torch import load_file, save_file

    from gankit.training.config import from_dict, from_saved
    from gankit.training.defaults import resolve

    def resolved(**settings):
        cfg = make_config(**settings)
        return resolve(cfg, data_kind="points" if cfg.data.name == "ring8" else "images", image_size=8).model

    assert resolved(**{"data.name": "digits"}).g_condition == "batchnorm"
    assert resolved(**{"data.name": "ring8"}).g_condition == "input"  # the mlp has no batch norm
    assert resolved(**{"data.name": "digits", "model.conditional": False}).g_condition == "input"
    # a config saved before the key existed is read with the value its run trained with
    old = {"model": {"name": "dcgan", "conditional": True}}
    assert from_dict(old).model.g_condition is None and from_saved(old).model.g_condition == "input"
    run = runs.train(digits_config(**{"model.g_condition": "input"}), out=tmp_path / "old", log=lambda _: None)
    file = run.run_dir / "generator.safetensors"
    with __import__("safetensors").safe_open(str(file), "pt") as f:
        meta = f.metadata()
    config = json.loads(meta["config"])
    del config["model"]["g_condition"]
    save_file(load_file(str(file)), str(file), metadata={**meta, "config": json.dumps(config)})
    G = load_generator(file)
    assert not G.net.class_gain and G.sample(3, classes=[0, 1, 2]).shape == (3, 1, 8, 8)


def test_a_run_saved_before_ac_weight_existed_resumes_without_it(tmp_path):
    from gankit.training.config import from_dict, from_saved

    assert from_dict({"loss": {"name": "gan-ns"}}).loss.ac_weight is None
    assert from_saved({"loss": {"name": "gan-ns"}}).loss.ac_weight == 0.0
    run = runs.train(toy_config(**{"train.steps": 4, "train.checkpoint_every": 4}), out=tmp_path / "old",
                     log=lambda _: None).run_dir
    state = checkpoint.load(run / "checkpoints" / "step_0000004.ckpt")
    config = json.loads(state["config"])
    del config["loss"]["ac_weight"]
    checkpoint.save(run / "checkpoints", 4, {**state, "config": json.dumps(config)}, keep=10)
    (run / "config.json").write_text(json.dumps(config))
    resumed = runs.resume(run, overrides={"train.steps": 6}, log=lambda _: None)
    assert resumed.step == 6 and resumed.config.loss.ac_weight == 0.0


# --------------------------------------------------------------------------- data and batches


def test_batches_carry_the_labels_of_their_rows_in_the_same_order():
    data = torch.arange(40, dtype=torch.float32).repeat_interleave(2).reshape(40, 2)  # row i is (i, i)
    labels = torch.arange(40) * 7 % 5
    plain = EpochBatches(data, 8, seed=3, device=torch.device("cpu"))
    labelled = EpochBatches(data, 8, seed=3, device=torch.device("cpu"), labels=labels)
    for _ in range(12):  # over an epoch boundary
        x, y = labelled.next_labelled()
        assert torch.equal(x, plain.next())  # the same permutation as an unlabelled run
        assert torch.equal(y, labels[x[:, 0].long()])
    assert labelled.state_dict() == plain.state_dict()
    resumed = EpochBatches(data, 8, seed=3, device=torch.device("cpu"), labels=labels)
    resumed.load_state_dict(labelled.state_dict())
    x, y = labelled.next_labelled()
    x2, y2 = resumed.next_labelled()
    assert torch.equal(x, x2) and torch.equal(y, y2)


def _tree(root, layout):
    for rel, colour in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (10, 10), colour).save(path)
    return root


def test_a_folder_of_class_subfolders_has_labels(tmp_path):
    root = _tree(tmp_path / "pets", {"dog/a.png": (0, 0, 0), "cat/b.png": (255, 0, 0), "cat/x/c.png": (0, 255, 0),
                                      "dog/d.png": (0, 0, 255)})
    ds = load_dataset(f"folder:{root}", image_size=8)
    assert ds.class_names == ("cat", "dog") and ds.num_classes == 2  # sorted subfolder names
    assert ds.labels.tolist() == [0, 0, 1, 1]  # files in sorted order: cat/b, cat/x/c, dog/a, dog/d
    again = load_dataset(f"folder:{root}", image_size=8)  # the decoded-image cache keeps the labels
    assert torch.equal(again.labels, ds.labels) and torch.equal(again.data, ds.data)
    flat = _tree(tmp_path / "flat", {"a.png": (0, 0, 0), "sub/b.png": (1, 1, 1)})
    assert load_dataset(f"folder:{flat}", image_size=8).labels is None  # a file outside any class folder
    one = _tree(tmp_path / "one", {"only/a.png": (0, 0, 0), "only/b.png": (1, 1, 1)})
    assert load_dataset(f"folder:{one}", image_size=8).labels is None  # one subfolder is not a set of classes


# --------------------------------------------------------------------------- config


def test_the_key_is_validated_and_refused_for_unlabelled_data(tmp_path):
    with pytest.raises(ConfigError, match="model.conditional must be true or false") as err:
        load_config(**{"model.conditional": "maybe"})
    assert "\n" not in str(err.value)
    for data in ("swissroll", f"folder:{_tree(tmp_path / 'flat', {'a.png': (0, 0, 0), 'b.png': (9, 9, 9)})}"):
        cfg = make_config(**{"data.name": data, "train.batch_size": 2, "data.n_points": 64})
        with pytest.raises(ConfigError, match="model.conditional needs labelled data") as err:
            build(cfg)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="custom networks"):
        build(toy_config(), networks=(nn.Linear(2, 2), nn.Linear(2, 1)))
    parts = build(digits_config())
    assert parts.num_classes == 10 and isinstance(parts.G, ConditionalGenerator)
    pets = _tree(tmp_path / "pets", {f"{c}/{i}.png": (i * 40, 0, 0) for c in ("cat", "dog", "eel") for i in range(2)})
    parts = build(digits_config(**{"data.name": f"folder:{pets}", "train.batch_size": 4}))
    assert parts.num_classes == 3 and parts.D.num_classes == 3


# --------------------------------------------------------------------------- training


def test_a_conditional_toy_run_learns_one_mode_per_class(toy_run):
    modes, _ = toy_modes("ring8")
    G = load_generator(toy_run.run_dir)
    assert G.num_classes == 8
    for k in range(8):
        x = G.sample(200, seed=1, classes=k)
        nearest = torch.cdist(x.double(), modes.double()).argmin(dim=1)
        assert (nearest == k).double().mean() > 0.9, k  # class k's samples sit on mode k


@pytest.mark.parametrize("ac_weight", [0.0, 1.0])
def test_checkpoints_carry_the_classes_and_resume_bit_exactly(tmp_path, ac_weight):
    cfg = toy_config(**{"train.steps": 12, "train.ema": 0.9, "data.n_points": 600,  # epochs roll over
                        "loss.ac_weight": ac_weight})
    straight = runs.train(cfg, out=tmp_path / "straight", log=lambda _: None)
    set_value(cfg, "train.steps", 6)
    runs.train(cfg, out=tmp_path / "split", log=lambda _: None)
    resumed = runs.resume(tmp_path / "split", overrides={"train.steps": 12}, log=lambda _: None)
    a, b = checkpoint.load(straight.last_checkpoint), checkpoint.load(resumed.last_checkpoint)
    assert a["num_classes"] == b["num_classes"] == 8
    for key in ("G", "D", "ema"):
        assert "embed.weight" in a[key] or key == "ema"
        assert ("classify.weight" in a[key]) == (key == "D" and ac_weight > 0)
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)


def test_a_digits_run_exports_its_classes_and_draws_a_row_per_class(digits_run, tmp_path):
    run = digits_run.run_dir
    meta = json.loads(json.dumps(__import__("safetensors").safe_open(str(run / "generator.safetensors"), "pt")
                                 .metadata()))
    assert meta["num_classes"] == "10"
    G = load_generator(run / "generator.safetensors")
    assert G.num_classes == 10 and G.sample(5, classes=[0, 1, 2, 3, 4]).shape == (5, 1, 8, 8)
    snapshot = np.asarray(Image.open(run / "samples.png"))
    assert snapshot.shape[:2] == (10 * 10 + 2, 2 * 10 + 2)  # 10 rows (classes) of 20 // 10 = 2 samples
    with pytest.raises(ConfigError, match="classes must be in 0..9"):
        G.sample(3, classes=10)


@pytest.mark.parametrize("ac_weight", ["0", "1"])
def test_two_ranks_draw_the_labels_of_one(tmp_path, ac_weight):
    """Real labels and fake labels are sharded like the batch and the noise: 2 ranks train as 1 (gloo, CPU).

    Four wgan-gp steps (20 critic steps, the penalty's interpolates under the real labels); longer runs
    drift apart by rounding once a LeakyReLU input sits on its kink, as unconditional ones do (since
    G's class embedding starts at N(0, 0.02), one weight of G's first layer differed by 1e-3 at
    step 6 while the rest agreed to 1e-5). With AC-GAN's classifier, each rank's class loss is the
    mean over its rows, and DDP's gradient average makes it the global batch's.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    flags = ["--data", "ring8", "--loss", "wgan-gp", "--batch-size", "64", "--set", "model.conditional=true",
             "--set", "data.n_points=2048", "--steps", "4", "--set", f"loss.ac_weight={ac_weight}"]
    for out, extra in (("one", []), ("two", ["--nproc", "2"])):
        result = subprocess.run([sys.executable, "-m", "gankit", "train", *extra, *flags, "--out", str(tmp_path / out)],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    a, b = (checkpoint.load(tmp_path / out / "checkpoints" / checkpoint.checkpoint_name(4)) for out in ("one", "two"))
    assert a["num_classes"] == b["num_classes"] == 8
    assert ("classify.weight" in a["D"]) == (ac_weight == "1")
    for net in ("G", "D", "ema"):
        for name in a[net]:
            assert float((a[net][name].double() - b[net][name].double()).abs().max()) < 1e-5, (net, name)


# --------------------------------------------------------------------------- gankit sample --class


def test_sample_class_writes_the_asked_rows(toy_run, digits_run, tmp_path, capsys):
    out = tmp_path / "three.npz"
    assert main(["sample", str(toy_run.run_dir), "--class", "3", "--n", "50", "--out", str(out)]) == 0
    saved = np.load(out)
    assert saved["labels"].tolist() == [3] * 50
    modes, _ = toy_modes("ring8")
    nearest = torch.cdist(torch.from_numpy(saved["points"]).double(), modes.double()).argmin(dim=1)
    assert (nearest == 3).double().mean() > 0.9
    assert main(["sample", str(digits_run.run_dir), "--class", "all", "--n", "25", "--out", str(tmp_path / "a.npz")]) == 0
    saved = np.load(tmp_path / "a.npz")
    assert saved["labels"].tolist() == [k for k in range(10) for _ in range(2)]  # 25 // 10 = 2 a row
    assert saved["images"].shape == (20, 1, 8, 8)
    assert main(["sample", str(digits_run.run_dir), "--class", "all", "--n", "30", "--out", str(tmp_path / "a.png")]) == 0
    assert np.asarray(Image.open(tmp_path / "a.png")).shape[:2] == (10 * 10 + 2, 3 * 10 + 2)
    assert "10 rows of 3" in capsys.readouterr().out
    # the same seed and class give the same images as the library
    G = load_generator(digits_run.run_dir)
    assert main(["sample", str(digits_run.run_dir), "--class", "7", "--n", "4", "--out", str(tmp_path / "s.npz")]) == 0
    want = (G.sample(4, classes=7).clamp(-1, 1) + 1) * 127.5
    assert np.abs(np.load(tmp_path / "s.npz")["images"].astype(float) - want.round().numpy()).max() <= 1
    assert main(["sample", str(digits_run.run_dir), "--interpolate", "--rows", "3", "--steps", "2",
                 "--out", str(tmp_path / "walk.png")]) == 0  # a walk per row, one class per walk
    capsys.readouterr()
    assert main(["sample", str(digits_run.run_dir), "--class", "ten", "--out", str(tmp_path / "x.npz")]) == 2
    assert "--class takes a class number or 'all'" in capsys.readouterr().err


def test_sample_class_is_refused_for_an_unconditional_run(tmp_path, capsys):
    cfg = make_config(**{"data.name": "ring8", "data.n_points": 512, "model.width": 16, "train.batch_size": 64,
                         "train.steps": 2, "model.conditional": False})
    run = runs.train(cfg, out=tmp_path / "plain", log=lambda _: None)
    assert main(["sample", str(run.run_dir), "--class", "1", "--out", str(tmp_path / "x.npz")]) == 2
    assert "not class-conditional" in capsys.readouterr().err


# --------------------------------------------------------------------------- per-class scores


def direct_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_per_class_scores_match_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    K, dim = 3, 4
    real_labels = torch.arange(90) % K
    real = torch.randn(90, dim, generator=g, dtype=torch.float64) + 3.0 * real_labels[:, None]
    asked = torch.tensor([0] * 20 + [1] * 25 + [2] * 30)
    fake = torch.randn(75, dim, generator=g, dtype=torch.float64) * 1.5 + 3.0 * asked[:, None] + 0.5
    assigned = asked.clone()
    assigned[:5] = 1  # 5 of class 0's 20 are taken for class 1
    assigned[20:30] = 2  # 10 of class 1's 25 for class 2
    probs = torch.nn.functional.one_hot(assigned, K).double() * 0.8 + 0.2 / K
    out = E.per_class_scores(fake, asked, real, real_labels, K, cls_probs=probs)
    assert out["class_accuracy"] == pytest.approx([15 / 20, 15 / 25, 1.0], abs=1e-12)
    assert out["class_accuracy_mean"] == pytest.approx((15 / 20 + 15 / 25 + 1) / 3, abs=1e-12)
    want = [direct_fid(real[real_labels == k].numpy(), fake[asked == k].numpy()) for k in range(K)]
    assert out["intra_fid"] == pytest.approx(want, rel=1e-6, abs=1e-9)
    assert out["intra_fid_mean"] == pytest.approx(np.mean(want), rel=1e-6)
    same = E.per_class_scores(real, real_labels, real, real_labels, K)
    assert same["intra_fid"] == pytest.approx([0.0] * K, abs=1e-6) and "class_accuracy" not in same


class StandInClassifier(nn.Module):
    """The domain-classifier interface on 8x8 grayscale digits: a fixed random two-layer net."""

    num_features, image_size, channels, tag = 16, 8, 1, "standin-cond-v1"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.hidden = nn.Parameter(torch.randn(64, 16, generator=g) / 8, requires_grad=False)
        self.head = nn.Parameter(torch.randn(16, 10, generator=g), requires_grad=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x.float() / 255).flatten(1) @ self.hidden)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.head


def test_evaluate_scores_a_conditional_run_class_by_class(digits_run, toy_run, tmp_path, monkeypatch, capsys):
    net = StandInClassifier()

    def load(data, *, image_size, path=None, device=None):
        if data != "digits" or image_size != 8:
            raise GankitError(f"no classifier for {data} at {image_size}px")
        return net

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(F, "load_classifier", load)
    E.clear_cache()
    try:
        result = evaluate_run(digits_run.run_dir, n=200, device="cpu", write=False)
        m = result["metrics"]
        assert len(m["class_accuracy"]) == len(m["intra_fid"]) == 10
        # the same numbers from the samples, features and labels directly
        drawn = generate_samples(digits_run.run_dir, 200)
        assert drawn["labels"].tolist() == [i % 10 for i in range(200)]
        ext = F.ClassifierExtractor(net)
        fake, probs = F.extract(ext, drawn["images"])
        ds = load_dataset("digits", image_size=8)
        index = E.real_by_class(ds.labels, 10, 20)
        real, _ = F.extract(ext, ds.data[index])
        want = E.per_class_scores(fake, torch.from_numpy(drawn["labels"]), real, ds.labels[index], 10, cls_probs=probs)
        assert m["class_accuracy"] == pytest.approx(want["class_accuracy"])
        assert m["intra_fid"] == pytest.approx(want["intra_fid"], rel=1e-5)
        assert main(["evaluate", str(toy_run.run_dir), "--n", "400", "--device", "cpu"]) == 0
        assert "class accuracy (conditional)" in capsys.readouterr().out
        saved = json.loads((toy_run.run_dir / "metrics.json").read_text())["metrics"]
        assert saved["class_accuracy_mean"] > 0.9 and len(saved["class_accuracy"]) == 8
    finally:
        E.clear_cache()
