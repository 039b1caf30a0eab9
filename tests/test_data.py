"""Tests of gankit.data: toy mixtures, image sources, IDX parsing, folders, pixel ranges, cache."""

from __future__ import annotations

import gzip
import itertools
import math
import shutil
import socket
import struct
import urllib.error
import urllib.request
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

import gankit.data as gdata
from gankit.data import (
    SOURCES,
    Dataset,
    images_to_uint8,
    load_dataset,
    to_model_space,
    toy_modes,
    toy_sample,
)
from gankit.data.idx import parse_idx, read_idx
from gankit.data.transforms import set_channels
from gankit.errors import DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = [
    f"{p}-{k}-ubyte.gz" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1")
]
needs_fashion = pytest.mark.skipif(
    not all((FASHION_DIR / f).is_file() for f in FASHION_FILES),
    reason="Fashion-MNIST IDX files missing from /usr/share/datasets/fashion-mnist "
    "(apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Keep the cache and data root inside tmp_path so tests never touch the home folder."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)


@pytest.fixture
def offline(monkeypatch):
    """Make every network attempt fail at once (and record that one was made)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise urllib.error.URLError("network disabled by test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def assert_one_line_data_error(exc_info) -> str:
    msg = str(exc_info.value)
    assert isinstance(exc_info.value, DataError)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


# --------------------------------------------------------------------------- toy sets


def test_sources_are_the_documented_names():
    assert list(SOURCES) == [
        "ring8",
        "grid25",
        "swissroll",
        "digits",
        "fashion-mnist",
        "mnist",
        "cifar10",
    ]


@pytest.mark.parametrize("name", ["ring8", "grid25", "swissroll"])
def test_toy_shapes_and_dtypes(name):
    ds = load_dataset(name, n_points=5000, seed=3)
    assert isinstance(ds, Dataset)
    assert ds.kind == "points" and ds.name == name
    assert ds.data.dtype == torch.float32 and ds.data.shape == (5000, 2)
    assert ds.shape == (2,) and len(ds) == 5000
    assert ds.data.is_contiguous() and ds.data.device.type == "cpu"
    assert torch.isfinite(ds.data).all()
    if name == "swissroll":
        assert ds.modes is None and ds.mode_std is None and ds.labels is None
    else:
        assert ds.modes.dtype == torch.float64 and ds.labels.dtype == torch.int64
        assert 0 <= int(ds.labels.min()) and int(ds.labels.max()) < len(ds.modes)


def test_toy_modes_closed_form():
    ring, ring_std = toy_modes("ring8")
    expected = [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)]
    assert ring_std == 0.01
    assert torch.allclose(ring, torch.tensor(expected, dtype=torch.float64), atol=1e-15)
    grid, grid_std = toy_modes("grid25")
    assert grid_std == 0.05
    assert sorted(map(tuple, grid.tolist())) == sorted(
        itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2)
    )
    assert toy_modes("swissroll") == (None, None)
    with pytest.raises(DataError):
        toy_modes("ring9")


@pytest.mark.parametrize(("name", "n_modes", "std"), [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_mixture_statistics(name, n_modes, std):
    ds = load_dataset(name, n_points=100_000, seed=0)
    x = ds.data.double()
    modes = ds.modes
    # Modes are >= 0.76 apart and std <= 0.05, so the nearest centre is the generating component.
    nearest = torch.cdist(x, modes).argmin(1)
    assert torch.equal(nearest, ds.labels)
    counts = torch.bincount(ds.labels, minlength=n_modes).numpy()
    assert stats.chisquare(counts).pvalue > 1e-4  # uniform weights
    offsets = x - modes[ds.labels]
    # Per-axis sample std over ~100k draws: relative standard error ~0.2%.
    assert np.allclose(offsets.std(0).numpy(), std, rtol=0.02)
    assert np.allclose(offsets.mean(0).numpy(), 0.0, atol=5 * std / math.sqrt(len(x)))
    for k in range(n_modes):
        per_mode = offsets[ds.labels == k]
        assert np.allclose(per_mode.std(0).numpy(), std, rtol=0.1)
    if name == "ring8":
        radius = x.norm(dim=1)
        assert (radius - 1).abs().max() < 6 * std


def test_swissroll_matches_sklearn_distribution():
    from sklearn.datasets import make_swiss_roll

    ours = load_dataset("swissroll", n_points=50_000, seed=1).data.double().numpy()
    ref, _ = make_swiss_roll(50_000, noise=0.25, random_state=0)
    ref = ref[:, [0, 2]] / 7.5
    assert np.abs(ours).max() < 2.2
    for axis in range(2):
        assert stats.wasserstein_distance(ours[:, axis], ref[:, axis]) < 0.02
    # and the radius distribution, which a wrong spiral would not match
    assert stats.wasserstein_distance(np.hypot(*ours.T), np.hypot(*ref.T)) < 0.02


@pytest.mark.parametrize("name", ["ring8", "grid25", "swissroll"])
def test_toy_reproducible_and_seed_dependent(name):
    a = load_dataset(name, n_points=1000, seed=7)
    b = load_dataset(name, n_points=1000, seed=7)
    c = load_dataset(name, n_points=1000, seed=8)
    test = load_dataset(name, n_points=1000, seed=7, split="test")
    assert torch.equal(a.data, b.data)
    assert not torch.equal(a.data, c.data)
    assert not torch.equal(a.data, test.data)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    s1, s2 = toy_sample(name, 300, generator=g1), toy_sample(name, 300, generator=g2)
    assert s1.dtype == torch.float32 and s1.shape == (300, 2)
    assert torch.equal(s1, s2)
    assert not torch.equal(s1, toy_sample(name, 300, generator=g1))


def test_toy_sample_matches_loaded_set():
    # The documented recipe: the "train" set is toy_sample with a generator seeded by `seed`.
    ds = load_dataset("grid25", n_points=2000, seed=11)
    again = toy_sample("grid25", 2000, generator=torch.Generator().manual_seed(11))
    assert torch.equal(ds.data, again)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_toy_bad_n_points_and_seed(bad):
    with pytest.raises(DataError) as exc_info:
        load_dataset("ring8", n_points=bad)
    assert_one_line_data_error(exc_info)
    with pytest.raises(DataError) as exc_info:
        load_dataset("ring8", n_points=10, seed=bad if bad != 0 else 2**64)
    assert_one_line_data_error(exc_info)


# --------------------------------------------------------------------------- pixel ranges


def test_model_space_round_trip_exact():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = to_model_space(u)
    assert x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert torch.allclose(x.double(), u.double() / 127.5 - 1, atol=1e-6)
    back = images_to_uint8(x)
    assert back.dtype == torch.uint8 and torch.equal(back, u)


def test_images_to_uint8_saturates_and_handles_nan():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 7.0, float("nan"), 0.5]).view(1, 1, 1, 7)
    y = images_to_uint8(x).flatten().tolist()
    assert y == [0, 0, 128, 255, 255, 0, round(1.5 * 127.5)]


def test_to_model_space_points_and_types():
    p = torch.randn(10, 2, dtype=torch.float32)
    assert to_model_space(p) is p
    p64 = p.double()
    assert to_model_space(p64).dtype == torch.float32 and torch.equal(to_model_space(p64), p)
    with pytest.raises(TypeError):
        to_model_space(torch.zeros(3, 2, dtype=torch.int64))


def test_conversions_need_no_host_data():
    # The meta device has no data: any value-dependent host sync would raise here.
    u = torch.empty(4, 3, 8, 8, dtype=torch.uint8, device="meta")
    x = to_model_space(u)
    assert x.device.type == "meta" and x.dtype == torch.float32 and x.shape == u.shape
    assert images_to_uint8(x).dtype == torch.uint8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_conversions_on_cuda():
    u = torch.arange(256, dtype=torch.uint8, device="cuda").view(1, 1, 16, 16)
    x = to_model_space(u)
    assert x.device.type == "cuda" and torch.equal(images_to_uint8(x), u)


def test_set_channels_matches_pil_luma():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    ours = set_channels(torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous(), 1)
    ref = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    # PIL uses 16-bit fixed-point weights; BT.601 rounding may differ by 1 at exact halves.
    assert np.abs(ours[0, 0].numpy().astype(int) - ref.astype(int)).max() <= 1
    gray = torch.from_numpy(rgb[..., 0])[None, None].contiguous()
    three = set_channels(gray, 3)
    assert three.shape == (1, 3, 5, 7) and all(
        torch.equal(three[:, c], gray[:, 0]) for c in range(3)
    )


# --------------------------------------------------------------------------- digits


def test_digits():
    from sklearn.datasets import load_digits

    ref = load_digits()
    ds = load_dataset("digits")
    assert ds.kind == "images" and ds.data.dtype == torch.uint8
    assert ds.data.shape == (1797, 1, 32, 32) and ds.shape == (1, 32, 32)
    assert int(ds.data.min()) == 0 and int(ds.data.max()) == 255
    assert torch.equal(ds.labels, torch.from_numpy(ref.target).long())
    # Bilinear upsampling with align_corners=False clamps at the border: corner pixel = source corner.
    corner = np.rint(ref.images[:, 0, 0] * 255 / 16)
    assert np.array_equal(ds.data[:, 0, 0, 0].numpy(), corner)
    native = load_dataset("digits", image_size=8)
    assert np.array_equal(native.data[:, 0].numpy(), np.rint(ref.images * 255 / 16))
    rgb = load_dataset("digits", image_size=16, channels=3)
    assert rgb.shape == (3, 16, 16) and torch.equal(rgb.data[:, 1], rgb.data[:, 2])


def test_digits_has_no_test_split():
    with pytest.raises(DataError) as exc_info:
        load_dataset("digits", split="test")
    assert "train" in assert_one_line_data_error(exc_info)


@pytest.mark.parametrize("size", [7, 12, 4, 512, 0, True, 32.0, "32"])
def test_bad_image_size(size):
    with pytest.raises(DataError) as exc_info:
        load_dataset("digits", image_size=size)
    assert "power of two" in assert_one_line_data_error(exc_info)


def test_bad_channels_split_and_name():
    with pytest.raises(DataError):
        load_dataset("digits", channels=2)
    with pytest.raises(DataError) as exc_info:
        load_dataset("ring8", split="validation")
    assert "validation" in assert_one_line_data_error(exc_info)
    with pytest.raises(DataError) as exc_info:
        load_dataset("fashion_mnist")
    msg = assert_one_line_data_error(exc_info)
    assert all(n in msg for n in SOURCES) and "folder:PATH" in msg


# --------------------------------------------------------------------------- IDX


def make_idx(arr: np.ndarray) -> bytes:
    codes = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}
    be = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    head = bytes([0, 0, codes[be.str.lstrip("|")], arr.ndim]) + struct.pack(
        f">{arr.ndim}I", *arr.shape
    )
    return head + arr.astype(be).tobytes()


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_parse_idx_round_trip(dtype):
    arr = (np.arange(60).reshape(3, 4, 5) - 20).astype(dtype)
    if dtype == "u1":
        arr = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    out = parse_idx(make_idx(arr))
    assert out.shape == arr.shape and out.dtype == arr.dtype and np.array_equal(out, arr)
    assert out.flags.writeable


def test_parse_idx_rejects_corruption():
    good = make_idx(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    bad_inputs = {
        "short": good[:3],
        "magic": b"\x01" + good[1:],
        "type": good[:2] + b"\x07" + good[3:],
        "header": good[:9],
        "truncated": good[:-1],
        "trailing": good + b"\x00",
    }
    for what, buf in bad_inputs.items():
        with pytest.raises(DataError) as exc_info:
            parse_idx(buf, source=what)
        assert assert_one_line_data_error(exc_info).startswith(what)


def write_fake_fashion(folder: Path, n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(make_idx(images)))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(make_idx(labels)))
    return images, labels


def test_fashion_from_root_folder(tmp_path):
    images, labels = write_fake_fashion(tmp_path / "data")
    ds = load_dataset("fashion-mnist", split="test", root=tmp_path / "data")
    assert ds.data.shape == (12, 1, 32, 32)
    assert np.array_equal(ds.data[:, 0, 2:30, 2:30].numpy(), images)  # 2-pixel zero pad, exact
    assert int(ds.data[:, :, :2].max()) == 0 and int(ds.data[:, :, :, 30:].max()) == 0
    assert torch.equal(ds.labels, torch.from_numpy(labels).long())
    # the same files found through GANKIT_DATA/fashion-mnist, uncompressed
    sub = tmp_path / "env" / "fashion-mnist"
    sub.mkdir(parents=True)
    for f in (tmp_path / "data").iterdir():
        (sub / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(f.read_bytes()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANKIT_DATA", str(tmp_path / "env"))
        again = load_dataset("fashion-mnist", split="test", image_size=16)
    assert again.data.shape == (12, 1, 16, 16)
    assert torch.equal(again.labels, ds.labels)


def test_fashion_corrupt_files_raise(tmp_path):
    write_fake_fashion(tmp_path)
    gz = tmp_path / "t10k-images-idx3-ubyte.gz"
    whole = gz.read_bytes()
    gz.write_bytes(whole[: len(whole) // 2])  # truncated gzip stream
    with pytest.raises(DataError) as exc_info:
        load_dataset("fashion-mnist", split="test", root=tmp_path)
    assert "t10k-images" in assert_one_line_data_error(exc_info)
    payload = gzip.decompress(whole)
    gz.write_bytes(gzip.compress(payload[:-100]))  # valid gzip, short IDX payload
    with pytest.raises(DataError) as exc_info:
        load_dataset("fashion-mnist", split="test", root=tmp_path)
    assert "truncated" in assert_one_line_data_error(exc_info)
    # images and labels disagree on N
    write_fake_fashion(tmp_path, n=12)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(make_idx(np.zeros(11, dtype=np.uint8)))
    )
    with pytest.raises(DataError) as exc_info:
        load_dataset("fashion-mnist", split="test", root=tmp_path)
    assert "12 images" in assert_one_line_data_error(exc_info)


@needs_fashion
@pytest.mark.parametrize(
    ("split", "prefix", "n"), [("train", "train", 60000), ("test", "t10k", 10000)]
)
def test_fashion_mnist_debian_files(split, prefix, n):
    ds = load_dataset("fashion-mnist", split=split)
    assert ds.data.shape == (n, 1, 32, 32) and ds.data.dtype == torch.uint8
    assert torch.equal(torch.bincount(ds.labels, minlength=10), torch.full((10,), n // 10))
    # independent parse: the IDX header is 16 bytes for images, 8 for labels
    raw = gzip.decompress((FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
    ref = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 28, 28)
    lab = np.frombuffer(
        gzip.decompress((FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz").read_bytes()),
        dtype=np.uint8,
        offset=8,
    )
    assert np.array_equal(ds.data[:, 0, 2:30, 2:30].numpy(), ref)
    assert np.array_equal(ds.labels.numpy(), lab)
    assert int(ds.data[:, 0, :2].max()) == 0


@needs_fashion
def test_fashion_truncated_debian_copy(tmp_path):
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(FASHION_DIR / f, tmp_path / f)
    img = tmp_path / "t10k-images-idx3-ubyte.gz"
    img.write_bytes(img.read_bytes()[:100_000])
    with pytest.raises(DataError) as exc_info:
        load_dataset("fashion-mnist", split="test", root=tmp_path)
    assert_one_line_data_error(exc_info)
    with pytest.raises(DataError):
        read_idx(img)


# --------------------------------------------------------------------------- offline downloads


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("mnist", "train-images-idx3-ubyte.gz"),
        ("cifar10", "cifar-10-python.tar.gz"),
        ("fashion-mnist", "apt-get install dataset-fashion-mnist"),
    ],
)
def test_offline_download_gives_one_line_error(name, needle, tmp_path, offline):
    root = tmp_path / "empty"
    with pytest.raises(DataError) as exc_info:
        load_dataset(name, root=root)
    msg = assert_one_line_data_error(exc_info)
    assert needle in msg and str(root) in msg
    assert offline, "the download was never attempted: the error came from somewhere else"


# --------------------------------------------------------------------------- folders


def save(img: Image.Image, path: Path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)


@pytest.fixture
def image_tree(tmp_path) -> Path:
    root = tmp_path / "pics"
    save(Image.new("RGB", (40, 30), (200, 10, 30)), root / "a" / "1.png")
    save(Image.new("RGB", (20, 20), (0, 0, 255)), root / "a" / "b" / "2.jpg", quality=100)
    save(Image.new("RGBA", (24, 24), (255, 0, 0, 0)), root / "3.png")  # fully transparent red
    save(Image.new("L", (16, 32), 100), root / "4.png")
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 200, 0] * 256)
    save(pal, root / "5.gif")
    # a centre crop of a 64x32 image whose middle (x in 8..56) is green and edges red / blue
    wide = np.zeros((32, 64, 3), dtype=np.uint8)
    wide[:, :8] = (255, 0, 0)
    wide[:, 8:56] = (0, 255, 0)
    wide[:, 56:] = (0, 0, 255)
    save(Image.fromarray(wide), root / "6.bmp")
    save(Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16)), root / "7.png")  # 16-bit gray
    (root / "bad.png").write_bytes(b"this is not a png at all" * 10)
    good_jpg = root / "a" / "b" / "2.jpg"
    (root / "a" / "trunc.jpg").write_bytes(good_jpg.read_bytes()[:300])
    (root / "notes.txt").write_text("ignored")
    return root


def test_folder_source(image_tree):
    with pytest.warns(UserWarning, match="skipped 2 of 9"):
        ds = load_dataset(f"folder:{image_tree}", image_size=16)
    assert ds.kind == "images" and ds.n_skipped == 2 and ds.labels is None
    assert ds.data.shape == (7, 3, 16, 16) and ds.data.dtype == torch.uint8
    assert ds.name == f"folder:{image_tree.resolve()}"
    # sorted by relative path: 3.png 4.png 5.gif 6.bmp 7.png a/1.png a/b/2.jpg
    px = ds.data.permute(0, 2, 3, 1).reshape(7, -1, 3).int()
    expected = [
        (255, 255, 255),  # transparent composited over white
        (100, 100, 100),  # L replicated
        (0, 200, 0),  # palette
        (0, 255, 0),  # centre crop keeps only the green middle
        (255, 255, 255),  # 16-bit 65535 -> 255
        (200, 10, 30),
        (0, 0, 255),  # JPEG: allow a small error
    ]
    for i, colour in enumerate(expected):
        err = (px[i] - torch.tensor(colour)).abs().max()
        assert err <= (6 if i == 6 else 1), (i, colour, px[i][0])


def test_folder_single_channel(image_tree):
    with pytest.warns(UserWarning):
        ds = load_dataset(f"folder:{image_tree}", image_size=8, channels=1)
    assert ds.data.shape == (7, 1, 8, 8)
    ref = Image.new("RGB", (1, 1), (200, 10, 30)).convert("L").getpixel((0, 0))
    assert abs(int(ds.data[5].float().mean().round()) - ref) <= 1


def test_folder_errors(tmp_path):
    with pytest.raises(DataError) as exc_info:
        load_dataset(f"folder:{tmp_path / 'missing'}")
    assert "does not exist" in assert_one_line_data_error(exc_info)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(DataError) as exc_info:
        load_dataset(f"folder:{empty}")
    assert "no image files" in assert_one_line_data_error(exc_info)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (bad / "y.jpg").write_bytes(b"")
    with pytest.raises(DataError) as exc_info:
        load_dataset(f"folder:{bad}")
    assert "none of the 2" in assert_one_line_data_error(exc_info)
    afile = tmp_path / "one.png"
    Image.new("RGB", (8, 8)).save(afile)
    with pytest.raises(DataError):
        load_dataset(f"folder:{afile}")
    with pytest.raises(DataError):
        load_dataset("folder:")
    with pytest.raises(DataError):
        load_dataset(f"folder:{bad}", split="test")


# --------------------------------------------------------------------------- cache


def test_folder_cache_hit_and_invalidation(image_tree, tmp_path, monkeypatch):
    calls = []
    real = gdata.decode_images

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gdata, "decode_images", counting)
    with pytest.warns(UserWarning):
        first = load_dataset(f"folder:{image_tree}", image_size=8)
    with pytest.warns(UserWarning, match="skipped 2"):
        second = load_dataset(f"folder:{image_tree}", image_size=8)
    assert len(calls) == 1
    assert torch.equal(first.data, second.data) and second.n_skipped == 2
    cache_files = list((tmp_path / "cache").iterdir())
    assert len(cache_files) == 1 and cache_files[0].suffix == ".safetensors"  # no temp files left
    # a new file changes the fingerprint; so does a different size
    Image.new("RGB", (9, 9), (1, 2, 3)).save(image_tree / "8.png")
    with pytest.warns(UserWarning):
        third = load_dataset(f"folder:{image_tree}", image_size=8)
    assert len(calls) == 2 and len(third) == 8
    # a damaged cache file is a miss, not an error
    for f in (tmp_path / "cache").iterdir():
        f.write_bytes(f.read_bytes()[:50])
    with pytest.warns(UserWarning):
        fourth = load_dataset(f"folder:{image_tree}", image_size=8)
    assert len(calls) == 3 and torch.equal(fourth.data, third.data)


def test_cache_can_be_disabled(image_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", "off")
    with pytest.warns(UserWarning):
        load_dataset(f"folder:{image_tree}", image_size=8)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache2"))
    with pytest.warns(UserWarning):
        load_dataset(f"folder:{image_tree}", image_size=8, cache=False)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "cache2").exists()


def test_resized_builtin_is_cached(tmp_path, monkeypatch):
    write_fake_fashion(tmp_path / "data", n=6)
    a = load_dataset("fashion-mnist", split="test", root=tmp_path / "data", image_size=64)
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 1
    monkeypatch.setattr(gdata, "fit_images", lambda *a, **k: pytest.fail("cache was not used"))
    b = load_dataset("fashion-mnist", split="test", root=tmp_path / "data", image_size=64)
    assert torch.equal(a.data, b.data) and torch.equal(a.labels, b.labels)
    # different pixels -> different key -> rebuilt (here: the patched _fit fails)
    write_fake_fashion(tmp_path / "data", n=6, seed=1)
    with pytest.raises(pytest.fail.Exception):
        load_dataset("fashion-mnist", split="test", root=tmp_path / "data", image_size=64)


def test_dataset_rejects_malformed_records():
    with pytest.raises(ValueError):
        Dataset("x", "points", torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError):
        Dataset("x", "images", torch.zeros(3, 1, 8, 8, dtype=torch.float32))
    with pytest.raises(ValueError):
        Dataset(
            "x", "images", torch.zeros(3, 1, 8, 8, dtype=torch.uint8), labels=torch.zeros(2).long()
        )
    with pytest.raises(ValueError):
        Dataset("x", "voxels", torch.zeros(3, 2))


# --------------------------------------------------------------------------- dispatch by kind


def assert_same_dataset(a: Dataset, b: Dataset) -> None:
    assert (a.name, a.kind, a.mode_std, a.n_skipped) == (b.name, b.kind, b.mode_std, b.n_skipped)
    for field in ("data", "labels", "modes"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None and y is None) or torch.equal(x, y), field


@pytest.mark.parametrize("kind", ["toy", "digits", "builtin", "folder"])
def test_load_dataset_equals_the_kinds_own_loader(kind, image_tree, tmp_path):
    data = tmp_path / "data"
    write_fake_fashion(data, n=6)
    image = {"image_size": 16, "channels": 3}
    name, direct = {
        "toy": ("ring8", partial(gdata.load_toy, "ring8", split="test", n_points=50, seed=7)),
        "digits": ("digits", partial(gdata.load_digits_source, split="train", **image)),
        "builtin": (
            "fashion-mnist",
            partial(gdata.load_builtin_images, "fashion-mnist", split="test", root=data, **image),
        ),
        "folder": (
            f"folder:{image_tree}",
            partial(gdata.load_folder_source, str(image_tree), split="train", **image),
        ),
    }[kind]
    everything = {**image, "root": data, "n_points": 50, "seed": 7, "cache": True}
    everything["split"] = direct.keywords["split"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the folder's "skipped 2 of 9" note
        # load_dataset ignores the options that do not apply to this kind
        assert_same_dataset(load_dataset(name, **everything), direct())


def test_load_dataset_routes_every_name_to_its_kinds_loader(monkeypatch):
    calls = []
    for loader in ("load_toy", "load_digits_source", "load_builtin_images", "load_folder_source"):
        monkeypatch.setattr(gdata, loader, lambda *a, _l=loader, **k: calls.append((_l, a, k)))
    for name in [*SOURCES, "folder:pics"]:
        load_dataset(name, image_size=16, root="r", n_points=5, seed=1, channels=1, cache=False)
    toy = {"split": "train", "n_points": 5, "seed": 1}
    digits = {"image_size": 16, "split": "train", "channels": 1}
    folder = {**digits, "cache": False}
    builtin = {**folder, "root": "r"}
    assert calls == [
        ("load_toy", ("ring8",), toy),
        ("load_toy", ("grid25",), toy),
        ("load_toy", ("swissroll",), toy),
        ("load_digits_source", (), digits),
        ("load_builtin_images", ("fashion-mnist",), builtin),
        ("load_builtin_images", ("mnist",), builtin),
        ("load_builtin_images", ("cifar10",), builtin),
        ("load_folder_source", ("pics",), folder),
    ]
