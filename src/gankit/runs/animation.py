"""Animated GIFs of a run: ``progress.gif``, the fixed-noise snapshots over training.

The trainer writes the fixed-noise grid (images) or the scatter of generated over real points
(toy runs) as ``samples/step_XXXXXXX.png`` every ``train.sample_every`` steps; because the noise is
fixed, playing them in order shows how one set of samples evolved. :func:`write_progress_gif`
turns them into ``progress.gif`` with Pillow's GIF writer, one frame per snapshot, each labelled
with its step.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from gankit.errors import GankitError
from gankit.fileio import atomic_write_bytes

PROGRESS_FILE = "progress.gif"
_SNAPSHOT = re.compile(r"^step_(\d+)\.png$")
MIN_SIDE = 256  # small grids (16-pixel digits) are enlarged to at least this width, pixel for pixel


def snapshots(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The run's ``samples/step_*.png`` snapshots as ``(step, path)``, oldest first."""
    folder = Path(run_dir) / "samples"
    if not folder.is_dir():
        return []
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := _SNAPSHOT.match(p.name)) and p.is_file()]
    return sorted(found)


def enlarge(image: Image.Image, min_side: int = MIN_SIDE) -> Image.Image:
    """``image`` scaled up by a whole factor (nearest neighbour, at most 8x) to be at least ``min_side`` wide."""
    factor = min(8, math.ceil(min_side / max(1, image.width)))
    if factor <= 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def with_caption(image: Image.Image, text: str) -> Image.Image:
    """``image`` (as RGB) above a white band holding ``text``."""
    band = 16
    out = Image.new("RGB", (image.width, image.height + band), "white")
    out.paste(image.convert("RGB"), (0, 0))
    ImageDraw.Draw(out).text((4, image.height + 3), text, fill=(0, 0, 0))
    return out


def _is_gray(image: Image.Image) -> bool:
    """Whether an RGB image has R = G = B everywhere."""
    r, g, b = image.split()
    return r.tobytes() == g.tobytes() == b.tobytes()


def gif_bytes(frames: Sequence[Image.Image], *, duration_ms: int | Sequence[int] = 250, loop: int = 0) -> bytes:
    """Encode ``frames`` as an animated GIF (Pillow); frames of other sizes are padded to the largest.

    Args:
        frames: the frames, in order (any mode; each is quantised to its own 256-colour palette).
        duration_ms: each frame's display time, one number or one per frame.
        loop: 0 loops forever.
    """
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    width, height = max(f.width for f in frames), max(f.height for f in frames)
    fitted = []
    for frame in frames:
        frame = frame.convert("RGB")
        if frame.size != (width, height):
            canvas = Image.new("RGB", (width, height), "white")
            canvas.paste(frame, (0, 0))
            frame = canvas
        fitted.append(frame)
    if all(_is_gray(f) for f in fitted):
        # grey frames (digits, Fashion-MNIST) keep their 256 levels exactly: no dithering noise to compress
        fitted = [f.convert("L") for f in fitted]
    buffer = io.BytesIO()
    durations = list(duration_ms) if not isinstance(duration_ms, int) else [duration_ms] * len(fitted)
    fitted[0].save(buffer, format="GIF", save_all=True, append_images=fitted[1:], duration=durations, loop=loop,
                   disposal=1)
    return buffer.getvalue()


def progress_frames(run_dir: str | os.PathLike[str]) -> list[tuple[int, Image.Image]]:
    """Each snapshot as an RGB frame captioned ``step N`` (enlarged when small), oldest first.

    Raises:
        GankitError: a snapshot that is not a readable PNG.
    """
    frames = []
    for step, path in snapshots(run_dir):
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, SyntaxError) as err:  # PIL raises SyntaxError for some broken headers
            raise GankitError(f"cannot read the snapshot {path} ({err}); delete it and run the command again") from None
        frames.append((step, with_caption(enlarge(image), f"step {step}")))
    return frames


def write_progress_gif(run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None,
                       frame_ms: int = 250, hold_ms: int = 1500) -> Path | None:
    """Write ``RUN/progress.gif``: the fixed-noise grid (images) or scatter (points) over training.

    One frame per ``samples/step_*.png`` snapshot, in step order, each captioned with its step;
    the last frame is held for ``hold_ms``. The file is written atomically. A run with no
    snapshot yet gets no GIF.

    Args:
        run_dir: the run folder.
        out: where to write (default ``run_dir/progress.gif``).
        frame_ms: display time of each frame.
        hold_ms: display time of the last frame.

    Returns:
        The GIF's path, or ``None`` when the run has no snapshot.
    """

    frames = progress_frames(run_dir)
    if not frames:
        return None
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    path = Path(out) if out is not None else Path(run_dir) / PROGRESS_FILE
    atomic_write_bytes(path, gif_bytes([image for _, image in frames], duration_ms=durations))
    return path
