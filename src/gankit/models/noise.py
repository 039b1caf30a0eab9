"""Latent noise ``z ~ p_z`` fed to the generators.

The tutorial and the DCGAN paper (Radford et al., 2016, Sec. 4) draw ``z`` uniformly from
``[-1, 1]``; a standard normal is the other common choice.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.errors import ConfigError

NOISE = ("uniform", "normal")


def sample_noise(
    n: int,
    z_dim: int,
    dist: str = "uniform",
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Draw a batch of latent codes.

    ``"uniform"``: :math:`z \\sim U(-1, 1)^{d}`; ``"normal"``: :math:`z \\sim \\mathcal{N}(0, I_d)`.

    Args:
        n: batch size N (>= 0).
        z_dim: latent dimension d (>= 1).
        dist: one of :data:`NOISE`.
        device: where the result lives (default: the generator's device, else CPU).
        generator: optional RNG for reproducible draws. It may live on another device than
            ``device`` (e.g. a CPU generator for CUDA noise): the draw is made on the
            generator's device and moved, so a seed gives the same codes on every backend.
        dtype: floating dtype (default: torch's default dtype).

    Returns:
        Tensor ``[N, z_dim]``.

    Raises:
        ConfigError: unknown ``dist`` or a negative / zero size.
    """
    if dist not in NOISE:
        raise ConfigError(f"unknown noise distribution {dist!r}; choose one of: {', '.join(NOISE)}")
    if n < 0 or z_dim < 1:
        raise ConfigError(f"noise needs n >= 0 and z_dim >= 1, got n={n}, z_dim={z_dim}")
    target = torch.device(device) if device is not None else None
    # torch.rand refuses a generator on another device, so draw where the generator lives.
    draw_on = generator.device if generator is not None else target
    if dist == "uniform":
        z = torch.rand(n, z_dim, generator=generator, device=draw_on, dtype=dtype)  # U[0, 1)
        z = z.mul_(2.0).sub_(1.0)  # U[-1, 1)
    else:
        z = torch.randn(n, z_dim, generator=generator, device=draw_on, dtype=dtype)
    if target is not None and z.device != target:
        z = z.to(target)
    return z
