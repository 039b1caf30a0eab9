"""Exponential moving average of the generator's weights, with batch-norm statistics that fit them.

After every generator step, with :math:`\\beta` the decay,

.. math:: \\theta_{ema} \\leftarrow \\beta\\,\\theta_{ema} + (1 - \\beta)\\,\\theta

(Yazici et al. 2019 show it improves GAN samples). Two details decide whether it helps a
generator with batch norm:

* **Standing statistics.** Batch-norm running statistics are not weights: the raw generator's
  do not describe the activations of the *averaged* weights, and sampling runs in eval mode,
  on running statistics. So before the EMA generator is sampled, scored, checkpointed or exported,
  :meth:`EMA.standing_statistics` recomputes them for the EMA weights: the running statistics are
  reset and accumulated (a plain average, ``momentum=None``) over fresh batches of latent codes
  in train mode, the "standing statistics" of Brock et al. 2019 (BigGAN, Sec. 3.1). Nothing of
  the training run changes: the codes come from a generator of their own.
* **Ramp-up.** A long horizon averages in the first, fast-moving weights, which no longer fit.
  Two forms shorten it early, so that the average follows the generator closely:

  - ``"tf"``: the decay at update :math:`t` is :math:`\\min(\\beta, (1 + t) / (10 + t))` (the
    ``num_updates`` form of TensorFlow's ``ExponentialMovingAverage``). Its half-life is about
    :math:`0.077\\,t` updates, and it reaches :math:`\\beta` at :math:`t = (10\\beta - 1) / (1 - \\beta)`
    (9,000 updates for 0.999).
  - ``"stylegan2"``: the half-life :math:`h = \\ln 0.5 / \\ln \\beta` (693 updates for 0.999) is
    capped at a fraction :math:`r` of the updates done, and the decay is
    :math:`0.5^{1 / \\min(h,\\, r t)}` (Karras et al. 2020, StyleGAN2-ADA's ``ema_rampup``, there
    counted in images; with a fixed batch the batch cancels). With their :math:`r = 0.05` the
    half-life is :math:`0.05\\,t` and reaches :math:`h` at :math:`t = h / r` (13,863 updates for 0.999).
* **Start.** With ``start`` :math:`S > 0` the decay is 0 for the first :math:`S` updates: the copy
  follows the generator exactly and averaging begins after (BigGAN's ``ema_start``, Brock et al.
  2019). The ramp-up still counts every update, so after :math:`S` the horizon is the one it would
  have had: the average differs from the unstarted one only over its first few half-lives.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
STANDING_BATCHES = 16  # batches of latent codes averaged into the standing statistics
RAMPUPS = ("off", "tf", "stylegan2")  # the ramp-up forms of the module docstring
STYLEGAN2_FRACTION = 0.05  # StyleGAN2-ADA's ema_rampup: the half-life is at most 5 % of the updates done


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, BATCH_NORMS) and m.track_running_stats]


class EMA:
    """A frozen copy of a module that trails its weights (see the module docstring).

    Attributes:
        module: the averaged copy (eval mode, no gradients).
        updates: how many updates it has had (the ramp-up's :math:`t`).
        stale: its batch-norm statistics are the raw module's, not yet recomputed for its weights.
    """

    def __init__(self, module: nn.Module, decay: float, *, rampup: str | bool = "off",
                 rampup_fraction: float = STYLEGAN2_FRACTION, start: int = 0) -> None:
        self.rampup = ("tf" if rampup else "off") if isinstance(rampup, bool) else rampup
        if self.rampup not in RAMPUPS:
            raise ValueError(f"EMA ramp-up must be one of {', '.join(RAMPUPS)}, not {rampup!r}")
        if not 0.0 < rampup_fraction <= 1.0:
            raise ValueError(f"EMA ramp-up fraction must be in (0, 1], not {rampup_fraction!r}")
        if start < 0:
            raise ValueError(f"EMA start must be >= 0, not {start!r}")
        self.decay, self.rampup_fraction, self.start = decay, rampup_fraction, start
        self.halflife = math.log(0.5) / math.log(decay) if 0.0 < decay < 1.0 else math.inf
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.updates = 0
        self.stale = False

    def decay_at(self, t: int) -> float:
        """The decay of update ``t`` (1-based), with the ramp-up of the module docstring.

        ``"off"``: :math:`\\beta`; ``"tf"``: :math:`\\min(\\beta, (1 + t) / (10 + t))`;
        ``"stylegan2"``: :math:`0.5^{1 / \\min(h, r t)}`, which is :math:`\\beta` once :math:`r t \\ge h`;
        0 while ``t <= start`` (a copy).
        """
        if t <= self.start:
            return 0.0
        if self.rampup == "tf":
            return min(self.decay, (1.0 + t) / (10.0 + t))
        if self.rampup == "stylegan2" and self.rampup_fraction * t < self.halflife:
            return 0.5 ** (1.0 / (self.rampup_fraction * t))
        return self.decay

    def device_decay(self, count: Tensor) -> Tensor:
        """:meth:`decay_at` of the 0-dim float32 ``count``, computed on its device (no host sync)."""
        decay = self._ramped_device_decay(count)
        return decay if not self.start else torch.where(count <= self.start, torch.zeros_like(decay), decay)

    def _ramped_device_decay(self, count: Tensor) -> Tensor:
        if self.rampup == "tf":
            return ((1.0 + count) / (10.0 + count)).clamp(max=self.decay)
        if self.rampup == "stylegan2":
            halflife = (self.rampup_fraction * count).clamp(max=self.halflife)
            return torch.pow(0.5, 1.0 / halflife).clamp(max=self.decay)
        return torch.full_like(count, self.decay)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        self.count_update()
        ema_params = list(self.module.parameters())
        src_params = [p.detach() for p in source.parameters()]
        torch._foreach_lerp_(ema_params, src_params, 1.0 - self.decay_at(self.updates))
        self._copy_buffers(source)

    def count_update(self) -> None:
        """Book one update on the host: the count the ramp-up and checkpoints read; statistics now stale."""
        self.updates += 1
        self.stale = bool(batch_norms(self.module))

    @torch.no_grad()
    def update_on_device(self, source: nn.Module, count: Tensor) -> None:
        r""":meth:`update` with the update count ``t`` held in a 0-dim float32 device tensor.

        For a captured CUDA graph: the decay (:meth:`device_decay`, either ramp-up) is computed on
        the device from ``count`` (incremented here first), so each replay applies its own step's
        decay, and :math:`\theta_{ema} \leftarrow \beta\theta_{ema} + (1 - \beta)\theta`
        is written as a product and a sum. The host's :attr:`updates` is booked separately
        (:meth:`count_update`, after each replay).
        """
        count.add_(1.0)
        decay = self.device_decay(count)
        ema_params = list(self.module.parameters())
        torch._foreach_mul_(ema_params, decay)
        torch._foreach_add_(ema_params, torch._foreach_mul([p.detach() for p in source.parameters()], 1.0 - decay))
        self._copy_buffers(source)

    def _copy_buffers(self, source: nn.Module) -> None:
        for ema_buf, src_buf in zip(self.module.buffers(), source.buffers(), strict=True):
            ema_buf.copy_(src_buf)

    @torch.no_grad()
    def standing_statistics(self, noise: Callable[[int], Tensor], batch_size: int,
                            batches: int = STANDING_BATCHES) -> None:
        """Recompute the batch-norm running statistics for the EMA weights (no-op without batch norm).

        Args:
            noise: ``n -> z [n, z_dim]`` on the module's device, from a generator of its own.
            batch_size: codes per forward pass (the training batch, so statistics are per batch
                as in training).
            batches: forward passes averaged.
        """
        norms = batch_norms(self.module)
        if norms:
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the forward passes
            self.module.train()
            try:
                for _ in range(batches):
                    self.module(noise(batch_size))
            finally:
                self.module.eval()
                for m, momentum in zip(norms, momenta, strict=True):
                    m.momentum = momentum
        self.stale = False

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
