"""Latent walks: lerp and slerp against closed forms, the walk's layout, and ``gankit sample --interpolate``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

import gankit
from gankit.cli import main
from gankit.models import seeded_noise
from gankit.runs.walks import angle, latent_walk, lerp, slerp, walk_grid, walk_latents

TOL = 1e-12


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def endpoints(*shape: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * 3,
            torch.randn(*shape, generator=g, dtype=torch.float64) * 0.5)


# ------------------------------------------------------------------------------------ maths

def test_slerp_hits_both_endpoints_exactly():
    p0, p1 = endpoints(5, 7)
    path = slerp(p0, p1, torch.tensor([0.0, 1.0], dtype=torch.float64))  # [5, 2, 7]
    assert path.shape == (5, 2, 7)
    assert torch.allclose(path[:, 0], p0, rtol=0, atol=TOL)
    assert torch.allclose(path[:, 1], p1, rtol=0, atol=TOL)
    assert torch.allclose(slerp(p0, p1, 0.0), p0, rtol=0, atol=TOL)
    assert torch.allclose(slerp(p0, p1, 1.0), p1, rtol=0, atol=TOL)


def test_slerp_of_unit_vectors_is_the_great_circle_at_constant_angular_speed():
    p0, p1 = (unit(p) for p in endpoints(6, 50, seed=1))
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    path = slerp(p0, p1, t)  # [6, 11, 50]
    omega = torch.arccos((p0 * p1).sum(-1))  # [6], far from 0 and pi here
    assert torch.allclose(angle(p0, p1), omega, rtol=0, atol=1e-12)
    # independent closed form: rotate p0 towards p1 in the plane they span (e2 is p1's part orthogonal to p0)
    e2 = unit(p1 - (p0 * p1).sum(-1, keepdim=True) * p0)
    turned = omega[:, None] * t  # [6, 11]
    expected = torch.cos(turned)[..., None] * p0[:, None] + torch.sin(turned)[..., None] * e2[:, None]
    assert torch.allclose(path, expected, rtol=0, atol=1e-12)
    assert torch.allclose(path.norm(dim=-1), torch.ones(6, 11, dtype=torch.float64), rtol=0, atol=TOL)
    steps = angle(path[:, :-1], path[:, 1:])  # [6, 10]: the angle walked per step
    assert torch.allclose(steps, (omega / 10)[:, None].expand(6, 10), rtol=0, atol=1e-10)
    assert torch.allclose(angle(p0[:, None].expand_as(path), path), t * omega[:, None], rtol=0, atol=1e-10)


def test_slerp_in_the_plane_matches_angles():
    a, b = 0.3, 2.2  # unit vectors at these angles: slerp walks the angle linearly
    p0 = torch.tensor([math.cos(a), math.sin(a)], dtype=torch.float64)
    p1 = torch.tensor([math.cos(b), math.sin(b)], dtype=torch.float64)
    for t in (0.0, 0.25, 0.5, 0.9, 1.0):
        theta = a + t * (b - a)
        expected = torch.tensor([math.cos(theta), math.sin(theta)], dtype=torch.float64)
        assert torch.allclose(slerp(p0, p1, t), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("scale", [1.0, 3.0, 1 + 1e-9])
def test_slerp_of_parallel_endpoints_is_lerp(scale):
    p0, _ = endpoints(4, 9)
    p1 = p0 * scale  # Omega = 0: sin(Omega) = 0 would divide by zero
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    path = slerp(p0, p1, t)
    assert torch.isfinite(path).all()
    assert torch.allclose(path, lerp(p0, p1, t), rtol=0, atol=1e-12)


def test_slerp_of_nearly_parallel_and_opposite_endpoints_stays_finite():
    p0, noise = endpoints(3, 8)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    close = slerp(p0, p0 + 1e-10 * noise, t)
    assert torch.allclose(close, lerp(p0, p0 + 1e-10 * noise, t), rtol=0, atol=1e-12)
    opposite = slerp(p0, -p0, t)  # no unique great circle: lerp
    assert torch.isfinite(opposite).all()
    assert torch.allclose(opposite, lerp(p0, -p0, t), rtol=0, atol=TOL)


def test_lerp_and_slerp_keep_shapes_and_dtypes():
    p0, p1 = (p.float() for p in endpoints(2, 3, 4))
    assert lerp(p0, p1, 0.5).shape == (2, 3, 4) and lerp(p0, p1, 0.5).dtype == torch.float32
    assert slerp(p0, p1, torch.linspace(0, 1, 6)).shape == (2, 3, 6, 4)
    assert torch.allclose(lerp(p0, p1, 0.5), (p0 + p1) / 2)
    with pytest.raises(ValueError):
        slerp(p0, p1[:, :2], 0.5)


def test_slerp_midpoint_keeps_the_norm_that_lerp_loses():
    """White (2016): in high dimension the straight path leaves the prior's shell; slerp does not."""
    z = seeded_noise(200, 512, "normal", seed=0).double()
    p0, p1 = z[:100], z[100:]
    straight, spherical = lerp(p0, p1, 0.5).norm(dim=-1), slerp(p0, p1, 0.5).norm(dim=-1)
    ends = (p0.norm(dim=-1) + p1.norm(dim=-1)) / 2
    assert (straight / ends).mean() < 0.75  # about 1/sqrt(2)
    assert ((spherical / ends).mean() - 1).abs() < 0.01


