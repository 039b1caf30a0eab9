"""Reproduce a figure of the tutorial: the parallel-lines example of the W-GAN paper by default.

    python examples/reproduce_figure.py                              # parallel-lines, full resolution
    python examples/reproduce_figure.py optimal-discriminator --quick --out /tmp/figs
    python examples/reproduce_figure.py --list                       # every experiment and its claim

Each experiment in gankit.experiments computes its numbers (numbers(quick, seed) -> dict, what
the tests check the tutorial's claims on) and draws them (plot(result, path)); run_experiment
does both and writes NAME.json and NAME.png.
"""

import argparse
import tempfile
from pathlib import Path

import gankit


def main():
    experiments = gankit.experiments.EXPERIMENTS  # name -> module
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="parallel-lines", choices=sorted(experiments))
    parser.add_argument("--quick", action="store_true", help="coarser grids / fewer steps, for a smoke test")
    parser.add_argument("--out", default=None, help="folder for NAME.png and NAME.json (default: temporary)")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    args = parser.parse_args()
    if args.list:
        for name, module in experiments.items():
            print(f"{name:<22} {module.TITLE}\n{'':<22} claim: {module.CLAIM}")
        return

    module = experiments[args.name]
    print(f"{args.name}: {module.TITLE}\nclaim: {module.CLAIM}")
    out = Path(args.out or tempfile.mkdtemp(prefix="gankit-figure-"))
    result = gankit.experiments.run_experiment(args.name, out, quick=args.quick, seed=0)
    for line in module.summary(result):  # the markdown lines `gankit experiment all` puts in report.md
        print(line)
    print(f"numbers computed in {result['meta']['wall_s']} s")
    print(f"figure: {out / (args.name + '.png')}")
    print(f"numbers: {out / (args.name + '.json')}")


if __name__ == "__main__":
    main()
