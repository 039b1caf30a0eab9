"""Score samples that did not come from a gankit run: toy points, then digit images.

    python examples/score_samples.py                        # ring8 points, then digits images
    python examples/score_samples.py --quick --out /tmp/s   # fewer images, a 1-epoch classifier
    python examples/score_samples.py --samples my.npz --data digits   # a .npz or a folder of PNGs

Points are scored against the true mixture; images by FID, KID, precision / recall, density /
coverage and IS in the features of gankit's digits classifier: the one `gankit evaluator train
--data digits` caches when present, else a quick one trained into --out (1-2 epochs, ~99 %
held-out accuracy, 5-20 s on a CPU). Inception features need local weights (see the README).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import gankit
from gankit.data import load_dataset
from gankit.metrics import classifier


def read_samples(path):
    """A .npz ('images' uint8 [N,C,H,W] or 'points' [N,2]) or a folder of PNGs (read as 32x32 gray)."""
    if Path(path).is_dir():
        return {"images": load_dataset(f"folder:{path}", image_size=32, channels=1, cache=False).data}
    return dict(np.load(path))


def digits_classifier(out, quick):
    for path in (classifier.default_path("digits", 32), out / "digits-classifier.safetensors"):
        if path.is_file():
            return path
    _, acc = classifier.train_classifier("digits", epochs=1 if quick else 2, batch_size=32, out=path, log=None)
    print(f"no cached digits classifier; trained one into {path}: held-out accuracy {acc:.3f}")
    return path


def show(title, samples, data, **options):
    metrics = gankit.evaluate(samples, data=data, **options)["metrics"]
    print(f"{title:<32}", {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items() if k != "class_counts"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and a 1-epoch classifier")
    parser.add_argument("--out", type=Path, default=None, help="folder for the classifier and samples (default: temporary)")
    parser.add_argument("--samples", default=None, help="score this .npz or folder of PNGs instead of the demo")
    parser.add_argument("--data", default="digits", help="the dataset --samples imitate")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="gankit-score-"))
    out.mkdir(parents=True, exist_ok=True)
    weights = {"classifier_weights": digits_classifier(out, args.quick)} if args.data == "digits" else {}
    if args.samples:
        return show(args.samples, read_samples(args.samples), args.data, **weights)

    # 1. Toy points: true ring8 samples, and a "collapsed generator" that only hits 3 of the 8 modes.
    ring = load_dataset("ring8", n_points=2500, seed=1)
    show("ring8, true samples", {"points": ring.data}, "ring8")
    show("ring8, 3 modes only", {"points": ring.data[ring.labels < 3]}, "ring8")

    # 2. Digits, uint8 [N, 1, 32, 32]: real ones score near FID 0; two classes only (mode collapse) lose
    #    recall and coverage; noisy ones lose precision. Seed 1: the real reference set is seed 0's draw.
    digits = load_dataset("digits")
    pick = torch.randperm(len(digits.data), generator=torch.Generator().manual_seed(1))[: 400 if args.quick else 1000]
    real, labels = digits.data[pick], digits.labels[pick]
    np.savez(out / "digits-real.npz", images=real.numpy())
    noisy = (real.float() + 60 * torch.randn(real.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 255)
    (out / "digits-noisy").mkdir(exist_ok=True)
    for i, image in enumerate(noisy.to(torch.uint8).numpy()):  # a folder of PNGs, as `gankit sample` writes
        Image.fromarray(image[0]).save(out / "digits-noisy" / f"{i:06d}.png")
    show("digits, real (.npz)", read_samples(out / "digits-real.npz"), "digits", **weights)
    show("digits, classes 0 and 1 only", {"images": real[labels < 2]}, "digits", **weights)
    show("digits, noisy (folder of PNGs)", read_samples(out / "digits-noisy"), "digits", **weights)


if __name__ == "__main__":
    main()
