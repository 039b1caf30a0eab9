r"""Sample-quality metrics over feature matrices: FID, KID, precision / recall, density /
coverage and the Inception Score.

Every metric exists twice: a pure function of feature tensors (``fid`` / ``fid_from_stats``,
``kid``, ``precision_recall``, ``density_coverage``, ``inception_score``; ``knn_metrics`` gives
the four k-NN metrics from one pass and ``image_metrics`` all of them), and a torchmetrics-style
accumulator (``FID``, ``KID``, ``PrecisionRecall``, ``DensityCoverage``, ``InceptionScore``)
with ``update()`` / ``compute()`` / ``reset()``. FID keeps running sums in float64, so any split
into batches gives the same statistics as one batch; the others keep the features themselves
and compute on their concatenation, so k batches give exactly the one-batch answer.

Features are ``[N, F]`` tensors from any extractor (:mod:`gankit.metrics.features`); the
feature space decides what the numbers mean. FID's matrix square root and KID's kernel come from
torchmetrics; precision / recall and density / coverage are not in torchmetrics and are written
here with chunked :func:`torch.cdist`.

References:
    [1] M. Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017 (FID).
    [2] M. Binkowski et al., "Demystifying MMD GANs", ICLR 2018 (KID).
    [3] T. Kynkaanniemi et al., "Improved Precision and Recall Metric for Assessing Generative
        Models", NeurIPS 2019.
    [4] M. F. Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models",
        ICML 2020 (density and coverage).
    [5] T. Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016 (IS).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.image.fid import _compute_fid
from torchmetrics.image.kid import poly_mmd

from gankit.errors import GankitError

PR_K = 3  # Kynkaanniemi et al. use k = 3
DC_K = 5  # Naeem et al. use k = 5
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10
CHUNK = 1024  # rows of the distance matrix held at once: CHUNK x N floats


def _check_features(x: Tensor, name: str, min_rows: int = 1) -> Tensor:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.ndim != 2:
        raise GankitError(f"{name} must be a feature matrix [N, F], got shape {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        raise GankitError(f"{name} has {x.shape[0]} rows; this metric needs at least {min_rows}")
    if not torch.isfinite(x).all():
        raise GankitError(f"{name} contains NaN or inf")
    return x


def _check_pair(real: Tensor, fake: Tensor, min_rows: int) -> tuple[Tensor, Tensor]:
    real = _check_features(real, "real", min_rows)
    fake = _check_features(fake, "fake", min_rows)
    if real.shape[1] != fake.shape[1]:
        raise GankitError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    return real, fake


def _work_dtype(x: Tensor) -> torch.dtype:
    """float64 for exact comparisons, except on MPS which has no float64."""
    return torch.float32 if x.device.type == "mps" else torch.float64


# --------------------------------------------------------------------------------------------
# FID


def _float64(x: Tensor) -> Tensor:
    """``x`` in float64 on its device, or on the CPU for MPS, which has no float64."""
    return x.detach().to("cpu" if x.device.type == "mps" else x.device, torch.float64)


def feature_sums(x: Tensor) -> tuple[Tensor, Tensor, int]:
    """Float64 running sums ``(sum x [F], sum x x^T [F, F], n)`` of features ``[N, F]``."""
    x = _float64(x)
    return x.sum(dim=0), x.T @ x, x.shape[0]


def stats_from_sums(s1: Tensor, s2: Tensor, n: int) -> tuple[Tensor, Tensor]:
    r"""Mean ``[F]`` and unbiased covariance ``[F, F]``: :math:`\Sigma = (S_2 - n\mu\mu^\top)/(n-1)`."""
    if n < 2:
        raise GankitError(f"FID needs at least 2 samples per set, got {n}")
    mu = s1 / n
    return mu, (s2 - n * torch.outer(mu, mu)) / (n - 1)


def feature_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Float64 mean ``[F]`` and unbiased covariance ``[F, F]`` of features ``[N, F]``."""
    return stats_from_sums(*feature_sums(_check_features(x, "features", 2)))


