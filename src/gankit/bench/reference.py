"""The classic DCGAN training loop, as the baseline ``gankit bench`` measures against.

It trains gankit's own networks (so both loops do the same model at the same batch) the way the
well-known pytorch/examples DCGAN script does, deliberately keeping its costs:

* fp32 throughout; D ends in a ``Sigmoid`` and the loss is ``BCELoss`` on probabilities;
* data from a CPU :class:`torch.utils.data.DataLoader` over an in-memory float tensor (collated
  sample by sample, normalised on the CPU, copied to the device every step);
* one ``G(z)`` per step, reused detached for D and attached for G, with D's weight gradients
  computed (then discarded) during the G update;
* three host synchronisations per step: ``D(x).mean().item()``, ``D(G(z)).mean().item()``
  before and after the D update, as the script prints them;
* torch's default Adam (no ``fused``), ``lr = 2e-4``, ``betas = (0.5, 0.999)`` (Radford et al., 2016).

Do not train with this: :class:`gankit.training.Trainer` is the loop to use.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from gankit.data import to_model_space


class ReferenceLoop:
    """One classic DCGAN step per :meth:`step` call.

    Objectives, as in the script (``y = 1`` for real, ``0`` for fake, BCE on ``sigma(D(.))``):

    * D: ``max log D(x) + log(1 - D(G(z)))``, two backward passes accumulated, one Adam step;
    * G: ``max log D(G(z))`` (the non-saturating form), one backward pass, one Adam step.

    Args:
        G: generator ``z [N, z_dim] -> x``.
        D: discriminator ``x -> logits [N]`` (a Sigmoid is appended here).
        data: the training set as stored by gankit (uint8 images ``[N, C, H, W]`` or float points);
            it is converted to float in model space once, on the CPU, as the script's transforms do.
        batch_size: images per step.
        device: where the networks live.
        seed: seeds the DataLoader's shuffling.
    """

    def __init__(self, G: nn.Module, D: nn.Module, data: Tensor, *, batch_size: int, device: torch.device,
                 seed: int = 0) -> None:
        self.device = device
        self.G = G.to(device)
        self.D = nn.Sequential(D, nn.Sigmoid()).to(device)
        self.z_shape = (G.z_dim, 1, 1) if data.dim() == 4 else (G.z_dim,)  # the script's 4-D noise for convs
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.loader = DataLoader(TensorDataset(to_model_space(data)), batch_size=batch_size, shuffle=True,
                                 drop_last=True, generator=torch.Generator().manual_seed(seed))
        self._batches = iter(self.loader)
        self.last: dict[str, float] = {}

    def next_batch(self) -> Tensor:
        """The next real batch on the device (a new shuffled epoch when one runs out)."""
        try:
            (real,) = next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            (real,) = next(self._batches)
        return real.to(self.device)

    def step(self) -> None:
        real = self.next_batch()
        n = len(real)
        label = torch.full((n,), 1.0, device=self.device)

        # D: maximise log D(x) + log(1 - D(G(z)))
        self.D.zero_grad()
        output = self.D(real)
        err_real = self.criterion(output, label)
        err_real.backward()
        d_x = output.mean().item()  # host sync 1
        z = torch.randn(n, *self.z_shape, device=self.device)
        fake = self.G(z)
        label.fill_(0.0)
        output = self.D(fake.detach())
        err_fake = self.criterion(output, label)
        err_fake.backward()
        d_g_z1 = output.mean().item()  # host sync 2
        self.opt_d.step()

        # G: maximise log D(G(z))
        self.G.zero_grad()
        label.fill_(1.0)
        output = self.D(fake)
        err_g = self.criterion(output, label)
        err_g.backward()
        d_g_z2 = output.mean().item()  # host sync 3
        self.opt_g.step()
        self.last = {"D(x)": d_x, "D(G(z)) before": d_g_z1, "D(G(z)) after": d_g_z2}
