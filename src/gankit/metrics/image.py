r"""Sample-quality metrics over feature matrices: FID, KID, precision / recall, density /
coverage and the Inception Score.

Each metric is a pure function of feature tensors (``fid`` / ``fid_from_stats``, ``kid``,
``precision_recall``, ``density_coverage``, ``inception_score``; ``knn_metrics`` gives the four
k-NN metrics from one pass and ``image_metrics`` all of them). FID alone also has an accumulator,
:class:`FID` (``update()`` / ``compute()`` / ``reset()``): it keeps float64 sums whose size does
not grow with the number of samples and which add up across batches and across processes, so
data-parallel ranks sum their states (one ``all_reduce``) instead of sending every feature to one
rank. That is how periodic evaluation during training scores FID
(:func:`gankit.training.evaluation.evaluate_generator`). KID and the k-NN metrics need the
features themselves and IS needs the probabilities, so they are computed on whole sets
(``gankit evaluate``).

Features are ``[N, F]`` tensors from any extractor (:mod:`gankit.metrics.features`); the
feature space decides what the numbers mean. Every formula is written here (FID's trace of a
matrix square root by symmetric eigendecompositions, KID's polynomial-kernel MMD, precision /
recall and density / coverage with chunked :func:`torch.cdist`) and tested against torchmetrics,
scipy or a numpy reference; gankit imports no torchmetrics at run time.

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
    r"""Float64 sums of features ``x [N, F]``: :math:`(S_1, S_2, n) = (\sum_i x_i, \sum_i x_i x_i^\top, N)`.

    Returns:
        ``(S_1 [F], S_2 [F, F], n)``, on ``x``'s device (the CPU for MPS).
    """
    x = _float64(x)
    return x.sum(dim=0), x.T @ x, x.shape[0]


def stats_from_sums(s1: Tensor, s2: Tensor, n: int) -> tuple[Tensor, Tensor]:
    r"""Mean and unbiased covariance from the sums of :func:`feature_sums`.

    .. math::
        \mu = S_1 / n, \qquad \Sigma = \frac{S_2 - n\,\mu\mu^\top}{n - 1}

    Args:
        s1: :math:`\sum_i x_i` ``[F]``.
        s2: :math:`\sum_i x_i x_i^\top` ``[F, F]``.
        n: number of samples summed (at least 2).

    Returns:
        ``(mu [F], sigma [F, F])``.

    Raises:
        GankitError: fewer than 2 samples.
    """
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

    :math:`\Sigma_1\Sigma_2` is similar to the symmetric positive semi-definite
    :math:`A = \Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}`, so the trace of its square root is
    :math:`\sum_i \sqrt{\lambda_i(A)}`, computed here with two symmetric eigendecompositions in
    float64 on the CPU (eigenvalues rounded below 0 count as 0). Tested against torchmetrics and
    ``scipy.linalg.sqrtm``.

    Args:
        mu1, mu2: means ``[F]``.
        sigma1, sigma2: covariances ``[F, F]``.

    Returns:
        The FID, a float (0 for identical statistics).
    """
    mu1, sigma1, mu2, sigma2 = (torch.as_tensor(t).detach().to("cpu", torch.float64) for t in (mu1, sigma1, mu2, sigma2))
    return float((mu1 - mu2).square().sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> Tensor:
    r""":math:`\mathrm{Tr}\,(\Sigma_1\Sigma_2)^{1/2} = \sum_i \sqrt{\lambda_i(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2})}` for PSD ``[F, F]``."""
    values, vectors = torch.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (vectors * values.clamp_min(0).sqrt()) @ vectors.T  # Sigma_1^(1/2), symmetric
    inner = root1 @ sigma2 @ root1
    return torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()


def fid(real: Tensor, fake: Tensor) -> float:
    r"""FID [1] between feature sets ``real [N, F]`` and ``fake [M, F]``.

    :math:`\|\mu_1 - \mu_2\|^2 + \mathrm{Tr}(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2})`
    with each set's mean and unbiased covariance (:func:`feature_stats`, float64).
    """
    real, fake = _check_pair(real, fake, 2)
    return fid_from_stats(*feature_stats(real), *feature_stats(fake))


def fid_state_size(num_features: int) -> int:
    """Length ``1 + F + F * F`` of one set's :meth:`FID.state` for ``F`` features."""
    return 1 + num_features + num_features * num_features


def _width_of_state(length: int) -> int:
    """``F`` such that ``1 + F + F * F == length``."""
    f = int(round((-1 + (4 * length - 3) ** 0.5) / 2))
    if f < 1 or fid_state_size(f) != length:
        raise GankitError(f"an FID state has 1 + F + F*F values; {length} is no such length")
    return f


class FID:
    r"""FID [1] accumulated over batches and over processes.

    Each set (real, fake) is kept as float64 sums: the count :math:`n`, :math:`S_1 = \sum_i x_i`
    ``[F]`` and :math:`S_2 = \sum_i x_i x_i^\top` ``[F, F]``. Sums over disjoint parts of a set add
    up, so any split into batches, or into the shards of data-parallel ranks, gives the statistics
    of the whole set up to float64 rounding. :meth:`compute` turns them into

    .. math::
        \mu = S_1 / n, \qquad \Sigma = \frac{S_2 - n\,\mu\mu^\top}{n - 1}, \qquad
        \mathrm{FID} = \|\mu_r - \mu_g\|^2 + \mathrm{Tr}\big(\Sigma_r + \Sigma_g
        - 2 (\Sigma_r \Sigma_g)^{1/2}\big)

    (:func:`stats_from_sums`, :func:`fid_from_stats`); it equals :func:`fid` of the concatenated
    sets. Across processes, :meth:`state` packs one set into a flat float64 vector
    ``[n, S_1, S_2.flatten()]`` of ``1 + F + F * F`` values whatever the number of samples; such
    vectors add element-wise (``torch.distributed.all_reduce`` with ``SUM``), and
    :meth:`add_state` adds one into an accumulator. :meth:`merge` does the same in one process.

    Args:
        num_features: ``F``. Optional; when given, a set with no features yet has the all-zero
            state (a rank with nothing to add still takes part in a sum), and batches of another
            width are refused. Otherwise the first batch fixes it.
        keep_real: when True, :meth:`reset` keeps the real sums (computed once, reused).
    """

    def __init__(self, *, num_features: int | None = None, keep_real: bool = False) -> None:
        self.num_features = num_features
        self.keep_real = keep_real
        self._sums: dict[bool, tuple[Tensor, Tensor, int] | None] = {True: None, False: None}

    def _add(self, real: bool, s1: Tensor, s2: Tensor, n: int) -> None:
        width = int(s1.shape[0])
        if self.num_features is None:
            self.num_features = width
        elif width != self.num_features:
            raise GankitError(f"FID holds {self.num_features} features per sample; got {width}")
        old = self._sums[real]
        if old is None:
            self._sums[real] = (s1, s2, n)
        else:
            self._sums[real] = (old[0] + s1.to(old[0].device), old[1] + s2.to(old[1].device), old[2] + n)

    def update(self, features: Tensor, real: bool) -> None:
        """Add a batch of features ``[B, F]`` to the real or the generated set."""
        self._add(real, *feature_sums(_check_features(features, "features")))

    def state(self, real: bool) -> Tensor:
        """One set's sums as a flat float64 vector ``[n, S_1 (F), S_2 (F * F)]``.

        States of disjoint parts of a set add element-wise: sum them over ranks with
        ``torch.distributed.all_reduce(state, op=ReduceOp.SUM)`` and pass the result to
        :meth:`add_state`. The vector lives where the sums do (the device of the features).

        Raises:
            GankitError: the set is empty and ``num_features`` is unknown.
        """
        sums = self._sums[real]
        if sums is None:
            if self.num_features is None:
                raise GankitError("FID has no features yet and no num_features; call update() first")
            return torch.zeros(fid_state_size(self.num_features), dtype=torch.float64)
        s1, s2, n = sums
        return torch.cat([torch.tensor([float(n)], dtype=torch.float64, device=s1.device), s1, s2.reshape(-1)])

    def add_state(self, state: Tensor, real: bool) -> None:
        """Add a vector of :meth:`state` (one part's, or a sum of several) to the real or generated set."""
        state = _float64(torch.as_tensor(state))
        if state.ndim != 1:
            raise GankitError(f"an FID state is a flat vector; got shape {tuple(state.shape)}")
        f = _width_of_state(len(state))
        count = float(state[0])
        if count < 0 or count != int(count):
            raise GankitError(f"an FID state starts with its sample count; got {count}")
        self._add(real, state[1:1 + f], state[1 + f:].reshape(f, f), int(count))

    def merge(self, other: FID) -> None:
        """Add ``other``'s sums (both sets) to this accumulator's."""
        for real in (True, False):
            if other._sums[real] is not None:
                self._add(real, *other._sums[real])

    def compute(self) -> float:
        """FID between the real and the generated set (:func:`fid_from_stats` of their statistics).

        Raises:
            GankitError: a set was never given features, or has fewer than 2 samples.
        """
        if self._sums[True] is None or self._sums[False] is None:
            raise GankitError("FID needs both real and fake features; call update() for each")
        return fid_from_stats(*stats_from_sums(*self._sums[True]), *stats_from_sums(*self._sums[False]))

    def reset(self) -> None:
        """Forget the generated set, and the real one unless ``keep_real``."""
        self._sums[False] = None
        if not self.keep_real:
            self._sums[True] = None


# --------------------------------------------------------------------------------------------
# KID


def poly_mmd(x: Tensor, y: Tensor, *, degree: int = 3, coef: float = 1.0) -> Tensor:
    r"""Unbiased MMD^2 of two equally large sets ``[m, F]`` under :math:`k(a, b) = (a^\top b / F + c)^d` [2].

    .. math::
        \frac{1}{m(m-1)} \sum_{i \ne j} \big(k(x_i, x_j) + k(y_i, y_j)\big) - \frac{2}{m^2} \sum_{i, j} k(x_i, y_j)
    """
    m, f = x.shape
    k_xx = (x @ x.T / f + coef) ** degree  # (m, m)
    k_yy = (y @ y.T / f + coef) ** degree
    k_xy = (x @ y.T / f + coef) ** degree
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within - 2 * k_xy.sum() / (m * m)


def effective_kid_subset(n_real: int, n_fake: int, subset_size: int = KID_SUBSET_SIZE) -> int:
    """The subset size KID uses: ``subset_size``, or half the smaller set when a subset would hold it all."""
    smaller = min(n_real, n_fake)
    return subset_size if smaller > subset_size else max(2, smaller // 2)


def kid(
    real: Tensor,
    fake: Tensor,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int | None = None,
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

    (:func:`poly_mmd`). Subsets are drawn without replacement with a CPU generator
    seeded by ``seed``; the std is the population std over subsets (as torchmetrics).
    ``subset_size=None`` takes the standard 1,000, or half the smaller set when a subset of 1,000
    would hold it all (subsets of the whole sets would all be the same, std 0, which says nothing;
    see :func:`effective_kid_subset`). An explicit size is capped by the smaller set, and when that
    is both whole sets one subset is used (the exact MMD^2 of the two sets, std 0).

    Args:
        real: ``[N, F]``; fake: ``[M, F]``.

    Returns:
        ``(kid_mean, kid_std)``.
    """
    real, fake = _check_pair(real, fake, 2)
    if subset_size is None:
        m = effective_kid_subset(real.shape[0], fake.shape[0])
    else:
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


# --------------------------------------------------------------------------------------------
# all at once


def image_metrics(
    real: Tensor,
    fake: Tensor,
    *,
    probs: Tensor | None = None,
    seed: int = 0,
    kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int | None = None,
) -> dict[str, float]:
    """FID, KID, precision / recall, density / coverage (and IS when ``probs`` is given).

    Args:
        real: real features ``[N, F]``; fake: generated features ``[M, F]``.
        probs: class probabilities of the generated samples ``[M, K]``.
        seed: seed of KID's subsets and IS's split permutation.

    Returns:
        ``fid``, ``kid_mean``, ``kid_std``, ``kid_subset_size``, ``precision``, ``recall``, ``density``, ``coverage``
        and, with ``probs``, ``is_mean``, ``is_std``.
    """
    kid_mean, kid_std = kid(real, fake, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    out = {"fid": fid(real, fake), "kid_mean": kid_mean, "kid_std": kid_std,
           "kid_subset_size": (effective_kid_subset(len(real), len(fake)) if kid_subset_size is None
                               else min(kid_subset_size, len(real), len(fake))),
           **knn_metrics(real, fake)}
    if probs is not None:
        out["is_mean"], out["is_std"] = inception_score(probs, splits=min(IS_SPLITS, len(probs)), seed=seed)
    return out
