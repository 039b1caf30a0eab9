r"""Memory on rank 0 for periodic evaluation: gathering raw features against summing FID states.

Before, every rank sent its generated features (and class probabilities) to rank 0, which held
all ``N`` rows. Now every rank reduces its features to the float64 sums of
:class:`gankit.metrics.image.FID` (:math:`n`, :math:`\sum x` ``[D]``, :math:`\sum x x^\top`
``[D, D]``) plus its class counts, and one ``all_reduce`` adds them, so rank 0 holds
``1 + D + D * D`` float64 values whatever ``N`` is. FID follows from the sums:

.. math::
    \mu = \frac{1}{n} \sum x, \qquad \Sigma = \frac{\sum x x^\top - n \mu \mu^\top}{n - 1}, \qquad
    \mathrm{FID} = \|\mu_1 - \mu_2\|^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

(Heusel et al., NeurIPS 2017). Every size printed is read from a tensor built here (``nbytes``),
not computed by hand: the gathered tensors are allocated with :func:`torch.empty` (their pages are
never touched) and the state comes from a real :class:`~gankit.metrics.image.FID` accumulator.
Only the generated side is compared: rank 0 holds the real features (``eval_n`` rows, read
from the disk cache) in both schemes, and now also their FID state.

This is a benchmark, not a test: it asserts nothing.

Usage::

    python benchmarks/eval_memory.py               # 50,000 samples
    python benchmarks/eval_memory.py --n 10000
"""

from __future__ import annotations

import argparse

import torch

from gankit.metrics.classifier import NUM_FEATURES as CLASSIFIER_FEATURES
from gankit.metrics.image import FID
from gankit.metrics.inception import NUM_FEATURES as INCEPTION_FEATURES

CLASSES = 10  # the domain classifier's classes (class histogram)
INCEPTION_LOGITS = 1008  # FID Inception-v3's class probabilities, gathered for IS before

# feature space -> (features D, probabilities the old path also gathered beside the features)
SPACES = {
    "classifier": (CLASSIFIER_FEATURES, [CLASSES, CLASSES]),  # probs, and the same probs for the histogram
    "inception": (INCEPTION_FEATURES, [INCEPTION_LOGITS, CLASSES]),  # probs, and the classifier's (where one exists)
}


def gathered_bytes(n: int, width: int) -> int:
    """Bytes of the ``[n, width]`` float32 tensor ``gather_rows`` leaves on rank 0."""
    return torch.empty((n, width), dtype=torch.float32).nbytes


def state_bytes(num_features: int) -> tuple[int, int]:
    """Bytes of one summed FID state, and of the summed class counts (float64), from real tensors."""
    acc = FID(num_features=num_features)
    acc.update(torch.randn(4, num_features), real=False)  # any batch: the state's size does not depend on it
    state = acc.state(real=False)
    counts = torch.zeros(CLASSES, dtype=torch.float64)  # summed beside the state in the same all_reduce
    return state.element_size() * state.numel(), counts.nbytes


def mib(b: int) -> str:
    return f"{b / 2**20:.3f} MiB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="generated samples per evaluation (default 50,000)")
    args = parser.parse_args(argv)
    n = args.n
    print(f"rank-0 memory of one periodic evaluation of {n:,} generated samples")
    print(f"{'space':<11} {'D':>5}  {'(a) raw features':>16}  {'(a+) + probs':>14}  {'(b) FID state':>14}"
          f"  {'+ counts':>10}  {'a / b':>7}  {'a+ / b':>7}")
    for name, (d, extra) in SPACES.items():
        features = gathered_bytes(n, d)
        everything = features + sum(gathered_bytes(n, k) for k in extra)
        state, counts = state_bytes(d)
        print(f"{name:<11} {d:>5}  {mib(features):>16}  {mib(everything):>14}  {mib(state):>14}"
              f"  {counts:>8} B  {features / state:>6.1f}x  {everything / (state + counts):>6.1f}x")
        print(f"{'':<11} {'':>5}  {features:>14,} B  {everything:>12,} B  {state:>12,} B")
    print(f"(a) N x D float32 features; (a+) what the old path gathered: features and class probabilities "
          f"({'/'.join(str(k) for k in SPACES['inception'][1])} columns for inception, 10 + 10 for the classifier)")
    print("(b) 1 + D + D*D float64 values, independent of N; the class counts add 10 float64 to the same all_reduce")
    print("At its peak gather_rows also held every rank's padded part beside their concatenation: about twice (a+).")


if __name__ == "__main__":
    main()
