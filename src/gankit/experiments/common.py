"""Helpers the experiments share: one CPU thread, JSON-safe numbers, toy runs, figures.

Every experiment runs on the CPU in float32 (the networks are small MLPs, fastest on one thread)
and compares numbers in float64.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from gankit.losses import d_loss_gan, d_loss_wgan, gradient_penalty
from gankit.models import generate
from gankit.runs.start import train
from gankit.training.config import RunConfig, load_config
from gankit.training.loop import TrainResult

# JSON has no infinity or NaN: they are written as these strings (and read back by ``as_float``).
NONFINITE = {math.inf: "inf", -math.inf: "-inf"}

T = TypeVar("T")


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread, restoring the previous count afterwards.

    Small MLPs are fastest single-threaded; more threads only add synchronisation.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def jsonable(value: Any) -> Any:
    """``value`` with numpy / torch numbers turned into Python ones and inf / NaN into strings.

    ``inf`` becomes ``"inf"``, ``-inf`` ``"-inf"`` and NaN ``"nan"``, so the result passes
    ``json.dumps(..., allow_nan=False)``.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return NONFINITE.get(value, value)
    return value


def as_float(value: Any) -> float:
    """A number written by :func:`jsonable` (``"inf"``, ``"-inf"``, ``"nan"`` or a number) as a float."""
    return float(value)  # float("inf") and float("nan") parse the strings


def log_points(last: int, count: int) -> list[int]:
    """About ``count`` distinct log-spaced integers from 1 to ``last`` (both included), ascending."""
    grid = np.unique(np.round(np.logspace(0.0, math.log10(last), count)).astype(int))
    return [int(i) for i in grid]


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation coefficient of two equally long sequences (NaN if either is constant)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / denom) if denom > 0 else math.nan


def grad_norm(module: torch.nn.Module) -> float:
    """Euclidean norm of the gradient over all parameters of ``module`` (0 when none has one)."""
    grads = [p.grad.detach().double().reshape(-1) for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0


# --------------------------------------------------------------------------- toy training runs


def toy_config(
    loss: str,
    *,
    data: str,
    steps: int,
    seed: int,
    batch_size: int | None = None,
    width: int | None = None,
    d_steps: int | None = None,
    n_points: int = 20_000,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """The config of a CPU run of ``loss`` on a toy set, as ``gankit train`` would take it.

    Everything not given here (networks, batch, optimiser, learning rates, betas, lambda, c, EMA,
    and ``d_steps`` when ``None``) is resolved as ``gankit train`` resolves it for 2-D points:
    gankit's tuned toy settings (:data:`gankit.training.defaults.KIND_DEFAULTS`) where there are
    some, the loss's paper settings (:data:`gankit.losses.LOSSES`) otherwise, unless ``overrides``
    (``{"section.key": value}``, as ``gankit train --set``) says otherwise. The run writes no
    snapshot or checkpoint along the way (only at its end), and no TensorBoard events or report.
    """
    settings: dict[str, Any] = {
        "data.name": data,
        "data.n_points": n_points,
        "loss.name": loss,
        "loss.d_steps": d_steps,
        "model.width": width,
        "train.steps": steps,
        "train.batch_size": batch_size,
        "train.seed": seed,
        "train.device": "cpu",
        "train.sample_every": steps,
        "train.checkpoint_every": steps,
        "train.tensorboard": False,  # a scratch run: nobody reads its events or its report
        "train.report": False,
        **(overrides or {}),
    }
    return load_config(None, settings)


class Recorder:
    """A training callback that measures the run right after the generator steps in ``at``.

    ``before(trainer)``, when given, runs once before the first step (a discriminator warm-up).
    """

    def __init__(self, at: Iterable[int], measure: Callable[[Any], T],
                 before: Callable[[Any], None] | None = None) -> None:
        self.at, self.measure, self.before = set(at), measure, before
        self.records: list[T] = []

    def on_start(self, trainer) -> None:
        if self.before is not None:
            self.before(trainer)

    def on_step(self, trainer) -> None:
        if trainer.step in self.at:
            self.records.append(self.measure(trainer))


def record_along(cfg: RunConfig, at: Iterable[int], measure: Callable[[Any], T], *,
                 before: Callable[[Any], None] | None = None) -> tuple[list[T], TrainResult]:
    """Train ``cfg`` with :func:`gankit.train` in a scratch folder, measuring the run along the way.

    ``measure(trainer)`` is called right after every generator step whose number is in ``at``
    (the shared sample-and-score loop of the training-run experiments); the experiments keep
    only what it returns.

    Returns:
        The measurements, in step order, and the finished run (its G, D, EMA and resolved config).
    """
    recorder = Recorder(at, measure, before)
    with tempfile.TemporaryDirectory(prefix="gankit-experiment-") as scratch:
        run = train(cfg, out=Path(scratch) / "run", log=lambda _line: None, callbacks=[recorder])
    return recorder.records, run


def loss_settings(cfg: RunConfig) -> dict[str, Any]:
    """The resolved optimiser settings of a run's config (what a figure's caption should name)."""
    lo = cfg.loss
    return {"d_steps": lo.d_steps, "optimizer": lo.optimizer, "lr_g": lo.lr_g, "lr_d": lo.lr_d,
            "betas": [lo.beta1, lo.beta2], "gp_weight": lo.gp_weight, "clip": lo.clip,
            "ema": cfg.train.ema, "width": cfg.model.width,
            "batch_size": cfg.train.batch_size}


def sample_points(G: torch.nn.Module, n: int, *, z_dim: int, noise: str, seed: int) -> np.ndarray:
    """``n`` samples of a generator as float64 numpy ``[n, D]``, from noise drawn with ``seed``."""
    return generate(G, n, z_dim=z_dim, noise=noise, seed=seed).double().numpy()


# --------------------------------------------------------------------------- fresh discriminators


def fit_discriminator(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    draw: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]],
    *,
    steps: int,
    batch: int,
    loss: str,
    gp_weight: float = 0.0,
    warmup: int = 0,
    eps_gen: torch.Generator | None = None,
    after_step: Callable[[torch.nn.Module], None] | None = None,
) -> torch.nn.Module:
    """Train ``net`` alone against two fixed distributions: the experiments' fresh D or critic.

    Each step draws ``(real, fake) = draw(batch, step)`` and takes one optimiser step on
    ``d_loss_gan`` (``loss="gan"``, cross-entropy, eq. 1-1) or ``d_loss_wgan`` (``loss="wgan"``),
    plus ``gp_weight * gradient_penalty`` from step ``warmup`` on (WGAN-GP, eps drawn from
    ``eps_gen``); ``after_step(net)`` follows each step (weight clipping).
    """
    for step in range(steps):
        real, fake = draw(batch, step)
        if loss == "gan":
            value = d_loss_gan(net(real), net(fake))
        else:
            value = d_loss_wgan(net(real), net(fake))
            if gp_weight > 0 and step >= warmup:
                gp, _ = gradient_penalty(net, real, fake, generator=eps_gen)
                value = value + gp_weight * gp
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        if after_step is not None:
            after_step(net)
    return net


# --------------------------------------------------------------------------- figures


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, *, dpi: int = 90) -> None:
    """Write ``fig`` as a PNG at ``path`` (parents created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
