"""Periodic evaluation during training: one scalar to keep the best checkpoint by.

Images are scored by FID in the default feature space of :mod:`gankit.metrics` (lower is better);
toy data by the exact W1 to the true distribution (lower is better).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gankit.data import images_to_uint8
from gankit.sampling import generate
from gankit.training.config import RunConfig

LOWER_IS_BETTER = {"fid": True, "w1": True}


def evaluate_generator(G: nn.Module, cfg: RunConfig, *, n: int, device: torch.device) -> tuple[str, float, dict[str, Any]]:
    """Score ``n`` fresh samples of ``G``; returns (metric name, value, all metrics)."""
    from gankit.metrics.evaluate import evaluate_samples

    was_training = G.training
    G.eval()
    x = generate(G, n, z_dim=cfg.model.z_dim, noise=cfg.model.noise, seed=cfg.train.seed + 2, device=device)
    G.train(was_training)
    if x.dim() == 2:
        samples, metric = {"points": x.numpy()}, "w1"
    else:
        samples, metric = {"images": images_to_uint8(x).numpy()}, "fid"
    result = evaluate_samples(samples, cfg.data.name, n=n, device=device, channels=cfg.data.channels)
    metrics = result["metrics"]
    return metric, float(metrics[metric]), metrics


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if LOWER_IS_BETTER[metric] else value > best
