"""The standard FID Inception-v3 network (torch-fidelity's port of the 2015-12-05 TensorFlow graph).

Numbers are comparable with published FID / KID / IS only with the original weights. gankit never
downloads them on its own: the user places the file once, or opts in with
``gankit evaluate --download-weights`` (:func:`download_weights`, where the network reaches
GitHub), and gankit then only ever reads a local path. :data:`WEIGHTS_FILE` in ``~/.cache/gankit/weights/`` (``$GANKIT_CACHE/weights/``) is
found automatically; any other path is passed with ``--inception-weights PATH``. The file must be a
plain state dict; it is checked with ``torch.load(weights_only=True)`` before torch-fidelity reads it.

The network takes uint8 RGB ``[N, 3, H, W]`` and resizes to 299 x 299 itself (TensorFlow-1
compatible bilinear, as the reference FID code); grayscale ``[N, 1, H, W]`` is replicated to three
channels here. Features are the 2048-d pool3 activations; class probabilities are the softmax of
the 1008 unbiased logits (torch-fidelity's choice for IS).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor

from gankit.data.cache import cache_dir, files_root
from gankit.errors import GankitError, one_line
from gankit.fileio import atomic_write_bytes

# torch-fidelity's release asset (v0.2.0); pytorch-fid ships the same weights as ALT_WEIGHTS_FILE
# (same sha256 prefix, same state-dict keys), so either name is accepted in the cache folder.
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
ALT_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_SOURCE = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_FILE
NUM_FEATURES = 2048
NUM_CLASSES = 1008
INPUT_SIZE = 299


def caching_enabled() -> bool:
    """False when ``$GANKIT_CACHE`` is set to ``off`` (or ``0``, ``no``, ...), as for the data cache."""
    return cache_dir() is not None


def cache_root() -> Path:
    """Root of gankit's files; weights placed by hand are not a cache, so ``GANKIT_CACHE=off``
    leaves them under ``~/.cache/gankit`` (see :func:`gankit.data.cache.files_root`)."""
    return files_root()


def weights_dir() -> Path:
    """Folder searched for the Inception weights: ``<cache root>/weights``."""
    return cache_root() / "weights"


def find_weights(path: str | os.PathLike[str] | None = None) -> Path:
    """The Inception weights file: ``path`` if given, else the one placed in :func:`weights_dir`.

    Raises:
        GankitError: the file is missing, with the exact name, source and place to put it.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise GankitError(f"Inception weights {p} not found; pass the path of {WEIGHTS_FILE} "
                              f"(from {WEIGHTS_SOURCE}) to --inception-weights")
        return p
    for name in (WEIGHTS_FILE, ALT_WEIGHTS_FILE):
        if (weights_dir() / name).is_file():
            return weights_dir() / name
    raise GankitError(f"Inception weights not found: add --download-weights to fetch {WEIGHTS_FILE} once, or "
                      f"download it from {WEIGHTS_SOURCE} into {weights_dir()}/, or pass --inception-weights PATH")


def download_weights(url: str = WEIGHTS_SOURCE, dest: Path | None = None, *, timeout: float = 60.0) -> Path:
    """Fetch the FID Inception weights once (an explicit opt-in) into ``dest`` (default :func:`weights_dir`).

    The file's name ends in the first 8 hex digits of its SHA-256 (torch.hub's convention); the
    download is refused, and nothing is kept, unless its digest starts with them and it holds the
    Inception state dict. Written to a temporary name and moved into place.

    Raises:
        GankitError: no network, an HTTP error, or a file that is not the expected one.
    """
    import urllib.error
    import urllib.request

    name = url.rsplit("/", 1)[-1]
    target = (dest or weights_dir()) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 -- a fixed https URL
            payload = response.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise GankitError(f"could not download {name} ({one_line(reason, limit=120)}); with no network, download it "
                          f"elsewhere from {url} and put it in {target.parent}/") from None
    expected = name.rsplit("-", 1)[-1].split(".")[0]
    digest = hashlib.sha256(payload).hexdigest()
    if not digest.startswith(expected):
        raise GankitError(f"the download of {name} has SHA-256 {digest[:12]}..., not {expected}...; it was not kept")
    partial = target.with_name(f".{name}.part")
    atomic_write_bytes(partial, payload)
    try:
        _check_state_dict(partial)
    except GankitError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def _check_state_dict(path: Path) -> None:
    """Refuse anything but a plain tensor state dict before torch-fidelity unpickles it in full."""
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- any unpickling failure means "not a weights file"
        first = " ".join(str(err).split())[:120]
        raise GankitError(f"{path} is not a plain Inception state dict ({type(err).__name__}: {first}); "
                          f"use {WEIGHTS_FILE} from {WEIGHTS_SOURCE}") from None
    if not isinstance(state, dict) or "fc.weight" not in state or "Mixed_7c.branch_pool.conv.weight" not in state:
        raise GankitError(f"{path} does not hold FID Inception-v3 weights; use {WEIGHTS_FILE} from {WEIGHTS_SOURCE}")


class InceptionExtractor:
    """Pool3 features ``[N, 2048]`` and class probabilities ``[N, 1008]`` of the FID Inception net.

    Args:
        weights: local weights path (see :func:`find_weights`).
        device: where the network runs.
    """

    num_features = NUM_FEATURES

    def __init__(self, weights: str | os.PathLike[str] | None = None, *,
                 device: str | torch.device = "cpu") -> None:
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError:
            raise GankitError("the inception feature space needs torch-fidelity; "
                              "run: pip install torch-fidelity") from None
        path = find_weights(weights)
        _check_state_dict(path)
        self.device = torch.device(device)
        self.tag = f"inception-{_file_digest(path)}"
        try:
            with torch.random.fork_rng(devices=[]):  # its throwaway initial weights leave the caller's stream alone
                net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                  feature_extractor_weights_path=str(path))
        except RuntimeError as err:  # load_state_dict: wrong keys or shapes
            first = str(err).splitlines()[0][:120]
            raise GankitError(f"{path} does not fit the FID Inception-v3 network ({first}); "
                              f"use {WEIGHTS_FILE} from {WEIGHTS_SOURCE}") from None
        self.net = net.to(self.device)

    @staticmethod
    def _rgb(x: Tensor) -> Tensor:
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3):
            raise GankitError(f"the Inception extractor takes uint8 images [N, 1 or 3, H, W], "
                              f"got {x.dtype} {tuple(x.shape)}")
        return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x  # grayscale -> RGB

    @torch.no_grad()
    def features_and_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Float32 features ``[N, 2048]`` and probabilities ``[N, 1008]`` of uint8 images ``[N, C, H, W]``."""
        feats, logits = self.net(self._rgb(x).to(self.device))
        return feats.float(), logits.float().softmax(dim=1)

    def features(self, x: Tensor) -> Tensor:
        """Float32 pool3 features ``[N, 2048]`` of uint8 images ``[N, C, H, W]``."""
        return self.features_and_probs(x)[0]

    def probs(self, x: Tensor) -> Tensor:
        """Class probabilities ``[N, 1008]`` of uint8 images ``[N, C, H, W]``."""
        return self.features_and_probs(x)[1]
