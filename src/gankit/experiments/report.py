"""``report.md``: every experiment's figure, claim, key numbers and wall time on one page."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from gankit.experiments.registry import get_experiment


def render_report(results: list[dict[str, Any]]) -> str:
    """The markdown text of the report for results written by :func:`run_experiment`.

    Args:
        results: dicts holding an experiment's numbers and its ``meta`` (name, quick, seed, wall_s).
    """
    total = sum(r["meta"]["wall_s"] for r in results)
    quick = any(r["meta"]["quick"] for r in results)
    seeds = sorted({r["meta"]["seed"] for r in results})
    version = results[0]["meta"]["version"] if results else "?"
    lines = [
        "# gankit experiments",
        "",
        f"gankit {version}, {'quick' if quick else 'full'} budget, seed {', '.join(map(str, seeds))}, "
        f"CPU ({platform.machine()}, one torch thread); the measurements took {total:.0f} s in all "
        "(plotting not counted).",
        "Rerun with `gankit experiment all" + (" --quick" if quick else "") + "`; one experiment with "
        "`gankit experiment NAME`. The numbers behind each figure are in `NAME.json`.",
        "",
        "| experiment | wall time (s) |",
        "|---|---|",
        *(f"| [{r['meta']['experiment']}](#{r['meta']['experiment']}) | {r['meta']['wall_s']:.1f} |" for r in results),
        "",
    ]
    for result in results:
        name = result["meta"]["experiment"]
        module = get_experiment(name)
        lines += [
            f"## {name}",
            "",
            f"**{module.TITLE}.** {module.CLAIM}",
            "",
            f"![{name}]({name}.png)",
            "",
            *module.summary(result),
            "",
            f"Wall time {result['meta']['wall_s']:.1f} s; numbers in [`{name}.json`]({name}.json).",
            "",
        ]
    return "\n".join(lines)


def write_report(results: list[dict[str, Any]], out: str | Path) -> Path:
    """Write ``out/report.md`` for ``results`` and return its path."""
    path = Path(out) / "report.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results), encoding="utf-8")
    return path


__all__ = ["render_report", "write_report"]
