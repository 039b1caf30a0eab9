"""``gankit divergence``: KL, JS and W1 between two distributions or two sample sets.

Three modes, exactly one per call:

- ``--p 0.1,0.4,0.5 --q 0.3,0.3,0.4``: two discrete distributions over the support 0..n-1
  (masses are normalised); prints KL both ways, JS and W1 (``--base 2`` for bits).
- ``--x a.npy --y b.npy``: two sample sets ``[N]`` or ``[N, d]``; prints W1 (exact, or
  ``--sinkhorn``).
- ``--demo``: a short tour of why W-GAN uses W1 (what ``make demo`` runs).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

import numpy as np

from gankit import divergences as dv
from gankit.errors import GankitError

HELP = "KL, JS and Wasserstein-1 between two distributions or two sample sets (--demo: a tour)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--p", metavar="P0,P1,...", help="masses of p, comma-separated (normalised)"
    )
    parser.add_argument("--q", metavar="Q0,Q1,...", help="masses of q over the same support")
    parser.add_argument(
        "--base", type=float, default=None, help="logarithm base for KL and JS (default: e, nats)"
    )
    parser.add_argument("--x", metavar="X.npy", help="first sample set, a .npy array [N] or [N, d]")
    parser.add_argument(
        "--y", metavar="Y.npy", help="second sample set, a .npy array [M] or [M, d]"
    )
    parser.add_argument(
        "--sinkhorn",
        action="store_true",
        help="approximate W1 by entropic Sinkhorn (for large sets; slightly above the exact value)",
    )
    parser.add_argument(
        "--reg",
        type=float,
        default=None,
        help=f"Sinkhorn regularisation relative to the mean distance (default {dv.SINKHORN_REG})",
    )
    parser.add_argument("--demo", action="store_true", help="print a few worked examples")


def run(args: argparse.Namespace) -> int:
    discrete = args.p is not None or args.q is not None
    samples = args.x is not None or args.y is not None
    if args.demo + discrete + samples != 1:
        raise GankitError("give exactly one of --p/--q, --x/--y or --demo (see --help)")
    if (args.sinkhorn or args.reg is not None) and not samples:
        raise GankitError("--sinkhorn and --reg apply to sample sets; use them with --x/--y")
    if args.reg is not None and not args.sinkhorn:
        raise GankitError("--reg sets the Sinkhorn regularisation; add --sinkhorn")
    if args.base is not None and not discrete:
        raise GankitError("--base applies to KL and JS; use it with --p/--q")
    if args.demo:
        print(demo_text())
    elif discrete:
        if args.p is None or args.q is None:
            raise GankitError("give both --p and --q (comma-separated masses)")
        print(compare_masses(_masses(args.p, "--p"), _masses(args.q, "--q"), base=args.base))
    else:
        if args.x is None or args.y is None:
            raise GankitError("give both --x and --y (.npy sample arrays)")
        x, y = _load_samples(args.x, "--x"), _load_samples(args.y, "--y")
        reg = dv.SINKHORN_REG if args.reg is None else args.reg
        print(compare_samples(x, y, sinkhorn=args.sinkhorn, reg=reg, names=(args.x, args.y)))
    return 0


# --------------------------------------------------------------------------------------------
# input


def _masses(text: str, flag: str) -> np.ndarray:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise GankitError(f"{flag} has an empty entry in {text!r}; write masses like 0.1,0.4,0.5")
    try:
        return np.array([float(item) for item in items])
    except ValueError:
        raise GankitError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def _load_samples(path: str, flag: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise GankitError(f"{flag} {path}: no such file; give the path of a .npy array") from None
    except (OSError, ValueError, EOFError) as err:
        reason = " ".join(str(err).split())  # keep the message on one line
        raise GankitError(
            f"{flag} {path}: cannot read it as a .npy array ({reason}); save it with numpy.save"
        ) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise GankitError(f"{flag} {path}: is an .npz archive; save a single array with numpy.save")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise GankitError(f"{flag} {path}: holds {arr.dtype} values; samples must be real numbers")
    if arr.ndim not in (1, 2):
        raise GankitError(f"{flag} {path}: has shape {arr.shape}; samples must be [N] or [N, d]")
    return arr.astype(np.float64)


# --------------------------------------------------------------------------------------------
# output


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.6f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """An aligned table; ``align`` gives "l" or "r" per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            f"{c:<{w}}" if a == "l" else f"{c:>{w}}"
            for c, w, a in zip(cells, widths, align, strict=True)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def _unit(base: float | None) -> str:
    if base is None:
        return "nats"
    return "bits" if base == 2 else f"log base {base:g}"


def compare_masses(p: np.ndarray, q: np.ndarray, *, base: float | None = None) -> str:
    """The table printed by ``--p/--q``: KL both ways, JS and W1 over the support 0..n-1."""
    kl_pq = dv.kl(p, q, base=base)
    kl_qp = dv.kl(q, p, base=base)
    js_pq = dv.js(p, q, base=base)
    support = np.arange(len(p), dtype=np.float64)
    w1 = dv.wasserstein(support, support, p, q)
    unit = _unit(base)
    rows = [
        ["KL(p || q)", _fmt(kl_pq), unit],
        ["KL(q || p)", _fmt(kl_qp), unit],
        ["JS(p, q)", _fmt(js_pq), unit],
        ["W1(p, q)", _fmt(w1), "support 0..n-1"],
    ]
    p_n, q_n = p / p.sum(), q / q.sum()
    head = (
        f"p = {np.array2string(p_n, precision=4, separator=', ')}\n"
        f"q = {np.array2string(q_n, precision=4, separator=', ')}\n"
    )
    return head + _table(["divergence", "value", "unit"], rows, align="lrl")


