"""GAN, W-GAN, WGAN-GP and hinge losses, computed from discriminator logits.

All loss math of the toolkit lives here; the trainer only calls the *phases*
(:func:`discriminator_phase`, :func:`generator_phase`, :func:`after_discriminator_step`).
Logits ``r = D(x)`` on real data and ``f = D(G(z))`` on generated data are ``[N]`` tensors;
``D`` (the probability) is ``sigmoid(logit)``. Probabilities are never formed: the logs are
written with ``softplus``, which stays finite for any logit:

* ``log sigmoid(x)      = -softplus(-x)``
* ``log(1 - sigmoid(x)) = -softplus(x)``

References:
    [1] The tutorial, eq. 1-1 (value function) and eq. 1-2 (the two generator objectives).
    [2] Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    [3] Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep
        Convolutional GANs" (DCGAN), ICLR 2016.
    [4] Arjovsky, Chintala, Bottou, "Wasserstein GAN", ICML 2017 (Algorithm 1).
    [5] Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (Algorithm 1).
    [6] Lim & Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization for GANs",
        ICLR 2018 (hinge loss; Table 1 optimiser settings).
    [7] Mescheder, Geiger, Nowozin, "Which Training Methods for GANs do actually Converge?",
        ICML 2018 (the R1 penalty, eq. 9).
    [8] Odena, Olah, Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
        ICML 2017 (AC-GAN, eq. 2-3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import ConfigError

# --------------------------------------------------------------------------- per-side losses


def _at_least_fp32(x: Tensor) -> Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def d_loss_gan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator cross-entropy, the negated value function of [1] eq. 1-1 / [2] eq. 1.

    .. math:: L_D = -\\mathbb{E}_x \\log D(x) - \\mathbb{E}_z \\log(1 - D(G(z)))

    Args:
        real_logits: ``[N]`` logits on real samples.
        fake_logits: ``[M]`` logits on generated samples.

    Returns:
        0-dim tensor.
    """
    real_term = F.softplus(-real_logits).mean()  # -log sigmoid(r)
    fake_term = F.softplus(fake_logits).mean()  # -log(1 - sigmoid(f))
    return real_term + fake_term


def g_loss_minimax(fake_logits: Tensor) -> Tensor:
    """Saturating (minimax) generator loss, [1] eq. 1-2 right-hand side / [2] eq. 1.

    .. math:: L_G = \\mathbb{E}_z \\log(1 - D(G(z)))

    Its gradient w.r.t. a logit is ``-sigmoid(f) / N``: it vanishes when D confidently rejects
    the samples (``D(G(z)) -> 0``), which is why [2] proposes the non-saturating form.
    """
    return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(f))


def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss, [1] eq. 1-2 left-hand side / [2] Sec. 3.

    .. math:: L_G = -\\mathbb{E}_z \\log D(G(z))

    Gradient w.r.t. a logit: ``-(1 - sigmoid(f)) / N``, which tends to ``-1/N`` as D(G(z)) -> 0.
    """
    return F.softplus(-fake_logits).mean()  # -log sigmoid(f)


def d_loss_wgan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Critic loss of W-GAN, [4] Algorithm 1 (maximise the Kantorovich-Rubinstein dual).

    .. math:: L_D = -(\\mathbb{E}_x f(x) - \\mathbb{E}_z f(G(z)))
    """
    return fake_logits.mean() - real_logits.mean()


def g_loss_wgan(fake_logits: Tensor) -> Tensor:
    """Generator loss of W-GAN, [4] Algorithm 1: :math:`L_G = -\\mathbb{E}_z f(G(z))`."""
    return -fake_logits.mean()


