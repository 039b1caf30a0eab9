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
    "class_accuracy_mean": ("class accuracy (conditional)", "higher"),
    "intra_fid_mean": ("intra-class FID (conditional)", "lower"),
}
# metrics computed in a feature space: their label names it (a classifier's FID is not Inception's)
IN_FEATURE_SPACE = ("fid", "kid_mean", "precision", "recall", "density", "coverage", "is_mean", "intra_fid_mean")


def label(key: str, space: str | None) -> str:
    """The table label of metric ``key``, naming the feature space it was computed in."""
    text = ROWS[key][0]
    if space is None or key not in IN_FEATURE_SPACE:
        return text
    if key == "is_mean":  # the IS formula over the space's class probabilities
        return "Inception Score (Inception-v3 classes)" if space == "inception" else f"IS formula ({space} classes)"
    return f"{text}, {space} features"


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
    parser.add_argument("--download-weights", action="store_true",
                        help="opt in: fetch the Inception weights once (from torch-fidelity's GitHub release) "
                             "when the inception space needs them and none are here")
    parser.add_argument("--seed", type=int, default=0, help="seeds sampling, true toy samples and KID subsets")
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="a run: score the EMA weights when it kept them (default), or the raw generator (--no-ema)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")
    parser.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                        help="a run: draw the codes scaled towards the prior's mean by PSI in (0, 1] (the truncation "
                             "trick; default 1, as trained)")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    return str(value)


def format_table(result: dict[str, Any]) -> str:
    """The metrics of ``result`` as an aligned three-column table (metric, value, better)."""
    m = result["metrics"]
    rows = []
    for key, (_, better) in ROWS.items():
        if key not in m:
            continue
        value = _fmt(m[key])
        if key == "modes_captured":
            value = f"{m[key]} / {m['n_modes']}"
        elif key == "kid_mean":
            value = f"{_fmt(m['kid_mean'])} ± {_fmt(m['kid_std'])}"
            if "kid_subset_size" in m:
                value += f" (subsets of {m['kid_subset_size']})"
        elif key == "is_mean":
            value = f"{_fmt(m['is_mean'])} ± {_fmt(m['is_std'])}"
        elif key == "classes_covered":
            value = f"{m[key]} / {len(m['class_counts'])}"
        rows.append((label(key, result.get("features")), value, better))
    if "class_counts" in m:
        rows.append(("class histogram", " ".join(str(c) for c in m["class_counts"]), "even"))
    for key, name, better in (("class_accuracy", "class accuracy by class", "higher"),
                              ("intra_fid", "intra-class FID by class", "lower")):
        if key in m:
            rows.append((name, " ".join(_fmt(v) for v in m[key]), better))
    w0 = max(len(r[0]) for r in rows + [("metric", "", "")])
    w1 = max(len(r[1]) for r in rows + [("", "value", "")])
    lines = [f"{'metric':<{w0}}  {'value':<{w1}}  better"]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def _header(result: dict[str, Any]) -> str:
    parts = [f"{result['n']} {result['kind']}", f"data {result['data']}", f"seed {result['seed']}"]
    if "features" in result:
        parts.append(f"features {result['feature_tag']}")
    if result.get("resized_from") is not None:
        side = result["resized_from"]
        parts.append(f"{side}x{side} samples brought to the evaluator's input as the real images are")
    if result.get("step") is not None:
        parts.append(f"step {result['step']} ({'EMA' if result.get('ema') else 'raw'} weights)")
    if result.get("truncation", 1.0) != 1.0:
        parts.append(f"truncation {result['truncation']:g}")
    return ", ".join(parts)


def fetch_weights_if_needed(features: str | None, args: argparse.Namespace) -> None:
    """``--download-weights``: fetch the Inception weights when this evaluation will use them and none are here."""
    from gankit.errors import GankitError
    from gankit.metrics import inception
    from gankit.metrics.features import default_feature_space

    if args.inception_weights or (features or default_feature_space(args.data or _run_data(args.run))) != "inception":
        return
    try:
        inception.find_weights()
    except GankitError:
        print(f"downloading {inception.WEIGHTS_FILE} into {inception.weights_dir()}/ (--download-weights)")
        print(f"saved {inception.download_weights()}")


def _run_data(run: str) -> str:
    """The data set a run trained on (its config), for choosing the feature space before scoring."""
    import json

    from gankit.runs.folder import run_folder

    try:
        return json.loads((run_folder(run) / "config.json").read_text(encoding="utf-8"))["data"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # evaluate_run reports what is wrong with the run itself


def run(args: argparse.Namespace) -> int:
    from gankit.metrics.evaluate import evaluate_samples, load_samples
    from gankit.models.sampling import check_truncation
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
    if args.truncation != 1.0 and args.samples is not None:
        raise ConfigError("--truncation changes how a run draws its codes; it does not go with --samples")
    check_truncation(args.truncation)
    device = pick_device(args.device)
    features = args.features or ("inception" if args.inception_weights else None)
    if args.download_weights:
        fetch_weights_if_needed(features, args)
    if args.samples is not None:
        result = evaluate_samples(load_samples(args.samples), args.data, n=args.n, features=features,
                                  inception_weights=args.inception_weights, seed=args.seed, device=device)
    else:
        result = evaluate_run(args.run, n=args.n, features=features, inception_weights=args.inception_weights,
                              seed=args.seed, device=device, ema=args.ema, truncation=args.truncation)
    print(_header(result))
    print(format_table(result))
    if args.run is not None:
        print(f"wrote {result['run']}/metrics.json")
    return 0
