"""gankit: GAN, DCGAN and W-GAN from the theory up.

The public Python API is re-exported here by name; see the README for a tour.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gankit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