# ------------------------------------------------------------------------------------ walks

def test_walk_latents_layout():
    z, modes = walk_latents(3, 5, z_dim=4, noise="uniform", seed=7, mode="slerp")
    assert z.shape == (3, 5, 4) and modes == ["slerp"] * 3
    ends = seeded_noise(6, 4, "uniform", seed=7)
    assert torch.allclose(z[:, 0], ends[0::2], atol=1e-6) and torch.allclose(z[:, -1], ends[1::2], atol=1e-6)
    both, modes = walk_latents(3, 5, z_dim=4, noise="uniform", seed=7, mode="both")
    assert both.shape == (6, 5, 4) and modes == ["linear", "slerp"] * 3
    assert torch.allclose(both[0::2, [0, -1]], both[1::2, [0, -1]], atol=1e-6)  # a pair shares its endpoints
    assert torch.allclose(both[1::2], z)
    more, _ = walk_latents(4, 5, z_dim=4, noise="uniform", seed=7, mode="slerp")
    assert torch.equal(more[:3], z)  # a seed names the same walks whatever the number of rows


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("walk-digits") / "run"
    cfg = gankit.load_config(None, {"data.name": "digits", "data.image_size": 16, "model.width": 8,
                                    "train.steps": 3, "train.sample_every": 3, "train.batch_size": 16,
                                    "train.device": "cpu", "train.log_every": 3})
    gankit.train(cfg, out=out, log=lambda m: None)
    return out


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("walk-toy") / "run"
    cfg = gankit.load_config(None, {"data.name": "ring8", "train.steps": 5, "data.n_points": 512,
                                    "model.width": 16, "train.batch_size": 32, "train.device": "cpu"})
    gankit.train(cfg, out=out, log=lambda m: None)
    return out


def test_walk_grid_has_a_row_per_walk_and_a_column_per_step(digits_run):
    walk = latent_walk(digits_run, rows=3, steps=5, mode="both")
    assert walk.samples.shape == (6, 5, 1, 16, 16) and walk.z.shape == (6, 5, 100)
    G = gankit.load_generator(digits_run)
    assert torch.allclose(walk.samples[2, 4], G(walk.z[2, 4][None])[0], atol=1e-5)
    assert walk_grid(walk).shape == (1, 6 * 18 + 2, 5 * 18 + 2)  # 2-pixel padding around 16-pixel images


def test_cli_writes_a_walk_as_png_and_gif(digits_run, tmp_path, capsys):
    png, gif = tmp_path / "walk.png", tmp_path / "walk.gif"
    assert main(["sample", str(digits_run), "--interpolate", "--rows", "2", "--steps", "4", "--out", str(png)]) == 0
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (4 * 18 + 2, 2 * 18 + 2)
    assert main(["sample", str(digits_run), "--interpolate", "--rows", "2", "--steps", "4", "--mode", "both",
                 "--out", str(gif)]) == 0
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames == 2 * 4 - 2  # forward, then back without the ends twice
    printed = capsys.readouterr().out
    assert "walk.png" in printed and "walk.gif" in printed


def test_cli_draws_a_toy_walk_as_paths_and_refuses_a_gif(toy_run, tmp_path, capsys):
    png = tmp_path / "walk.png"
    assert main(["sample", str(toy_run), "--interpolate", "--mode", "both", "--out", str(png)]) == 0
    with Image.open(png) as image:
        assert image.format == "PNG"
    capsys.readouterr()
    assert main(["sample", str(toy_run), "--interpolate", "--out", str(tmp_path / "walk.gif")]) == 2
    err = capsys.readouterr().err
    assert "paths on the plane" in err and err.count("\n") == 1
    assert not (tmp_path / "walk.gif").exists()


@pytest.mark.parametrize("argv, message", [
    (["--rows", "3"], "--rows goes only with --interpolate"),
    (["--interpolate", "--n", "5"], "--n does not go with --interpolate"),
    (["--interpolate", "--steps", "1"], "--steps must be >= 2"),
    (["--interpolate", "--rows", "0"], "--rows must be > 0"),
])
def test_cli_refuses_walk_options_that_do_not_fit(argv, message, digits_run, tmp_path, capsys):
    out = tmp_path / "walk.png"
    assert main(["sample", str(digits_run), *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
