"""Shared test set-up: no test writes to the user's home cache, and torch stays on one thread.

One thread keeps small CPU models fast and makes timings independent of other load; tests that
need another cache (a trained evaluator, say) set GANKIT_CACHE themselves.
"""

import os

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    if "GANKIT_CACHE" not in os.environ or os.environ.get("CI"):
        os.environ["GANKIT_CACHE"] = str(tmp_path_factory.mktemp("gankit-cache"))
    yield
