"""Which parameters make a run's EMA generator lose a class? Swap them in from the raw generator.

For a class-conditional checkpoint, prints the share of samples of one class that the domain
classifier assigns to it, for the raw generator, the EMA generator, and hybrids: the EMA generator
with one group of parameters (the class tables, or one layer) taken from the raw generator, and the
raw generator with the EMA's class tables. Every hybrid gets standing batch-norm statistics for its
own weights (:meth:`gankit.training.ema.EMA.standing_statistics`), so statistics never come from the
other network. It also prints each parameter's relative distance ``|raw - ema| / |raw|``.

    python benchmarks/ema_layer_swap.py RUN/checkpoints/step_0015000.ckpt --class 5

(docs/results.md, "Where the EMA loses the sandals", used class 5, sandal, of Fashion-MNIST.)
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from gankit.metrics.classifier import load_classifier
from gankit.models import sample_noise
from gankit.runs.sampling import TrainedGenerator, load_generator
from gankit.training.ema import EMA

CLASS_TABLES = ("embed.", "class_gain.", "class_bias.")


def with_parameters_of(base: TrainedGenerator, donor: TrainedGenerator, prefixes: tuple[str, ...]) -> TrainedGenerator:
    """A copy of ``base`` whose parameters named ``prefix*`` are ``donor``'s, with standing statistics."""
    holder = EMA(base.net, 0.0)  # the one copy of base's network, with the machinery for standing statistics
    donated = dict(donor.net.named_parameters())
    with torch.no_grad():
        for name, param in holder.module.named_parameters():
            if name.startswith(prefixes):
                param.copy_(donated[name])
    codes = torch.Generator().manual_seed(123)
    holder.standing_statistics(lambda n: sample_noise(n, base.z_dim, base.noise, generator=codes), batch_size=64)
    info = {"step": base.step, "ema": base.ema, "data_shape": base.data_shape, "num_classes": base.num_classes}
    return TrainedGenerator(holder.module, base.config, info).eval()


def class_share(G: TrainedGenerator, classifier: nn.Module, k: int, n: int) -> float:
    """The share of ``n`` samples asked for class ``k`` that the classifier assigns to ``k``."""
    with torch.no_grad():
        return (classifier.logits(G.sample(n, seed=7, classes=k)).argmax(1) == k).double().mean().item()


def layer_prefixes(G: TrainedGenerator) -> list[str]:
    """``net.<block>.<i>.`` of every layer of the wrapped DCGAN generator that has parameters."""
    return [f"net.{block}.{i}." for block in ("project", "upsample")
            for i, layer in enumerate(getattr(G.net.net, block)) if any(True for _ in layer.parameters())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--class", dest="k", type=int, required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--data", default="fashion-mnist")
    args = parser.parse_args()
    raw, ema = load_generator(args.checkpoint, ema=False), load_generator(args.checkpoint, ema=True)
    if not raw.num_classes or not ema.ema:
        raise SystemExit("ema_layer_swap.py: needs a class-conditional checkpoint that kept an EMA")
    classifier = load_classifier(args.data, image_size=raw.data_shape[-1], channels=raw.data_shape[0])

    def show(label: str, G: TrainedGenerator) -> None:
        print(f"{label:<45} {100 * class_share(G, classifier, args.k, args.n):6.1f} %")

    show("raw", raw)
    show("EMA", ema)
    show("EMA, standing statistics recomputed", with_parameters_of(ema, ema, ()))
    show("EMA with raw class tables", with_parameters_of(ema, raw, CLASS_TABLES))
    show("raw with EMA class tables", with_parameters_of(raw, ema, CLASS_TABLES))
    for prefix in layer_prefixes(raw):
        show(f"EMA with raw {prefix}*", with_parameters_of(ema, raw, (prefix,)))
    ema_params = dict(ema.net.named_parameters())
    for name, param in raw.net.named_parameters():
        distance = ((param - ema_params[name]).norm() / param.norm()).item()
        print(f"|raw - ema| / |raw|  {name:<28} {distance:.3f}")


if __name__ == "__main__":
    main()
