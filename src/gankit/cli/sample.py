"""``gankit sample``: draw samples from a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

from gankit.errors import ConfigError

HELP = "draw samples from a run folder or checkpoint into FILE.npz, FILE.png or a folder of PNGs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run folder, a .ckpt checkpoint or generator.safetensors")
    parser.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument("--out", required=True,
                        help="FILE.npz (uint8 images [N,C,H,W] or float32 points [N,2]), FILE.png (a grid), or a folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="use the EMA weights when the run kept them (default: yes)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | mps | auto")


def write_samples(out: Path, samples: dict, *, reference=None) -> str:
    """Write ``samples`` in the format ``out``'s suffix names; returns a description.

    ``reference`` (real 2-D points) is drawn under generated points in a ``.png``, on equal axes.
    """
    import numpy as np
    import torch

    from gankit.fileio import atomic_write_bytes
    from gankit.training.snapshots import image_grid, png_bytes, scatter_png

    key = "images" if "images" in samples else "points"
    array = samples[key]
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        import io

        buffer = io.BytesIO()
        np.savez(buffer, **{key: array})
        atomic_write_bytes(out, buffer.getvalue())
        return f"{out} ({key} {array.dtype} {list(array.shape)})"
    if out.suffix == ".png":
        out.parent.mkdir(parents=True, exist_ok=True)
        if key == "points":
            payload = scatter_png(torch.from_numpy(array), reference, title=f"{len(array)} generated over real data")
            atomic_write_bytes(out, payload)
            return f"{out} (a scatter of {len(array)} points over {len(reference) if reference is not None else 0} real ones)"
        atomic_write_bytes(out, png_bytes(image_grid(torch.from_numpy(array))))
        return f"{out} (a grid of {len(array)})"
    if out.suffix:
        raise ConfigError(f"--out {out}: use a .npz or .png file, or a folder name without a suffix")
    if key == "points":
        raise ConfigError("a toy run's samples are points: write them to FILE.npz or FILE.png")
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(array):
        atomic_write_bytes(out / f"{i:06d}.png", png_bytes(torch.from_numpy(image)))
    return f"{out}/ ({len(array)} PNG files)"


def real_points(samples: dict, n: int = 2000):
    """``n`` fresh points of a toy run's data set (None for images or a data set that is not a toy one)."""
    import torch

    from gankit.data import TOY_NAMES, toy_sample

    if "points" not in samples or samples["data"] not in TOY_NAMES:
        return None
    return toy_sample(samples["data"], n, generator=torch.Generator().manual_seed(0))


def run(args: argparse.Namespace) -> int:
    from gankit.runs.sampling import generate_samples
    from gankit.training.runtime import pick_device

    if args.n <= 0:
        raise ConfigError(f"--n must be > 0; got {args.n}")
    samples = generate_samples(args.run, args.n, seed=args.seed, ema=args.ema, device=pick_device(args.device))
    where = write_samples(Path(args.out), samples, reference=real_points(samples))
    weights = "EMA" if samples["ema"] else "raw"
    print(f"wrote {where} from step {samples['step']} ({weights} weights)")
    return 0
