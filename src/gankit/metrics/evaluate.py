"""Score generated samples against their dataset: the library side of ``gankit evaluate``.

* :func:`evaluate_samples` scores samples in memory (a dict with ``images`` uint8
  ``[N, C, H, W]`` or ``points`` float32 ``[N, 2]``, as :func:`gankit.runs.sampling.generate_samples`
  returns and ``gankit sample`` saves). Points get the toy mode metrics
  (:mod:`gankit.metrics.toy`); images get FID, KID, precision / recall, density / coverage and
  IS in a feature space (:mod:`gankit.metrics.features`), plus the domain classifier's class
  histogram where one is trained.
* :func:`write_metrics` writes a result as strict JSON (``metrics.json``); scoring a whole run
  folder is :func:`gankit.runs.evaluate.evaluate_run`, one layer up.
* :func:`load_samples` reads and checks a sample ``.npz``.
* :func:`class_metrics` scores a class-conditional generator's samples class by class
  (:func:`per_class_scores`: the classifier's agreement with the asked class, intra-class FID).

Repeated calls (the trainer scoring every N steps) are cheap: the feature extractor and the real
features are kept in memory per (dataset, size, channels, feature space, weights, n, split,
device), and the real features are also cached on disk (see :mod:`gankit.metrics.features`).
The trainer's periodic FID needs no raw generated features in one place: it adds per-rank float64
sums into :meth:`ImageEvaluator.real_fid` (see :class:`gankit.metrics.image.FID`).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gankit.data import FOLDER_PREFIX, fit_images, load_dataset, toy_modes
from gankit.data.base import check_image_size
from gankit.errors import GankitError
from gankit.fileio import atomic_write_bytes
from gankit.metrics import features as F
from gankit.metrics.image import FID, fid, image_metrics
from gankit.metrics.toy import DEFAULT_TOY_SAMPLES, evaluate_toy

DEFAULT_N_IMAGES = 10_000
BUILTIN_DEFAULT_SIZE, FOLDER_DEFAULT_SIZE = 32, 64  # the sources' default image sides (gankit.data)
DEFAULT_N_POINTS = DEFAULT_TOY_SAMPLES
MIN_SAMPLES = 10  # k-NN metrics need k + 1 = 6 and KID / FID need 2; 10 leaves some margin


# --------------------------------------------------------------------------------------------
# samples


def check_samples(samples: Mapping[str, Any] | Any, origin: str = "samples") -> tuple[str, Tensor]:
    """Validate samples and return ``(kind, tensor)`` with kind ``"images"`` or ``"points"``.

    Args:
        samples: a mapping with exactly one of ``images`` (uint8 ``[N, C, H, W]``, C in {1, 3},
            H == W) or ``points`` (float ``[N, 2]``, finite); or such an array / tensor itself.
        origin: names the source in error messages.
    """
    if isinstance(samples, Mapping):
        keys = [k for k in ("images", "points") if k in samples]
        if len(keys) != 1:
            raise GankitError(f"{origin} must hold exactly one of the arrays 'images' (uint8 [N,C,H,W]) or "
                              f"'points' (float32 [N,2]); found {sorted(samples) or 'none'}")
        kind, x = keys[0], samples[keys[0]]
    else:
        x = samples
        kind = "points" if getattr(x, "ndim", 0) == 2 else "images"
    if not isinstance(x, Tensor):
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise GankitError(f"{origin}: '{kind}' holds {x.dtype} values, not numbers; save samples with 'gankit sample'")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if kind == "images":
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[2] != x.shape[3]:
            raise GankitError(f"{origin}: 'images' must be uint8 [N, 1 or 3, H, H], got {x.dtype} {tuple(x.shape)}; "
                              "save samples with 'gankit sample'")
    else:
        if not x.is_floating_point() or x.ndim != 2 or x.shape[1] != 2:
            raise GankitError(f"{origin}: 'points' must be float [N, 2], got {x.dtype} {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise GankitError(f"{origin}: 'points' contains NaN or inf; the generator diverged")
        x = x.float()
    if len(x) < MIN_SAMPLES:
        raise GankitError(f"{origin} has {len(x)} samples; evaluation needs at least {MIN_SAMPLES}")
    return kind, x


def load_samples(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sample file ``.npz`` (``images`` or ``points``) without unpickling anything."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise GankitError(f"sample file {p} not found; create one with 'gankit sample RUN --out {p.name}'")
    try:
        z = np.load(p, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not named arrays")
        with z:
            arrays = {k: z[k] for k in z.files}  # object arrays raise ValueError here
    except (OSError, ValueError, EOFError) as err:
        first = " ".join(str(err).split())[:120]
        raise GankitError(f"{p} is not a readable .npz sample file ({first}); create one with 'gankit sample'") from None
    kind, x = check_samples(arrays, str(p))
    return {kind: x}


def _take(x: Tensor, n: int | None, origin: str) -> Tensor:
    if n is None:
        return x
    if n < MIN_SAMPLES:
        raise GankitError(f"--n must be at least {MIN_SAMPLES}, got {n}")
    if n > len(x):
        raise GankitError(f"{origin} has {len(x)} samples, fewer than --n {n}; pass --n {len(x)} or fewer")
    return x[:n]


# --------------------------------------------------------------------------------------------
# images


class ImageEvaluator:
    """Scores uint8 images against one dataset in one feature space (extractor and real features kept).

    Args:
        data: dataset name.
        image_size: side of the images to score (the real data is loaded at this size).
        channels: channel count to load the real data with; ``None`` keeps the dataset's own,
            and samples with a different count are refused.
        features: feature space (``classifier`` / ``inception``); ``None`` picks the default.
        inception_weights: local Inception weights file (default place when ``None``).
        classifier_weights: local domain-classifier file (default place when ``None``).
        n_real: real samples to compare with (capped by the split's size).
        split: dataset split that provides the real samples.
        device: where the networks and the distance computations run.
        use_cache: read / write the on-disk real-feature cache.
    """

    def __init__(self, data: str, *, image_size: int, channels: int | None = None, features: str | None = None,
                 inception_weights: str | None = None, classifier_weights: str | None = None,
                 n_real: int = DEFAULT_N_IMAGES, split: str = "train", device: str | torch.device = "cpu",
                 use_cache: bool = True) -> None:
        kwargs: dict[str, Any] = {"image_size": image_size, "split": split}
        if channels is not None:
            kwargs["channels"] = channels
        ds = load_dataset(data, **kwargs)
        if ds.kind != "images":
            raise GankitError(f"the samples are images but {data!r} is a 2-D points dataset; "
                              "pass the image dataset the samples imitate with --data")
        self.data, self.split = data, split
        self.shape = tuple(ds.data.shape[1:])  # (C, H, W)
        self.device = torch.device(device)
        self.feature_space = features or F.default_feature_space(data)
        self.classifier_weights = classifier_weights
        weights = inception_weights if self.feature_space == "inception" else classifier_weights
        self.extractor = F.get_extractor(self.feature_space, data=data, image_size=image_size,
                                         weights=weights, device=self.device)
        self._real_source = (ds.data, n_real, use_cache)
        self._real: Tensor | None = None
        self._real_fid_state: Tensor | None = None
        self.histogram = self._histogram_classifier(data, image_size)

    @property
    def real(self) -> Tensor:
        """Features of the real images, computed (or read from the disk cache) on first use."""
        if self._real is None:
            images, n_real, use_cache = self._real_source
            self._real = F.real_features(self.extractor, images, n_real, data=self.data, split=self.split,
                                         use_cache=use_cache)
        return self._real

    def _histogram_classifier(self, data: str, image_size: int) -> F.Extractor | None:
        """The domain classifier for the class histogram: the extractor itself, or one loaded aside."""
        if self.feature_space == "classifier":
            return self.extractor
        if data not in F.LABELLED_DATASETS:
            return None
        try:
            return F.get_extractor("classifier", data=data, image_size=image_size,
                                   weights=self.classifier_weights, device=self.device)
        except GankitError:
            return None  # the histogram is an extra; inception metrics stand without it

    def __call__(self, images: Tensor, *, seed: int = 0) -> dict[str, Any]:
        """Metrics of uint8 images ``[N, C, H, W]`` (see :func:`evaluate_samples`)."""
        return self.score(*self.extract(images), seed=seed)

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(features, probabilities, class probabilities or None)`` of uint8 images ``[N, C, H, W]``.

        Rows are independent, so data-parallel ranks may extract their own shards and
        concatenate the results before :meth:`score`.
        """
        if tuple(images.shape[1:]) != self.shape:
            raise GankitError(f"samples have shape {tuple(images.shape[1:])} per image but {self.data!r} "
                              f"is {self.shape} here; evaluate against the dataset and size the run trained on")
        fake, probs = F.extract(self.extractor, images)
        if self.histogram is None:
            return fake, probs, None
        cls_probs = probs if self.histogram is self.extractor else F.extract(self.histogram, images)[1]
        return fake, probs, cls_probs

    def score(self, fake: Tensor, probs: Tensor, cls_probs: Tensor | None = None, *, seed: int = 0) -> dict[str, Any]:
        """Every metric from the output of :meth:`extract` (for one whole set of images).

        Returns:
            :func:`gankit.metrics.image.image_metrics` of the real and generated features, plus
            ``class_counts`` and ``classes_covered`` (:func:`class_histogram`) with ``cls_probs``.
        """
        out: dict[str, Any] = image_metrics(self.real.to(self.device), fake.to(self.device), probs=probs, seed=seed)
        if cls_probs is not None:
            out.update(class_histogram(class_counts(cls_probs)))
        return out

    def real_fid(self) -> FID:
        r"""A fresh :class:`~gankit.metrics.image.FID` whose real set holds this evaluator's real features.

        The real sums (:math:`n`, :math:`\sum x`, :math:`\sum x x^\top`, float64) are computed on
        first use, on :attr:`device`, and kept; add generated features with ``update(x, real=False)``
        or summed per-rank states with ``add_state(state, real=False)``. Its ``compute()`` equals the
        ``fid`` of :meth:`score` for the same generated features, up to float64 rounding.
        """
        if self._real_fid_state is None:
            real = FID()
            real.update(self.real.to(self.device), real=True)
            self._real_fid_state = real.state(real=True)
        acc = FID(num_features=self.extractor.num_features)
        acc.add_state(self._real_fid_state, real=True)
        return acc


def class_counts(cls_probs: Tensor) -> Tensor:
    """How many rows of class probabilities ``[N, K]`` fall in each class (argmax): int64 ``[K]``."""
    return torch.bincount(cls_probs.argmax(dim=1), minlength=cls_probs.shape[1])


def class_histogram(counts: Tensor) -> dict[str, Any]:
    """``class_counts`` (a list of K ints) and ``classes_covered`` (classes with a sample) of counts ``[K]``."""
    return {"class_counts": [int(c) for c in counts], "classes_covered": int((counts > 0).sum())}


@functools.lru_cache(maxsize=4)
def _image_evaluator(data: str, image_size: int, channels: int | None, features: str | None,
                     inception_weights: str | None, classifier_weights: str | None, n_real: int, split: str,
                     device: str) -> ImageEvaluator:
    return ImageEvaluator(data, image_size=image_size, channels=channels, features=features,
                          inception_weights=inception_weights, classifier_weights=classifier_weights,
                          n_real=n_real, split=split, device=device)


def image_evaluator(data: str, *, image_size: int, n: int, channels: int | None = None, features: str | None = None,
                    device: str | torch.device = "cpu", split: str = "train") -> ImageEvaluator:
    """The (cached) evaluator :func:`evaluate_samples` uses for ``n`` images of this kind."""
    return _image_evaluator(data, image_size, channels, features, None, None, n, split, str(torch.device(device)))


def clear_cache() -> None:
    """Forget the in-memory extractors and real features (e.g. after replacing weights files)."""
    _image_evaluator.cache_clear()


# --------------------------------------------------------------------------------------------
# entry points


def evaluate_samples(
    samples: Mapping[str, Any] | Any,
    data: str,
    *,
    n: int | None = None,
    features: str | None = None,
    inception_weights: str | os.PathLike[str] | None = None,
    classifier_weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    split: str = "train",
    channels: int | None = None,
) -> dict[str, Any]:
    """Score generated samples against dataset ``data``.

    Args:
        samples: ``{"images": uint8 [N, C, H, W]}`` or ``{"points": float32 [N, 2]}`` (numpy or
            torch), or the array itself.
        data: the dataset the samples imitate.
        n: score the first ``n`` samples (all when ``None``; more than there are is an error).
        features: image feature space; ``None`` picks ``classifier`` for labelled datasets,
            else ``inception``.
        inception_weights: local Inception weights file (see :mod:`gankit.metrics.inception`).
        classifier_weights: local domain-classifier file (default: where ``gankit evaluator train``
            puts it).
        seed: seeds the fresh true toy samples, KID's subsets and IS's splits.
        device: where networks and distances run.
        split: dataset split that provides the real images.
        channels: load the real images with this many channels (a run trained that way);
            ``None`` refuses samples whose channels differ from the dataset's.

    Returns:
        ``{"data", "kind", "n", "seed", "metrics": {...}}`` plus ``features`` and
        ``feature_tag`` for images. Toy metrics: see :func:`gankit.metrics.toy.mode_metrics`;
        image metrics: see :func:`gankit.metrics.image.image_metrics`, plus ``class_counts``
        (10 ints) and ``classes_covered`` where a domain classifier is available.
    """
    kind, x = check_samples(samples)
    x = _take(x, n, "the samples")
    out: dict[str, Any] = {"data": data, "kind": kind, "n": len(x), "seed": seed}
    if kind == "points":
        try:
            toy_modes(data)
        except GankitError as err:
            raise GankitError(f"the samples are 2-D points but {data!r} is not a toy dataset ({err})") from None
        out["metrics"] = evaluate_toy(x, data, seed=seed)
        return out
    x, resized_from = fit_to_evaluator(x, data)
    if resized_from is not None:
        out["resized_from"] = resized_from
    dev = str(torch.device(device))
    ev = _image_evaluator(data, int(x.shape[-1]), channels, features, _path_str(inception_weights),
                          _path_str(classifier_weights), len(x), split, dev)
    out["features"], out["feature_tag"] = ev.feature_space, ev.extractor.tag
    out["metrics"] = ev(x, seed=seed)
    return out


# --------------------------------------------------------------------------------------------
# class-conditional generators


def per_class_scores(fake: Tensor, asked: Tensor, real: Tensor, real_labels: Tensor, num_classes: int, *,
                     cls_probs: Tensor | None = None) -> dict[str, Any]:
    r"""Per-class scores of a class-conditional generator, from features.

    .. math::
        \mathrm{acc}_k = \frac{|\{i : y_i = k,\ \arg\max_j p_j(x_i) = k\}|}{|\{i : y_i = k\}|},
        \qquad \mathrm{FID}_k = \mathrm{FID}(\{\phi(x) : x \text{ real of class } k\},
        \{\phi(G(z, k))\})

    ``acc_k`` is the share of the samples asked for class ``k`` that the domain classifier assigns
    to ``k`` (the "classification accuracy" of conditional samples, Odena et al., 2017 [1]);
    ``FID_k`` is the intra-class FID of Miyato & Koyama (2018, Sec. 5.1 [2]): the Fréchet distance
    (:func:`gankit.metrics.image.fid`) between the features of class ``k``'s real images and of the
    samples asked for ``k``. A class with fewer than two samples on either side has no FID (NaN).

    Args:
        fake: generated features ``[N, F]``.
        asked: int64 ``[N]``, the class each sample was asked for.
        real: real features ``[M, F]``.
        real_labels: int64 ``[M]``, their classes.
        num_classes: K.
        cls_probs: the domain classifier's class probabilities of the samples ``[N, K]``, or None
            (no accuracy then).

    Returns:
        ``intra_fid`` (K floats) and ``intra_fid_mean`` (over the classes that have one), plus with
        ``cls_probs`` ``class_accuracy`` (K floats, NaN for a class with no sample) and
        ``class_accuracy_mean`` (over all samples' classes, each class weighted equally).

    [1] A. Odena, C. Olah, J. Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML 2017.
    [2] T. Miyato, M. Koyama, "cGANs with Projection Discriminator", ICLR 2018.
    """
    asked, real_labels = asked.long().cpu(), real_labels.long().cpu()
    fake, real = fake.cpu(), real.cpu()
    out: dict[str, Any] = {}
    fids = []
    for k in range(num_classes):
        f, r = fake[asked == k], real[real_labels == k]
        fids.append(fid(r, f) if len(f) >= 2 and len(r) >= 2 else math.nan)
    present = [v for v in fids if math.isfinite(v)]
    out["intra_fid"] = fids
    out["intra_fid_mean"] = float(np.mean(present)) if present else math.nan
    if cls_probs is not None:
        hit = cls_probs.cpu().argmax(dim=1) == asked
        acc = [float(hit[asked == k].double().mean()) if bool((asked == k).any()) else math.nan
               for k in range(num_classes)]
        seen = [v for v in acc if math.isfinite(v)]
        out["class_accuracy"] = acc
        out["class_accuracy_mean"] = float(np.mean(seen)) if seen else math.nan
    return out


def real_by_class(labels: Tensor, num_classes: int, per_class: int) -> Tensor:
    """Indices of up to ``per_class`` real items of each class, from a fixed (``REAL_SEED``) permutation."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(F.REAL_SEED))
    return torch.cat([perm[labels[perm] == k][:per_class] for k in range(num_classes)])


def class_metrics(samples: Mapping[str, Any], data: str, *, num_classes: int, features: str | None = None,
                  inception_weights: str | os.PathLike[str] | None = None,
                  classifier_weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
                  split: str = "train", channels: int | None = None) -> dict[str, Any]:
    """Per-class scores (:func:`per_class_scores`) of a conditional run's samples against ``data``.

    Args:
        samples: ``{"images": uint8 [N, C, H, W], "labels": int64 [N]}`` (the class each was asked
            for, as :func:`gankit.runs.sampling.generate_samples` returns), or ``{"points": [N, 2],
            "labels": ...}`` for a labelled toy set, where a point's class is its nearest mode and
            only ``class_accuracy`` is given.
        data: the dataset the run trained on (labelled).
        num_classes: K.
        features, inception_weights, classifier_weights, device, split, channels: as
            :func:`evaluate_samples`. Images are compared in the same feature space; the accuracy
            needs the domain classifier (for a folder of classes there is none: FID only).
    """
    asked = torch.as_tensor(np.asarray(samples["labels"]), dtype=torch.int64)
    kind, x = check_samples({k: v for k, v in samples.items() if k in ("images", "points")})
    if kind == "points":
        modes, _ = toy_modes(data)
        nearest = torch.cdist(x.double(), modes.double()).argmin(dim=1)  # (N,)
        probs = torch.nn.functional.one_hot(nearest, max(len(modes), num_classes)).double()  # the "classifier"
        scores = per_class_scores(x, asked, x[:0], asked[:0], num_classes, cls_probs=probs)
        return {k: v for k, v in scores.items() if k.startswith("class_")}
    ev = _image_evaluator(data, int(x.shape[-1]), channels, features, _path_str(inception_weights),
                          _path_str(classifier_weights), len(x), split, str(torch.device(device)))
    fake, _, cls_probs = ev.extract(x)
    kwargs: dict[str, Any] = {"image_size": int(x.shape[-1]), "split": split}
    if channels is not None:
        kwargs["channels"] = channels
    ds = load_dataset(data, **kwargs)
    if ds.labels is None:
        raise GankitError(f"{data!r} has no class labels; per-class scores need labelled data")
    per_class = max(2, int(torch.bincount(asked, minlength=num_classes).max()))
    index = real_by_class(ds.labels, num_classes, per_class)
    real, _ = F.extract(ev.extractor, ds.data[index])
    if cls_probs is not None and cls_probs.shape[1] != num_classes:
        cls_probs = None  # a classifier of other classes says nothing about these
    return per_class_scores(fake, asked, real, ds.labels[index], num_classes, cls_probs=cls_probs)


def fit_to_evaluator(images: Tensor, data: str) -> tuple[Tensor, int | None]:
    """Samples of any side, at a size the evaluator takes: ``(images, original side or None)``.

    A side that is a power of two in [8, 256] is scored as it is (against real data loaded at that
    size). Any other (Fashion-MNIST's native 28, say) is brought to the data set's default size,
    32 (64 for folders), exactly as the real images are prepared (:func:`gankit.data.fit_images`:
    28 is padded 2 pixels a side to 32, anything else resized).
    """
    side = int(images.shape[-1])
    try:
        check_image_size(side, side)
        return images, None
    except GankitError:
        target = FOLDER_DEFAULT_SIZE if data.startswith(FOLDER_PREFIX) else BUILTIN_DEFAULT_SIZE
        return fit_images(images, target), side


def _path_str(p: str | os.PathLike[str] | None) -> str | None:
    return None if p is None else str(Path(p).expanduser().resolve())


def _json_safe(x: Any) -> Any:
    """Non-finite floats become ``null`` so metrics.json stays strict JSON."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_metrics(path: str | os.PathLike[str], result: Mapping[str, Any]) -> Path:
    """Write ``result`` as JSON to ``path`` atomically (temp file + ``os.replace``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, (json.dumps(_json_safe(dict(result)), indent=2, allow_nan=False) + "\n").encode())
    return p
