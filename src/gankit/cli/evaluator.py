"""``gankit evaluator``: train gankit's domain classifier (the ``classifier`` feature space) or show it.

``gankit evaluator train --data fashion-mnist`` trains a small CNN on the dataset's labelled
training split, reports its test accuracy and saves it where ``gankit evaluate`` looks for it;
``gankit evaluator info`` says where the trained classifiers are and how accurate they are.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gankit.errors import GankitError

HELP = "train the domain classifier that gankit evaluate uses as feature space (train), or show it (info)"

DEVICES = ("auto", "cpu", "cuda", "mps")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    train = actions.add_parser(
        "train", help="train the classifier of a labelled dataset and save it",
        description="Train the domain classifier of a labelled dataset and save it (safetensors).",
    )
    train.add_argument("--data", required=True,
                       help="a labelled image dataset: digits | fashion-mnist | mnist | cifar10")
    train.add_argument("--image-size", type=int, help="image side, a power of two (default: the dataset's, 32)")
    train.add_argument("--epochs", type=int,
                       help="passes over the training split (default 3; more on small datasets)")
    train.add_argument("--batch-size", type=int, default=None, help="images per step (default 128)")
    train.add_argument("--lr", type=float, default=None, help="peak learning rate of AdamW (default 3e-3)")
    train.add_argument("--augment", action="store_true",
                       help="random shifts (and flips where classes allow); pays off only with more epochs")
    train.add_argument("--seed", type=int, default=0, help="seeds initialisation, shuffling and augmentation")
    train.add_argument("--device", default="auto", choices=DEVICES, help="where to train (default auto)")
    train.add_argument("--threads", type=_threads, default="auto",
                       help="CPU threads for torch, or auto (default): the cores the 1-minute load "
                            "average leaves free, at least 1")
    train.add_argument("--out", metavar="PATH",
                       help="file to write (default: ~/.cache/gankit/evaluators/<data>-<size>.safetensors, "
                            "root overridden by $GANKIT_CACHE)")

    info = actions.add_parser(
        "info", help="show where trained classifiers are and their test accuracy",
        description="Show where trained classifiers are and their recorded test accuracy.",
    )
    info.add_argument("--data", help="one dataset (default: every classifier in the cache folder)")
    info.add_argument("--image-size", type=int, default=32, help="image side of --data's classifier (default 32)")
    info.add_argument("--path", metavar="PATH", help="describe this classifier file instead")


def _threads(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be auto or a positive integer, got {text!r}")
    return value


def free_threads(default: int) -> int:
    """Threads worth using: the cores this process may run on minus the 1-minute load average.

    On a shared machine extra threads are worse than useless: with every core already busy, two
    OpenMP threads ran a training step of the classifier 5-9x slower than one (they spin-wait on
    each other). Capped at ``default`` (torch's choice, one per physical core); at least 1.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows): trust torch's choice
        return default
    return max(1, min(default, cores - int(load)))


def describe(path: Path) -> str:
    """One line about a classifier file: dataset, size, accuracy, training settings."""
    from gankit.metrics.classifier import read_metadata

    try:
        meta = read_metadata(path)
    except GankitError as err:
        return str(err)  # already names the file
    size = meta.get("image_size", "?")
    acc = meta.get("test_accuracy")
    acc_text = f"test accuracy {float(acc):.4f}" if acc else "test accuracy not recorded"
    if meta.get("test_images"):
        acc_text += f" on {meta['test_images']} images"
    return (f"{path}: {meta.get('data', '?')} {size}x{size}, {meta.get('channels', '?')} channel(s), "
            f"{meta.get('num_classes', '?')} classes, {meta.get('num_features', '?')} features; {acc_text}; "
            f"epochs {meta.get('epochs', '?')}, seed {meta.get('seed', '?')}")


def run_info(args: argparse.Namespace) -> int:
    from gankit.metrics import classifier as C

    if args.path is not None:
        path = Path(args.path).expanduser()
        if not path.is_file():
            raise GankitError(f"no file at {path}; give the path of a file written by gankit evaluator train")
        print(describe(path))
        return 0
    if args.data is not None:
        path = C.default_path(args.data, args.image_size)
        if not path.is_file():
            raise GankitError(f"no trained {args.data} classifier at {path}; train it with: "
                              f"{C.train_command(args.data, args.image_size)}")
        print(describe(path))
        return 0
    folder = C.cache_root() / "evaluators"
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        print(f"no trained classifiers in {folder}; train one with: gankit evaluator train --data fashion-mnist")
        return 0
    for path in files:
        print(describe(path))
    return 0


def run_train(args: argparse.Namespace) -> int:
    import torch

    from gankit.metrics import classifier as C
    from gankit.training.runtime import pick_device

    device = pick_device(args.device)
    options = {}
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.lr is not None:
        options["lr"] = args.lr
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(free_threads(before) if args.threads == "auto" else args.threads)
    try:
        # train_classifier prints each epoch, then the final test accuracy and the saved path
        C.train_classifier(args.data, image_size=args.image_size, epochs=args.epochs, seed=args.seed,
                           augment_data=args.augment, device=device, out=args.out, **options)
    finally:
        torch.set_num_threads(before)  # in-process callers (tests) keep their setting
    return 0


def run(args: argparse.Namespace) -> int:
    return run_train(args) if args.action == "train" else run_info(args)
