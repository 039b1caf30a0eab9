"""``report.html``: everything a run folder holds, on one self-contained page.

:func:`write_report` reads a run folder (``config.json``, ``stats.jsonl``, ``evals.jsonl``,
``metrics.json``, the ``samples/step_*.png`` snapshots and, for 2-D runs, the checkpoints) and
writes ``RUN/report.html``: the resolved config, the training statistics as curves, the periodic
evaluations, the metrics, the fixed-noise samples over training and, for 2-D runs, the
discriminator on the plane (:mod:`gankit.runs.dmap`). The page loads nothing: images are ``data:``
URIs, curves are inline SVG (:mod:`gankit.runs.charts`), and there is no script.
:mod:`gankit.runs.compare` builds a page of several runs from the same pieces.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from gankit import __version__
from gankit.data import TOY_NAMES
from gankit.errors import GankitError
from gankit.fileio import atomic_write_bytes
from gankit.runs.animation import snapshots, write_progress_gif
from gankit.runs.charts import PALETTE, Series, fmt, line_chart
from gankit.runs.dmap import PROBABILITY_LOSSES, discriminator_maps
from gankit.training.export import GENERATOR_FILE

REPORT_FILE = "report.html"
MAX_SNAPSHOTS = 24  # snapshots shown on a run's page (first, last and evenly between); progress.gif has all

# statistics drawn on one chart (title -> keys); any other numeric key gets a chart of its own
CURVE_GROUPS: dict[str, tuple[str, ...]] = {
    "losses": ("loss_d", "loss_g"),
    "D(x) and D(G(z)) (mean sigmoid of D's logits)": ("d_real", "d_fake"),
    "f(x) and f(G(z)) (mean raw output of D)": ("f_real", "f_fake"),
    "W estimate E f(x) − E f(G(z))": ("w_estimate",),
    "gradient norms of the optimiser steps": ("grad_norm_d", "grad_norm_g"),
    "gradient penalty": ("gp", "grad_norm_critic"),
}
LABELS = {"loss_d": "loss D", "loss_g": "loss G", "d_real": "D(x)", "d_fake": "D(G(z))", "f_real": "f(x)",
          "f_fake": "f(G(z))", "w_estimate": "W estimate", "grad_norm_d": "‖∇D‖", "grad_norm_g": "‖∇G‖",
          "gp": "penalty", "grad_norm_critic": "‖∇ₓ f(x̂)‖"}


# ------------------------------------------------------------------------------ reading a run

@dataclass
class RunRecord:
    """What a run folder holds, read once.

    Attributes:
        path: the run folder.
        name: a short name for it (the folder's name).
        config: the resolved config (``config.json``) as a dict of sections.
        stats: rows of ``stats.jsonl`` (one per generator step).
        evals: rows of ``evals.jsonl`` (one per periodic evaluation).
        metrics: ``metrics.json`` (written by ``gankit evaluate``), or None.
        snapshots: the fixed-noise snapshots ``(step, path)``, oldest first.
        finished: the run exported its generator (it reached ``train.steps``).
    """

    path: Path
    name: str
    config: dict[str, Any]
    stats: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    snapshots: list[tuple[int, Path]] = field(default_factory=list)
    finished: bool = False

    def get(self, key: str, default: Any = None) -> Any:
        """A config value by ``section.key``."""
        section, name = key.split(".", 1)
        return (self.config.get(section) or {}).get(name, default)

    @property
    def last_step(self) -> int:
        steps = [int(r["step"]) for r in self.stats] + [s for s, _ in self.snapshots]
        return max(steps, default=0)

    @property
    def total_steps(self) -> int:
        value = self.get("train.steps")
        return int(value) if isinstance(value, int) else self.last_step

    @property
    def is_points(self) -> bool:

        return self.get("data.name") in TOY_NAMES

    @property
    def title(self) -> str:
        return f"{self.get('model.name')} / {self.get('loss.name')} on {self.get('data.name')}"


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise GankitError(f"{path} is damaged (not JSON: {err.msg} at line {err.lineno}); {what}") from None
    except UnicodeDecodeError:
        raise GankitError(f"{path} is damaged (not UTF-8 text); {what}") from None
    except OSError as err:
        raise GankitError(f"cannot read {path}: {err.strerror or err}") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``.jsonl`` statistics file; a missing file has none.

    A torn last line (a run killed mid-write, or one writing now) is skipped, as a resume would
    drop it; any other line that is not a JSON object with an integer ``step`` is refused.

    Raises:
        GankitError: an unreadable file or a damaged line, in one line.
    """
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise GankitError(f"{path} is damaged (not UTF-8 text); the run's statistics cannot be read") from None
    except OSError as err:
        raise GankitError(f"cannot read {path}: {err.strerror or err}") from None
    rows = []
    numbered = [(i, line) for i, line in enumerate(lines, 1) if line.strip()]
    for position, (number, line) in enumerate(numbered):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if position == len(numbered) - 1:
                break  # a torn last line
            raise GankitError(f"{path} is damaged: line {number} is not JSON ({err.msg}); the run's statistics "
                              f"cannot be read") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise GankitError(f"{path} is damaged: line {number} is not a row of statistics with a step; the run's "
                              f"statistics cannot be read")
        rows.append(row)
    return rows


def read_run(run_dir: str | os.PathLike[str]) -> RunRecord:
    """Read a run folder for a report.

    Raises:
        GankitError: the folder does not exist or is no run (no ``config.json``), or a file of it
            is damaged; one line each.
    """

    path = Path(run_dir)
    if not path.exists():
        raise GankitError(f"{path} does not exist; pass a run folder written by 'gankit train'")
    if not path.is_dir():
        raise GankitError(f"{path} is a file; pass the run folder that holds it")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise GankitError(f"{path} is not a gankit run (it has no config.json); pass a folder written by 'gankit train'")
    config = _read_json(config_file, "it is the run's resolved config, written by 'gankit train'")
    if not isinstance(config, dict) or not all(isinstance(config.get(s), dict) for s in ("model", "data", "loss", "train")):
        raise GankitError(f"{config_file} is not a gankit config (it lacks the model, data, loss and train sections)")
    metrics = None
    if (path / "metrics.json").is_file():
        metrics = _read_json(path / "metrics.json", f"rewrite it with 'gankit evaluate {path}'")
        if not isinstance(metrics, dict):
            raise GankitError(f"{path / 'metrics.json'} is damaged (not a JSON object); rewrite it with 'gankit evaluate {path}'")
    return RunRecord(path=path, name=path.resolve().name or str(path), config=config,
                     stats=read_jsonl(path / "stats.jsonl"), evals=read_jsonl(path / "evals.jsonl"),
                     metrics=metrics, snapshots=snapshots(path), finished=(path / GENERATOR_FILE).is_file())


# ------------------------------------------------------------------------- pieces of a page

def data_uri(payload: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def img_tag(payload: bytes, alt: str, *, min_width: int = 0, max_width: int = 0, mime: str = "image/png") -> str:
    """An ``<img>`` with ``payload`` inlined; small pictures are shown enlarged pixel for pixel (to at
    least ``min_width``), large ones shrunk to ``max_width`` (0: as they are)."""
    from PIL import Image

    width = height = None
    try:
        with Image.open(io.BytesIO(payload)) as image:
            width, height = image.size
    except OSError:
        pass
    size, pixelated = "", ""
    if width and height:
        factor = max(1, math.ceil(min_width / width)) if min_width else 1
        if max_width and width * factor > max_width:
            factor = max_width / width
        size = f' width="{round(width * factor)}" height="{round(height * factor)}"'
        pixelated = ' class="px"' if factor > 1 else ""
    return f'<img src="{data_uri(payload, mime)}" alt="{escape(alt)}"{size}{pixelated}>'


def figure(inner: str, caption: str) -> str:
    return f"<figure>{inner}<figcaption>{escape(caption)}</figcaption></figure>"


def cell(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = "—" if value is None else json.dumps(value) if isinstance(value, list | dict) else str(value)
        return f"<td>{escape(text)}</td>"
    return f'<td class="num">{escape(fmt(value))}</td>'


def spread(items: Sequence[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``items``, evenly spaced, the first and last always kept."""
    if len(items) <= limit:
        return list(items)
    if limit <= 1:
        return [items[-1]]
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


def numeric_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Keys (other than ``step``) holding a number in some row, in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if key != "step" and isinstance(value, int | float) and not isinstance(value, bool):
                keys.setdefault(key)
    return list(keys)


def curve_groups(keys: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``(title, keys)`` per chart: the :data:`CURVE_GROUPS` present, then each other key alone."""
    present = set(keys)
    groups = [(title, [k for k in members if k in present]) for title, members in CURVE_GROUPS.items()]
    groups = [(t, ks) for t, ks in groups if ks]
    grouped = {k for _, ks in groups for k in ks}
    return groups + [(k, [k]) for k in keys if k not in grouped]


def column(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        if key in row:
            value = row[key]
            xs.append(float(row["step"]))
            ys.append(float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan)
    return xs, ys


def _config_table(config: dict[str, Any]) -> str:
    rows = []
    for section in sorted(config):
        values = config[section]
        if not isinstance(values, dict):
            continue
        for i, key in enumerate(sorted(values)):
            head = f'<th rowspan="{len(values)}">{escape(section)}</th>' if i == 0 else ""
            rows.append(f"<tr>{head}<td>{escape(key)}</td>{cell(values[key])}</tr>")
    return f'<table class="config">{"".join(rows)}</table>'


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, part in config.items() if isinstance(part, dict) for k, v in part.items()}


# --------------------------------------------------------------------------------- one run

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f4f5f8}
header{background:#1d2330;color:#fff;padding:16px 28px}
header h1{margin:0;font-size:20px;font-weight:600}
header p{margin:4px 0 0;color:#c3cadb}
nav{padding:8px 28px;background:#fff;border-bottom:1px solid #e1e4ea;font-size:13px}
nav a{margin-right:14px;color:#2859b8;text-decoration:none}
main{padding:4px 28px 40px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:12px 18px;margin:14px 0}
h2{font-size:16px;margin:0 0 10px}
h3{font-size:14px;margin:12px 0 6px}
.charts,.gallery{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
svg.chart text{font:11px system-ui,sans-serif;fill:#4a5060}
svg.chart .ct{font-weight:600;font-size:12px;fill:#1d2330}
svg.chart .frame{fill:#fff;stroke:#c9ceda}
svg.chart .grid{stroke:#edf0f4}
svg.chart .axis{stroke:#9aa0ae}
svg.chart .note{fill:#9a5a00;font-style:italic}
svg.chart .lgbox{fill:#fff;fill-opacity:.8}
table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
th{font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.diff td{background:#fff5d9}
figure{margin:0}
figcaption{font-size:12px;color:#5a6070;text-align:center}
img.px{image-rendering:pixelated}
.muted{color:#737a89}
.warn{color:#9a5a00}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
details summary{cursor:pointer;color:#2859b8}
.scroll{overflow-x:auto}
footer{padding:0 28px 24px;color:#737a89;font-size:12px}
"""


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """A whole page: ``sections`` are ``(anchor, heading, inner HTML)``; empty ones are left out."""

    shown = [(a, h, body) for a, h, body in sections if body]
    nav = "".join(f'<a href="#{a}">{escape(h)}</a>' for a, h, _ in shown)
    body = "".join(f'<section id="{a}"><h2>{escape(h)}</h2>{inner}</section>' for a, h, inner in shown)
    written = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><nav>{nav}</nav><main>{body}</main>"
            f"<footer>written by gankit {escape(__version__)} on {escape(written)}</footer></body></html>\n")


def status_line(record: RunRecord) -> str:
    if record.finished:
        return f"finished: {record.last_step} steps"
    return f"stopped or running: step {record.last_step} of {record.total_steps}"


def _overview(record: RunRecord) -> str:
    facts = [
        ("folder", str(record.path.resolve())),
        ("data", record.get("data.name")),
        ("model", f"{record.get('model.name')} (width {record.get('model.width')}, z_dim {record.get('model.z_dim')}, "
                  f"{record.get('model.noise')} noise)"),
        ("loss", f"{record.get('loss.name')} (K={record.get('loss.d_steps')}"
                 f"{', G reuses the fake batch' if record.get('loss.reuse_fake') else ''}, {record.get('loss.optimizer')}, "
                 f"lr G {fmt(record.get('loss.lr_g'))}, lr D {fmt(record.get('loss.lr_d'))})"),
        ("schedule", f"{record.total_steps} steps of batch {record.get('train.batch_size')}, seed {record.get('train.seed')}, "
                     f"EMA {record.get('train.ema')}, {record.get('train.precision')} on {record.get('train.device')}"),
        ("progress", status_line(record)),
        ("files", f"{len(record.stats)} rows of statistics, {len(record.evals)} evaluations, "
                  f"{len(record.snapshots)} snapshots" + ("" if record.metrics else ", no metrics.json yet")),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    return f"<table>{rows}</table>"


def _metrics_section(record: RunRecord) -> str:
    metrics = record.metrics
    if metrics is None:
        return (f'<p class="muted">No metrics.json: score the run with <code>gankit evaluate {escape(str(record.path))}'
                f"</code>, then write this report again.</p>")
    scores = metrics.get("metrics") if isinstance(metrics.get("metrics"), dict) else {}
    rows = "".join(f"<tr><th>{escape(str(k))}</th>{cell(v)}</tr>" for k, v in scores.items())
    about = ", ".join(f"{k} {v}" for k, v in metrics.items() if k in ("n", "seed", "step", "ema", "features", "kind"))
    return f'<table>{rows}</table><p class="muted">{escape(about)}</p>'


def _curves(record: RunRecord) -> str:
    keys = numeric_keys(record.stats)
    if not keys:
        return '<p class="muted">No statistics yet (stats.jsonl is written every train.log_every steps).</p>'
    domain = (0.0, float(max(record.total_steps, record.last_step, 1)))
    charts = []
    for title, members in curve_groups(keys):
        series = [Series(LABELS.get(k, k), *column(record.stats, k), color=PALETTE[i % len(PALETTE)])
                  for i, k in enumerate(members)]
        charts.append(line_chart(series, title=title, x_domain=domain, legend=len(series) > 1))
    return f'<div class="charts">{"".join(charts)}</div>'


def _alerts(record: RunRecord) -> str:
    found = [(row["step"], text) for row in record.stats for text in row.get("alerts") or []]
    if not found:
        return ""
    items = "".join(f"<li>step {step}: {escape(str(text))}</li>" for step, text in found)
    return f'<ul class="warn">{items}</ul>'


def _evals(record: RunRecord) -> str:
    if not record.evals:
        return ""
    keys = numeric_keys(record.evals)
    domain = (0.0, float(max(record.total_steps, record.last_step, 1)))
    charts = "".join(line_chart([Series(k, *column(record.evals, k), color=PALETTE[0])], title=k, x_domain=domain,
                                legend=False, width=290, height=200) for k in keys)
    head = "".join(f"<th>{escape(k)}</th>" for k in ["step", *keys])
    body = "".join("<tr>" + cell(row["step"]) + "".join(cell(row.get(k)) for k in keys) + "</tr>"
                   for row in record.evals)
    table = f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'
    if len(record.evals) > 20:
        table = f"<details><summary>all {len(record.evals)} evaluations</summary>{table}</details>"
    return f'<div class="charts">{charts}</div>{table}'


def _snapshots(record: RunRecord) -> str:
    if not record.snapshots:
        return '<p class="muted">No snapshots yet (samples/step_*.png are written every train.sample_every steps).</p>'
    shown = spread(record.snapshots, MAX_SNAPSHOTS)
    sizes = {"max_width": 270} if record.is_points else {"min_width": 160}  # four scatters to a row
    figures = "".join(figure(img_tag(path.read_bytes(), f"samples at step {step}", **sizes),
                              f"step {step}") for step, path in shown)
    note = ("the same latent codes (fixed noise) at each snapshot" +
            (f"; {len(shown)} of {len(record.snapshots)} shown, progress.gif plays them all"
             if len(shown) < len(record.snapshots) else ""))
    return f'<p class="muted">{escape(note)}</p><div class="gallery">{figures}</div>'


def _maps(record: RunRecord) -> str:
    if not record.is_points:
        return ""

    panels, notes = discriminator_maps(record)
    if not panels and not notes:
        return '<p class="muted">No checkpoint kept yet (checkpoints/ is written every train.checkpoint_every steps).</p>'
    loss = record.get("loss.name")
    what = ("D(x) = σ(logit): blue where D calls a point real, red where it calls it fake; the black line is D = ½"
            if loss in PROBABILITY_LOSSES else
            "D's raw output f(x), centred on its median: blue high (real), red low (generated)")
    figures = "".join(figure(img_tag(p.png, f"discriminator at {p.label}"), p.label) for p in panels)
    warnings = "".join(f'<p class="warn">{escape(n)}</p>' for n in notes)
    return (f'<p class="muted">{escape(what)}; real points dark blue, G(z) (raw weights, 1000 seeded codes) dark '
            f'red, one panel per kept checkpoint.</p><div class="gallery">{figures}</div>{warnings}')


def render_report(record: RunRecord) -> str:
    """The HTML of one run's page."""
    return page(f"{record.name}: {record.title}", f"{status_line(record)} · {record.path.resolve()}", [
        ("overview", "Overview", _overview(record)),
        ("metrics", "Metrics (metrics.json)", _metrics_section(record)),
        ("curves", "Training statistics (stats.jsonl)", _curves(record)),
        ("alerts", "Health alerts", _alerts(record)),
        ("evals", "Periodic evaluations (evals.jsonl)", _evals(record)),
        ("samples", "Fixed-noise samples over training", _snapshots(record)),
        ("discriminator", "The discriminator on the plane", _maps(record)),
        ("config", "Resolved config (config.json)", _config_table(record.config)),
    ])


def write_report(run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None) -> Path:
    """Write ``RUN/report.html``: config, curves, evaluations, metrics and samples of one run.

    The page is one self-contained file: images are inlined as ``data:`` URIs, curves are inline
    SVG, and it requests nothing from the network. It is written atomically, so it can be
    rewritten while a browser shows it (or while the run still trains).

    Args:
        run_dir: the run folder.
        out: where to write (default ``run_dir/report.html``).

    Returns:
        The page's path.

    Raises:
        GankitError: not a run folder, or a damaged file in it (one line).
    """

    record = read_run(run_dir)
    path = Path(out) if out is not None else record.path / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, render_report(record).encode("utf-8"))
    return path


# ------------------------------------------------------------------------ when a run stops

def write_run_pages(run_dir: str | os.PathLike[str], *, log=print) -> list[Path]:
    """Write ``progress.gif`` and ``report.html`` of a run that just stopped; never raises.

    What the trainer calls at the end of a run (finished or interrupted), on rank 0 only: a page
    that cannot be written (a full disk, a damaged file) is one warning line in ``log``, never a
    failed run.

    Returns:
        The files written.
    """

    written = []
    for what, write in (("progress.gif", write_progress_gif), ("report.html", write_report)):
        try:
            path = write(run_dir)
        except (GankitError, OSError) as err:
            log(f"warning: {what} was not written: {' '.join(str(err).split())}")
            continue
        if path is not None:
            written.append(path)
    return written


class RunPages:
    """A training callback (:mod:`gankit.training.callbacks`) that writes the run's pages when it stops.

    ``gankit.train(cfg, callbacks=[RunPages()])`` leaves ``progress.gif`` and ``report.html`` in the
    run folder, finished or interrupted; only rank 0 writes.
    """

    def on_end(self, trainer: Any) -> None:
        if getattr(trainer, "is_main", True) and trainer.cfg.train.report:
            write_run_pages(trainer.run_dir, log=trainer.log)
