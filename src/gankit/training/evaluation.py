"""Periodic evaluation during training: one scalar to keep the best checkpoint by.

Images are scored by FID in the default feature space of :mod:`gankit.metrics` (lower is better),
with the domain classifier's class histogram where one exists; toy data by the exact W1 to the
true distribution (lower is better).

Under data parallelism each rank generates its own share of the ``n`` samples (rows of one
global noise draw, so the sample set does not depend on the number of ranks). Toy points are
gathered on rank 0 and scored there. Images are turned into features where they were made, and
each rank reduces its features to float64 sums of fixed size (:class:`gankit.metrics.image.FID`:
``n``, ``sum x``, ``sum x x^T``) and its class counts; one ``all_reduce`` adds them over ranks and
rank 0 computes the FID against the real features' statistics. Rank 0 never holds the generated
features, so the memory does not grow with ``n`` (``benchmarks/eval_memory.py``). KID, precision /
recall, density / coverage and IS need the features themselves: they are ``gankit evaluate``'s
(:func:`gankit.metrics.evaluate.evaluate_samples`), not the trainer's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gankit.data import images_to_uint8
from gankit.metrics.evaluate import ImageEvaluator, class_counts, class_histogram, image_evaluator
from gankit.metrics.image import FID
from gankit.metrics.toy import evaluate_toy
from gankit.models import eval_mode, run_generator, sample_noise
from gankit.training import distributed
from gankit.training.config import RunConfig
from gankit.training.distributed import SINGLE, Ranks

LOWER_IS_BETTER = {"fid": True, "w1": True}


@torch.no_grad()
def generate_share(G: nn.Module, cfg: RunConfig, *, n: int, device: torch.device, ranks: Ranks = SINGLE) -> torch.Tensor:
    """This rank's rows of ``n`` samples (model space, float32, CPU) drawn from one seeded noise batch."""
    generator = torch.Generator().manual_seed(cfg.train.seed + 2)
    z = sample_noise(n, cfg.model.z_dim, cfg.model.noise, generator=generator)
    z = torch.tensor_split(z, ranks.world_size)[ranks.rank]
    with eval_mode(G):
        return run_generator(G, z, device=device)


def image_statistics(evaluator: ImageEvaluator, x: Tensor, device: torch.device) -> list[Tensor]:
    """What one rank contributes to the periodic image score: float64 vectors that add over ranks.

    Args:
        evaluator: the run's evaluator (feature space and real features).
        x: this rank's generated images in model space ``[B, C, H, W]``.
        device: where the sums are computed and summed (the rank's device).

    Returns:
        ``[FID state]`` (``1 + F + F * F`` values, :meth:`gankit.metrics.image.FID.state`), plus the
        class counts ``[K]`` when the evaluator has a domain classifier; all float64 on ``device``
        (on the CPU for MPS, which has no float64).
    """
    fake, _, cls_probs = evaluator.extract(images_to_uint8(x))
    acc = FID(num_features=evaluator.extractor.num_features)
    acc.update(fake.to(device), real=False)
    state = acc.state(real=False)
    parts = [state]
    if cls_probs is not None:
        parts.append(class_counts(cls_probs).to(state.device, torch.float64))
    return parts


def score_statistics(evaluator: ImageEvaluator, statistics: list[Tensor]) -> dict[str, Any]:
    """The periodic image metrics from :func:`image_statistics` summed over every rank.

    Returns:
        ``fid`` (the generated sums against the real features' statistics,
        :meth:`~gankit.metrics.evaluate.ImageEvaluator.real_fid`), and ``class_counts`` /
        ``classes_covered`` when counts were summed.
    """
    acc = evaluator.real_fid()
    acc.add_state(statistics[0], real=False)
    out: dict[str, Any] = {"fid": acc.compute()}
    if len(statistics) > 1:
        out.update(class_histogram(statistics[1].round().long()))
    return out


def sum_over_ranks(tensors: list[Tensor], ranks: Ranks, device: torch.device) -> list[Tensor]:
    """Element-wise sums over ranks of same-shaped float64 tensors (themselves on one process).

    They travel as one flat vector in a single ``all_reduce(SUM)`` on ``device``; every rank gets
    the sums back, on the tensors' own devices.
    """
    if not ranks.enabled or ranks.world_size == 1:
        return tensors
    flat = torch.cat([t.reshape(-1).to(device) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    out, start = [], 0
    for t in tensors:
        out.append(flat[start:start + t.numel()].reshape(t.shape).to(t.device))
        start += t.numel()
    return out


def evaluate_generator(G: nn.Module, cfg: RunConfig, *, n: int, device: torch.device,
                       ranks: Ranks = SINGLE) -> tuple[str, float, dict[str, Any]] | None:
    """Score ``n`` fresh samples of ``G``; returns (metric name, value, all metrics) on rank 0, None elsewhere.

    Images give ``fid`` and, with a domain classifier, ``class_counts`` and ``classes_covered``;
    toy points give :func:`gankit.metrics.toy.evaluate_toy`'s metrics (``w1`` is the one kept).
    Every rank of a data-parallel job must call this at the same step.
    """
    x = generate_share(G, cfg, n=n, device=device, ranks=ranks)
    if x.dim() == 2:
        points = distributed.gather_rows(x, ranks, device)
        if points is None:
            return None
        metrics = evaluate_toy(points.cpu(), cfg.data.name, seed=0)
        return "w1", float(metrics["w1"]), metrics
    evaluator = image_evaluator(cfg.data.name, image_size=int(x.shape[-1]), n=n, channels=cfg.data.channels,
                                device=device)
    statistics = sum_over_ranks(image_statistics(evaluator, x, device), ranks, device)
    if not ranks.is_main:
        return None
    metrics = score_statistics(evaluator, statistics)
    return "fid", float(metrics["fid"]), metrics


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if LOWER_IS_BETTER[metric] else value > best
