"""Data parallelism through PyTorch's own engine: torchrun, ``torch.distributed`` and DDP.

gankit adds no launcher and no communication layer of its own. ``torchrun`` starts one process per
rank and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; every
process then runs the same ``gankit train`` and :func:`init` joins them into one process group
(NCCL on GPUs, gloo on CPUs). The semantics, written so that 1 rank and N ranks train the same model:

* ``--batch-size`` is the **global** batch B. Each rank takes its own contiguous slice of B / N rows
  of every global batch (:class:`gankit.training.batches.EpochBatches`) and of every global noise
  or interpolation draw (:func:`shard`): all ranks draw the full B rows from identically seeded
  RNGs and keep theirs, so the union over ranks is exactly the 1-rank batch.
* DDP averages gradients over ranks. Every loss is a mean over the local slice, so the averaged
  gradient is the gradient of the mean over the global batch,
  :math:`\\frac1N \\sum_r \\nabla \\frac{N}{B} \\sum_{i \\in r} \\ell_i = \\nabla \\frac1B \\sum_i \\ell_i`,
  which makes a model without batch norm train as on one rank up to float rounding (the
  gradient penalty too: its per-sample terms are averaged the same way). Weight clipping acts on
  weights that are equal on every rank.
* Batch norm sees the local slice, unless ``train.sync_bn`` turns it into ``SyncBatchNorm``.
* Rank 0 alone writes files and logs.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gankit.errors import ConfigError, DistributedError, first_line
from gankit.training.config import choices

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
# words in the RuntimeErrors that gloo and NCCL raise when a peer died or stalled
_control_group = None  # a gloo group for host-side flags when the main group is NCCL (no GPU sync)

_LOST_PEER_WORDS = ("gloo", "nccl", "connection", "timed out", "timeout", "broken pipe", "processgroup", "socket")


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in the job; ``Ranks()`` is the single-process case."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False  # launched by torchrun: collectives go through the process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def slice(self, n_global: int) -> slice:
        """Rows ``[rank * n / N, (rank + 1) * n / N)`` of a global batch of ``n`` rows."""
        local = n_global // self.world_size
        return slice(self.rank * local, (self.rank + 1) * local)


SINGLE = Ranks()


def launched_by_torchrun(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return all(key in env for key in ENV_KEYS)


def ranks_from_env(environ: dict[str, str] | None = None) -> Ranks:
    """The ranks torchrun set, or :data:`SINGLE`; malformed values are a one-line ConfigError."""
    env = os.environ if environ is None else environ
    if not launched_by_torchrun(env):
        return SINGLE
    try:
        rank, world, local = (int(env[key]) for key in ENV_KEYS)
    except ValueError:
        shown = ", ".join(f"{key}={env[key]!r}" for key in ENV_KEYS)
        raise ConfigError(f"torchrun's environment is malformed ({shown}); launch with torchrun or gankit train --nproc N") from None
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise ConfigError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world}); launch with torchrun")
    return Ranks(rank, world, local, enabled=True)


def pick_backend(name: str, device: torch.device) -> str:
    """``auto``: NCCL for CUDA devices, gloo otherwise; an explicit choice must fit the device."""
    backends = choices("train.dist_backend")
    if name not in backends:
        raise ConfigError(f"train.dist_backend must be one of {', '.join(backends)}, not {name!r}")
    if name == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if name == "nccl" and device.type != "cuda":
        raise ConfigError(f"train.dist_backend=nccl needs CUDA GPUs but the run is on {device.type}; use gloo or auto")
    return name


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """Each rank's own GPU (``cuda:LOCAL_RANK``); other devices are shared by the node's ranks."""
    if device.type != "cuda" or not ranks.enabled:
        return device
    count = torch.cuda.device_count()
    if ranks.local_rank >= count:
        raise ConfigError(f"LOCAL_RANK {ranks.local_rank} has no GPU: this node has {count}; "
                          f"start at most {count} processes per node (--nproc-per-node)")
    torch.cuda.set_device(ranks.local_rank)
    return torch.device("cuda", ranks.local_rank)


def init(ranks: Ranks, device: torch.device, *, backend: str, timeout_s: float) -> None:
    """Join the process group torchrun describes (nothing on a single process).

    ``timeout_s`` bounds every collective and the rendezvous: a rank whose peer died or hangs
    raises instead of waiting for ever.
    """
    if not ranks.enabled:
        return
    backend = pick_backend(backend, device)
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; install a standard PyTorch build")
    if not dist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" else {}
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), **kwargs)
        except (RuntimeError, ValueError) as err:
            raise DistributedError(f"rank {ranks.rank} could not join the other {ranks.world_size - 1} rank(s) "
                                   f"({first_line(err)}); check torchrun's --rdzv-endpoint / MASTER_ADDR and that every "
                                   "node started") from None
    global _control_group
    _control_group = dist.new_group(backend="gloo") if backend == "nccl" else None


@contextlib.contextmanager
def process_group_scope():
    """Leave the process group when the run ends, except after losing a peer.

    A group whose peer died cannot be torn down cleanly (gloo and NCCL may block or abort), so
    then the process just exits (see :func:`gankit.cli.main`).
    """
    try:
        yield
    except DistributedError:
        raise
    except RuntimeError as err:
        if dist.is_available() and dist.is_initialized() and is_lost_peer(err):
            raise DistributedError(f"lost contact with the other ranks ({first_line(err)}); another rank died or "
                                   "stalled (see its output)") from None
        shutdown()
        raise
    except BaseException:
        shutdown()
        raise
    shutdown()


def shutdown() -> None:
    global _control_group
    _control_group = None
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_lost_peer(err: BaseException) -> bool:
    """Whether ``err`` is a collective failing because another rank died, hung or disconnected."""
    if isinstance(err, DistributedError):
        return True
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(word in text for word in _LOST_PEER_WORDS)


# ------------------------------------------------------------------------------ collectives


def shard(x: Tensor, ranks: Ranks) -> Tensor:
    """This rank's rows of a global batch ``x`` (all of it on a single process)."""
    return x if ranks.world_size == 1 else x[ranks.slice(len(x))]


