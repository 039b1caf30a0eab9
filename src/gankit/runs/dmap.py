"""The discriminator on the plane: D's output over a 2-D run's window, under real and generated points.

For toy 2-D runs each kept checkpoint's networks are rebuilt from the checkpoint's own config
(:func:`gankit.models.build_models_of`, as :mod:`gankit.training.export` rebuilds G), D is evaluated on
a grid over the plane and drawn as a heat map under the real points and that checkpoint's
generated points: the picture of Goodfellow et al. (2014), Fig. 1, drawn from a real run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gankit.data import toy_sample
from gankit.errors import GankitError
from gankit.models import build_models_of, seeded_noise
from gankit.training import checkpoint
from gankit.training.config import from_saved

if TYPE_CHECKING:
    from gankit.runs.report import RunRecord

MAX_MAPS = 6  # maps drawn per run (the newest checkpoints, then best.ckpt)
MAP_POINTS = 1000  # real and generated points drawn over each map
MAP_GRID = 150  # the map's resolution per side
# losses whose D is a classifier: its map shows D(x) = sigmoid(logit), with the boundary D = 1/2
PROBABILITY_LOSSES = frozenset({"gan-minimax", "gan-ns"})


@dataclass
class MapPanel:
    """One checkpoint's discriminator map: a PNG and what it shows."""

    label: str
    png: bytes


def _load_networks(file: Path):
    """``(G, D, step, loss name)`` rebuilt from one checkpoint (raw G: the one this D was trained against)."""

    state = checkpoint.load(file)
    cfg = from_saved(json.loads(state["config"]), str(file))
    m = cfg.model
    G, D = build_models_of(m, state["data_shape"])  # no classes: a conditional run does not fit (refused below)
    for name, net in (("G", G), ("D", D)):
        problem = checkpoint.describe_mismatch(net, state.get(name))
        if problem is not None:
            raise GankitError(f"{file}'s {name} does not fit the network its config builds: {problem}")
        net.load_state_dict(state[name])
    return G.eval(), D.eval(), int(state["step"]), cfg.loss.name


def map_checkpoints(run_dir: Path) -> list[tuple[str, Path]]:
    """The checkpoints a map is drawn for: ``(label, file)``, oldest first, ``best.ckpt`` last."""

    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    chosen = [(f"step {int(p.stem.split('_')[1])}", p) for p in checkpoint.list_checkpoints(folder)][-MAX_MAPS:]
    if (folder / "best.ckpt").is_file():
        chosen.append(("best", folder / "best.ckpt"))
    return chosen


def _bounds(clouds: Sequence[Any]) -> tuple[float, float, float, float]:
    """A square window holding the bulk (0.5 %..99.5 %) of all points, with a margin."""
    import numpy as np

    points = np.concatenate([np.asarray(c, dtype=float) for c in clouds])
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return -1.0, 1.0, -1.0, 1.0
    lo = np.quantile(points, 0.005, axis=0)
    hi = np.quantile(points, 0.995, axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-3) * 1.15
    return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half


def discriminator_maps(record: RunRecord, *, files: Sequence[tuple[str, Path]] | None = None,
                       bounds: tuple[float, float, float, float] | None = None) -> tuple[list[MapPanel], list[str]]:
    """D over the plane for each kept checkpoint of a 2-D run, with real and generated points.

    Args:
        record: the run.
        files: ``(label, checkpoint)`` to draw (default :func:`map_checkpoints`).
        bounds: ``(x0, x1, y0, y1)`` shared by every panel (default: around the points drawn).

    Returns:
        ``(panels, notes)``: a PNG per checkpoint, and one line per checkpoint that could not be drawn.
    """
    import torch


    if record.get("model.name") == "custom":
        return [], ["this run trained your own networks (model.name custom): the report cannot rebuild D to map it"]
    files = map_checkpoints(record.path) if files is None else files
    real = toy_sample(record.get("data.name"), MAP_POINTS, generator=torch.Generator().manual_seed(0)).float().numpy()
    loaded, notes, seen = [], [], set()
    for label, file in files:
        try:
            G, D, step, loss = _load_networks(file)
        except GankitError as err:
            notes.append(f"{file.name}: {err}")
            continue
        if label == "best":
            if step in seen:
                continue  # the best checkpoint is also a kept step checkpoint
            label = f"best (step {step})"
        seen.add(step)
        with torch.no_grad():
            z = seeded_noise(MAP_POINTS, G.z_dim, record.get("model.noise", "uniform"), seed=0)
            fake = G(z).float().numpy()
        loaded.append((label, step, D, loss, fake))
    if not loaded:
        return [], notes
    window = bounds or _bounds([real] + [fake for *_, fake in loaded])
    return [MapPanel(label, _map_png(D, loss, real, fake, window, f"{label}: {record.get('data.name')}"))
            for label, _, D, loss, fake in loaded], notes


def _map_png(D, loss: str, real, fake, window: tuple[float, float, float, float], title: str) -> bytes:
    import matplotlib
    import numpy as np
    import torch

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    x0, x1, y0, y1 = window
    xs, ys = np.linspace(x0, x1, MAP_GRID), np.linspace(y0, y1, MAP_GRID)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)  # [G*G, 2]
    with torch.no_grad():
        logits = D(torch.from_numpy(grid).float()).float().reshape(MAP_GRID, MAP_GRID).numpy()
    fig, ax = plt.subplots(figsize=(3.7, 3.3), dpi=100)
    if loss in PROBABILITY_LOSSES:
        values = 1.0 / (1.0 + np.exp(-logits))  # D(x) = sigmoid(logit)
        norm, label, level = TwoSlopeNorm(0.5, 0.0, 1.0), "D(x)", 0.5
    else:
        values = logits
        centre = float(np.median(values))
        spread_ = float(np.quantile(np.abs(values - centre), 0.98)) or 1.0
        norm, label, level = TwoSlopeNorm(centre, centre - spread_, centre + spread_), "f(x), D's raw output", None
    image = ax.imshow(values, origin="lower", extent=(x0, x1, y0, y1), cmap="RdBu", norm=norm, alpha=0.75,
                      interpolation="bilinear")
    if level is not None and values.min() < level < values.max():
        ax.contour(xs, ys, values, levels=[level], colors="k", linewidths=0.8)
    ax.scatter(real[:, 0], real[:, 1], s=2, c="#08306b", alpha=0.5, label="data", linewidths=0)
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="#a50f15", alpha=0.6, label="G(z)", linewidths=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=7)
    bar.set_label(label, fontsize=8)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
