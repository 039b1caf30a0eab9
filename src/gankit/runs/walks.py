"""Latent walks: straight and spherical paths between latent codes, and pictures of where G takes them.

A generator that has learnt the data rather than memorised it maps a smooth path in ``z`` to
samples that change smoothly; walking the latent space is how the DCGAN paper shows this [3]
(Sec. 6.1). Two paths between endpoints :math:`p_0, p_1` are offered:

.. math::

    \\operatorname{lerp}(p_0, p_1; t) = (1 - t)\\, p_0 + t\\, p_1

    \\operatorname{slerp}(p_0, p_1; t) = \\frac{\\sin((1 - t)\\Omega)}{\\sin\\Omega}\\, p_0
        + \\frac{\\sin(t\\Omega)}{\\sin\\Omega}\\, p_1,
    \\qquad \\cos\\Omega = \\frac{p_0 \\cdot p_1}{\\lVert p_0\\rVert\\, \\lVert p_1\\rVert}

for :math:`t \\in [0, 1]`. Spherical linear interpolation comes from animation [1]; White [2]
argues for it in generative models: in high dimension nearly all of the prior's mass lies on a
thin shell (radius :math:`\\sqrt{d}` for :math:`\\mathcal{N}(0, I_d)`, :math:`\\sqrt{d/3}` for
:math:`U(-1, 1)^d`), and the straight path between two codes cuts through the inside of that
shell, where G was never trained (its midpoint has norm about :math:`1/\\sqrt{2}` of the
endpoints'), while slerp stays on it.

References:
    [1] K. Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985.
    [2] T. White, "Sampling generative networks", arXiv:1609.04468, 2016.
    [3] A. Radford, L. Metz, S. Chintala, "Unsupervised representation learning with deep
        convolutional generative adversarial networks", ICLR 2016.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gankit.data import images_to_uint8
from gankit.errors import ConfigError
from gankit.fileio import atomic_write_bytes
from gankit.models import eval_mode, run_generator, seeded_noise
from gankit.runs.animation import enlarge, gif_bytes
from gankit.runs.sampling import load_generator
from gankit.training.snapshots import png_bytes, tile

# sin(Omega) below this: the endpoints are (anti)parallel and slerp's weights are 0/0, so lerp is used
PARALLEL_EPS = 1e-6


def _weights(t: Tensor | float, like: Tensor) -> Tensor:
    """``t`` as float64 on ``like``'s device: a 0-dim tensor, or ``[T]``."""
    t = torch.as_tensor(t, dtype=torch.float64, device=like.device)
    if t.dim() > 1:
        raise ValueError(f"t must be a number or a 1-D tensor of times; got shape {list(t.shape)}")
    return t


def _check_endpoints(p0: Tensor, p1: Tensor) -> None:
    if p0.shape != p1.shape or p0.dim() == 0:
        raise ValueError(f"endpoints must be vectors [..., d] of one shape; got {list(p0.shape)} and {list(p1.shape)}")


def _place(w0: Tensor, w1: Tensor, p0: Tensor, p1: Tensor, t: Tensor) -> Tensor:
    """``w0 p0 + w1 p1`` with weights ``[..., T]`` (or ``[...]``) and endpoints ``[..., d]``."""
    if t.dim() == 1:
        out = w0[..., None] * p0[..., None, :] + w1[..., None] * p1[..., None, :]  # [..., T, d]
    else:
        out = w0[..., None] * p0 + w1[..., None] * p1  # [..., d]
    return out


def lerp(p0: Tensor, p1: Tensor, t: Tensor | float) -> Tensor:
    """Linear interpolation :math:`(1 - t) p_0 + t p_1` (the DCGAN paper's walk [3]).

    Args:
        p0, p1: endpoints ``[..., d]``.
        t: a time in [0, 1], or times ``[T]``.

    Returns:
        ``[..., d]`` for a number ``t``, ``[..., T, d]`` for times ``[T]``; in ``p0``'s dtype.
    """
    _check_endpoints(p0, p1)
    t = _weights(t, p0)
    a, b = p0.double(), p1.double()
    w1 = t.expand(*a.shape[:-1], *t.shape)
    return _place(1.0 - w1, w1, a, b, t).to(p0.dtype)


