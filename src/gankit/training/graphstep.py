"""The whole training step as one CUDA graph (``train.cuda_graph``).

An eager step launches a few hundred small kernels (batch norm, activations, the loss statistics,
fused Adam), and at batch 128 the GPU waits for Python to launch them (docs/performance.md).
A CUDA graph records the kernels of one step once; each later step is one replay.

What the graph holds, captured once and replayed every step:

* the K discriminator phases and the generator phase (tutorial, Algorithm 1), their backward
  passes and optimiser steps (Adam or RMSprop with ``capturable=True``, so that their step counts
  live on the device);
* the batches, gathered inside the graph from the GPU-resident uint8 dataset through static index
  buffers. Before each replay the host copies the epoch order's next indices into them (a copy on
  the device), so the data order, and with it resume, is the eager loop's;
* the latent codes, the fake labels and the gradient penalty's epsilon, drawn inside the graph
  from torch's CUDA generator. Capture is graph-safe: each replay advances the generator's
  Philox offset by what the capture consumed, so the draws are those the eager loop makes;
* the EMA update, its ramp-up decay computed on the device from an update counter;
* the step's statistics, stacked into one row that the host queues (no read-back).

Capturing warms up on a side stream (cuDNN's algorithm search, the optimisers' lazy state, the
allocator), restores the weights, optimiser state, EMA and RNG in place, then captures. A step
that cannot be captured raises :class:`CaptureError`, and the trainer runs eagerly from then on.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from gankit.errors import GankitError, first_line

if TYPE_CHECKING:  # the trainer owns the phases, optimisers and batches this step replays
    from gankit.training.loop import Trainer

WARMUP_STEPS = 3  # torch's CUDA-graph notes warm up a few iterations on a side stream before capture


class CaptureError(GankitError):
    """The step could not be captured as a CUDA graph; the message names the reason."""


def capture_blocker(trainer: Trainer) -> str | None:
    """Why this run's step cannot be a CUDA graph, or None when it can be tried."""
    if trainer.device.type != "cuda":
        return f"the run is on {trainer.device.type}, not CUDA"
    if trainer.scaler is not None:
        return "fp16's loss scaler reads the gradients back to the host each step"
    if trainer.ranks.enabled:
        return "under torchrun the DDP gradient hooks are not captured by gankit yet"
    if trainer.cfg.loss.reuse_fake:
        return "loss.reuse_fake's step has not been captured and checked on a GPU yet"
    if trainer.batches.data.device.type != "cuda":
        return "the dataset does not fit in GPU memory, so batches cannot be gathered inside the graph"
    return None


class CapturedStep:
    """A trainer's step, replayed from one CUDA graph (see the module docstring).

    Attributes:
        keys: the names of the statistics in each row, in order.
        graph: the captured graph, or None until the next step captures it.
    """

    def __init__(self, trainer: Trainer, recorder: CudaRecorder | None = None) -> None:
        self.trainer = trainer
        self.recorder = recorder or CudaRecorder()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.keys: list[str] = []
        self.row: Tensor | None = None
        device, local = trainer.device, trainer.batches.local
        self.indices = [torch.arange(local, device=device) for _ in range(trainer.cfg.loss.d_steps)]
        self.ema_count = torch.zeros((), device=device)
        self.hyper: list | None = None

    # ------------------------------------------------------------------ replay
    def step(self) -> Tensor:
        """One training step; returns its statistics row (a fresh device tensor, ordered as :attr:`keys`)."""
        if self.graph is not None and self.hyper != hyperparameters(self.trainer):
            self.invalidate()  # a learning rate changed: the graph holds the old one
        if self.graph is None:
            self.capture()
        batches = self.trainer.batches
        for buffer in self.indices:
            buffer.copy_(batches.next_index(), non_blocking=True)
        self.graph.replay()
        if self.trainer.parts.ema is not None:
            self.trainer.parts.ema.count_update()
        return self.row.clone()  # the next replay overwrites the graph's own row

    def invalidate(self) -> None:
        """Drop the graph (after a checkpoint load replaced the optimiser state); the next step captures anew."""
        self.graph, self.row = None, None

    # ------------------------------------------------------------------ capture
    def body(self) -> Tensor:
        """The step itself: K discriminator phases, the generator phase and EMA; its statistics as one row."""
        t = self.trainer
        labelled = bool(t.num_classes)
        stats: dict[str, Tensor] = {}
        for index in self.indices:
            stats.update(t.discriminator_step(batch=t.batches.take(index, labelled=labelled)))
        stats.update(t.generator_step(ema_count=self.ema_count))
        self.keys = sorted(stats)
        return torch.stack([stats[k].detach().float().reshape(()) for k in self.keys])

    def capture(self) -> None:
        """Warm up on a side stream, restore the state the warm-up changed, and capture :meth:`body`."""
        t = self.trainer
        saved = snapshot(t)
        try:
            self.sync_ema_count()
            self.recorder.warm_up(self.body, t.device)
            restore(t, saved)
            self.sync_ema_count()
            drop_gradients(t)  # the graph allocates its own gradients
            graph, row = self.recorder.capture(self.body, t.device)
        except Exception as err:  # capture fails in many ways (a host sync, an op without capture support)
            try:
                restore(t, saved)
            except Exception:  # noqa: BLE001 - the first failure is the one to report
                pass
            drop_gradients(t)
            raise CaptureError(f"{type(err).__name__}: {first_line(err, limit=160)}") from err
        self.graph, self.row, self.hyper = graph, row, hyperparameters(t)

    def sync_ema_count(self) -> None:
        """The device's EMA update count := the host's (they then advance together, one per replay)."""
        ema = self.trainer.parts.ema
        if ema is not None:
            self.ema_count.fill_(float(ema.updates))


