"""Deterministic batches from a tensor dataset held in memory (on the device when it fits).

Each epoch is a fresh permutation drawn from a generator seeded by ``(seed, epoch)``, so the data
order is fully described by ``(epoch, position)``: that pair is all a checkpoint stores to resume
the exact same sequence of batches. Under data parallelism every rank walks the same global batch
and takes its own contiguous slice of it. With ``labels`` (a class-conditional run),
:meth:`EpochBatches.next_labelled` returns each batch's labels too, gathered by the same indices;
the permutation and the state are those of an unlabelled run.
"""

from __future__ import annotations

import torch

from gankit.data import to_model_space


def pick_storage_device(data: torch.Tensor, device: torch.device, *, max_fraction: float = 0.4) -> torch.device:
    """Keep the dataset on the training device when it takes under ``max_fraction`` of free memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        nbytes = data.element_size() * data.nelement()
        return device if nbytes < max_fraction * free else torch.device("cpu")
    return device


class EpochBatches:
    """Shuffled global batches of ``batch_size`` (last partial batch dropped), sliced per rank."""

    def __init__(self, data: torch.Tensor, batch_size: int, *, seed: int, device: torch.device,
                 rank: int = 0, world_size: int = 1,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 labels: torch.Tensor | None = None) -> None:
        if batch_size > len(data):
            raise ValueError(f"batch size {batch_size} exceeds the dataset size {len(data)}")
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} ranks")
        self.device = device
        storage = pick_storage_device(data, device)
        # images are stored in the layout the model wants (channels_last: NHWC), and a row gather keeps it
        self.memory_format = memory_format if data.dim() == 4 else torch.contiguous_format
        self.data = data.to(storage, non_blocking=True).contiguous(memory_format=self.memory_format)
        if storage.type == "cpu" and device.type == "cuda":
            self.data = self.data.pin_memory()
        # rows in storage order, so that a batch is an index_select of whole rows: 20x faster on the CPU
        # than advanced indexing for 64x64 images (0.045 vs 0.9 ms at batch 128)
        nhwc = self.memory_format == torch.channels_last
        self._rows = self.data.permute(0, 2, 3, 1) if nhwc else self.data  # (N, H, W, C) when NHWC
        self.batch_size, self.seed = batch_size, seed
        self.local = batch_size // world_size
        self.offset = rank * self.local
        self.batches_per_epoch = len(data) // batch_size
        self.epoch, self.position = 0, 0
        self._order: torch.Tensor | None = None
        # int64 [N] beside the rows they label (same storage device, so one index gathers both)
        self.labels = None if labels is None else labels.to(storage, dtype=torch.int64)

    def _permutation(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        return torch.randperm(len(self.data), generator=generator).to(self.data.device, non_blocking=True)

    def next_index(self) -> torch.Tensor:
        """The row indices of this rank's next batch (on the storage device); advances the order."""
        if self.position >= self.batches_per_epoch:
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        if self._order is None:
            self._order = self._permutation()
        start = self.position * self.batch_size + self.offset
        self.position += 1
        return self._order[start:start + self.local]

    def next(self) -> torch.Tensor:
        """The next batch in model space ([-1, 1] images or float points), on the training device."""
        return self._gather(self.next_index())

    def take(self, index: torch.Tensor, *, labelled: bool = False) -> tuple[torch.Tensor, ...]:
        """The batch of rows ``index`` (as :meth:`next`), with their labels when ``labelled``.

        A captured training step gathers its batches this way from a static index buffer.
        """
        if not labelled:
            return (self._gather(index),)
        if self.labels is None:
            raise ValueError("these batches were made without labels")
        return self._gather(index), self.labels.index_select(0, index).to(self.device, non_blocking=True)

    def next_labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch (as :meth:`next`) and its int64 labels ``[local batch]``, both on the training device."""
        real, labels = self.take(self.next_index(), labelled=True)
        return real, labels

    def _gather(self, index: torch.Tensor) -> torch.Tensor:
        batch = self._rows.index_select(0, index)
        if self._rows is not self.data:
            batch = batch.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W) with NHWC strides
        return to_model_space(batch.to(self.device, non_blocking=True))

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._order = int(state["epoch"]), int(state["position"]), None