def d_loss_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge discriminator loss, [6].

    .. math:: L_D = \\mathbb{E}_x \\max(0, 1 - f(x)) + \\mathbb{E}_z \\max(0, 1 + f(G(z)))
    """
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_loss_hinge(fake_logits: Tensor) -> Tensor:
    """Hinge generator loss, [6]: :math:`L_G = -\\mathbb{E}_z f(G(z))`."""
    return -fake_logits.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
    rows: tuple[int, slice] | None = None,
) -> tuple[Tensor, Tensor]:
    """Two-sided gradient penalty of WGAN-GP, [5] Algorithm 1 (lines 6-8), without lambda.

    .. math::
        \\hat x = \\epsilon x + (1 - \\epsilon) \\tilde x, \\quad \\epsilon \\sim U[0, 1]
        \\text{ per sample}; \\qquad
        GP = \\mathbb{E}_{\\hat x} (\\lVert \\nabla_{\\hat x} f(\\hat x) \\rVert_2 - 1)^2

    The gradient is taken with ``create_graph=True`` so that ``GP`` can be differentiated
    w.r.t. the critic's parameters. ``real`` and ``fake`` are detached here.

    Args:
        critic: maps ``[N, ...]`` to logits ``[N]``; it must treat samples independently
            (no batch norm), otherwise per-sample gradients are not defined.
        real: ``[N, D]`` or ``[N, C, H, W]`` real samples.
        fake: generated samples of the same shape.
        generator: optional RNG for ``epsilon`` (may live on another device than the data).
        rows: ``(B, rows)`` under data parallelism: ``real`` and ``fake`` are these rows of a global
            batch of ``B``; epsilon is drawn for all ``B`` and these rows kept, so that the ranks
            together use exactly the draws of one process with batch ``B``.

    Returns:
        ``(penalty, mean_grad_norm)``: the 0-dim penalty (differentiable) and the detached mean
        of :math:`\\lVert \\nabla f(\\hat x) \\rVert_2` over the batch, for reporting.
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"gradient_penalty needs real and fake of one shape, "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    n = real.shape[0] if rows is None else rows[0]
    eps_shape = (n,) + (1,) * (real.dim() - 1)  # (N, 1, ...) broadcasts over each sample
    draw_on = generator.device if generator is not None else real.device
    dtype = torch.promote_types(real.dtype, fake.dtype)
    eps = torch.rand(eps_shape, generator=generator, device=draw_on, dtype=dtype)
    eps = (eps if rows is None else eps[rows[1]]).to(real.device)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    # each output depends only on its own input, so d(sum)/d x_hat_i = grad f(x_hat_i)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    grad = _at_least_fp32(grad.flatten(1))  # (N, D); a half-precision norm is too coarse
    norms = torch.linalg.vector_norm(grad, ord=2, dim=1)  # (N,)
    penalty = (norms - 1.0).square().mean()
    return penalty, norms.mean().detach()


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` to ``[-c, c]`` in place, [4] Algorithm 1 line 7."""
    if not c > 0:
        raise ConfigError(f"weight clipping needs c > 0, got {c}")
    for p in module.parameters():
        p.clamp_(-c, c)


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    r"""The R1 regulariser's expectation [7] (Mescheder et al. 2018, eq. 9), without its :math:`\gamma / 2`.

    .. math:: R_1 = \mathbb{E}_{x \sim p_r} \|\nabla_x D(x)\|^2

    Args:
        real_logits: ``D(real)`` ``[N]``, computed from ``real`` with ``requires_grad``.
        real: the real batch ``[N, ...]`` that ``real_logits`` came from.

    Returns:
        The mean squared gradient norm over the batch, a 0-dim tensor with a graph (for the
        double backward).
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.float().flatten(1).square().sum(1).mean()


def class_loss(class_logits: Tensor, labels: Tensor) -> Tensor:
    """AC-GAN's class log-likelihood [8] eq. 3, negated: the cross-entropy of the auxiliary classifier.

    .. math:: -L_C = -\\mathbb{E} \\log P(C = c \\mid X)

    [8] has D maximise :math:`L_S + L_C` and G maximise :math:`L_C - L_S`, so both minimise this
    term, each weighted by ``loss.ac_weight``; D's is taken on real images only (see
    :func:`gankit.training.phases.make_phases`).

    Args:
        class_logits: ``[N, K]`` unnormalised class scores.
        labels: int64 ``[N]`` classes in ``[0, K)``.

    Returns:
        0-dim tensor, in at least float32.
    """
    return F.cross_entropy(_at_least_fp32(class_logits), labels)


def with_class_loss(loss: Tensor, stats: dict[str, Tensor], class_logits: Tensor, labels: Tensor,
                    weight: float, side: str) -> tuple[Tensor, dict[str, Tensor]]:
    """``loss + weight * class_loss``, with ``class_loss_<side>`` and ``loss_<side>`` (the new total) in ``stats``."""
    term = class_loss(class_logits, labels)
    total = loss + weight * term
    return total, {**stats, f"class_loss_{side}": term.detach(), f"loss_{side}": total.detach()}


# --------------------------------------------------------------------------- named losses


@dataclass(frozen=True, kw_only=True)
class LossSpec:
    """A loss together with the optimiser defaults of the paper that introduced it.

    Attributes:
        name: key in :data:`LOSSES`.
        d_loss: ``(real_logits [N], fake_logits [M]) -> 0-dim``.
        g_loss: ``fake_logits [M] -> 0-dim``.
        optimizer: ``"adam"`` or ``"rmsprop"``.
        lr: learning rate (both networks).
        betas: Adam's ``(beta1, beta2)``; not read when ``optimizer == "rmsprop"``.
        d_steps: discriminator updates per generator update (``n_critic`` in [4], [5]).
        gp_weight: lambda of the gradient penalty; 0 disables it.
        r1_weight: gamma of the R1 penalty on real data [7]; 0 disables it.
        clip: weight-clipping bound ``c`` applied after every D step, or ``None``.
        d_norm: discriminator norm the loss needs: ``"batch"`` or ``"layer"`` (per-sample,
            required by the gradient penalty, [5] Sec. 4).
    """

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    optimizer: str
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    d_steps: int = 1
    gp_weight: float = 0.0
    r1_weight: float = 0.0
    clip: float | None = None
    d_norm: str = "batch"

    @property
    def double_backward(self) -> bool:
        """A penalty on D's input gradient makes the D step a double backward (no torch.compile)."""
        return self.gp_weight > 0 or self.r1_weight > 0


LOSSES: dict[str, LossSpec] = {
    # DCGAN [3] Sec. 4: Adam, lr 2e-4, beta1 0.5; one D step per G step.
    "gan-minimax": LossSpec(
        name="gan-minimax",
        d_loss=d_loss_gan,
        g_loss=g_loss_minimax,
        optimizer="adam",
        lr=2e-4,
        betas=(0.5, 0.999),
        d_steps=1,
    ),
    "gan-ns": LossSpec(
        name="gan-ns",
        d_loss=d_loss_gan,
        g_loss=g_loss_nonsaturating,
        optimizer="adam",
        lr=2e-4,
        betas=(0.5, 0.999),
        d_steps=1,
    ),
    # W-GAN [4] Algorithm 1: alpha 5e-5, c 0.01, n_critic 5, RMSProp.
    "wgan": LossSpec(
        name="wgan",
        d_loss=d_loss_wgan,
        g_loss=g_loss_wgan,
        optimizer="rmsprop",
        lr=5e-5,
        d_steps=5,
        clip=0.01,
    ),
    # WGAN-GP [5] Algorithm 1: lambda 10, n_critic 5, Adam alpha 1e-4, beta1 0, beta2 0.9.
    "wgan-gp": LossSpec(
        name="wgan-gp",
        d_loss=d_loss_wgan,
        g_loss=g_loss_wgan,
        optimizer="adam",
        lr=1e-4,
        betas=(0.0, 0.9),
        d_steps=5,
        gp_weight=10.0,
        d_norm="layer",
    ),
    # Hinge [6]: setting C of SN-GAN's Table 1 (the DCGAN setting), which suits a
    # batch-normed D without spectral norm: Adam 2e-4, (0.5, 0.999), one D step.
    "hinge": LossSpec(
        name="hinge",
        d_loss=d_loss_hinge,
        g_loss=g_loss_hinge,
        optimizer="adam",
        lr=2e-4,
        betas=(0.5, 0.999),
        d_steps=1,
    ),
}

# Losses whose D is a critic f(x) (no sigmoid, no log): sigmoid(f) means nothing there, f's mean values do.
CRITIC_LOSSES = frozenset({"wgan", "wgan-gp"})


def get_loss(name: str) -> LossSpec:
    """The :class:`LossSpec` called ``name``; ConfigError listing the choices otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}") from None


# --------------------------------------------------------------------------- training phases


def discriminator_phase(
    spec: LossSpec,
    D: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
    rows: tuple[int, slice] | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss of one discriminator (critic) step: ``spec.d_loss + gp_weight * GP``.

    Real and fake batches go through ``D`` in separate calls, as in DCGAN [3], so batch-norm
    statistics are never mixed across the two.

    Args:
        spec: the loss.
        D: discriminator, ``[N, ...] -> [N]`` logits.
        real: real batch ``[N, ...]``.
        fake: generated batch, already detached by the caller.
        generator: optional RNG for the penalty's interpolation weights.
        rows: under data parallelism, the global batch size and this rank's rows of it (see
            :func:`gradient_penalty`).

    Returns:
        ``(loss, stats)``; ``stats`` holds detached 0-dim tensors (nothing here syncs the
        device): ``loss_d`` (the total loss), ``d_real`` = mean sigmoid(D(x)), ``d_fake`` =
        mean sigmoid(D(G(z))), ``f_real`` = E f(x) and ``f_fake`` = E f(G(z)) (the raw logits'
        means: a critic's values), ``w_estimate`` = E f(x) - E f(G(z)) (the W-GAN estimate of
        W1; meaningful for wgan/wgan-gp, reported for all), and, when ``gp_weight > 0``,
        ``gp`` (without lambda) and ``grad_norm_critic`` (mean gradient norm at x_hat).
    """
    if spec.r1_weight > 0:  # R1 differentiates D(real) with respect to real
        real = real.detach().requires_grad_(True)
    # losses and stats in at least float32: logits may be half precision under autocast
    real_logits = _at_least_fp32(D(real))
    fake_logits = _at_least_fp32(D(fake))
    loss = spec.d_loss(real_logits, fake_logits)
    r, f = real_logits.detach(), fake_logits.detach()
    stats: dict[str, Tensor] = {
        "d_real": torch.sigmoid(r).mean(),
        "d_fake": torch.sigmoid(f).mean(),
        "w_estimate": r.mean() - f.mean(),
        "f_real": r.mean(),  # the critic's mean values (what D(x) / D(G(z)) mean for a critic)
        "f_fake": f.mean(),
    }
    if spec.gp_weight > 0:
        gp, grad_norm = gradient_penalty(D, real, fake, generator=generator, rows=rows)
        loss = loss + spec.gp_weight * gp
        stats["gp"] = gp.detach()
        stats["grad_norm_critic"] = grad_norm
    if spec.r1_weight > 0:
        r1 = r1_penalty(real_logits, real)
        loss = loss + 0.5 * spec.r1_weight * r1  # gamma / 2 * E ||grad D(x)||^2, [7] eq. 9
        stats["r1"] = r1.detach()
    stats["loss_d"] = loss.detach()
    return loss, stats


def generator_phase(
    spec: LossSpec, D: Callable[[Tensor], Tensor], fake: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss of one generator step, ``spec.g_loss(D(G(z)))``; ``fake`` must NOT be detached.

    Returns:
        ``(loss, {"loss_g": detached 0-dim})``.
    """
    loss = spec.g_loss(_at_least_fp32(D(fake)))
    return loss, {"loss_g": loss.detach()}


def after_discriminator_step(spec: LossSpec, D: nn.Module) -> None:
    """Post-update hook: weight clipping for W-GAN [4] when ``spec.clip`` is set, else nothing."""
    if spec.clip is not None:
        clip_weights_(D, spec.clip)
