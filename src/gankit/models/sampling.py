"""Running a generator outside training: in eval mode, in chunks, from seeded noise.

These are the one home of "switch G to eval, run it, restore" and of drawing reproducible
samples; the trainer's snapshots, the periodic evaluation, ``gankit sample`` and the experiments
all go through them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.models.noise import sample_noise

CHUNK = 1000  # rows per forward pass when sampling many


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` in eval mode (batch norm on its running statistics) and restore its mode after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def run_generator(G: nn.Module, z: Tensor, *, device: str | torch.device, batch_size: int = CHUNK,
                  classes: Tensor | None = None) -> Tensor:
    """``G(z)`` for latent codes ``z [N, z_dim]``, ``batch_size`` rows at a time on ``device``.

    ``classes`` (int64 ``[N]``) are the labels of a class-conditional generator, called ``G(z, y)``.

    Returns:
        float32 ``[N, ...]`` on the CPU (G's mode is left as it is; see :func:`eval_mode`).
    """
    if classes is None:
        return torch.cat([G(part.to(device)).float().cpu() for part in z.split(batch_size)])
    return torch.cat([G(part.to(device), y.to(device)).float().cpu()
                      for part, y in zip(z.split(batch_size), classes.split(batch_size), strict=True)])


def seeded_noise(n: int, z_dim: int, noise: str, *, seed: int, batch_size: int = CHUNK) -> Tensor:
    """``n`` latent codes from a CPU generator seeded with ``seed``, drawn ``batch_size`` rows at a time.

    Drawing chunk by chunk is how gankit has always made samples, so a seed names the same codes
    whatever ``n`` is cut into.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([sample_noise(min(batch_size, n - start), z_dim, noise, generator=generator)
                      for start in range(0, n, batch_size)])


def check_truncation(truncation: float) -> float:
    """A truncation :math:`\\psi` must lie in (0, 1]; 1 leaves the codes as drawn."""
    if isinstance(truncation, bool) or not isinstance(truncation, int | float) or not 0.0 < truncation <= 1.0:
        raise ConfigError(f"truncation must be in (0, 1] (1 leaves the codes as drawn, 0.7 is typical); "
                          f"got {truncation!r}")
    return float(truncation)


@torch.no_grad()
def generate(G: nn.Module, n: int, *, z_dim: int, noise: str, seed: int = 0, device: str | torch.device = "cpu",
             batch_size: int = CHUNK, classes: Tensor | None = None, truncation: float = 1.0) -> Tensor:
    """``n`` samples of ``G`` in model space ([-1, 1] images or raw points), reproducible under ``seed``.

    G runs in eval mode on ``device`` and is restored to its mode afterwards. ``classes`` (int64
    ``[n]``) are the labels a class-conditional generator is asked for; the codes do not depend on
    them, so sample ``i`` of one seed differs between class lists only by its label.

    ``truncation`` :math:`\\psi \\in (0, 1]` pulls each code towards the mean of its prior,
    :math:`z \\leftarrow \\bar z + \\psi (z - \\bar z)` with :math:`\\bar z = 0` for both U(-1, 1) and
    N(0, I): the truncation trick, trading variety for fidelity (Karras et al. 2019, StyleGAN, eq. for
    :math:`w'`, applied to z as Brock et al. 2019 truncate z). The same seed gives the same codes,
    scaled.

    Returns:
        float32 ``[n, ...]`` on the CPU.
    """
    device = torch.device(device)
    z = seeded_noise(n, z_dim, noise, seed=seed, batch_size=batch_size) * check_truncation(truncation)
    with eval_mode(G.to(device)):
        return run_generator(G, z, device=device, batch_size=batch_size, classes=classes)
