"""Fixtures of the fault tests (the helpers they use live in ``faultkit``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from faultkit import cli_in_process, toy_argv


@pytest.fixture
def cache_dir(tmp_path_factory) -> Path:
    return Path(os.environ.get("GANKIT_CACHE") or tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory) -> Callable[[int], Path]:
    """``reference_run(steps)``: an uninterrupted in-process toy run of ``steps`` steps (made once per count)."""
    made: dict[int, Path] = {}

    def get(steps: int) -> Path:
        if steps not in made:
            out = tmp_path_factory.mktemp("reference") / f"straight-{steps}"
            rc, _, err = cli_in_process(toy_argv(out, steps))
            assert rc == 0, err
            made[steps] = out
        return made[steps]

    return get
