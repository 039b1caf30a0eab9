"""Generators and discriminators, chosen by name from :data:`MODELS`.

Every discriminator returns logits ``[N]`` (no Sigmoid); every generator has ``z_dim`` and
``data_shape`` attributes. This package never imports :mod:`gankit.losses`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from gankit.errors import ConfigError
from gankit.models.conditional import (
    ConditionalGenerator,
    ProjectionDiscriminator,
    conditional_models,
    embed_dim,
)
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator, build_dcgan, init_weights
from gankit.models.mlp import MLPDiscriminator, MLPGenerator, build_mlp
from gankit.models.noise import NOISE, sample_noise
from gankit.models.sampling import eval_mode, generate, run_generator, seeded_noise
from gankit.models.spectral import spectral_normalise

if TYPE_CHECKING:
    from gankit.training.config import ModelConfig

# name -> builder(*, data_shape, z_dim, width, depth, d_norm) -> (G, D)
MODELS = {
    "mlp": build_mlp,  # points (D,): toy 2-D data
    "dcgan": build_dcgan,  # images (C, S, S), S a power of two in 8..256
}


def build_models(
    model: str,
    *,
    data_shape: tuple[int, ...],
    z_dim: int,
    width: int,
    depth: int = 3,
    d_norm: str = "batch",
    num_classes: int | None = None,
    class_norm: bool = False,
    class_head: bool = False,
) -> tuple[nn.Module, nn.Module]:
    """Build ``(generator, discriminator)`` for data of shape ``data_shape``.

    Args:
        model: a key of :data:`MODELS`.
        data_shape: one sample's shape: ``(D,)`` for points (``mlp``), ``(C, S, S)`` for images
            (``dcgan``).
        z_dim: latent dimension.
        width: hidden width (mlp) or the last hidden block's channels (dcgan, 128 in the paper).
        depth: hidden layers of each MLP; ignored by dcgan, whose depth follows the image size.
        d_norm: the discriminator norm the loss wants (``LossSpec.d_norm``): ``"batch"``,
            ``"layer"`` (per-sample, for gradient penalties) or ``"none"``. The mlp has no
            batch norm and maps ``"batch"`` to no norm (see ``mlp.MLP_D_NORM``).
        num_classes: K for a class-conditional pair (:mod:`gankit.models.conditional`): G takes
            ``(z, y)`` with the class embedding concatenated to ``z``, D is a projection
            discriminator ``(x, y) -> [N]``; ``None`` builds the unconditional pair.
        class_norm: conditional: the class also enters every batch norm of G (dcgan only).
        class_head: conditional: D also carries AC-GAN's auxiliary classifier (``loss.ac_weight``).

    Raises:
        ConfigError: unknown model or norm, or data the model cannot handle.
    """
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    if num_classes is None:
        return MODELS[model](data_shape=tuple(data_shape), z_dim=z_dim, width=width, depth=depth, d_norm=d_norm)
    G, D = MODELS[model](data_shape=tuple(data_shape), z_dim=z_dim + embed_dim(z_dim), width=width, depth=depth,
                         d_norm=d_norm)
    G, D = conditional_models(G, D, z_dim=z_dim, num_classes=num_classes, class_norm=class_norm,
                              class_head=class_head)
    if class_head and d_norm == "spectral":  # the classifier is a layer of D like the others
        spectral_normalise(D.classify)
    return G, D


def build_models_of(model: ModelConfig, data_shape: tuple[int, ...],
                    num_classes: int | None = None, *, class_head: bool = False) -> tuple[nn.Module, nn.Module]:
    """:func:`build_models` from a run's resolved ``model`` config section (a ``ModelConfig``).

    ``num_classes`` is used only when ``model.conditional`` is on; ``model.g_condition`` picks the
    conditional generator's form; ``class_head`` (``loss.ac_weight > 0``) gives D its AC-GAN classifier.
    """
    conditional = model.conditional
    return build_models(model.name, data_shape=tuple(data_shape), z_dim=model.z_dim, width=model.width,
                        depth=model.depth, d_norm=model.d_norm, num_classes=num_classes if conditional else None,
                        class_norm=model.g_condition == "batchnorm", class_head=class_head and conditional)


__all__ = [
    "MODELS",
    "build_models_of",
    "ConditionalGenerator",
    "ProjectionDiscriminator",
    "NOISE",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "build_models",
    "eval_mode",
    "generate",
    "init_weights",
    "run_generator",
    "sample_noise",
    "seeded_noise",
]