def angle(p0: Tensor, p1: Tensor) -> Tensor:
    """The angle :math:`\\Omega \\in [0, \\pi]` between ``p0`` and ``p1`` ``[..., d]``, float64 ``[...]``.

    Computed as :math:`2 \\operatorname{atan2}(\\lVert \\hat p_0 - \\hat p_1\\rVert, \\lVert \\hat p_0
    + \\hat p_1\\rVert)` (Kahan), accurate near 0 and :math:`\\pi` where :math:`\\arccos` of the
    cosine loses half the digits. A zero vector has angle 0 to everything.
    """
    _check_endpoints(p0, p1)
    a, b = p0.double(), p1.double()
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    b = b / b.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    return 2.0 * torch.atan2((a - b).norm(dim=-1), (a + b).norm(dim=-1))


def slerp(p0: Tensor, p1: Tensor, t: Tensor | float, *, eps: float = PARALLEL_EPS) -> Tensor:
    """Spherical linear interpolation (Shoemake [1]; White [2] for generative models).

    .. math::

        \\operatorname{slerp}(p_0, p_1; t) = \\frac{\\sin((1 - t)\\Omega)}{\\sin\\Omega}\\, p_0
            + \\frac{\\sin(t\\Omega)}{\\sin\\Omega}\\, p_1,
        \\qquad \\cos\\Omega = \\frac{p_0 \\cdot p_1}{\\lVert p_0\\rVert\\, \\lVert p_1\\rVert}

    For unit endpoints the path is the shorter great-circle arc, walked at constant angular
    speed :math:`\\Omega`, and every point on it is a unit vector. Endpoints of different norms
    follow the same formula (as [2] does with latent codes): the norm then changes smoothly
    from one endpoint's to the other's.

    Where :math:`\\sin\\Omega <` ``eps`` the endpoints are parallel (the arc is a point; slerp
    tends to lerp as :math:`\\Omega \\to 0`) or opposite (no unique great circle): those rows
    use :func:`lerp`.

    Args:
        p0, p1: endpoints ``[..., d]``.
        t: a time in [0, 1], or times ``[T]``.
        eps: the smallest :math:`\\sin\\Omega` treated as non-parallel.

    Returns:
        ``[..., d]`` for a number ``t``, ``[..., T, d]`` for times ``[T]``; in ``p0``'s dtype.
        Computed in float64.
    """
    _check_endpoints(p0, p1)
    t = _weights(t, p0)
    a, b = p0.double(), p1.double()
    omega = angle(a, b)  # [...]
    sin_omega = torch.sin(omega)
    parallel = sin_omega < eps
    safe = torch.where(parallel, torch.ones_like(sin_omega), sin_omega)
    if t.dim() == 1:
        omega, safe, parallel = omega[..., None], safe[..., None], parallel[..., None]  # [..., 1] against t [T]
    w0 = torch.where(parallel, 1.0 - t, torch.sin((1.0 - t) * omega) / safe)
    w1 = torch.where(parallel, t.expand_as(w0), torch.sin(t * omega) / safe)
    return _place(w0, w1, a, b, t).to(p0.dtype)


# name -> interpolation(p0, p1, t); "both" walks each pair of endpoints with each of them
INTERPOLATIONS: dict[str, Callable[[Tensor, Tensor, Tensor | float], Tensor]] = {
    "linear": lerp,
    "slerp": slerp,
}
MODES = (*INTERPOLATIONS, "both")


