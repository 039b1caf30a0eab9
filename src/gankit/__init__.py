"""gankit: GAN, DCGAN and W-GAN from the theory up.

The public Python API, imported on first use so that ``import gankit`` stays fast::

    import gankit

    cfg = gankit.load_config("toy-ring8", steps=2000)      # a preset plus overrides, checked
    run = gankit.train(cfg, out="runs/ring8")               # -> trained G, D, EMA and the run folder
    print(gankit.evaluate(run)["metrics"])                  # modes, high-quality %, reverse KL, W1
    G = gankit.load_generator("runs/ring8")                 # an nn.Module with .sample(n, seed=...)
    x = G.sample(1000, seed=0)

* :func:`load_config` (:func:`gankit.training.config.load_config`): a config from a preset and
  overrides.
* :func:`train` / :func:`resume` (:mod:`gankit.runs.start`): train a run, optionally with your own
  ``G`` and ``D`` modules and callbacks (:mod:`gankit.training.callbacks`); continue one.
* :func:`load_generator` (:mod:`gankit.runs.sampling`): a run's generator, ready to sample.
* :func:`evaluate` (:mod:`gankit.runs.evaluate`): score a run or samples in memory.
* :mod:`experiments`: the tutorial's experiments (``numbers()`` and ``plot()`` each).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from gankit.lazy import lazy_attributes

try:
    __version__ = version("gankit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# public name -> module that defines it (None: the name is itself a submodule)
_API = {
    "load_config": "gankit.training.config",
    "RunConfig": "gankit.training.config",
    "train": "gankit.runs.start",
    "resume": "gankit.runs.start",
    "TrainResult": "gankit.training.loop",
    "load_generator": "gankit.runs.sampling",
    "TrainedGenerator": "gankit.runs.sampling",
    "evaluate": "gankit.runs.evaluate",
    "experiments": None,
}

__all__ = ["__version__", *sorted(_API)]


__getattr__ = lazy_attributes("gankit", _API)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
