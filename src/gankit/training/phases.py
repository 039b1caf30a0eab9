"""The phases of a training step: the forward half of the D phase and of the G phase, as callables.

:func:`make_phases` builds the eager phases over G and D; :func:`compile_phases` wraps them in
``torch.compile`` when ``train.compile`` asks for it, compiling every graph up front by one
:func:`rehearse` step, and falls back to the eager phases, with a one-line warning, when that fails.
The loss math itself lives in :mod:`gankit.losses`; the loop (:mod:`gankit.training.loop`) runs the
phases under autocast and steps the optimisers.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from gankit.data.diffaugment import augment, parse_policy
from gankit.errors import first_line
from gankit.losses import LossSpec, discriminator_phase, generator_phase, with_class_loss
from gankit.models import sample_noise
from gankit.training.distributed import SINGLE, Ranks
from gankit.training.runtime import autocast, memory_format

if TYPE_CHECKING:  # the built run's parts; setup builds them and calls compile_phases
    from gankit.training.setup import Components


@dataclass
class Phases:
    """The forward half of a step's two phases, as callables (eager or compiled).

    The trainer runs them under autocast, then steps the optimisers; the loss math stays in
    :mod:`gankit.losses`.

    Attributes:
        d: ``(real [N, ...], z [N, z_dim]) -> (loss, stats)``: ``G(z)`` without a graph, then the
            discriminator side of the loss on ``real`` and that fake batch. A class-conditional
            run's takes ``(real, y_real [N], z, y_fake [N])``: ``G(z, y_fake)``, then the loss on
            ``D(real, y_real)`` and ``D(G(z, y_fake), y_fake)``.
        g: ``z [M, z_dim] -> (loss, stats)``: the generator side of the loss on ``D(G(z))``; the
            caller freezes D's parameters. Conditional: ``(z, y_fake)``, the loss on
            ``D(G(z, y_fake), y_fake)``.
        fake: ``z -> G(z)`` with its graph (conditional ``(z, y_fake)``), for ``loss.reuse_fake``,
            whose step makes one fake batch for both phases.
        d_given: ``d`` on a fake batch made by the caller: ``(real, fake)``, conditional
            ``(real, y_real, fake, y_fake)``.
        g_given: ``g`` on a fake batch made by the caller: ``fake``, conditional ``(fake, y_fake)``.
    """

    d: Callable[..., tuple[Tensor, dict[str, Tensor]]]
    g: Callable[..., tuple[Tensor, dict[str, Tensor]]]
    fake: Callable[..., Tensor] | None = None
    d_given: Callable[..., tuple[Tensor, dict[str, Tensor]]] | None = None
    g_given: Callable[..., tuple[Tensor, dict[str, Tensor]]] | None = None


def make_phases(spec: LossSpec, G: Callable[[Tensor], Tensor], D: Callable[[Tensor], Tensor], *,
                G_update: Callable[[Tensor], Tensor] | None = None, D_update: Callable[[Tensor], Tensor] | None = None,
                ranks: Ranks = SINGLE, batch_size: int | None = None, policy: tuple[str, ...] = (),
                conditional: bool = False, ac_weight: float = 0.0) -> Phases:
    """The eager phases over ``G`` and ``D`` (modules or compiled modules); see :class:`Phases`.

    ``conditional``: G and D take labels (:mod:`gankit.models.conditional`). The loss functions of
    :mod:`gankit.losses` call ``D(x)`` alone, so the phase hands them D bound to the labels of its
    input: the fake batch's (recognised by identity) for the fake batch, the real ones otherwise,
    which includes R1's copy of the real batch and WGAN-GP's interpolates (scored under the real
    labels they were drawn towards; Miyato & Koyama 2018 condition the critic the same way).

    ``ac_weight`` (conditional only): AC-GAN's classification loss (:func:`gankit.losses.class_loss`)
    is added to both phases with this weight: D's on its class logits for the real batch (its first
    call on real data), G's on the class logits of its fake batch under the asked labels. D is not
    trained to classify fakes: its classifier then learns the real classes only, and G is pushed
    towards images that a classifier of real data assigns to the asked class, which is what the
    per-class accuracy of :func:`gankit.metrics.evaluate` measures.

    Under data parallelism ``D_update`` / ``G_update`` are the DDP wrappers of the network each
    phase updates; the other network is called bare (it needs no gradient synchronisation, and a
    DDP module that receives no gradient would wait for one). ``batch_size`` is then the global
    batch, of which this rank holds ``ranks.slice(batch_size)``.
    """
    D_update = D if D_update is None else D_update  # `or` would ask a compiled module for its len()
    G_update = G if G_update is None else G_update
    rows = (batch_size, ranks.slice(batch_size)) if ranks.world_size > 1 and batch_size else None

    def d_given(real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        # DiffAugment: the same policy on real and fake, inside the phase so G's gradient passes through
        return discriminator_phase(spec, D_update, augment(real, policy, rows), augment(fake, policy, rows), rows=rows)

    def d_phase(real: Tensor, z: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad():
            fake = G(z)
        return d_given(real, fake)

    def g_given(fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return generator_phase(spec, D, augment(fake, policy, rows))

    def g_phase(z: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return g_given(G_update(z))

    def d_given_conditional(real: Tensor, y_real: Tensor, fake: Tensor, y_fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        fake = augment(fake, policy, rows)
        real_classes: list[Tensor] = []  # AC-GAN: D's class logits on the real batch, [N, K]

        def labelled_d(x: Tensor) -> Tensor:
            if x is fake:
                return D_update(x, y_fake)
            if not ac_weight or real_classes:  # later calls on real labels: R1 / GP interpolates
                return D_update(x, y_real)
            logits, classes = D_update(x, y_real, with_classes=True)
            real_classes.append(classes)
            return logits

        loss, stats = discriminator_phase(spec, labelled_d, augment(real, policy, rows), fake, rows=rows)
        if not ac_weight:
            return loss, stats
        return with_class_loss(loss, stats, real_classes[0], y_real, ac_weight, "d")

    def d_phase_conditional(real: Tensor, y_real: Tensor, z: Tensor, y_fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad():
            fake = G(z, y_fake)
        return d_given_conditional(real, y_real, fake, y_fake)

    def g_given_conditional(fake: Tensor, y_fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        fake = augment(fake, policy, rows)
        if not ac_weight:
            return generator_phase(spec, lambda x: D(x, y_fake), fake)
        logits, classes = D(fake, y_fake, with_classes=True)  # one pass: G's loss and its class logits
        loss, stats = generator_phase(spec, lambda _: logits, fake)
        return with_class_loss(loss, stats, classes, y_fake, ac_weight, "g")

    def g_phase_conditional(z: Tensor, y_fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return g_given_conditional(G_update(z, y_fake), y_fake)

    if conditional:
        return Phases(d_phase_conditional, g_phase_conditional, G_update, d_given_conditional, g_given_conditional)
    return Phases(d_phase, g_phase, G_update, d_given, g_given)


def compile_phases(parts: Components) -> Phases:
    """``train.compile``: ``model`` compiles G and D, ``step`` each phase as one graph.

    ``step`` compiles the two phases of Algorithm 1 only; :func:`gankit.training.setup.build`
    refuses it with ``loss.reuse_fake``, whose step calls the phases on a given fake batch.

    A penalty on D's input gradient needs a double backward, which compiled graphs do not support,
    so under a gradient penalty the discriminator phase stays eager. Every graph (forward and
    backward) is compiled here by one rehearsal step whose effects are undone; any failure falls
    back to eager phases with a one-line warning.
    """
    mode, spec, G, D = parts.cfg.train.compile, parts.spec, parts.G, parts.D
    spread = {"ranks": parts.ranks, "batch_size": parts.cfg.train.batch_size,
              "policy": parse_policy(parts.cfg.train.augment), "conditional": parts.cfg.model.conditional,
              "ac_weight": parts.cfg.loss.ac_weight}
    eager = make_phases(spec, G, D, G_update=parts.G_update, D_update=parts.D_update, **spread)
    if mode == "off":
        return eager
    gp = spec.double_backward
    if gp:
        warnings.warn(f"train.compile={mode}: a penalty on D's input gradient (GP or R1) needs a double backward, which torch.compile "
                      "does not support; the discriminator phase runs eagerly", stacklevel=2)
    try:
        if mode == "model":
            updates = {"G_update": torch.compile(parts.G_update), "D_update": torch.compile(parts.D_update)}
            compiled = make_phases(spec, torch.compile(G), torch.compile(D), **updates, **spread)
        else:
            compiled = Phases(torch.compile(eager.d), torch.compile(eager.g))
        if gp:  # the discriminator side stays eager
            compiled = dataclasses.replace(compiled, d=eager.d, d_given=eager.d_given)
        phases = compiled
        rehearse(parts, phases)
    except Exception as err:  # compilers fail in many ways (no C++ compiler, unsupported op, ...)
        first = first_line(err, limit=160)
        warnings.warn(f"train.compile={mode} failed ({type(err).__name__}: {first}); training runs eagerly", stacklevel=2)
        return eager
    return phases


def rehearse(parts: Components, phases: Phases) -> None:
    """Run one D and one G phase, forward and backward, then restore weights, buffers and RNG.

    Compiling happens on first use, the backward graph at the first backward; rehearsing with the
    batch size, layout, autocast and frozen-D state of the real steps compiles every graph now.
    """
    G, D, device, cfg = parts.G, parts.D, parts.device, parts.cfg
    saved = [copy.deepcopy(m.state_dict()) for m in (G, D)]
    n, shape = cfg.train.batch_size, parts.dataset.shape
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        z = sample_noise(n, cfg.model.z_dim, cfg.model.noise)[parts.ranks.slice(n)]
        n = len(z)  # this rank's rows of the global batch
        # drawn on the CPU (forked above on every backend), like the real steps' dtypes and layout
        real = torch.rand(n, *shape) * 2 - 1 if len(shape) == 3 else torch.randn(n, *shape)
        real = real.to(device).contiguous(memory_format=memory_format(cfg))  # NHWC only for conv models
        z = z.to(device)
        # a conditional run's phases take labels too: any will do to compile the graphs
        labels = (torch.arange(n) % parts.num_classes,) if parts.num_classes else ()
        y = tuple(t.to(device) for t in labels)
        with autocast(device, cfg.train.precision):
            loss, _ = phases.d(real, *y, z, *y)
        loss.backward()
        D.requires_grad_(False)
        try:
            with autocast(device, cfg.train.precision):
                loss, _ = phases.g(z, *y)
            loss.backward()
        finally:
            D.requires_grad_(True)
    for module, state in zip((G, D), saved, strict=True):
        module.load_state_dict(state)
        module.zero_grad(set_to_none=True)


