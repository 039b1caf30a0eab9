"""Objective evaluation of generators.

* :mod:`~gankit.metrics.toy`: mode metrics for 2-D mixtures (modes captured, high-quality
  fraction, reverse KL, W1, histogram JS).
* :mod:`~gankit.metrics.image`: FID, KID, precision / recall, density / coverage, Inception Score
  over feature matrices (pure functions), and the FID accumulator whose float64 sums add up
  across batches and data-parallel ranks (what periodic evaluation during training uses).
* :mod:`~gankit.metrics.features` / :mod:`~gankit.metrics.inception`: the feature spaces
  (domain classifier, FID Inception-v3) and the real-feature cache.
* :mod:`~gankit.metrics.evaluate`: scoring a run or a sample file (``gankit evaluate``).
"""

from gankit.metrics.evaluate import (
    ImageEvaluator,
    check_samples,
    evaluate_samples,
    load_samples,
    write_metrics,
)
from gankit.metrics.features import FEATURES, default_feature_space, get_extractor
from gankit.metrics.image import (
    FID,
    density_coverage,
    fid,
    fid_from_stats,
    image_metrics,
    inception_score,
    kid,
    knn_metrics,
    precision_recall,
)
from gankit.metrics.toy import evaluate_toy, mode_metrics

__all__ = [
    "FEATURES",
    "FID",
    "ImageEvaluator",
    "check_samples",
    "default_feature_space",
    "density_coverage",
    "evaluate_samples",
    "evaluate_toy",
    "fid",
    "fid_from_stats",
    "get_extractor",
    "image_metrics",
    "inception_score",
    "kid",
    "knn_metrics",
    "load_samples",
    "mode_metrics",
    "precision_recall",
    "write_metrics",
]
