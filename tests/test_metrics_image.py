"""Image metrics over feature matrices, against scipy / numpy / torchmetrics references and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import cdist

from gankit.errors import GankitError
from gankit.metrics.image import (
    FID,
    density_coverage,
    fid,
    fid_from_stats,
    fid_state_size,
    image_metrics,
    inception_score,
    kid,
    knn_metrics,
    precision_recall,
)


def gaussian(n: int, d: int, seed: int, *, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    # the same correlated distribution for every seed; the seed picks the draw
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(1234), dtype=torch.float64) / math.sqrt(d)
    draw = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return shift + scale * draw @ (torch.eye(d) + mix)


def fid_reference(a: np.ndarray, b: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) with scipy's sqrtm, float64."""
    m1, m2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(root)))


# --------------------------------------------------------------------------------------------
# FID


def test_fid_of_identical_sets_is_zero():
    x = gaussian(500, 8, 0)
    assert abs(fid(x, x)) < 1e-9


def test_fid_matches_scipy_closed_form():
    x, y = gaussian(800, 12, 1), gaussian(600, 12, 2, shift=0.4, scale=1.3)
    ref = fid_reference(x.numpy(), y.numpy())
    assert ref > 1.0  # the sets really differ
    assert fid(x, y) == pytest.approx(ref, rel=1e-8)


