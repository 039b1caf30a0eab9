"""Bring your own G and D: gankit supplies the loss, trainer, checkpoints, EMA and metrics.

    python examples/own_networks.py                   # W-GAN-GP on ring8, residual MLPs, 4,000 steps (~1 min)
    python examples/own_networks.py --steps 20 --out /tmp/own   # a smoke test

The contract: G maps latent codes [N, z_dim] to samples of the data's shape ([N, 2] for the toy
sets), D maps samples to logits [N] (no sigmoid). A `z_dim` attribute on G sets model.z_dim.
"""

import argparse
import tempfile

import torch
from torch import nn

import gankit


class ResMLP(nn.Module):
    """in_dim -> width -> residual blocks -> out_dim. No batch norm: W-GAN-GP's gradient penalty is per sample."""

    def __init__(self, in_dim, out_dim, width=64, blocks=2):
        super().__init__()
        self.inp, self.out = nn.Linear(in_dim, width), nn.Sequential(nn.SiLU(), nn.Linear(width, out_dim))
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, width))
                                    for _ in range(blocks))

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        y = self.out(h)
        return y.squeeze(1) if y.shape[1] == 1 else y  # a critic returns logits [N]


class Generator(ResMLP):  # latent codes [N, 2] -> points [N, 2]
    z_dim = 2  # read by gankit: the run's model.z_dim

    def __init__(self):
        super().__init__(self.z_dim, 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000, help="generator steps (5 critic steps each)")
    parser.add_argument("--out", default=None, help="run folder (default: a fresh temporary folder)")
    args = parser.parse_args()

    torch.manual_seed(0)  # our modules are initialised here, before gankit seeds its own draws
    cfg = gankit.load_config(None, {"data.name": "ring8", "loss.name": "wgan-gp", "train.steps": args.steps,
                                    "train.device": "cpu", "train.log_every": min(500, args.steps)})
    run = gankit.train(cfg, out=args.out or tempfile.mkdtemp(prefix="gankit-own-"), G=Generator(), D=ResMLP(2, 1))
    print(f"model.name recorded: {run.config.model.name}, z_dim {run.config.model.z_dim}")
    # gankit.evaluate(run) reloads the generator from the run folder, which for your own networks
    # needs the module; score samples drawn in memory instead (2,500 points, the PacGAN protocol).
    m = gankit.evaluate({"points": run.sample(2500, seed=0)}, data="ring8")["metrics"]
    print(f"modes {m['modes_captured']}/{m['n_modes']}  high quality {100 * m['high_quality']:.1f} %  "
          f"reverse KL {m['reverse_kl']:.4f}")

    # Reload later (another process, say): a run of custom networks needs a fresh instance to fill.
    G = gankit.load_generator(run.run_dir, G=Generator())  # EMA weights of the latest checkpoint
    x = G.sample(1000, seed=0)
    print(f"reloaded generator from step {G.step} (ema={G.ema}); samples {tuple(x.shape)}, "
          f"same as in memory: {torch.allclose(x, run.sample(1000, seed=0), atol=1e-5)}")


if __name__ == "__main__":
    main()