class CudaRecorder:
    """Records a step function as a CUDA graph (the tests put a stand-in in its place on the CPU)."""

    def warm_up(self, body: Callable[[], Tensor], device: torch.device) -> None:
        """A few uncaptured steps on a side stream, as torch's CUDA-graph notes ask before a capture.

        After the first (cuDNN's algorithm search, the optimisers' lazy state), the others run under
        ``torch.cuda.set_sync_debug_mode("error")``: a step that waits for the device (a branch on
        a value, a copy to the host) fails here, before a capture that it would break.
        """
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            body()
            with no_host_sync():
                for _ in range(WARMUP_STEPS - 1):
                    body()
        torch.cuda.current_stream(device).wait_stream(side)

    def capture(self, body: Callable[[], Tensor], device: torch.device) -> tuple[torch.cuda.CUDAGraph, Tensor]:
        """``body`` recorded, not run: the graph and the tensor its replays write the output into.

        A capture that fails leaves torch's CUDA generator marked as capturing; its state before
        the capture is put back, so that eager steps can draw random numbers again.
        """
        generator = torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]
        clean = generator.clone_state() if hasattr(generator, "clone_state") else None
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.device(device), torch.cuda.graph(graph):
                out = body()
        except Exception:
            if clean is not None:
                generator.graphsafe_set_state(clean)
            raise
        return graph, out


@contextlib.contextmanager
def no_host_sync():
    """Inside, any operation that makes the host wait for the device raises (torch's sync debug mode)."""
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the mode is a prototype
        torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.cuda.set_sync_debug_mode(previous)


def hyperparameters(trainer: Trainer) -> list:
    """The optimisers' settings a graph bakes in (learning rates, betas, alpha), to notice a change."""
    return [(g["lr"], g.get("betas"), g.get("alpha"), g.get("weight_decay"))
            for opt in (trainer.parts.opt_d, trainer.parts.opt_g) for g in opt.param_groups]


# ---------------------------------------------------------------------- state kept across warm-up
def stepped_modules(trainer: Trainer) -> dict[str, nn.Module]:
    """The networks a training step changes: G, D and, when kept, the EMA copy of G."""
    p = trainer.parts
    return {"G": p.G, "D": p.D} | ({"ema": p.ema.module} if p.ema is not None else {})


def drop_gradients(trainer: Trainer) -> None:
    """G's and D's gradients set to None (a capture then allocates its own; eager steps make new ones)."""
    for module in (trainer.parts.G, trainer.parts.D):
        module.zero_grad(set_to_none=True)


def snapshot(trainer: Trainer) -> dict:
    """Copies of everything a training step changes: weights and buffers, optimiser state, EMA, RNG."""
    p = trainer.parts
    return {
        "modules": {name: {k: v.detach().clone() for k, v in m.state_dict().items()}
                    for name, m in stepped_modules(trainer).items()},
        "optimizers": [optimizer_tensors(opt) for opt in (p.opt_g, p.opt_d)],
        "ema": (p.ema.updates, p.ema.stale) if p.ema is not None else None,
        "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(trainer.device) if trainer.device.type == "cuda" else None,
    }


def restore(trainer: Trainer, saved: dict) -> None:
    """Put back what :func:`snapshot` copied, in place: the tensors keep their addresses."""
    p = trainer.parts
    with torch.no_grad():
        for name, module in stepped_modules(trainer).items():
            for key, value in module.state_dict().items():
                value.copy_(saved["modules"][name][key])
        for opt, state in zip((p.opt_g, p.opt_d), saved["optimizers"], strict=True):
            restore_optimizer(opt, state)
    if p.ema is not None:
        p.ema.updates, p.ema.stale = saved["ema"]
    torch.set_rng_state(saved["cpu_rng"])
    if saved["cuda_rng"] is not None:
        torch.cuda.set_rng_state(saved["cuda_rng"], trainer.device)


def optimizer_params(opt: torch.optim.Optimizer) -> list[Tensor]:
    """The optimiser's parameters over all its groups, in order (a parameter's position names its state)."""
    return [p for group in opt.param_groups for p in group["params"]]


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[int, dict[str, Tensor]]:
    """The optimiser's per-parameter state tensors, copied, keyed by the parameter's position."""
    return {i: {k: v.detach().clone() for k, v in opt.state[p].items() if isinstance(v, Tensor)}
            for i, p in enumerate(optimizer_params(opt)) if p in opt.state}


def restore_optimizer(opt: torch.optim.Optimizer, saved: dict[int, dict[str, Tensor]]) -> None:
    """Copy :func:`optimizer_tensors` back in place; state the warm-up created from nothing is zeroed.

    A zeroed Adam or RMSprop state (step 0, zero moments) is exactly the state they create lazily
    at their first step, so a fresh run stays fresh.
    """
    for i, p in enumerate(optimizer_params(opt)):
        for key, value in opt.state.get(p, {}).items():
            if not isinstance(value, Tensor):
                continue
            before = saved.get(i, {}).get(key)
            if before is None:
                value.zero_()
            else:
                value.copy_(before)