def fid_from_stats(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    r"""Frechet distance between the Gaussians :math:`N(\mu_1, \Sigma_1)` and :math:`N(\mu_2, \Sigma_2)` [1].

    .. math::
        \mathrm{FID} = \|\mu_1 - \mu_2\|^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2
        - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

    The trace of the matrix square root is torchmetrics' (sum of the square roots of the
    eigenvalues of :math:`\Sigma_1\Sigma_2`), evaluated in float64 on the CPU.

    Args:
        mu1, mu2: means ``[F]``.
        sigma1, sigma2: covariances ``[F, F]``.
    """
    args = [torch.as_tensor(t).detach().to("cpu", torch.float64) for t in (mu1, sigma1, mu2, sigma2)]
    return float(_compute_fid(*args))


def fid(real: Tensor, fake: Tensor) -> float:
    """FID [1] between feature sets ``real [N, F]`` and ``fake [M, F]``."""
    real, fake = _check_pair(real, fake, 2)
    return fid_from_stats(*feature_stats(real), *feature_stats(fake))


class FID:
    """FID [1] accumulated over batches: float64 sums of ``x`` and ``x x^T`` per set.

    Args:
        keep_real: when True, :meth:`reset` keeps the real statistics (computed once, reused).
    """

    def __init__(self, *, keep_real: bool = False) -> None:
        self.keep_real = keep_real
        self._sums: dict[bool, tuple[Tensor, Tensor, int] | None] = {True: None, False: None}

    def update(self, features: Tensor, real: bool) -> None:
        """Add a batch ``[B, F]`` to the real or the fake set."""
        s1, s2, n = feature_sums(_check_features(features, "features"))
        old = self._sums[real]
        self._sums[real] = (s1, s2, n) if old is None else (old[0] + s1, old[1] + s2, old[2] + n)

    def compute(self) -> float:
        if self._sums[True] is None or self._sums[False] is None:
            raise GankitError("FID needs both real and fake features; call update() for each")
        return fid_from_stats(*stats_from_sums(*self._sums[True]), *stats_from_sums(*self._sums[False]))

    def reset(self) -> None:
        self._sums[False] = None
        if not self.keep_real:
            self._sums[True] = None


# --------------------------------------------------------------------------------------------
# KID


def kid(
    real: Tensor,
    fake: Tensor,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    degree: int = 3,
    coef: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    r"""Kernel Inception Distance [2]: mean and std over random subsets of the unbiased MMD^2.

    With the polynomial kernel :math:`k(x, y) = (x^\top y / F + 1)^3` and subsets of size
    :math:`m`,

    .. math::
        \mathrm{MMD}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} \big(k(x_i, x_j) + k(y_i, y_j)\big)
        - \frac{2}{m^2} \sum_{i, j} k(x_i, y_j)

    (torchmetrics' ``poly_mmd``). ``subset_size`` is capped by the smaller set (a single
    subset when that is both whole sets); subsets are drawn without replacement with a CPU
    generator seeded by ``seed``. The std is the population std over subsets (as torchmetrics).

    Args:
        real: ``[N, F]``; fake: ``[M, F]``.

    Returns:
        ``(kid_mean, kid_std)``.
    """
    real, fake = _check_pair(real, fake, 2)
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m == real.shape[0] == fake.shape[0]:
        subsets = 1  # every subset would be both whole sets: one gives the same mean, std 0
    gen = torch.Generator().manual_seed(seed)
    dtype = _work_dtype(real)
    r, f = real.to(dtype), fake.to(real.device, dtype)
    values = []
    for _ in range(subsets):
        i = torch.randperm(real.shape[0], generator=gen)[:m].to(real.device)
        j = torch.randperm(fake.shape[0], generator=gen)[:m].to(real.device)
        values.append(poly_mmd(r[i], f[j], degree=degree, coef=coef))
    v = torch.stack(values).to("cpu", torch.float64)
    return float(v.mean()), float(v.std(unbiased=False))


class _FeatureStore:
    """Keeps real and fake feature batches; compute works on their concatenation."""

    def __init__(self, *, keep_real: bool = False) -> None:
        self.keep_real = keep_real
        self._feats: dict[bool, list[Tensor]] = {True: [], False: []}

    def update(self, features: Tensor, real: bool) -> None:
        """Add a batch ``[B, F]`` to the real or the fake set."""
        self._feats[real].append(_check_features(features, "features").detach())

    def _sets(self) -> tuple[Tensor, Tensor]:
        if not self._feats[True] or not self._feats[False]:
            raise GankitError(f"{type(self).__name__} needs both real and fake features; call update() for each")
        return torch.cat(self._feats[True]), torch.cat(self._feats[False])

    def reset(self) -> None:
        self._feats[False] = []
        if not self.keep_real:
            self._feats[True] = []


class KID(_FeatureStore):
    """KID [2] accumulated over batches; ``compute() -> (mean, std)``; arguments as :func:`kid`."""

    def __init__(self, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                 seed: int = 0, keep_real: bool = False) -> None:
        super().__init__(keep_real=keep_real)
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed

    def compute(self) -> tuple[float, float]:
        return kid(*self._sets(), subsets=self.subsets, subset_size=self.subset_size, seed=self.seed)


# --------------------------------------------------------------------------------------------
# k-NN balls: precision / recall, density / coverage


def knn_radii(x: Tensor, ks: tuple[int, ...], *, chunk: int = CHUNK) -> list[Tensor]:
    r"""Distance of each row of ``x [N, F]`` to its k-th nearest *other* row, for each k in ``ks``.

    :math:`\mathrm{NND}_k(x_i) = \|x_i - \mathrm{NN}_k(x_i)\|`; the row itself (distance 0) is
    its own first neighbour and is skipped. Returns one ``[N]`` tensor per k.
    """
    kmax = max(ks)
    if x.shape[0] <= kmax:
        raise GankitError(f"k-NN radii with k={kmax} need more than {kmax} samples, got {x.shape[0]}")
    xs = x.to(_work_dtype(x))
    # (chunk, N) distances -> the kmax + 1 smallest, ascending; column k is the k-th other row
    near = torch.cat([torch.cdist(xs[s:s + chunk], xs).topk(kmax + 1, dim=1, largest=False).values
                      for s in range(0, len(xs), chunk)])
    return [near[:, k] for k in ks]


def knn_metrics(
    real: Tensor, fake: Tensor, *, pr_k: int | None = PR_K, dc_k: int | None = DC_K, chunk: int = CHUNK
) -> dict[str, float]:
    r"""Precision / recall [3] and density / coverage [4] from one pass over the real-fake distances.

    With balls :math:`B(x, r) = \{y : \|y - x\| \le r\}` (closed, as in [3]), real samples
    :math:`X_1..X_N`, fake samples :math:`Y_1..Y_M` and :math:`\mathrm{NND}_k` from
    :func:`knn_radii`:

    .. math::
        \mathrm{precision} &= \tfrac1M \textstyle\sum_j 1[\exists i: Y_j \in B(X_i, \mathrm{NND}_k(X_i))] \\
        \mathrm{recall} &= \tfrac1N \textstyle\sum_i 1[\exists j: X_i \in B(Y_j, \mathrm{NND}_k(Y_j))] \\
        \mathrm{density} &= \tfrac{1}{k'M} \textstyle\sum_j \sum_i 1[Y_j \in B(X_i, \mathrm{NND}_{k'}(X_i))] \\
        \mathrm{coverage} &= \tfrac1N \textstyle\sum_i 1[\exists j: Y_j \in B(X_i, \mathrm{NND}_{k'}(X_i))]

    with :math:`k` = ``pr_k`` (3 in [3]) and :math:`k'` = ``dc_k`` (5 in [4]). Precision and
    recall lie in [0, 1]; coverage too; density is about 1 when both sets follow the same
    distribution and is unbounded above. Distances are float64 (float32 on MPS), ``chunk`` rows
    of the ``[M, N]`` distance matrix at a time.

    Args:
        real: ``[N, F]``; fake: ``[M, F]`` (moved to ``real``'s device).
        pr_k: neighbours for precision / recall, or ``None`` to skip them.
        dc_k: neighbours for density / coverage, or ``None`` to skip them.

    Returns:
        ``precision`` and ``recall`` (with ``pr_k``), ``density`` and ``coverage`` (with ``dc_k``).
    """
    ks = tuple(k for k in (pr_k, dc_k) if k is not None)
    real, fake = _check_pair(real, fake, 1)
    if len(real) <= max(ks) or (pr_k is not None and len(fake) <= pr_k):
        raise GankitError(f"k-NN metrics with k={max(ks)} need more than {max(ks)} samples per set, "
                          f"got {len(real)} real and {len(fake)} fake")
    fake = fake.to(real.device)
    dtype = _work_dtype(real)
    r, f = real.to(dtype), fake.to(dtype)
    r_real = dict(zip(ks, knn_radii(r, ks, chunk=chunk), strict=True))
    r_fake = knn_radii(f, (pr_k,), chunk=chunk)[0] if pr_k is not None else None
    precise = dense = 0
    recalled = torch.zeros(len(r), dtype=torch.bool, device=r.device)
    covered = torch.zeros(len(r), dtype=torch.bool, device=r.device)
    for s in range(0, len(f), chunk):
        d = torch.cdist(f[s:s + chunk], r)  # (chunk, N): fake rows, real columns
        if pr_k is not None:
            precise += int((d <= r_real[pr_k][None, :]).any(dim=1).sum())
            recalled |= (d <= r_fake[s:s + chunk, None]).any(dim=0)
        if dc_k is not None:
            inside = d <= r_real[dc_k][None, :]
            dense += int(inside.sum())
            covered |= inside.any(dim=0)
    out = {}
    if pr_k is not None:
        out["precision"] = precise / len(f)
        out["recall"] = float(recalled.double().mean())
    if dc_k is not None:
        out["density"] = dense / (dc_k * len(f))
        out["coverage"] = float(covered.double().mean())
    return out


def precision_recall(real: Tensor, fake: Tensor, *, k: int = PR_K, chunk: int = CHUNK) -> tuple[float, float]:
    """Improved precision and recall of Kynkaanniemi et al. [3] (see :func:`knn_metrics`)."""
    m = knn_metrics(real, fake, pr_k=k, dc_k=None, chunk=chunk)
    return m["precision"], m["recall"]


def density_coverage(real: Tensor, fake: Tensor, *, k: int = DC_K, chunk: int = CHUNK) -> tuple[float, float]:
    """Density and coverage of Naeem et al. [4], balls around real samples only (see :func:`knn_metrics`)."""
    m = knn_metrics(real, fake, pr_k=None, dc_k=k, chunk=chunk)
    return m["density"], m["coverage"]



class PrecisionRecall(_FeatureStore):
    """Precision and recall [3] accumulated over batches; ``compute() -> (precision, recall)``."""

    def __init__(self, *, k: int = PR_K, keep_real: bool = False) -> None:
        super().__init__(keep_real=keep_real)
        self.k = k

    def compute(self) -> tuple[float, float]:
        return precision_recall(*self._sets(), k=self.k)


class DensityCoverage(_FeatureStore):
    """Density and coverage [4] accumulated over batches; ``compute() -> (density, coverage)``."""

    def __init__(self, *, k: int = DC_K, keep_real: bool = False) -> None:
        super().__init__(keep_real=keep_real)
        self.k = k

    def compute(self) -> tuple[float, float]:
        return density_coverage(*self._sets(), k=self.k)


# --------------------------------------------------------------------------------------------
# Inception Score


def inception_score(probs: Tensor, *, splits: int = IS_SPLITS, seed: int = 0) -> tuple[float, float]:
    r"""Inception Score of Salimans et al. [5] from class probabilities ``[N, K]``.

    .. math::
        \mathrm{IS} = \exp\Big(\mathbb E_x\, \mathrm{KL}\big(p(y \mid x) \,\|\, p(y)\big)\Big),
        \qquad p(y) = \mathbb E_x\, p(y \mid x)

    computed on each of ``splits`` disjoint parts of a seeded random permutation of the rows
    (the permutation keeps a class-sorted input from giving single-class splits). It lies in
    [1, K]: 1 when every prediction is the same, K when predictions are confident and spread
    evenly over the K classes.

    Returns:
        ``(mean, std)`` over the splits (population std, as the original code).
    """
    p = _check_features(probs, "probs", splits).detach().to("cpu", torch.float64)
    if (p < 0).any() or not torch.allclose(p.sum(dim=1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise GankitError("probs must be class probabilities: non-negative rows that sum to 1")
    p = p[torch.randperm(len(p), generator=torch.Generator().manual_seed(seed))]
    scores = []
    for part in p.chunk(splits, dim=0):
        marginal = part.mean(dim=0, keepdim=True)  # (1, K)
        kl = torch.xlogy(part, part) - torch.xlogy(part, marginal)  # 0 log 0 = 0
        scores.append(kl.sum(dim=1).mean().exp())
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False))


class InceptionScore:
    """IS [5] accumulated over batches of probabilities ``[B, K]``; ``compute() -> (mean, std)``."""

    def __init__(self, *, splits: int = IS_SPLITS, seed: int = 0) -> None:
        self.splits, self.seed = splits, seed
        self._probs: list[Tensor] = []

    def update(self, probs: Tensor) -> None:
        self._probs.append(_check_features(probs, "probs").detach())

    def compute(self) -> tuple[float, float]:
        if not self._probs:
            raise GankitError("InceptionScore has no probabilities; call update() first")
        return inception_score(torch.cat(self._probs), splits=self.splits, seed=self.seed)

    def reset(self) -> None:
        self._probs = []


# --------------------------------------------------------------------------------------------
# all at once


def image_metrics(
    real: Tensor,
    fake: Tensor,
    *,
    probs: Tensor | None = None,
    seed: int = 0,
    kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int = KID_SUBSET_SIZE,
) -> dict[str, float]:
    """FID, KID, precision / recall, density / coverage (and IS when ``probs`` is given).

    Args:
        real: real features ``[N, F]``; fake: generated features ``[M, F]``.
        probs: class probabilities of the generated samples ``[M, K]``.
        seed: seed of KID's subsets and IS's split permutation.

    Returns:
        ``fid``, ``kid_mean``, ``kid_std``, ``precision``, ``recall``, ``density``, ``coverage``
        and, with ``probs``, ``is_mean``, ``is_std``.
    """
    kid_mean, kid_std = kid(real, fake, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    out = {"fid": fid(real, fake), "kid_mean": kid_mean, "kid_std": kid_std, **knn_metrics(real, fake)}
    if probs is not None:
        out["is_mean"], out["is_std"] = inception_score(probs, splits=min(IS_SPLITS, len(probs)), seed=seed)
    return out
