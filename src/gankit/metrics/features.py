"""Feature spaces for the image metrics, and the on-disk cache of real-data features.

An *extractor* maps uint8 images ``[N, C, H, W]`` to float32 features ``[N, F]`` (and class
probabilities ``[N, K]``); its ``tag`` names the exact weights, so cached real features are never
reused across different networks. Two spaces:

* ``classifier``: the penultimate layer of gankit's own domain classifier
  (:mod:`gankit.metrics.classifier`, trained with ``gankit evaluator train``), for datasets with
  labels. Cheap, and meaningful at 28 x 28.
* ``inception``: the standard FID Inception-v3 (:mod:`gankit.metrics.inception`), the space in
  which published FID / KID / IS numbers live.

Real features are computed once per dataset, split, image size, channel count and extractor tag
and stored under ``<cache root>/stats/`` (``$GANKIT_CACHE`` or ``~/.cache/gankit``; not at all
with ``GANKIT_CACHE=off``) as ``.npz`` (read with ``allow_pickle=False``), written atomically
(temp file + ``os.replace``). The real set
is a fixed permutation of the split (seed ``REAL_SEED``), so a cache of the first ``n`` rows
serves any request for ``n`` or fewer.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from gankit.errors import GankitError
from gankit.fileio import atomic_write_bytes
from gankit.metrics import classifier
from gankit.metrics.inception import InceptionExtractor, cache_root, caching_enabled

# datasets whose labels let gankit train a domain classifier; elsewhere the default is inception
LABELLED_DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10")
REAL_SEED = 0
BATCH_SIZE = 250


class Extractor(Protocol):
    """What the image evaluation needs from a feature space."""

    tag: str
    num_features: int

    def features_and_probs(self, x: Tensor) -> tuple[Tensor, Tensor]: ...
    def features(self, x: Tensor) -> Tensor: ...
    def probs(self, x: Tensor) -> Tensor: ...


def load_classifier(data: str, *, image_size: int, path: str | None = None, device: Any = None) -> torch.nn.Module:
    """gankit's trained domain classifier for ``data`` (:func:`gankit.metrics.classifier.load_classifier`)."""
    return classifier.load_classifier(data, image_size=image_size, path=path, device=device)