def test_fid_from_stats_of_known_gaussians():
    # Diagonal covariances: Tr((S1 S2)^(1/2)) = sum sqrt(a_i b_i), everything in closed form.
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    expected = 1.0 + 4.0 + (a + b).sum().item() - 2 * (a * b).sqrt().sum().item()
    got = fid_from_stats(mu1, torch.diag(a), mu2, torch.diag(b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_fid_k_batches_equal_one_batch():
    x, y = gaussian(700, 10, 3), gaussian(500, 10, 4, shift=0.2)
    metric = FID()
    for chunk in x.split(123):
        metric.update(chunk.float(), real=True)
    for chunk in y.split(77):
        metric.update(chunk.float(), real=False)
    assert metric.compute() == pytest.approx(fid(x.float(), y.float()), rel=1e-10)


def test_fid_keep_real_survives_reset():
    x, y, z = gaussian(300, 6, 5), gaussian(300, 6, 6, shift=0.5), gaussian(300, 6, 7, shift=-0.5)
    metric = FID(keep_real=True)
    metric.update(x, real=True)
    metric.update(y, real=False)
    first = metric.compute()
    metric.reset()
    metric.update(z, real=False)
    assert first == pytest.approx(fid(x, y), rel=1e-10)
    assert metric.compute() == pytest.approx(fid(x, z), rel=1e-10)


def test_fid_states_of_shards_add_up_to_the_whole_set():
    """What DDP evaluation does: each rank's state of its shard, summed element-wise (all_reduce SUM)."""
    x, y = gaussian(900, 9, 30), gaussian(700, 9, 31, shift=0.3, scale=1.2)
    shards = []
    for part in y.float().tensor_split(3):
        rank = FID(num_features=9)
        rank.update(part, real=False)
        shards.append(rank.state(real=False))
    summed = torch.stack(shards).sum(dim=0)
    assert summed.dtype == torch.float64 and summed.shape == (fid_state_size(9),) == (1 + 9 + 81,)
    assert summed[0] == 700
    metric = FID()
    metric.update(x.float(), real=True)
    metric.add_state(summed, real=False)
    assert metric.compute() == pytest.approx(fid(x.float(), y.float()), rel=1e-10)
    # the sums themselves: n, sum x, sum x x^T of the whole set
    y64 = y.float().double()
    assert torch.allclose(summed[1:10], y64.sum(dim=0), rtol=1e-12)
    assert torch.allclose(summed[10:].reshape(9, 9), y64.T @ y64, rtol=1e-12)


def test_fid_merge_and_state_round_trip():
    x, y = gaussian(400, 5, 32), gaussian(300, 5, 33, shift=0.5)
    a, b = FID(), FID()
    a.update(x[:150], real=True)
    a.update(y[:100], real=False)
    b.update(x[150:], real=True)
    b.update(y[100:], real=False)
    a.merge(b)
    assert a.compute() == pytest.approx(fid(x, y), rel=1e-10)
    copy = FID()
    copy.add_state(a.state(real=True), real=True)
    copy.add_state(a.state(real=False), real=False)
    assert copy.compute() == pytest.approx(a.compute(), rel=1e-12)


def test_fid_empty_set_with_known_width_is_zero_state():
    metric = FID(num_features=4)
    assert torch.equal(metric.state(real=False), torch.zeros(21, dtype=torch.float64))
    metric.add_state(metric.state(real=False), real=False)  # a rank with no samples adds nothing
    metric.update(gaussian(50, 4, 34), real=True)
    with pytest.raises(GankitError, match="at least 2 samples"):
        metric.compute()
    with pytest.raises(GankitError, match="no features yet"):
        FID().state(real=True)


def test_fid_state_refuses_wrong_widths_and_lengths():
    metric = FID(num_features=3)
    with pytest.raises(GankitError, match="3 features"):
        metric.update(gaussian(10, 4, 35), real=True)
    with pytest.raises(GankitError, match="1 \\+ F"):
        metric.add_state(torch.zeros(12, dtype=torch.float64), real=True)
    with pytest.raises(GankitError, match="sample count"):
        metric.add_state(torch.full((13,), 0.5, dtype=torch.float64), real=True)


def test_fid_rejects_width_mismatch():
    with pytest.raises(GankitError, match="width"):
        fid(gaussian(10, 3, 0), gaussian(10, 4, 0))


# --------------------------------------------------------------------------------------------
# KID


def mmd_unbiased_numpy(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written out with explicit loops over terms."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (a @ b.T / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = ~np.eye(m, dtype=bool)
    return float(kxx[off].sum() / (m * (m - 1)) + kyy[off].sum() / (m * (m - 1)) - 2 * kxy.mean())


def test_kid_matches_numpy_unbiased_mmd():
    x, y = gaussian(60, 5, 8), gaussian(60, 5, 9, shift=0.3)
    # subset_size capped at 60 = the whole set: every subset is the full set, so std = 0
    mean, std = kid(x, y, subsets=3, subset_size=1000)
    assert mean == pytest.approx(mmd_unbiased_numpy(x.numpy(), y.numpy()), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_identical_sets_near_zero():
    x, y = gaussian(600, 8, 10), gaussian(600, 8, 11, shift=1.0)
    shifted, _ = kid(x, y, subsets=10, subset_size=300)
    # Same set, whole-set subsets: unbiased MMD^2 of a set with itself is exactly
    # -(2/m) (mean diagonal kernel - mean off-diagonal kernel), an O(1/m) term.
    same, _ = kid(x, x, subsets=1, subset_size=600)
    kxx = (x.numpy() @ x.numpy().T / 8 + 1.0) ** 3
    off = kxx[~np.eye(600, dtype=bool)].mean()
    assert same == pytest.approx(-(2 / 600) * (np.diag(kxx).mean() - off), rel=1e-9)
    assert abs(same) < 0.02 * shifted
    # Independent draws of one distribution: the unbiased estimate is 0 up to its spread.
    mean, std = kid(x, gaussian(600, 8, 12), subsets=10, subset_size=300)
    assert abs(mean) < 2 * std and abs(mean) < 0.02 * shifted


# --------------------------------------------------------------------------------------------
# precision / recall, density / coverage


def knn_reference(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict[str, float]:
    """Brute force with scipy distances: the formulas of Kynkaanniemi et al. and Naeem et al."""
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r_pr = np.sort(d_rr, axis=1)[:, k_pr]  # column 0 is the point itself
    r_dc = np.sort(d_rr, axis=1)[:, k_dc]
    f_pr = np.sort(d_ff, axis=1)[:, k_pr]
    return {
        "precision": float((d_fr <= r_pr[None, :]).any(axis=1).mean()),
        "recall": float((d_fr.T <= f_pr[None, :]).any(axis=1).mean()),
        "density": float((d_fr <= r_dc[None, :]).sum() / (k_dc * len(fake))),
        "coverage": float((d_fr <= r_dc[None, :]).any(axis=0).mean()),
    }


def test_knn_metrics_match_brute_force_reference():
    x, y = gaussian(300, 4, 14), gaussian(250, 4, 15, shift=0.4, scale=0.8)
    ref = knn_reference(x.numpy(), y.numpy(), 3, 5)
    got = knn_metrics(x, y, chunk=64)  # chunks that do not divide the sizes
    assert got == pytest.approx(ref, abs=1e-12)
    assert 0.0 < ref["precision"] < 1.0 and 0.0 < ref["recall"] < 1.0  # a non-trivial case
    # the one-metric forms are the same computation
    assert precision_recall(x, y, chunk=100) == pytest.approx((ref["precision"], ref["recall"]), abs=1e-12)
    assert density_coverage(x, y, chunk=100) == pytest.approx((ref["density"], ref["coverage"]), abs=1e-12)


def test_identical_sets_give_perfect_precision_recall_coverage():
    x = gaussian(400, 5, 16)
    p, r = precision_recall(x, x)
    _, c = density_coverage(x, x)
    assert (p, r, c) == (1.0, 1.0, 1.0)


def test_far_apart_sets_score_zero():
    x, y = gaussian(200, 5, 17), gaussian(200, 5, 18, shift=100.0)
    assert precision_recall(x, y) == (0.0, 0.0)
    assert density_coverage(x, y) == (0.0, 0.0)


def clusters(centres: torch.Tensor, per: int, seed: int, std: float = 0.05) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = centres.repeat_interleave(per, dim=0)
    return x + std * torch.randn(x.shape, generator=g, dtype=torch.float64)


def test_fake_covering_half_the_clusters_has_half_recall_and_coverage():
    t = torch.arange(10, dtype=torch.float64) * 2 * math.pi / 10
    centres = 10.0 * torch.stack([t.cos(), t.sin()], dim=1)  # 10 well-separated 2-D clusters
    real = clusters(centres, 100, 19)
    half = knn_metrics(real, clusters(centres[:5], 200, 20))  # all fake mass on half of them
    full = knn_metrics(real, clusters(centres, 100, 20))  # same distribution as real
    # k-NN balls never cover a distribution's tails completely, so "full" is below 1: compare to it
    assert full["recall"] > 0.9 and full["coverage"] > 0.9
    assert half["recall"] == pytest.approx(0.5 * full["recall"], abs=0.03)
    assert half["coverage"] == pytest.approx(0.5 * full["coverage"], abs=0.03)
    assert half["precision"] == pytest.approx(full["precision"], abs=0.03)
    assert half["density"] == pytest.approx(full["density"], abs=0.1)


def test_knn_needs_more_samples_than_k():
    with pytest.raises(GankitError, match="k-NN"):
        precision_recall(gaussian(3, 2, 0), gaussian(10, 2, 1))


# --------------------------------------------------------------------------------------------
# Inception Score


def random_probs(n: int, k: int, seed: int) -> torch.Tensor:
    logits = 3.0 * torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return logits.softmax(dim=1)


def test_is_of_uniform_predictions_is_one():
    probs = torch.full((100, 7), 1 / 7, dtype=torch.float64)
    mean, std = inception_score(probs, splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_is_of_confident_even_predictions_is_k():
    k = 10
    probs = torch.eye(k, dtype=torch.float64).repeat(30, 1)  # 30 one-hot rows per class
    mean, _ = inception_score(probs, splits=1)
    assert mean == pytest.approx(k, rel=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torchmetrics: feature buffer, std of 1 split
def test_is_matches_torchmetrics():
    from torchmetrics.image.inception import InceptionScore as TMInceptionScore

    class LogitsAsFeatures(torch.nn.Module):
        """torchmetrics softmaxes its network's output: feed it log-probabilities."""

        def forward(self, x):
            return x

    probs = random_probs(400, 6, 23)
    tm = TMInceptionScore(feature=LogitsAsFeatures(), splits=1)
    tm.update(probs.log())
    ref, _ = tm.compute()
    mean, _ = inception_score(probs, splits=1)
    assert mean == pytest.approx(float(ref), rel=1e-6)


def test_is_rejects_non_probabilities():
    with pytest.raises(GankitError, match="probabilities"):
        inception_score(torch.randn(20, 3), splits=2)


# --------------------------------------------------------------------------------------------
# all at once


def test_image_metrics_collects_every_metric_consistently():
    x, y = gaussian(200, 6, 24), gaussian(200, 6, 25, shift=0.3)
    probs = random_probs(200, 4, 26)
    out = image_metrics(x, y, probs=probs, seed=2, kid_subsets=5, kid_subset_size=50)
    assert out["fid"] == pytest.approx(fid(x, y), rel=1e-12)
    assert (out["kid_mean"], out["kid_std"]) == kid(x, y, subsets=5, subset_size=50, seed=2)
    assert (out["precision"], out["recall"]) == precision_recall(x, y)
    assert (out["density"], out["coverage"]) == density_coverage(x, y)
    assert (out["is_mean"], out["is_std"]) == inception_score(probs, splits=10, seed=2)
