"""Spectral normalisation and orthogonal initialisation of a network's layers.

Spectral normalisation (Miyato et al., "Spectral Normalization for Generative Adversarial
Networks", ICLR 2018, eq. 8) replaces each weight by :math:`\\bar W = W / \\sigma(W)`, with
:math:`\\sigma(W)` the largest singular value of ``W`` reshaped to ``[out, in * k * k]``, estimated
by one power iteration per training forward pass. Each layer is then 1-Lipschitz, and so is D
up to its activations: the Lipschitz constraint of the W-GAN argument without clipping or a
penalty. torch's parametrisation does the bookkeeping.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Put every Conv / Linear layer of ``module`` under spectral normalisation, in place."""
    for layer in [m for m in module.modules() if isinstance(m, LAYERS)]:
        spectral_norm(layer)
    return module


def orthogonal_init(module: nn.Module) -> nn.Module:
    """Orthogonal weights (Saxe et al. 2014; BigGAN's choice) for every Conv / Linear layer, zero biases, in place."""
    for layer in [m for m in module.modules() if isinstance(m, LAYERS)]:
        weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
        nn.init.orthogonal_(weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module