def mean_over_ranks(x: Tensor, ranks: Ranks) -> Tensor:
    """The element-wise mean of ``x`` over ranks (``x`` itself on one process); NaN propagates."""
    if not ranks.enabled or ranks.world_size == 1:
        return x
    x = x.clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x / ranks.world_size


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """True on every rank when ``flag`` is true on some rank (:func:`any_rank_each` of one flag)."""
    return any_rank_each((flag,), ranks)[0]


def any_rank_each(flags: tuple[bool, ...], ranks: Ranks) -> tuple[bool, ...]:
    """Several flags in one all-reduce: each is true on every rank when it is true on some rank.

    The flags travel as a CPU tensor over gloo (a side group under NCCL), so asking costs a few
    tens of microseconds of host time and never waits for the GPU.
    """
    if not ranks.enabled:
        return tuple(flags)
    t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_control_group)
    return tuple(bool(v) for v in t.tolist())


def broadcast_text(text: str | None, ranks: Ranks) -> str:
    """Rank 0's ``text`` on every rank (UTF-8 bytes in CPU tensors, no pickling)."""
    if not ranks.enabled:
        return text or ""
    data = torch.tensor(list((text or "").encode()), dtype=torch.uint8) if ranks.is_main else torch.empty(0, dtype=torch.uint8)
    size = torch.tensor([data.numel()], dtype=torch.int64)
    dist.broadcast(size, src=0, group=_control_group)
    buffer = data if ranks.is_main else torch.empty(int(size[0]), dtype=torch.uint8)
    dist.broadcast(buffer, src=0, group=_control_group)
    return bytes(buffer.tolist()).decode()


def gather_rows(x: Tensor, ranks: Ranks, device: torch.device) -> Tensor | None:
    """Concatenate every rank's rows of ``x`` (in rank order) on rank 0; ``None`` elsewhere.

    Ranks may hold different numbers of rows; they are padded to the largest for the transfer.
    """
    if not ranks.enabled:
        return x
    local = x.to(device)
    counts = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(ranks.world_size)]
    dist.all_gather(counts, torch.tensor([len(local)], dtype=torch.int64, device=device))
    sizes = [int(c.item()) for c in counts]
    padded = torch.zeros((max(sizes), *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(ranks.world_size)]
    dist.all_gather(parts, padded)
    if not ranks.is_main:
        return None
    return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)]).to(x.device)


def broadcast_buffers(module: nn.Module, ranks: Ranks) -> None:
    """Give every rank rank 0's buffers (batch-norm running statistics drift apart per rank)."""
    if not ranks.enabled or ranks.world_size == 1:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def barrier(ranks: Ranks) -> None:
    if ranks.enabled:
        dist.barrier()


# ------------------------------------------------------------------------------ modules


def use_sync_batchnorm(module: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """``train.sync_bn``: batch-norm statistics over the global batch (``nn.SyncBatchNorm``).

    torch's SyncBatchNorm synchronises on CUDA devices only; on one rank it is plain batch norm.
    """
    if ranks.world_size > 1 and device.type != "cuda":
        raise ConfigError("train.sync_bn needs CUDA GPUs (torch's SyncBatchNorm does not run on the CPU); "
                          "drop --set train.sync_bn=true or train on GPUs")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def data_parallel(module: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel (``module`` itself on a single process)."""
    if not ranks.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, **_no_forward_buffer_sync())


def _no_forward_buffer_sync() -> dict[str, bool]:
    """DDP's option to skip copying rank 0's buffers into every rank at each forward.

    The D phase calls D twice (real, fake) before one backward; cuDNN's batch norm keeps its
    running statistics for the backward, and DDP's in-place copy at the second call made that
    backward fail on CUDA. Running statistics matter only in eval mode: ranks share rank 0's
    before each evaluation (:func:`broadcast_buffers`), checkpoints hold rank 0's, and a resume
    gives every rank the same. torch >= 2.14 names the option ``forward_sync_buffers``.
    """
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
