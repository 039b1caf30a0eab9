r"""The parallel lines (W-GAN paper, Example 1): only W1 sees how far apart the lines are.

:math:`Z \sim U[0, 1]`, :math:`P_0` is the law of :math:`(0, Z)` and :math:`P_\theta` of
:math:`(\theta, Z)`. For every :math:`\theta \ne 0` the two segments are disjoint, so
:math:`\mathrm{KL} = +\infty`, :math:`\mathrm{JS} = \log 2` and :math:`\delta_{TV} = 1`
whatever :math:`\theta` is, while :math:`W_1 = |\theta|` shrinks continuously to 0: only W1
gives a generator moving :math:`\theta` a usable gradient.

The analytic values come from :func:`gankit.divergences.parallel_lines`; the sample estimates
from :func:`gankit.divergences.parallel_lines_estimate` (W1: exact earth mover's distance through
POT between ``n`` draws of each; KL / JS / TV: from a common 2-D histogram with cells of side
``bin_width``).

JSON: ``theta``, ``kl``, ``js``, ``w1``, ``tv`` (analytic, lists over ``theta``; infinite KL is
written as the string ``"inf"``), ``w1_samples``, ``kl_samples``, ``js_samples``,
``tv_samples`` (estimates), ``n_samples``, ``bin_width``, ``w1_samples_max_abs_error``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gankit.divergences import LOG2, parallel_lines, parallel_lines_estimate
from gankit.experiments.common import as_float, jsonable, pyplot, save_figure

TITLE = "Parallel lines: KL, JS and TV jump, W1 is continuous"
CLAIM = "For disjoint supports JS = log 2, KL = inf and TV = 1 for every theta != 0; only W1 = |theta| tells how far apart the distributions are."

BIN_WIDTH = 0.05


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Analytic divergences and sample estimates over ``theta`` in [-1, 1].

    Args:
        quick: 21 offsets and 500 samples per set instead of 41 and 1000.
        seed: seed of the samples (common to all offsets).

    Returns:
        The JSON-ready dict described in the module docstring.
    """
    count, n = (21, 500) if quick else (41, 1000)
    theta = np.linspace(-1.0, 1.0, count)
    exact = parallel_lines(theta)
    est = parallel_lines_estimate(theta, n=n, seed=seed, bin_width=BIN_WIDTH)
    return jsonable(
        {
            "theta": theta,
            "kl": exact.kl,
            "js": exact.js,
            "w1": exact.w1,
            "tv": exact.tv,
            "w1_samples": est.w1,
            "kl_samples": est.kl,
            "js_samples": est.js,
            "tv_samples": est.tv,
            "n_samples": n,
            "bin_width": BIN_WIDTH,
            "w1_samples_max_abs_error": float(np.max(np.abs(est.w1 - exact.w1))),
        }
    )


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers."""
    theta = np.asarray(result["theta"])
    i = int(np.argmin(np.abs(theta - 0.5)))
    return [
        f"- at theta = {theta[i]:.2f}: KL = {result['kl'][i]}, JS = {result['js'][i]:.6f} (log 2 = {LOG2:.6f}), "
        f"TV = {result['tv'][i]:g}, W1 = {result['w1'][i]:.3f}; from {result['n_samples']} samples W1 = "
        f"{result['w1_samples'][i]:.4f}",
        f"- largest |W1(samples) - |theta|| over all theta: {result['w1_samples_max_abs_error']:.4f} "
        "(at theta = 0 the sample W1 is the W1 between the two sets of Z draws)",
        f"- histogram estimates (cells of {result['bin_width']}): JS = log 2 and TV = 1 once |theta| >= "
        f"{result['bin_width'] / 2:g}, exactly as the analytic values",
    ]


def plot(result: dict[str, Any], path: str | Path) -> None:
    """The two segments for one theta (left) and the four divergences against theta (right)."""
    plt = pyplot()
    theta = np.asarray(result["theta"], dtype=np.float64)
    kl = np.array([as_float(v) for v in result["kl"]])
    js, w1, tv = (np.asarray(result[k], dtype=np.float64) for k in ("js", "w1", "tv"))
    w1_s = np.asarray(result["w1_samples"], dtype=np.float64)
    zero = theta == 0
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 2.2]})

    ax0.plot([0, 0], [0, 1], color="tab:blue", lw=3, label=r"$P_0$: $(0, Z)$")
    ax0.plot([0.5, 0.5], [0, 1], color="tab:red", lw=3, label=r"$P_\theta$: $(\theta, Z)$")
    ax0.annotate("", xy=(0.5, 0.5), xytext=(0, 0.5), arrowprops={"arrowstyle": "<->", "color": "0.3"})
    ax0.text(0.25, 0.53, r"$\theta$", ha="center", va="bottom")
    ax0.set(xlim=(-0.4, 0.9), ylim=(-0.1, 1.25), xlabel="x", ylabel="y", title=r"$Z \sim U[0, 1]$, $\theta = 0.5$")
    ax0.legend(loc="upper center", fontsize=8, ncol=2)

    apart = ~zero
    ax1.plot(theta, w1, color="tab:green", lw=2, label=r"$W_1 = |\theta|$")
    ax1.plot(theta, w1_s, "o", ms=3.5, color="tab:green", mfc="none",
             label=f"$W_1$ from {result['n_samples']} samples (POT)")
    # JS and TV are constant off 0 and drop to 0 at theta = 0: a line up to the hole at 0 on
    # each side, an open circle for the limit and a filled one for the value at 0
    for values, color, label in ((js, "tab:blue", r"JS $= \log 2$"), (tv, "tab:purple", r"TV $= 1$")):
        for side, end in ((theta < 0, -1e-3), (theta > 0, 1e-3)):
            xs = np.append(theta[side], end) if end < 0 else np.insert(theta[side], 0, end)
            ys = np.append(values[side], values[side][-1]) if end < 0 else np.insert(values[side], 0, values[side][0])
            ax1.plot(xs, ys, color=color, lw=2, label=label if end > 0 else None)
        ax1.plot([0.0], [values[apart][0]], "o", color=color, mfc="white", ms=7, zorder=5)
    kl_inf = apart & np.isinf(kl)
    top = 1.35
    ax1.plot(theta[kl_inf], np.full(int(kl_inf.sum()), top), "^", color="tab:orange", ms=5,
             label=r"KL $= +\infty$ (drawn at the top)")
    ax1.plot(theta[zero], np.zeros(int(zero.sum())), "o", color="k", ms=6, zorder=6)
    ax1.annotate(r"at $\theta = 0$ all four are 0", xy=(0.0, 0.0), xytext=(0.12, 0.12), fontsize=8,
                 arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax1.set(xlabel=r"$\theta$", ylabel="divergence / distance (nats for KL, JS)", ylim=(-0.05, 1.8),
            title="divergences between $P_0$ and $P_\\theta$")
    ax1.legend(loc="upper center", fontsize=8, ncol=3)
    ax1.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "numbers", "plot", "summary"]
