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


def toy_trainer(
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
    run_dir: Path,
):
    """A :class:`gankit.training.loop.Trainer` for a CPU run of ``loss`` on a toy set.

    Only ``train_step``, ``discriminator_step`` and ``stats.drain`` are used, so nothing is written
    to ``run_dir``. Everything not given here (networks, batch, optimiser, learning rates, betas,
    lambda, c, EMA, and ``d_steps`` when ``None``) is resolved as ``gankit train`` resolves it for
    2-D points: gankit's tuned toy settings (:data:`gankit.training.config.KIND_DEFAULTS`) where
    there are some, the loss's paper settings (:data:`gankit.losses.LOSSES`) otherwise, unless
    ``overrides`` (``{"section.key": value}``, as ``gankit train --set``) says otherwise.
    """
    from gankit.training.config import RunConfig, set_value
    from gankit.training.loop import Trainer
    from gankit.training.setup import build

    cfg = RunConfig()
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
        **(overrides or {}),
    }
    for key, value in settings.items():
        set_value(cfg, key, value)
    return Trainer(build(cfg), run_dir, log=lambda _line: None)


def loss_settings(trainer) -> dict[str, Any]:
    """The resolved optimiser settings of a trainer's run (what a figure's caption should name)."""
    lo = trainer.cfg.loss
    return {"d_steps": lo.d_steps, "optimizer": lo.optimizer, "lr_g": lo.lr_g, "lr_d": lo.lr_d,
            "betas": [lo.beta1, lo.beta2], "gp_weight": lo.gp_weight, "clip": lo.clip,
            "ema": trainer.cfg.train.ema, "width": trainer.cfg.model.width,
            "batch_size": trainer.cfg.train.batch_size}


def record_along(trainer, steps: int, at: Iterable[int], measure: Callable[[Any], T]) -> list[T]:
    """Train ``trainer`` up to generator step ``steps``, measuring the run along the way.

    ``measure(trainer)`` is called right after every generator step whose number is in ``at``
    (the shared sample-and-score loop of the training-run experiments). The trainer's own
    statistics buffer is drained there, so a long run does not grow it; the experiments keep
    only what ``measure`` returns.

    Returns:
        The measurements, in step order (one per step of ``at`` that is at most ``steps``).
    """
    at = set(at)
    records = []
    while trainer.step < steps:
        trainer.train_step()
        if trainer.step in at:
            trainer.stats.drain()
            records.append(measure(trainer))
    return records


def scored_generator(trainer) -> torch.nn.Module:
    """The generator ``gankit evaluate`` would score: the EMA copy when the run keeps one, else G."""
    ema = trainer.parts.ema
    return ema.module if ema is not None else trainer.parts.G


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary folder for trainers that must have a run folder but write nothing to it."""
    with tempfile.TemporaryDirectory(prefix="gankit-experiment-") as path:
        yield Path(path)


@torch.no_grad()
def generate(G: torch.nn.Module, n: int, *, z_dim: int, noise: str, seed: int) -> np.ndarray:
    """``n`` samples of a generator as float64 numpy ``[n, D]``, from noise drawn with ``seed``."""
    from gankit.models import sample_noise

    z = sample_noise(n, z_dim, noise, generator=torch.Generator().manual_seed(seed))
    was_training = G.training
    G.eval()
    x = G(z)
    G.train(was_training)
    return x.double().numpy()


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
