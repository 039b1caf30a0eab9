"""Class-conditional generator and projection discriminator around gankit's networks.

Generator: the class enters by a learned embedding concatenated to the latent code (the cGAN of
Mirza & Osindero, 2014 [1], with an embedding in place of a one-hot vector):

.. math:: G(z, y) = G_0([z; e_y]), \\qquad e_y = E_G[y] \\in \\mathbb{R}^{d_e}

We pick concatenation over conditional batch norm because it works unchanged for both families
(the MLP has no batch norm at all) and leaves the wrapped generator an ordinary :mod:`gankit.models`
network built for ``z_dim + d_e`` inputs, so its initialisation, spectral and EMA handling apply as
they are. The embedding's dimension is :data:`embed_dim` of ``z_dim`` (as wide as the code, at
least 8), so the class is not drowned by 100 noise dimensions. It starts small, at N(0, 0.02) (the
DCGAN initialisation): started at N(0, 1), or at the code's own scale N(0, 0.577), the generator
learned to ignore z and drew one image per class (Fashion-MNIST, tuning seed 0, 2,000 steps:
recall 0.000 and coverage 0.03-0.04, against 0.157 and 0.464 from N(0, 0.02)).

With ``class_norm`` the class also enters every batch norm of the DCGAN generator, as a gain and a
bias of its own (conditional batch norm: de Vries et al. 2017 [3]; the generator of Miyato &
Koyama 2018 [2] and, with the embedding at the input as well, of BigGAN [4]):

.. math:: \\mathrm{BN}_y(h) = \\mathrm{BN}(h) \\odot (1 + \\Delta\\gamma_y) + \\Delta\\beta_y

where :math:`\\mathrm{BN}(h)` is the layer's own normalisation with its own affine
:math:`\\gamma, \\beta`, and the per-class offsets :math:`\\Delta\\gamma_y, \\Delta\\beta_y` start at zero, so
the conditional network starts as the unconditional one.

Discriminator: the projection discriminator of Miyato & Koyama (2018) [2], eq. (3):

.. math:: D(x, y) = \\psi(\\phi(x)) + \\langle E_D[y], \\phi(x) \\rangle

with :math:`\\phi` the wrapped discriminator's features (every layer but the last) and
:math:`\\psi` its last, linear layer. For the DCGAN :math:`\\phi(x)` is the flattened
``[N, 8w, 4, 4]`` feature map, on which the last 4x4 valid convolution is exactly a linear
:math:`\\psi`; for the MLP it is the last hidden layer. The logit stays ``[N]``, so every loss of
:mod:`gankit.losses` applies unchanged.

With ``class_head`` the discriminator also carries the auxiliary classifier of AC-GAN (Odena,
Olah & Shlens 2017 [5]): a linear map of the same features to K class logits,

.. math:: P(C = k \\mid x) = \\mathrm{softmax}_k(W \\phi(x) + b),

returned beside the logit when the caller asks (``with_classes=True``). The projection term stays
in the logit, as in the AC-GAN-plus-projection discriminators of later work; the classification
loss itself lives in :mod:`gankit.losses`.

Both wrappers take ``y=None`` to mean the balanced labels ``arange(N) % K``: code that calls a
generator with ``z`` alone (EMA's standing statistics, the health checks, ``generate``) gets every
class in turn.

[1] M. Mirza, S. Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
[2] T. Miyato, M. Koyama, "cGANs with Projection Discriminator", ICLR 2018.
[3] H. de Vries et al., "Modulating early visual processing by language", NeurIPS 2017.
[4] A. Brock, J. Donahue, K. Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
    Synthesis", ICLR 2019.
[5] A. Odena, C. Olah, J. Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
    ICML 2017.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.models.mlp import MLPDiscriminator

BATCH_NORMS_2D = (nn.BatchNorm2d, nn.SyncBatchNorm)  # SyncBatchNorm replaces BatchNorm2d under train.sync_bn


def embed_dim(z_dim: int) -> int:
    """Width of the generator's class embedding: as wide as the latent code, at least 8."""
    return max(8, z_dim)


def balanced_labels(n: int, num_classes: int, device: torch.device | str | None = None) -> Tensor:
    """``[0, 1, ..., K-1, 0, 1, ...]``: int64 ``[n]``, every class in turn."""
    return torch.arange(n, device=device) % num_classes


def check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"a conditional model needs at least 2 classes, got {num_classes!r}")
    return num_classes


