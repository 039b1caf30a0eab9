"""Health alerts: one-line warnings when a run shows a failure the tutorial explains.

Checked every tick over the statistics read back from the device (no extra sync):

- the discriminator wins outright: mean D(x) > 0.99 and D(G(z)) < 0.01 for a whole window, so
  log(1 - D(G(z))) saturates and the generator's gradient vanishes (tutorial, section 3);
- sample diversity collapses: the mean pairwise distance of the fixed-noise samples falls below
  10% of the real data's (mode collapse); not before step ``warmup`` (a fresh generator maps all
  its noise near one point, which is no collapse: it has not trained yet);
- under a gradient penalty, the critic's mean gradient norm drifts out of [0.5, 2], i.e. far from
  the 1 the penalty asks for (Gulrajani et al. 2017).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import torch

GAN_LOSSES = ("gan-minimax", "gan-ns")


def mean_pairwise_distance(x: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance between distinct rows of ``x`` [N, ...] (a device tensor)."""
    flat = x.detach().float().flatten(1)
    n = flat.shape[0]
    return torch.cdist(flat, flat).sum() / max(n * (n - 1), 1)


@dataclass
class HealthMonitor:
    """Keeps a window of statistics and says when something looks wrong."""

    loss: str
    window: int = 200
    repeat_every: int = 2000
    warmup: int = 200  # generator steps before the diversity alert may fire
    rows: deque = field(default_factory=lambda: deque(maxlen=200))
    last_alert: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = deque(maxlen=self.window)

    def _mean(self, key: str) -> float | None:
        values = [r[key] for r in self.rows if key in r]
        return sum(values) / len(values) if len(values) == self.window else None

    def _due(self, name: str, step: int) -> bool:
        last = self.last_alert.get(name)
        if last is not None and step - last < self.repeat_every:
            return False
        self.last_alert[name] = step
        return True

    def check(self, rows: list[dict], *, diversity_ratio: float | None = None) -> list[str]:
        """Feed newly read rows; returns the alerts (one line each) that are due."""
        self.rows.extend(rows)
        if not rows:
            return []
        step = rows[-1]["step"]
        alerts = []
        d_real, d_fake = self._mean("d_real"), self._mean("d_fake")
        if self.loss in GAN_LOSSES and d_real is not None and d_real > 0.99 and d_fake < 0.01 and self._due("d_wins", step):
            losses = "gan-ns or wgan-gp" if self.loss == "gan-minimax" else "wgan-gp"
            alerts.append(f"the discriminator has won outright for {self.window} steps (D(x) {d_real:.3f}, D(G(z)) {d_fake:.3g}): "
                          f"the generator's gradient is vanishing; try --loss {losses}, a lower loss.lr_d, or fewer --d-steps")
        if (diversity_ratio is not None and diversity_ratio < 0.1 and step >= self.warmup
                and self._due("collapse", step)):
            alerts.append(f"sample diversity collapsed to {diversity_ratio:.1%} of the data's (mode collapse); "
                          "try --loss wgan-gp, more --d-steps, a lower loss.lr_g, or EMA")
        grad = self._mean("grad_norm_critic")
        if grad is not None and not 0.5 <= grad <= 2.0 and self._due("gp_norm", step):
            alerts.append(f"the critic's gradient norm averages {grad:.3g}, far from the 1 the penalty asks for; "
                          "try a larger loss.gp_weight or a lower loss.lr_d")
        return alerts