class ClassifierExtractor:
    """Penultimate-layer features and softmax class probabilities of the domain classifier.

    Args:
        module: a classifier with ``features(x) -> [N, F]``, ``logits(x) -> [N, K]`` and the
            attributes ``num_features``, ``image_size``, ``channels`` and ``tag``; where it also has
            ``features_and_logits(x)`` (gankit's :class:`~gankit.metrics.classifier.DomainClassifier`),
            :meth:`features_and_probs` runs the network once instead of twice.
        device: where it runs.
    """

    def __init__(self, module: torch.nn.Module, *, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.num_features = int(module.num_features)
        self.image_size = int(module.image_size)
        self.channels = int(module.channels)
        self.tag = f"classifier-{module.tag}"

    def _check(self, x: Tensor) -> Tensor:
        want = (self.channels, self.image_size, self.image_size)
        if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise GankitError(f"the classifier takes uint8 images [N, {want[0]}, {want[1]}, {want[2]}], "
                              f"got {x.dtype} {tuple(x.shape)}; evaluate at the size it was trained on")
        return x.to(self.device)

    @torch.no_grad()
    def features_and_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Features ``[N, F]`` and class probabilities ``[N, K]`` of uint8 images ``[N, C, H, W]``."""
        x = self._check(x)
        both = getattr(self.module, "features_and_logits", None)
        feats, logits = both(x) if both is not None else (self.module.features(x), self.module.logits(x))
        return feats.float(), logits.float().softmax(dim=1)

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        return self.module.features(self._check(x)).float()

    @torch.no_grad()
    def probs(self, x: Tensor) -> Tensor:
        return self.module.logits(self._check(x)).float().softmax(dim=1)


def _classifier(*, data: str, image_size: int, weights: str | None, device: Any) -> ClassifierExtractor:
    return ClassifierExtractor(load_classifier(data, image_size=image_size, path=weights, device=device),
                               device=device)


def _inception(*, data: str, image_size: int, weights: str | None, device: Any) -> InceptionExtractor:
    return InceptionExtractor(weights, device=device)


FEATURES: dict[str, Callable[..., Extractor]] = {
    "classifier": _classifier,
    "inception": _inception,
}


def default_feature_space(data: str) -> str:
    """``classifier`` for datasets with labels (digits, fashion-mnist, mnist, cifar10), else ``inception``."""
    return "classifier" if data in LABELLED_DATASETS else "inception"


def get_extractor(name: str, *, data: str, image_size: int, weights: str | None = None,
                  device: str | torch.device = "cpu") -> Extractor:
    """Build the feature extractor ``name`` (a key of :data:`FEATURES`).

    Args:
        name: ``"classifier"`` or ``"inception"``.
        data: dataset name (selects the classifier).
        image_size: side of the images it will see.
        weights: local weights path (classifier or Inception); ``None`` uses the default place.
        device: where it runs.
    """
    if name not in FEATURES:
        raise GankitError(f"unknown feature space {name!r}; choose one of {', '.join(FEATURES)}")
    return FEATURES[name](data=data, image_size=image_size, weights=weights, device=device)


def extract(extractor: Extractor, images: Any, *, batch_size: int = BATCH_SIZE) -> tuple[Tensor, Tensor]:
    """Features ``[N, F]`` and probabilities ``[N, K]`` (float32, CPU) of uint8 images ``[N, C, H, W]``, in batches."""
    x = torch.as_tensor(images)
    feats, probs = [], []
    for s in range(0, len(x), batch_size):
        f, p = extractor.features_and_probs(x[s:s + batch_size])
        feats.append(f.cpu())
        probs.append(p.cpu())
    return torch.cat(feats), torch.cat(probs)


# --------------------------------------------------------------------------------------------
# real-feature cache


def stats_dir() -> Path:
    """``<cache root>/stats``."""
    return cache_root() / "stats"


def stats_path(data: str, split: str, image_size: int, channels: int, tag: str) -> Path:
    """Cache file of one (dataset, split, size, channels, extractor) combination."""
    # dataset names may be paths ("folder:/x/y"): keep a readable slug plus a hash of the full name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", data).strip("_")[-40:]
    digest = hashlib.sha256(data.encode()).hexdigest()[:8]
    return stats_dir() / f"{slug}-{digest}-{split}-{image_size}px-c{channels}-{tag}.npz"


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _load_cached(path: Path, n: int, num_features: int) -> Tensor | None:
    """The first ``n`` cached rows, or ``None`` if the file is missing, short, foreign or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            feats, seed = z["features"], int(z["real_seed"])
    except (OSError, KeyError, ValueError):
        return None  # a stale or damaged cache is simply recomputed and replaced
    if seed != REAL_SEED or feats.ndim != 2 or feats.shape[1] != num_features or len(feats) < n:
        return None
    return torch.from_numpy(np.ascontiguousarray(feats[:n], dtype=np.float32))


def real_subset(images: Tensor, n: int) -> Tensor:
    """The first ``n`` images ``[n, C, H, W]`` of a fixed (``REAL_SEED``) permutation of ``images``."""
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(REAL_SEED))
    return images[perm[:n]]


def real_features(
    extractor: Extractor,
    images: Tensor,
    n: int,
    *,
    data: str,
    split: str,
    use_cache: bool = True,
    batch_size: int = BATCH_SIZE,
) -> Tensor:
    """Features ``[min(n, N), F]`` of the fixed real subset of ``images [N, C, H, W]``, cached on disk.

    Args:
        extractor: the feature space.
        images: the whole split, uint8 ``[N, C, H, W]``.
        n: how many real samples to use (capped by ``N``).
        data, split: name the cache entry, with the image size, channels and ``extractor.tag``.
        use_cache: read and write the disk cache (also off when ``GANKIT_CACHE=off``).
        batch_size: images per forward pass when the features are computed.
    """
    n = min(n, len(images))
    use_cache = use_cache and caching_enabled()
    path = stats_path(data, split, images.shape[-1], images.shape[1], extractor.tag)
    if use_cache:
        cached = _load_cached(path, n, extractor.num_features)
        if cached is not None:
            return cached
    feats, _ = extract(extractor, real_subset(images, n), batch_size=batch_size)
    if use_cache:
        _atomic_save_npz(path, features=feats.numpy(), real_seed=np.array(REAL_SEED))
    return feats
