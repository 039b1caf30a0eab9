"""The generator files a run leaves: ``generator.safetensors`` and the generator inside a checkpoint.

``gankit train`` exports the weights it samples with (EMA when the run kept one) as
``generator.safetensors``, whose metadata carries the resolved config, the data shape and, for a
class-conditional run, ``num_classes``;
:func:`read_generator` rebuilds a generator from that file, a checkpoint (raw or EMA weights) or
a run folder. Nothing is unpickled: safetensors, or checkpoints read with ``weights_only=True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.errors import CheckpointError, ConfigError, one_line
from gankit.fileio import atomic_write_bytes
from gankit.models import build_models_of
from gankit.training import checkpoint
from gankit.training.config import RunConfig, from_saved

GENERATOR_FILE = "generator.safetensors"


def save_generator(path: Path, G: nn.Module, cfg: RunConfig, *, step: int, data_shape: tuple[int, ...],
                   num_classes: int | None = None) -> None:
    """Export the generator's weights as safetensors with the config, data shape (and K) in the metadata."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    metadata = {"format": "gankit-generator", "config": cfg.to_json(), "step": str(step),
                "data_shape": json.dumps(list(data_shape))}
    if num_classes:
        metadata["num_classes"] = str(num_classes)
    atomic_write_bytes(Path(path), save(tensors, metadata=metadata))


def build_generator(cfg: RunConfig, data_shape: tuple[int, ...], *, G: nn.Module | None = None,
                    num_classes: int | None = None) -> nn.Module:
    """The generator a run's config describes, or the user's own ``G`` for a run of custom networks.

    ``num_classes``: K of a class-conditional run (``model.conditional``), which the files carry.
    """
    if G is not None:
        return G
    m = cfg.model
    if m.name == "custom":
        raise ConfigError("this run trained your own networks (model.name custom); pass the generator module "
                          "to load the weights into: gankit.load_generator(path, G=MyGenerator(...))")
    if m.conditional and not num_classes:
        raise CheckpointError("this run is class-conditional but its file does not say how many classes; "
                              "it was written by an older gankit")
    generator, _ = build_models_of(m, data_shape, num_classes)
    return generator


def _load_weights(G: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    problem = checkpoint.describe_mismatch(G, state)
    if problem is not None:
        raise CheckpointError(f"{origin} does not match the generator its config describes: {problem}")
    G.load_state_dict(state)


def _config_from(text: str, origin: str) -> RunConfig:
    try:
        return from_saved(json.loads(text), origin)
    except (json.JSONDecodeError, TypeError):
        raise CheckpointError(f"{origin} carries no readable gankit config; it was not written by gankit") from None


def _from_safetensors(path: Path, G: nn.Module | None) -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({one_line(err, limit=120)})") from None
    if meta.get("format") != "gankit-generator":
        raise CheckpointError(f"{path} is a safetensors file but not a gankit generator; pass a gankit run folder")
    cfg = _config_from(meta["config"], str(path))
    data_shape = tuple(json.loads(meta["data_shape"]))
    num_classes = int(meta["num_classes"]) if meta.get("num_classes") else None
    generator = build_generator(cfg, data_shape, G=G, num_classes=num_classes)
    _load_weights(generator, state, str(path))
    return generator, cfg, {"step": int(meta.get("step", 0)), "ema": cfg.train.ema > 0, "data_shape": data_shape,
                            "num_classes": num_classes}


def read_generator(path: str | Path, *, ema: bool = True,
                   G: nn.Module | None = None) -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """The generator of a run folder, checkpoint or ``generator.safetensors`` (eval mode, CPU).

    Args:
        path: a run folder (its latest checkpoint, or its ``generator.safetensors`` when it has no
            checkpoints), a checkpoint file or a ``.safetensors`` file.
        ema: take the EMA weights where a checkpoint holds them.
        G: the module to load the weights into (required for a run of custom networks).

    Returns:
        ``(G, config, info)`` with ``info["step"]``, ``info["ema"]`` (whether EMA weights were
        used), ``info["data_shape"]`` and ``info["num_classes"]`` (K, or None when unconditional).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        generator, cfg, info = _from_safetensors(path, G)
    elif path.is_dir() and not (path / "checkpoints").is_dir() and (path / GENERATOR_FILE).is_file():
        generator, cfg, info = _from_safetensors(path / GENERATOR_FILE, G)
    else:
        file = checkpoint.find(path)
        state = checkpoint.load(file)
        cfg = _config_from(state["config"], str(file))
        data_shape = tuple(state["data_shape"])
        num_classes = state.get("num_classes")
        generator = build_generator(cfg, data_shape, G=G, num_classes=num_classes)
        use_ema = ema and state.get("ema") is not None
        _load_weights(generator, state["ema"] if use_ema else state["G"], str(file))
        info = {"step": int(state["step"]), "ema": use_ema, "data_shape": data_shape, "num_classes": num_classes}
    return generator.eval(), cfg, info