def walk_latents(rows: int, steps: int, *, z_dim: int, noise: str = "uniform", seed: int = 0,
                 mode: str = "slerp") -> tuple[Tensor, list[str]]:
    """Latent codes of ``rows`` walks of ``steps`` points between random endpoints.

    Endpoints are drawn from the run's prior (``noise``) with a CPU generator seeded with ``seed``:
    pair ``i`` is codes ``2i`` and ``2i + 1``, so a seed names the same walks whatever ``rows`` is.

    Args:
        rows: number of endpoint pairs.
        steps: points on each walk, the endpoints included (>= 2).
        z_dim, noise: the run's latent dimension and prior.
        seed: seed of the endpoints.
        mode: ``"linear"``, ``"slerp"`` or ``"both"`` (each pair walked both ways: a linear row
            followed by a slerp row).

    Returns:
        ``(z, modes)``: float32 ``[R, steps, z_dim]`` with ``R = rows`` (``2 * rows`` for
        ``"both"``), and the interpolation of each row.
    """

    if mode not in MODES:
        raise ConfigError(f"unknown interpolation {mode!r}; choose one of: {', '.join(MODES)}")
    if rows < 1 or steps < 2:
        raise ConfigError(f"a walk needs rows >= 1 and steps >= 2 (the two endpoints); got rows={rows}, steps={steps}")
    ends = seeded_noise(2 * rows, z_dim, noise, seed=seed)  # [2R, d]
    p0, p1 = ends[0::2], ends[1::2]  # [R, d] each
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    modes = list(INTERPOLATIONS) if mode == "both" else [mode]
    walks = torch.stack([INTERPOLATIONS[m](p0, p1, t) for m in modes], dim=1)  # [R, len(modes), steps, d]
    return walks.reshape(-1, steps, z_dim).float(), [m for _ in range(rows) for m in modes]


@dataclass
class LatentWalk:
    """Walks through a run's latent space and the samples G makes along them.

    Attributes:
        z: latent codes ``[R, M, z_dim]``.
        samples: G's output in model space, float32 ``[R, M, C, H, W]`` (images in [-1, 1]) or
            ``[R, M, 2]`` (points).
        modes: the interpolation of each row (``"linear"`` or ``"slerp"``).
        data: the run's dataset name.
        step, ema: where the weights come from.
    """

    z: Tensor
    samples: Tensor
    modes: list[str]
    data: str
    step: int
    ema: bool

    @property
    def is_points(self) -> bool:
        return self.samples.dim() == 3


def latent_walk(run: str | Path, *, rows: int = 8, steps: int = 10, mode: str = "slerp", seed: int = 0,
                ema: bool = True, device: str | torch.device = "cpu") -> LatentWalk:
    """Walk a run's latent space: see :func:`walk_latents` for the paths.

    Args:
        run: a run folder, checkpoint or ``generator.safetensors``.
        rows, steps, mode, seed: as :func:`walk_latents`.
        ema: use the EMA weights where the run kept them.
        device: where G runs.

    A class-conditional run's walk ``i`` keeps one class, ``i mod K``, along its whole path.
    """

    G = load_generator(run, ema=ema)
    z, modes = walk_latents(rows, steps, z_dim=G.z_dim, noise=G.noise, seed=seed, mode=mode)
    r, m, d = z.shape
    classes = (torch.arange(r) % G.num_classes).repeat_interleave(m) if G.num_classes else None  # [R*M]
    with eval_mode(G.net.to(device)) as net:
        x = run_generator(net, z.reshape(r * m, d), device=device, classes=classes)  # [R*M, ...]
    return LatentWalk(z=z, samples=x.reshape(r, m, *x.shape[1:]), modes=modes, data=G.config.data.name,
                      step=G.step, ema=G.ema)


# ----------------------------------------------------------------------------------- pictures

def walk_grid(walk: LatentWalk) -> Tensor:
    """The walk as one uint8 image ``[C, H', W']``: one row per walk, one column per step."""

    r, m = walk.samples.shape[:2]
    images = images_to_uint8(walk.samples.reshape(r * m, *walk.samples.shape[2:]))  # [R*M, C, H, W]
    return tile(images, m)


def walk_png(walk: LatentWalk) -> bytes:
    """The image walk as a PNG grid (rows: walks; columns: steps from ``p0`` to ``p1``)."""

    return png_bytes(walk_grid(walk))


