"""The tutorial's analysis, reproduced as experiments: one module per experiment.

Every module has ``TITLE`` and ``CLAIM`` (one line each), ``numbers(quick=False, seed=0) -> dict``
(the measurements, JSON-ready: infinities are the string ``"inf"``), ``plot(result, path)`` (a
PNG of them) and ``summary(result) -> list[str]`` (markdown lines for the report).
:func:`run_experiment` runs one and writes ``NAME.json`` and ``NAME.png``; :func:`run_all` runs
them all and adds ``report.md`` (see :mod:`gankit.experiments.report`).

Everything runs on the CPU, one thread, seeded: a run with the same seed gives the same numbers
on the same machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gankit import __version__
from gankit.experiments.registry import EXPERIMENTS, get_experiment
from gankit.experiments.report import write_report

DEFAULT_OUT = "experiments"


def run_experiment(name: str, out: str | Path = DEFAULT_OUT, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Run experiment ``name`` and write ``out/NAME.json`` and ``out/NAME.png``.

    The JSON holds the dict of ``numbers()`` plus ``meta`` (name, quick, seed, wall-clock
    seconds of ``numbers()``, gankit version).

    Returns:
        What was written to the JSON.
    """
    module = get_experiment(name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = module.numbers(quick=quick, seed=seed)
    wall = time.perf_counter() - start
    result = {**result, "meta": {"experiment": name, "quick": quick, "seed": seed, "wall_s": round(wall, 2),
                                 "version": __version__}}
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    module.plot(result, out / f"{name}.png")
    return result


def run_all(out: str | Path = DEFAULT_OUT, *, quick: bool = False, seed: int = 0, log=print) -> list[dict[str, Any]]:
    """Run every experiment in :data:`EXPERIMENTS` order, then write ``out/report.md``."""
    results = []
    for name in EXPERIMENTS:
        log(f"running {name} ...")
        result = run_experiment(name, out, quick=quick, seed=seed)
        log(f"  {name}: {result['meta']['wall_s']:.1f} s")
        results.append(result)
    write_report(results, out)
    return results


__all__ = ["DEFAULT_OUT", "EXPERIMENTS", "get_experiment", "run_all", "run_experiment"]
