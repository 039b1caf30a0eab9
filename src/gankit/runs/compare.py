"""``compare.html``: several runs on one page, their curves overlaid on shared axes.

:func:`write_comparison` reads each run folder as :func:`gankit.runs.report.write_report` does and
shows the settings that differ, the metrics side by side, every statistic of ``stats.jsonl`` and
``evals.jsonl`` as one chart with a line per run (one colour per run, one x axis for all), the
fixed-noise snapshots in aligned columns and, for 2-D runs, each discriminator at its newest
checkpoint. Like a run's page it is one self-contained file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from gankit.errors import GankitError
from gankit.fileio import atomic_write_bytes
from gankit.runs.charts import PALETTE, Series, line_chart
from gankit.runs.dmap import discriminator_maps, map_checkpoints
from gankit.runs.report import (
    LABELS,
    RunRecord,
    cell,
    column,
    curve_groups,
    figure,
    flat_config,
    img_tag,
    numeric_keys,
    page,
    read_run,
    spread,
    status_line,
)

MAX_COMPARE_SNAPSHOTS = 8  # rows of the aligned snapshot table


def _names(records: Sequence[RunRecord]) -> list[str]:
    """Short names that tell the runs apart (the parent folder is added to clashing names)."""
    names = [r.name for r in records]
    if len(set(names)) == len(names):
        return names
    longer = [f"{r.path.resolve().parent.name}/{r.name}" for r in records]
    return longer if len(set(longer)) == len(longer) else [f"{i + 1}: {n}" for i, n in enumerate(longer)]


def _legend(records: Sequence[RunRecord], names: Sequence[str]) -> str:
    rows = "".join(f'<tr><td><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
                   f"{escape(names[i])}</td><td>{escape(r.title)}</td><td>{escape(status_line(r))}</td>"
                   f'<td class="muted">{escape(str(r.path.resolve()))}</td></tr>' for i, r in enumerate(records))
    return f"<table><tr><th>run</th><th>what</th><th>progress</th><th>folder</th></tr>{rows}</table>"


def _compare_config(records: Sequence[RunRecord], names: Sequence[str]) -> str:
    flats = [flat_config(r.config) for r in records]
    keys = sorted(set().union(*flats))
    differ = [k for k in keys if len({json.dumps(f.get(k)) for f in flats}) > 1]
    head = "<tr><th>key</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"

    def table(chosen: Sequence[str], mark: bool) -> str:
        rows = "".join(f'<tr{" class=diff" if mark and k in differ else ""}><th>{escape(k)}</th>'
                       + "".join(cell(f.get(k)) for f in flats) + "</tr>" for k in chosen)
        return f'<div class="scroll"><table>{head}{rows}</table></div>'

    summary = (f"<h3>{len(differ)} settings differ</h3>{table(differ, False)}" if differ
               else '<p class="muted">The runs share every setting.</p>')
    return f"{summary}<details><summary>every setting</summary>{table(keys, True)}</details>"


def _compare_metrics(records: Sequence[RunRecord], names: Sequence[str]) -> str:
    scores = [(r.metrics or {}).get("metrics") or {} for r in records]
    keys = list(dict.fromkeys(k for s in scores for k in s))
    if not keys:
        return '<p class="muted">No run has a metrics.json yet (write one with <code>gankit evaluate RUN</code>).</p>'
    head = "<tr><th>metric</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    rows = "".join(f"<tr><th>{escape(k)}</th>" + "".join(cell(s.get(k)) for s in scores) + "</tr>" for k in keys)
    steps = "<tr><th>scored at step</th>" + "".join(cell((r.metrics or {}).get("step")) for r in records) + "</tr>"
    return f"<table>{head}{rows}{steps}</table>"


def _overlaid(records: Sequence[RunRecord], names: Sequence[str], rows_of, keys: Sequence[str], domain,
              *, width: int = 380, height: int = 240) -> str:
    charts = []
    for key in keys:
        series = [Series(names[i], *column(rows_of(r), key), color=PALETTE[i % len(PALETTE)])
                  for i, r in enumerate(records) if any(key in row for row in rows_of(r))]
        title = f"{LABELS[key]} ({key})" if key in LABELS else key
        charts.append(line_chart(series, title=title, x_domain=domain, width=width, height=height))
    return f'<div class="charts">{"".join(charts)}</div>'


def _compare_snapshots(records: Sequence[RunRecord], names: Sequence[str]) -> str:
    steps = sorted({s for r in records for s, _ in r.snapshots})
    if not steps:
        return ""
    head = "<tr><th>step</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    rows = []
    for target in spread(steps, MAX_COMPARE_SNAPSHOTS):
        cells = []
        for r in records:
            if not r.snapshots:
                cells.append("<td></td>")
                continue
            step, path = min(r.snapshots, key=lambda item: (abs(item[0] - target), item[0]))
            sizes = {"max_width": 300} if r.is_points else {"min_width": 140}
            inner = img_tag(path.read_bytes(), f"{r.name} at step {step}", **sizes)
            cells.append(f"<td>{figure(inner, f'step {step}')}</td>")
        rows.append(f"<tr><th>{target}</th>{''.join(cells)}</tr>")
    return (f'<p class="muted">each run\'s snapshot nearest to the step on the left</p>'
            f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>')


def _compare_maps(records: Sequence[RunRecord], names: Sequence[str]) -> str:
    cells = []
    for name, r in zip(names, records, strict=True):
        if not r.is_points:
            continue
        kept = [item for item in map_checkpoints(r.path) if item[0] != "best"][-1:]
        panels, notes = discriminator_maps(r, files=kept)
        inner = "".join(figure(img_tag(p.png, f"{name}: discriminator at {p.label}"), f"{name}, {p.label}")
                        for p in panels) + "".join(f'<p class="warn">{escape(n)}</p>' for n in notes)
        cells.append(inner)
    if not cells:
        return ""
    return ('<p class="muted">each 2-D run\'s discriminator at its newest checkpoint, with real (blue) and '
            f'generated (red) points</p><div class="gallery">{"".join(cells)}</div>')


def render_comparison(records: Sequence[RunRecord]) -> str:
    """The HTML of a page comparing ``records``: shared axes, one colour per run."""
    names = _names(records)
    domain = (0.0, float(max(max(r.total_steps, r.last_step) for r in records) or 1))
    stat_keys = list(dict.fromkeys(k for r in records for k in numeric_keys(r.stats)))
    ordered = [k for _, members in curve_groups(stat_keys) for k in members]
    eval_keys = list(dict.fromkeys(k for r in records for k in numeric_keys(r.evals)))
    curves = (_overlaid(records, names, lambda r: r.stats, ordered, domain) if ordered
              else '<p class="muted">No run has statistics yet.</p>')
    evals = _overlaid(records, names, lambda r: r.evals, eval_keys, domain, width=320, height=220) if eval_keys else ""
    title = f"{len(records)} runs compared"
    return page(title, " · ".join(names), [
        ("runs", "Runs", _legend(records, names)),
        ("config", "Settings", _compare_config(records, names)),
        ("metrics", "Metrics (metrics.json)", _compare_metrics(records, names)),
        ("curves", "Training statistics (stats.jsonl), shared axes", curves),
        ("evals", "Periodic evaluations (evals.jsonl), shared axes", evals),
        ("samples", "Fixed-noise samples side by side", _compare_snapshots(records, names)),
        ("discriminator", "The discriminators on the plane", _compare_maps(records, names)),
    ])


def write_comparison(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Write one page comparing several runs: settings that differ, metrics, curves overlaid on
    shared axes (one colour per run) and snapshots in aligned columns.

    Args:
        run_dirs: the run folders (at least one).
        out: the page to write (e.g. ``compare.html``), atomically.

    Raises:
        GankitError: no run given, or one that :func:`write_report` would refuse.
    """

    if not run_dirs:
        raise GankitError("compare at least one run folder")
    records = [read_run(d) for d in run_dirs]
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, render_comparison(records).encode("utf-8"))
    return path
