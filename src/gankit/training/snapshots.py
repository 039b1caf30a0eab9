"""Pictures of what the generator makes: an image grid, or a scatter plot for 2-D points."""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch

from gankit.data import images_to_uint8
from gankit.training.checkpoint import atomic_write_bytes


def image_grid(images: torch.Tensor, *, padding: int = 2) -> torch.Tensor:
    """Tile uint8 images [N, C, H, W] into one uint8 image [C, H', W'] (a near-square grid)."""
    return tile(images, math.ceil(math.sqrt(len(images))), padding=padding)


def tile(images: torch.Tensor, cols: int, *, padding: int = 2) -> torch.Tensor:
    """Tile uint8 images ``[N, C, H, W]`` row by row, ``cols`` to a row, into one uint8 ``[C, H', W']``."""
    n, c, h, w = images.shape
    rows = math.ceil(n / cols)
    grid = torch.zeros(c, rows * (h + padding) + padding, cols * (w + padding) + padding, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = images[i]
    return grid


def png_bytes(image: torch.Tensor) -> bytes:
    """Encode a uint8 image [C, H, W] (C = 1 or 3) as PNG."""
    from PIL import Image

    array = image.permute(1, 2, 0).cpu().numpy()
    pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def scatter_png(points: torch.Tensor, reference: torch.Tensor | None = None, *, title: str = "") -> bytes:
    """A scatter plot of generated 2-D points (red) over real ones (blue), as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    if reference is not None:
        ref = reference.detach().cpu().numpy()
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="tab:blue", alpha=0.3, label="data")
    pts = points.detach().float().cpu().numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="tab:red", alpha=0.6, label="generated")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=4)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def save_snapshot(path: Path, generated: torch.Tensor, *, reference: torch.Tensor | None = None,
                  title: str = "", cols: int | None = None) -> None:
    """Write the generator's output in model space as ``path`` (PNG), atomically.

    ``cols``: images per row (a conditional run's grid: one row per class); default a near-square grid.
    """
    if generated.dim() == 2:
        payload = scatter_png(generated, reference, title=title)
    else:
        images = images_to_uint8(generated.detach().float().cpu())
        payload = png_bytes(image_grid(images) if cols is None else tile(images, cols))
    atomic_write_bytes(Path(path), payload)
