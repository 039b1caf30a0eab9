"""Load a trained generator and draw samples from it.

Two file kinds hold a generator: a checkpoint (``checkpoints/step_XXXXXXX.ckpt``, with both the
raw and the EMA weights) and ``generator.safetensors`` (the weights ``gankit train`` exports at the
end, EMA when the run kept one), whose metadata carries the resolved config and the data shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.data import images_to_uint8
from gankit.errors import CheckpointError
from gankit.models import build_models, sample_noise
from gankit.training import checkpoint
from gankit.training.checkpoint import atomic_write_bytes
from gankit.training.config import RunConfig, from_dict

GENERATOR_FILE = "generator.safetensors"


def save_generator(path: Path, G: nn.Module, cfg: RunConfig, *, step: int) -> None:
    """Export the generator's weights as safetensors with the config in the metadata."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    metadata = {"format": "gankit-generator", "config": cfg.to_json(), "step": str(step),
                "data_shape": json.dumps(list(G.data_shape))}
    atomic_write_bytes(Path(path), save(tensors, metadata=metadata))


def _build_generator(cfg: RunConfig, data_shape: tuple[int, ...]) -> nn.Module:
    m = cfg.model
    G, _ = build_models(m.name, data_shape=tuple(data_shape), z_dim=m.z_dim, width=m.width, depth=m.depth,
                        d_norm=m.d_norm)
    return G


def _load_weights(G: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    problem = checkpoint.describe_mismatch(G, state)
    if problem is not None:
        raise CheckpointError(f"{origin} does not match the generator its config describes: {problem}")
    G.load_state_dict(state)


def _config_from(text: str, origin: str) -> RunConfig:
    try:
        return from_dict(json.loads(text), origin)
    except (json.JSONDecodeError, TypeError):
        raise CheckpointError(f"{origin} carries no readable gankit config; it was not written by gankit") from None


def _from_safetensors(path: Path) -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({str(err).splitlines()[0][:120]})") from None
    if meta.get("format") != "gankit-generator":
        raise CheckpointError(f"{path} is a safetensors file but not a gankit generator; pass a gankit run folder")
    cfg = _config_from(meta["config"], str(path))
    G = _build_generator(cfg, tuple(json.loads(meta["data_shape"])))
    _load_weights(G, state, str(path))
    return G, cfg, {"step": int(meta.get("step", 0)), "ema": cfg.train.ema > 0}


def load_generator(path: str | Path, *, ema: bool = True) -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """The generator of a run folder, checkpoint or ``generator.safetensors`` (eval mode, CPU).

    Returns ``(G, config, info)`` with ``info["step"]`` and ``info["ema"]`` (whether EMA weights were used).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        G, cfg, info = _from_safetensors(path)
    elif path.is_dir() and not (path / "checkpoints").is_dir() and (path / GENERATOR_FILE).is_file():
        G, cfg, info = _from_safetensors(path / GENERATOR_FILE)
    else:
        file = checkpoint.find(path)
        state = checkpoint.load(file)
        cfg = _config_from(state["config"], str(file))
        G = _build_generator(cfg, tuple(state["data_shape"]))
        use_ema = ema and state.get("ema") is not None
        _load_weights(G, state["ema"] if use_ema else state["G"], str(file))
        info = {"step": int(state["step"]), "ema": use_ema}
    return G.eval(), cfg, info


@torch.no_grad()
def generate(G: nn.Module, n: int, *, z_dim: int, noise: str, seed: int = 0, device: str | torch.device = "cpu",
             batch_size: int = 1000) -> torch.Tensor:
    """``n`` samples in model space ([-1, 1] images or raw points), reproducible under ``seed``."""
    device = torch.device(device)
    G = G.to(device)
    generator = torch.Generator().manual_seed(seed)
    z = torch.cat([sample_noise(min(batch_size, n - start), z_dim, noise, generator=generator)
                   for start in range(0, n, batch_size)])  # drawn chunk by chunk, as samples were always made
    return run_generator(G, z, device=device, batch_size=batch_size)


@torch.no_grad()
def run_generator(G: nn.Module, z: torch.Tensor, *, device: str | torch.device, batch_size: int = 1000) -> torch.Tensor:
    """``G(z)`` in batches of ``batch_size`` on ``device``, as float32 on the CPU."""
    return torch.cat([G(part.to(device)).float().cpu() for part in z.split(batch_size)])


def generate_samples(path: str | Path, n: int, *, seed: int = 0, ema: bool = True,
                     device: str | torch.device = "cpu") -> dict[str, Any]:
    """Samples from a run: ``{"images": uint8 [N,C,H,W]}`` or ``{"points": float32 [N,2]}``, plus
    ``data`` (the dataset name), ``image_size``, ``step`` and ``ema``."""
    G, cfg, info = load_generator(path, ema=ema)
    x = generate(G, n, z_dim=cfg.model.z_dim, noise=cfg.model.noise, seed=seed, device=device)
    out: dict[str, Any] = {"data": cfg.data.name, "image_size": cfg.data.image_size, **info}
    if x.dim() == 2:
        out["points"] = x.numpy().astype("float32")
    else:
        out["images"] = images_to_uint8(x).numpy()
    return out
