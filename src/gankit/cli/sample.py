"""``gankit sample``: draw samples from a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

from gankit.errors import ConfigError

HELP = ("draw samples from a run folder or checkpoint into FILE.npz, FILE.png or a folder of PNGs; "
        "--interpolate: latent walks as FILE.png or FILE.gif")
WALK_DEFAULTS = {"rows": 8, "steps": 10, "mode": "slerp"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run folder, a .ckpt checkpoint or generator.safetensors")
    parser.add_argument("--n", type=int, default=None, help="number of samples (default 64)")
    parser.add_argument("--out", required=True,
                        help="FILE.npz (uint8 images [N,C,H,W] or float32 points [N,2]), FILE.png (a grid), or a folder; "
                             "with --interpolate, FILE.png (a grid: a walk per row) or FILE.gif (an animation)")
    walk = parser.add_argument_group("latent walks (--interpolate)")
    walk.add_argument("--interpolate", action="store_true",
                      help="walk the latent space between random endpoints instead of sampling (a 2-D run's walks are "
                           "drawn as paths on the plane, PNG only)")
    walk.add_argument("--rows", type=int, default=None, help=f"walks, one per row (default {WALK_DEFAULTS['rows']})")
    walk.add_argument("--steps", type=int, default=None,
                      help=f"points on each walk, both endpoints included (default {WALK_DEFAULTS['steps']})")
    walk.add_argument("--mode", choices=("linear", "slerp", "both"), default=None,
                      help="straight lines, spherical interpolation (White 2016), or both for each pair of endpoints "
                           f"(default {WALK_DEFAULTS['mode']})")
    parser.add_argument("--class", dest="class_", metavar="K", default=None,
                        help="a class-conditional run: sample class K only, or 'all' for one row per class "
                             "(--n // K samples a row); the .npz also holds the labels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                        help="scale the codes towards the prior's mean by PSI in (0, 1]: fewer odd samples, less "
                             "variety (the truncation trick; default 1, the codes as trained)")
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
    from gankit.training.snapshots import image_grid, png_bytes, scatter_png, tile

    key = "images" if "images" in samples else "points"
    array = samples[key]
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        import io

        buffer = io.BytesIO()
        extra = {"labels": samples["labels"]} if "labels" in samples else {}
        np.savez(buffer, **{key: array}, **extra)
        atomic_write_bytes(out, buffer.getvalue())
        return f"{out} ({key} {array.dtype} {list(array.shape)})"
    if out.suffix == ".png":
        out.parent.mkdir(parents=True, exist_ok=True)
        if key == "points":
            payload = scatter_png(torch.from_numpy(array), reference, title=f"{len(array)} generated over real data")
            atomic_write_bytes(out, payload)
            return f"{out} (a scatter of {len(array)} points over {len(reference) if reference is not None else 0} real ones)"
        images = torch.from_numpy(array)
        cols = samples.get("cols")
        atomic_write_bytes(out, png_bytes(image_grid(images) if cols is None else tile(images, cols)))
        rows = f", {len(array) // cols} rows of {cols}" if cols else ""
        return f"{out} (a grid of {len(array)}{rows})"
    if out.suffix:
        raise ConfigError(f"--out {out}: use a .npz or .png file, or a folder name without a suffix")
    if key == "points":
        raise ConfigError("a toy run's samples are points: write them to FILE.npz or FILE.png")
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(array):
        atomic_write_bytes(out / f"{i:06d}.png", png_bytes(torch.from_numpy(image)))
    return f"{out}/ ({len(array)} PNG files)"


def parse_class(text: str | None) -> int | str | None:
    """``--class``: None, ``"all"`` or a class number."""
    if text is None or text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--class takes a class number or 'all'; got {text!r}") from None


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

    if getattr(args, "interpolate", False):
        if getattr(args, "class_", None) is not None:
            raise ConfigError("--class does not go with --interpolate (latent walks); drop one")
        if args.truncation != 1.0:
            raise ConfigError("--truncation does not go with --interpolate (latent walks); drop one")
        return run_walk(args)
    given = [f"--{name}" for name in WALK_DEFAULTS if getattr(args, name, None) is not None]
    if given:
        verb, them = ("goes", "it") if len(given) == 1 else ("go", "them")
        raise ConfigError(f"{', '.join(given)} {verb} only with --interpolate (latent walks); add it or drop {them}")
    n = 64 if args.n is None else args.n
    if n <= 0:
        raise ConfigError(f"--n must be > 0; got {n}")
    samples = generate_samples(args.run, n, seed=args.seed, ema=args.ema, device=pick_device(args.device),
                               classes=parse_class(getattr(args, "class_", None)), truncation=args.truncation)
    where = write_samples(Path(args.out), samples, reference=real_points(samples))
    weights = "EMA" if samples["ema"] else "raw"
    if args.truncation != 1.0:
        weights += f", truncation {args.truncation:g}"
    print(f"wrote {where} from step {samples['step']} ({weights} weights)")
    return 0


def run_walk(args: argparse.Namespace) -> int:
    """``--interpolate``: latent walks between random endpoints, as a PNG grid or an animated GIF."""
    from gankit.runs.walks import latent_walk, write_walk
    from gankit.training.runtime import pick_device

    if args.n is not None:
        raise ConfigError("--n does not go with --interpolate; size the walks with --rows and --steps")
    rows, steps, mode = (WALK_DEFAULTS[k] if getattr(args, k) is None else getattr(args, k) for k in WALK_DEFAULTS)
    if rows <= 0:
        raise ConfigError(f"--rows must be > 0; got {rows}")
    if steps < 2:
        raise ConfigError(f"--steps must be >= 2 (a walk holds both endpoints); got {steps}")
    out = Path(args.out)
    if out.suffix not in (".png", ".gif"):
        raise ConfigError(f"--out {out}: a latent walk is written as FILE.png (a grid) or FILE.gif (an animation)")
    walk = latent_walk(args.run, rows=rows, steps=steps, mode=mode, seed=args.seed, ema=args.ema,
                       device=pick_device(args.device))
    where = write_walk(walk, out, reference=real_points({"points": None, "data": walk.data}))
    weights = "EMA" if walk.ema else "raw"
    print(f"wrote {where} from step {walk.step} ({weights} weights)")
    return 0
