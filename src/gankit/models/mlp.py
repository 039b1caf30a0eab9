"""Fully connected generator and discriminator for the 2-D toy distributions.

The toy targets (rings, grids) are unbounded (``grid25`` spans ``[-4, 4]``), so the generator
ends in a plain linear layer, not a Tanh. The discriminator returns raw logits ``[N]``; the
sigmoid lives inside the losses (``softplus``), never in the network.
"""

from __future__ import annotations

from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.models.spectral import spectral_normalise

MLP_NORMS = ("none", "layer", "spectral")

# build_models gets the norm a *loss* wants ("batch", "layer", "none"). "batch" only says the
# loss tolerates batch statistics; toy-data MLP discriminators conventionally use no norm, so
# it maps to "none". "layer" (per-sample, needed by the gradient penalty) is kept.
MLP_D_NORM = {"batch": "none", "layer": "layer", "none": "none", "spectral": "spectral"}


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if value < 1:
            raise ConfigError(f"mlp {name} must be >= 1, got {value}")


class MLPGenerator(nn.Module):
    """``G: z [N, z_dim] -> x [N, out_dim]``: ``depth`` hidden Linear+ReLU layers, linear output.

    Attributes:
        z_dim: latent dimension read by the trainer / sampler.
        data_shape: ``(out_dim,)``.
    """

    def __init__(self, z_dim: int = 2, out_dim: int = 2, width: int = 256, depth: int = 3) -> None:
        super().__init__()
        _check_sizes(z_dim=z_dim, out_dim=out_dim, width=width, depth=depth)
        self.z_dim = z_dim
        self.data_shape: tuple[int, ...] = (out_dim,)
        layers: list[nn.Module] = []
        fan_in = z_dim
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, out_dim))  # linear: toy data is unbounded
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """``[N, z_dim] -> [N, out_dim]``."""
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``D: x [N, in_dim] -> logits [N]``: ``depth`` hidden Linear(+norm)+LeakyReLU(0.2) layers.

    ``norm="layer"`` puts a LayerNorm after each hidden Linear: it normalises each sample on its
    own, so the gradient penalty's per-sample gradients stay valid (Gulrajani et al., 2017,
    Sec. 4). Inputs with extra trailing dimensions are flattened from dim 1.
    """

    def __init__(
        self, in_dim: int = 2, width: int = 256, depth: int = 3, norm: str = "none"
    ) -> None:
        super().__init__()
        _check_sizes(in_dim=in_dim, width=width, depth=depth)
        if norm not in MLP_NORMS:
            raise ConfigError(
                f"unknown mlp discriminator norm {norm!r}; choose one of: {', '.join(MLP_NORMS)}"
            )
        self.data_shape: tuple[int, ...] = (in_dim,)
        self.norm = norm
        layers: list[nn.Module] = []
        fan_in = in_dim
        for _ in range(depth):
            layers.append(nn.Linear(fan_in, width))
            if norm == "layer":
                layers.append(nn.LayerNorm(width))
            layers.append(nn.LeakyReLU(0.2))
            fan_in = width
        layers.append(nn.Linear(fan_in, 1))
        self.net = nn.Sequential(*layers)
        if norm == "spectral":  # every Linear divided by its largest singular value (Miyato et al., 2018)
            spectral_normalise(self)

    def forward(self, x: Tensor) -> Tensor:
        """``[N, in_dim] -> [N]`` logits."""
        return self.net(x.flatten(1)).squeeze(1)  # (N, 1) -> (N,)


def build_mlp(
    *, data_shape: tuple[int, ...], z_dim: int, width: int, depth: int = 3, d_norm: str = "batch"
) -> tuple[MLPGenerator, MLPDiscriminator]:
    """Generator and discriminator for 1-D data (points ``[N, D]``); see :data:`MLP_D_NORM`."""
    if len(data_shape) != 1:
        raise ConfigError(
            f"model 'mlp' needs 1-D data (points), got data_shape {tuple(data_shape)}; "
            "use model 'dcgan' for images"
        )
    if d_norm not in MLP_D_NORM:
        raise ConfigError(
            f"unknown discriminator norm {d_norm!r}; choose one of: {', '.join(MLP_D_NORM)}"
        )
    (dim,) = data_shape
    gen = MLPGenerator(z_dim=z_dim, out_dim=dim, width=width, depth=depth)
    disc = MLPDiscriminator(in_dim=dim, width=width, depth=depth, norm=MLP_D_NORM[d_norm])
    return gen, disc