class ConditionalGenerator(nn.Module):
    """``G: (z [N, z_dim], y [N]) -> x``: ``net([z; E[y]])`` (see the module's docstring, [1]).

    Attributes:
        net: the wrapped generator, built for ``z_dim + embed_dim(z_dim)`` inputs.
        embed: ``nn.Embedding(num_classes, embed_dim)``, N(0, 0.02) initialised (see the module docstring).
        class_gain, class_bias: with ``class_norm``, one ``nn.Embedding(num_classes, channels)`` per
            batch norm of ``net``, in forward order, zero initialised; empty otherwise.
        z_dim: the latent code's dimension (without the embedding).
        num_classes: K.
        data_shape: as the wrapped generator's.
    """

    def __init__(self, net: nn.Module, *, z_dim: int, num_classes: int, class_norm: bool = False) -> None:
        super().__init__()
        self.net, self.z_dim, self.num_classes = net, z_dim, check_num_classes(num_classes)
        self.embed = nn.Embedding(num_classes, embed_dim(z_dim))
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.data_shape = tuple(net.data_shape)
        norms = [layer for layer in generator_layers(net) if isinstance(layer, BATCH_NORMS_2D)] if class_norm else []
        self.class_gain = nn.ModuleList(class_offsets(num_classes, bn.num_features) for bn in norms)
        self.class_bias = nn.ModuleList(class_offsets(num_classes, bn.num_features) for bn in norms)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``[N, z_dim]`` and int64 ``[N]`` (``None``: :func:`balanced_labels`) ``-> [N, ...]``."""
        z = z.flatten(1)
        if y is None:
            y = balanced_labels(len(z), self.num_classes, z.device)
        h = torch.cat([z, self.embed(y).to(z.dtype)], dim=1)  # (N, z_dim + d_e)
        if not self.class_gain:
            return self.net(h)
        offsets = iter(zip(self.class_gain, self.class_bias, strict=True))
        for layer in generator_layers(self.net):
            h = layer(h)
            if isinstance(layer, BATCH_NORMS_2D):  # BN_y(h) = BN(h) (1 + dgamma_y) + dbeta_y
                gain, bias = next(offsets)
                h = h * (1 + gain(y).to(h.dtype)[:, :, None, None]) + bias(y).to(h.dtype)[:, :, None, None]
        return h


def generator_layers(net: nn.Module) -> list[nn.Module]:
    """The DCGAN generator's layers in the order its forward runs them (for conditional batch norm)."""
    if not isinstance(net, DCGANGenerator):
        raise ConfigError(f"conditional batch norm needs gankit's dcgan generator, not {type(net).__name__} "
                          "(the mlp has no batch norm); drop model.g_condition=batchnorm")
    return [*net.project, *net.upsample]


def class_offsets(num_classes: int, features: int) -> nn.Embedding:
    """One row of per-channel offsets per class, zero at the start (see the module docstring)."""
    table = nn.Embedding(num_classes, features)
    nn.init.zeros_(table.weight)
    return table


def _split_discriminator(D: nn.Module) -> tuple[nn.Module, nn.Module, int]:
    """``(phi, psi, feature dim)`` of a gankit discriminator: its features and its last linear layer."""
    if isinstance(D, DCGANDiscriminator):
        channels = D.logit.in_channels
        phi = nn.Sequential(D.features, nn.Flatten(1))  # (N, c, 4, 4) -> (N, 16c)
        psi = nn.Sequential(nn.Unflatten(1, (channels, 4, 4)), D.logit, nn.Flatten(0))  # (N, 16c) -> (N,)
        return phi, psi, channels * 16
    if isinstance(D, MLPDiscriminator):
        last = D.net[-1]
        phi = nn.Sequential(nn.Flatten(1), *D.net[:-1])
        psi = nn.Sequential(last, nn.Flatten(0))  # (N, 1) -> (N,)
        return phi, psi, last.in_features
    raise ConfigError(f"a projection discriminator wraps gankit's dcgan or mlp discriminator, not {type(D).__name__}")


class ProjectionDiscriminator(nn.Module):
    """``D: (x, y [N]) -> logits [N] = psi(phi(x)) + <E[y], phi(x)>`` (Miyato & Koyama, 2018, eq. 3 [2]).

    The wrapped network's layers are shared, not copied: ``phi`` and ``psi`` are views of its
    modules. The class embedding starts at N(0, 0.02), the DCGAN initialisation. With
    ``class_head``, ``classify`` is AC-GAN's auxiliary classifier ``phi(x) -> [N, K]`` [5].
    """

    def __init__(self, net: nn.Module, *, num_classes: int, class_head: bool = False) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.net = net
        phi, psi, dim = _split_discriminator(net)
        # kept out of the module tree so that the state dict names each weight once (net.*, embed.*)
        self.__dict__["_phi"], self.__dict__["_psi"] = phi, psi
        self.embed = nn.Embedding(num_classes, dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        self.classify = nn.Linear(dim, num_classes) if class_head else None
        self.data_shape = tuple(net.data_shape)

    def forward(self, x: Tensor, y: Tensor | None = None, *,
                with_classes: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """``[N, ...]`` and int64 ``[N]`` (``None``: :func:`balanced_labels`) ``-> [N]`` logits.

        ``with_classes`` (needs ``class_head``): ``(logits [N], class logits [N, K])`` from one pass.
        """
        if y is None:
            y = balanced_labels(len(x), self.num_classes, x.device)
        h = self._phi(x)  # (N, F)
        logits = self._psi(h) + (self.embed(y).to(h.dtype) * h).sum(dim=1)
        if not with_classes:
            return logits
        if self.classify is None:
            raise ValueError("with_classes=True needs a discriminator built with class_head=True")
        return logits, self.classify(h)  # (N,), (N, K)


def conditional_models(G: nn.Module, D: nn.Module, *, z_dim: int, num_classes: int,
                       class_norm: bool = False, class_head: bool = False) -> tuple[nn.Module, nn.Module]:
    """Wrap a generator built for ``z_dim + embed_dim(z_dim)`` inputs and its discriminator."""
    return (ConditionalGenerator(G, z_dim=z_dim, num_classes=num_classes, class_norm=class_norm),
            ProjectionDiscriminator(D, num_classes=num_classes, class_head=class_head))