def compare_samples(
    x: np.ndarray,
    y: np.ndarray,
    *,
    sinkhorn: bool = False,
    reg: float = dv.SINKHORN_REG,
    names: tuple[str, str] = ("x", "y"),
) -> str:
    """The table printed by ``--x/--y``: the sample shapes and W1."""
    method = "sinkhorn" if sinkhorn else "exact"
    w1 = dv.wasserstein(x, y, method=method, reg=reg)
    label = f"W1 (sinkhorn, reg={reg:g})" if sinkhorn else "W1 (exact)"
    width = max(len(n) for n in names)
    head = "".join(
        f"{flag} = {name:<{width}}  {list(arr.shape)}\n"
        for flag, name, arr in (("x", names[0], x), ("y", names[1], y))
    )
    return head + _table(["distance", "value"], [[label, _fmt(w1)]])


# --------------------------------------------------------------------------------------------
# the demo


def _normal_pdf(mu: float) -> Callable[[np.ndarray], np.ndarray]:
    def pdf(x: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * (x - mu) ** 2) / math.sqrt(2 * math.pi)

    return pdf


def demo_text(n_samples: int = 500, seed: int = 0) -> str:
    """Worked examples: KL asymmetry, JS saturation, the parallel lines, D* and V(D*, G)."""
    out: list[str] = []

    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    out += [
        "1. KL is asymmetric, and infinite where the second distribution has no mass",
        "   p = [0.5, 0.5, 0], q = [0.25, 0.25, 0.5]",
        _indent(
            _table(
                ["", "value"],
                [
                    ["KL(p || q)", _fmt(dv.kl(p, q))],
                    ["KL(q || p)", _fmt(dv.kl(q, p))],
                    ["JS(p, q)", _fmt(dv.js(p, q))],
                ],
            )
        ),
        "",
    ]

    rows = []
    support = np.arange(10, dtype=np.float64)
    for k in (1, 3, 9):
        a, b = np.eye(10)[0], np.eye(10)[k]  # point masses at 0 and at k
        rows.append([str(k), _fmt(dv.js(a, b)), _fmt(dv.wasserstein(support, support, a, b))])
    out += [
        "2. On disjoint supports JS is stuck at log 2; W1 still measures how far apart they are",
        "   p = point mass at 0, q = point mass at k",
        _indent(_table(["k", "JS(p, q)", "W1(p, q)"], rows)),
        f"   log 2 = {_fmt(dv.LOG2)}",
        "",
    ]

    thetas = np.array([-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0])
    exact = dv.parallel_lines(thetas)
    rows = []
    for i, th in enumerate(thetas):
        x0, x1 = dv.parallel_lines_samples(float(th), n_samples, seed)
        rows.append(
            [
                f"{th:+.1f}",
                _fmt(exact.kl[i]),
                _fmt(exact.js[i]),
                _fmt(exact.tv[i]),
                _fmt(exact.w1[i]),
                _fmt(dv.wasserstein(x0, x1)),
            ]
        )
    out += [
        "3. Parallel lines (W-GAN paper, Example 1): P0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1]",
        "   KL, JS and TV jump at theta = 0 and are flat elsewhere; only W1 = |theta| varies smoothly",
        _indent(
            _table(
                ["theta", "KL", "JS", "TV", "W1", f"W1, {n_samples} samples (EMD)"],
                rows,
            )
        ),
        "",
    ]

    p_r, p_g = _normal_pdf(0.0), _normal_pdf(2.0)
    d_star = dv.optimal_discriminator(p_r, p_g)
    xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0])
    rows = [[f"{x:+.1f}", _fmt(p_r(x)), _fmt(p_g(x)), _fmt(d_star(x))] for x in xs]
    grid = np.linspace(-12.0, 14.0, 20001)
    value = dv.gan_value_at_optimum(p_r, p_g, grid)
    js_value = dv.js_density(p_r, p_g, grid)
    same = dv.gan_value_at_optimum(p_r, p_r, grid)
    out += [
        "4. Optimal discriminator (Goodfellow et al. 2014): D*(x) = p_r(x) / (p_r(x) + p_g(x)),",
        "   p_r = N(0, 1), p_g = N(2, 1)",
        _indent(_table(["x", "p_r(x)", "p_g(x)", "D*(x)"], rows)),
        _indent(
            _table(
                ["", "value"],
                [
                    ["V(D*, G) by integration", _fmt(value)],
                    ["2 JS(p_r, p_g) - 2 log 2", _fmt(2 * js_value - 2 * dv.LOG2)],
                    ["V(D*, G) when p_g = p_r", _fmt(same)],
                    ["-2 log 2", _fmt(-2 * dv.LOG2)],
                ],
            )
        ),
    ]
    return "\n".join(out)


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())