def walk_gif(walk: LatentWalk, *, frame_ms: int = 120, hold_ms: int = 600) -> bytes:
    """The image walk as an animated GIF: frame ``k`` shows every walk's ``k``-th sample.

    The walks play forward then back (a seamless loop), pausing ``hold_ms`` at the endpoints.
    With both interpolations each pair is shown side by side: linear left, slerp right.
    """
    from PIL import Image


    r, m = walk.samples.shape[:2]
    cols = len(set(walk.modes)) if len(set(walk.modes)) > 1 else math.ceil(math.sqrt(r))
    frames = []
    for k in range(m):
        grid = tile(images_to_uint8(walk.samples[:, k]), cols)  # [C, H', W']
        array = grid.permute(1, 2, 0).numpy()
        frames.append(enlarge(Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)))
    order = list(range(m)) + list(range(m - 2, 0, -1))  # forward, then back without repeating the ends
    durations = [hold_ms if k in (0, m - 1) else frame_ms for k in order]
    return gif_bytes([frames[k] for k in order], duration_ms=durations)


def toy_walk_png(walk: LatentWalk, reference: Tensor | None = None) -> bytes:
    """A 2-D run's walks drawn as paths on the plane, over the real data, as PNG bytes.

    Each pair of endpoints has its own colour; linear walks are dashed, slerp walks solid; a
    circle marks ``G(p0)`` and a square ``G(p1)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if reference is not None:
        ref = reference.detach().cpu().numpy()
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="tab:blue", alpha=0.15, label="data")
    colours = plt.get_cmap("tab10").colors
    per_pair = len(set(walk.modes))  # rows of one pair of endpoints (2 when both interpolations are drawn)
    for row, (path, mode) in enumerate(zip(walk.samples.numpy(), walk.modes, strict=True)):
        colour = colours[(row // per_pair) % len(colours)]
        ax.plot(path[:, 0], path[:, 1], "--" if mode == "linear" else "-", color=colour, lw=1.4, marker=".", ms=4)
        ax.plot(path[0, 0], path[0, 1], "o", color=colour, ms=6)
        ax.plot(path[-1, 0], path[-1, 1], "s", color=colour, ms=6)
    styles = sorted(set(walk.modes))
    for mode in styles:
        ax.plot([], [], "--" if mode == "linear" else "-", color="0.3", label=f"{mode} walk")
    ax.set_aspect("equal")
    both = " (each linear and slerp)" if per_pair > 1 else ""
    ax.set_title(f"{len(walk.modes) // per_pair} latent walks of {walk.samples.shape[1]} steps through G{both}, "
                 f"step {walk.step}", fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


WALK_SUFFIXES = (".png", ".gif")


def write_walk(walk: LatentWalk, out: str | Path, *, reference: Tensor | None = None) -> str:
    """Write ``walk`` as ``out`` (``.png``: a grid, or paths for points; ``.gif``: an animation).

    Returns:
        A one-line description of what was written.

    Raises:
        ConfigError: another suffix, or a GIF of a 2-D run (its walk is a picture of paths).
    """

    out = Path(out)
    if out.suffix not in WALK_SUFFIXES:
        raise ConfigError(f"--out {out}: a latent walk is written as FILE.png (a grid) or FILE.gif (an animation)")
    if walk.is_points and out.suffix == ".gif":
        raise ConfigError("a 2-D run's latent walk is drawn as paths on the plane: use --out FILE.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, steps = walk.samples.shape[:2]
    how = " (rows alternate linear and slerp)" if len(set(walk.modes)) > 1 else f" ({walk.modes[0]})"
    if walk.is_points:
        atomic_write_bytes(out, toy_walk_png(walk, reference))
        return f"{out} ({rows} walks of {steps} steps drawn as paths over the data{how})"
    if out.suffix == ".gif":
        atomic_write_bytes(out, walk_gif(walk))
        return f"{out} (an animation of {rows} walks over {steps} steps{how})"
    atomic_write_bytes(out, walk_png(walk))
    return f"{out} (a grid of {rows} walks x {steps} steps{how})"
