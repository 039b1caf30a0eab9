"""DCGAN generator and discriminator (Radford et al., 2016; the tutorial's DCGAN section).

Architecture guidelines of the paper (Sec. 3), all followed here:

* no pooling: strided convolutions downsample (D), fractional-strided ones upsample (G);
* BatchNorm in both networks, except on the generator output and the discriminator input;
* no hidden fully connected layers: G's first layer is a matrix multiplication reshaped to
  ``[N, 8w, 4, 4]``; D's last layer is a 4x4 valid convolution to one logit;
* ReLU in G with Tanh on the output; LeakyReLU(0.2) in D;
* weights from N(0, 0.02) (Sec. 4), see :func:`init_weights`.

The discriminator returns logits ``[N]``; there is no Sigmoid inside it.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.models.spectral import spectral_normalise

IMAGE_SIZES = (8, 16, 32, 64, 128, 256)
DCGAN_NORMS = ("batch", "layer", "none", "spectral")


def _levels(image_size: int) -> int:
    """Number of stride-2 (de)convolutions between 4x4 and ``image_size``: log2(size / 4)."""
    if image_size not in IMAGE_SIZES:
        raise ConfigError(
            f"dcgan image size must be one of {', '.join(map(str, IMAGE_SIZES))}, got {image_size}; "
            "resize the data to a supported size"
        )
    return int(math.log2(image_size // 4))


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if value < 1:
            raise ConfigError(f"dcgan {name} must be >= 1, got {value}")


def _norm2d(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":
        # GroupNorm with one group = LayerNorm over [C, H, W] of each sample, with a
        # per-channel affine; no batch statistics, so per-sample gradients stay valid.
        return [nn.GroupNorm(1, channels)]
    return []


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al., 2016, Sec. 4), applied to every submodule in place.

    Conv / ConvTranspose / Linear weights ~ N(0, 0.02); BatchNorm weight ~ N(1, 0.02). Biases
    (which the paper does not mention) are set to 0. Other norms keep torch's (1, 0) defaults.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """``G: z [N, z_dim] -> x [N, channels, S, S]`` in ``[-1, 1]``.

    Layout for ``S = 64``, ``width = w``: Linear ``z -> 4*4*8w`` + BN + ReLU, reshaped to
    ``[N, 8w, 4, 4]``; then ConvTranspose2d(kernel 4, stride 2, padding 1) blocks
    ``8w -> 4w -> 2w -> w`` with BN + ReLU, and a last one ``w -> channels`` with Tanh.
    There are log2(S / 4) up-convolutions, so each halving/doubling of S removes/adds one
    block at the wide end; ``w`` is always the width of the last hidden block.

    Attributes:
        z_dim: latent dimension.
        data_shape: ``(channels, S, S)``.
    """

    def __init__(
        self, z_dim: int = 100, image_size: int = 64, channels: int = 3, width: int = 128
    ) -> None:
        super().__init__()
        levels = _levels(image_size)
        _check_positive(z_dim=z_dim, channels=channels, width=width)
        self.z_dim = z_dim
        self.data_shape: tuple[int, ...] = (channels, image_size, image_size)
        top = width * 2 ** (levels - 1)  # channels at 4x4: 8w at 64x64
        self.project = nn.Sequential(
            nn.Linear(z_dim, 4 * 4 * top, bias=False),  # BN follows, so no bias
            nn.Unflatten(1, (top, 4, 4)),  # (N, 16*top) -> (N, top, 4, 4)
            nn.BatchNorm2d(top),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        c_in = top
        for _ in range(levels - 1):
            c_out = max(1, c_in // 2)
            blocks += [
                nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
            c_in = c_out
        blocks += [nn.ConvTranspose2d(c_in, channels, 4, stride=2, padding=1), nn.Tanh()]
        self.upsample = nn.Sequential(*blocks)
        init_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        """``[N, z_dim]`` (or ``[N, z_dim, 1, 1]``) ``-> [N, C, S, S]``."""
        return self.upsample(self.project(z.flatten(1)))


class DCGANDiscriminator(nn.Module):
    """``D: x [N, channels, S, S] -> logits [N]``; the mirror of :class:`DCGANGenerator`.

    Conv2d(kernel 4, stride 2, padding 1) blocks ``channels -> w -> 2w -> 4w -> 8w`` down to 4x4,
    each followed by a norm (except the first block: the paper leaves D's input layer
    unnormalised) and LeakyReLU(0.2); then a 4x4 valid Conv2d to one channel, flattened.

    ``norm``: ``"batch"`` (DCGAN), ``"layer"`` (the *critic* for gradient-penalty losses:
    GroupNorm(1, C), i.e. layer norm over ``[C, H, W]`` per sample, as Gulrajani et al., 2017,
    Sec. 4 recommend), ``"spectral"`` (no norm layers; every convolution's weight divided by its
    largest singular value, Miyato et al., 2018: see :func:`gankit.models.spectral.spectral_normalise`)
    or ``"none"``.
    """

    def __init__(
        self, image_size: int = 64, channels: int = 3, width: int = 128, norm: str = "batch"
    ) -> None:
        super().__init__()
        levels = _levels(image_size)
        _check_positive(channels=channels, width=width)
        if norm not in DCGAN_NORMS:
            raise ConfigError(
                f"unknown dcgan discriminator norm {norm!r}; choose one of: {', '.join(DCGAN_NORMS)}"
            )
        self.data_shape: tuple[int, ...] = (channels, image_size, image_size)
        self.norm = norm
        blocks: list[nn.Module] = []
        c_in = channels
        for i in range(levels):
            c_out = width * 2**i
            kind = "none" if i == 0 or norm == "spectral" else norm
            # a bias is redundant when a norm with its own shift follows
            blocks.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=kind == "none"))
            blocks += _norm2d(kind, c_out)
            blocks.append(nn.LeakyReLU(0.2))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.logit = nn.Conv2d(c_in, 1, 4, stride=1, padding=0)  # (N, c, 4, 4) -> (N, 1, 1, 1)
        init_weights(self)
        if norm == "spectral":
            spectral_normalise(self)

    def forward(self, x: Tensor) -> Tensor:
        """``[N, C, S, S] -> [N]`` logits."""
        return self.logit(self.features(x)).flatten()  # (N, 1, 1, 1) -> (N,)


def build_dcgan(
    *, data_shape: tuple[int, ...], z_dim: int, width: int, depth: int = 3, d_norm: str = "batch"
) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    """Generator and discriminator for square images ``(C, S, S)``.

    ``depth`` is ignored: the image size fixes the number of blocks (log2(S / 4)).
    """
    del depth
    if len(data_shape) != 3:
        raise ConfigError(
            f"model 'dcgan' needs images (C, H, W), got data_shape {tuple(data_shape)}; "
            "use model 'mlp' for points"
        )
    channels, height, width_px = data_shape
    if height != width_px:
        raise ConfigError(
            f"model 'dcgan' needs square images, got {height}x{width_px}; resize or crop the data"
        )
    if d_norm not in DCGAN_NORMS:
        raise ConfigError(
            f"unknown discriminator norm {d_norm!r}; choose one of: {', '.join(DCGAN_NORMS)}"
        )
    gen = DCGANGenerator(z_dim=z_dim, image_size=height, channels=channels, width=width)
    disc = DCGANDiscriminator(image_size=height, channels=channels, width=width, norm=d_norm)
    return gen, disc
