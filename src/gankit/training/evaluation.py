"""Periodic evaluation during training: one scalar to keep the best checkpoint by.

Images are scored by FID in the default feature space of :mod:`gankit.metrics` (lower is better);
toy data by the exact W1 to the true distribution (lower is better).

Under data parallelism each rank generates its own share of the ``n`` samples (rows of one
global noise draw, so the sample set does not depend on the number of ranks), images are turned
into features where they were made, and rank 0 gathers the points or features and scores them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gankit.data import images_to_uint8
from gankit.metrics.evaluate import image_evaluator
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


def evaluate_generator(G: nn.Module, cfg: RunConfig, *, n: int, device: torch.device,
                       ranks: Ranks = SINGLE) -> tuple[str, float, dict[str, Any]] | None:
    """Score ``n`` fresh samples of ``G``; returns (metric name, value, all metrics) on rank 0, None elsewhere.

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
    extracted = evaluator.extract(images_to_uint8(x))
    gathered = [None if part is None else distributed.gather_rows(part, ranks, device) for part in extracted]
    if not ranks.is_main:
        return None
    metrics = evaluator.score(*(None if part is None else part.cpu() for part in gathered), seed=0)
    return "fid", float(metrics["fid"]), metrics


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if LOWER_IS_BETTER[metric] else value > best
