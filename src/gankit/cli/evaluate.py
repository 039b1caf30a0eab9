"""``gankit evaluate``: score a run (or a sample file) with toy mode metrics or FID / KID / PR / DC / IS."""

from __future__ import annotations

import argparse
from typing import Any

from gankit.errors import ConfigError

HELP = "score a run's samples (or --samples FILE.npz --data NAME): mode metrics, or FID/KID/precision/recall/IS"

# metric -> (label, which way is better); the table lists them in this order
ROWS: dict[str, tuple[str, str]] = {
    "modes_captured": ("modes captured", "higher"),
    "high_quality": ("high-quality fraction", "higher"),
    "reverse_kl": ("reverse KL (nats)", "lower"),
    "w1": ("W1 to true samples", "lower"),
    "js_hist": ("JS of 2-D histograms (nats)", "lower"),
    "fid": ("FID", "lower"),
    "kid_mean": ("KID", "lower"),
    "precision": ("precision (k=3)", "higher"),
    "recall": ("recall (k=3)", "higher"),
    "density": ("density (k=5)", "~1"),
    "coverage": ("coverage (k=5)", "higher"),
    "is_mean": ("Inception Score", "higher"),
    "classes_covered": ("classes covered", "higher"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", nargs="?",
                        help="a run folder, .ckpt checkpoint or generator.safetensors (writes RUN/metrics.json)")
    parser.add_argument("--samples", metavar="FILE.npz", help="score a sample file instead of a run (needs --data)")
    parser.add_argument("--data", help="the dataset the --samples imitate, e.g. ring8 or fashion-mnist")
    parser.add_argument("--n", type=int, help="number of samples (default: 10000 images / 2500 points "
                                              "for a run; the whole file for --samples)")
    parser.add_argument("--features", choices=("classifier", "inception"),
                        help="image feature space (default: classifier for labelled datasets, else inception)")
    parser.add_argument("--inception-weights", metavar="PATH",
                        help="local weights-inception-2015-12-05-6726825d.pth (default: looked for in "
                             "~/.cache/gankit/weights/); implies --features inception")
    parser.add_argument("--seed", type=int, default=0, help="seeds sampling, true toy samples and KID subsets")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    return str(value)


def format_table(result: dict[str, Any]) -> str:
    """The metrics of ``result`` as an aligned three-column table (metric, value, better)."""
    m = result["metrics"]
    rows = []
    for key, (label, better) in ROWS.items():
        if key not in m:
            continue
        value = _fmt(m[key])
        if key == "modes_captured":
            value = f"{m[key]} / {m['n_modes']}"
        elif key == "kid_mean":
            value = f"{_fmt(m['kid_mean'])} ± {_fmt(m['kid_std'])}"
        elif key == "is_mean":
            value = f"{_fmt(m['is_mean'])} ± {_fmt(m['is_std'])}"
        elif key == "classes_covered":
            value = f"{m[key]} / {len(m['class_counts'])}"
        rows.append((label, value, better))
    if "class_counts" in m:
        rows.append(("class histogram", " ".join(str(c) for c in m["class_counts"]), "even"))
    w0 = max(len(r[0]) for r in rows + [("metric", "", "")])
    w1 = max(len(r[1]) for r in rows + [("", "value", "")])
    lines = [f"{'metric':<{w0}}  {'value':<{w1}}  better"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def _header(result: dict[str, Any]) -> str:
    parts = [f"{result['n']} {result['kind']}", f"data {result['data']}", f"seed {result['seed']}"]
    if "features" in result:
        parts.append(f"features {result['feature_tag']}")
    if result.get("step") is not None:
        parts.append(f"step {result['step']} ({'EMA' if result.get('ema') else 'raw'} weights)")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from gankit.metrics.evaluate import evaluate_samples, load_samples
    from gankit.runs.evaluate import evaluate_run
    from gankit.training.runtime import pick_device

    if (args.run is None) == (args.samples is None):
        raise ConfigError("give either a RUN or --samples FILE.npz --data NAME (not both, not neither)")
    if args.samples is not None and not args.data:
        raise ConfigError("--samples needs --data NAME, the dataset the samples imitate (e.g. fashion-mnist)")
    if args.run is not None and args.data:
        raise ConfigError("--data only goes with --samples; a run already knows its dataset")
    if args.n is not None and args.n <= 0:
        raise ConfigError(f"--n must be > 0; got {args.n}")
    device = pick_device(args.device)
    features = args.features or ("inception" if args.inception_weights else None)
    if args.samples is not None:
        result = evaluate_samples(load_samples(args.samples), args.data, n=args.n, features=features,
                                  inception_weights=args.inception_weights, seed=args.seed, device=device)
    else:
        result = evaluate_run(args.run, n=args.n, features=features, inception_weights=args.inception_weights,
                              seed=args.seed, device=device)
    print(_header(result))
    print(format_table(result))
    if args.run is not None:
        print(f"wrote {result['run']}/metrics.json")
    return 0
