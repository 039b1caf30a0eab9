"""Floating-point operation counts and device peaks, for achieved TFLOP/s and the share of peak.

A multiply-add counts as two FLOPs, as in vendors' peak figures. Layer counts by hand:

.. math::
    \\text{Linear}:\\; 2 N d_{in} d_{out} \\qquad
    \\text{Conv2d}:\\; 2 N C_{out} H_{out} W_{out} C_{in} k^2 \\qquad
    \\text{ConvTranspose2d}:\\; 2 N C_{in} H_{in} W_{in} C_{out} k^2

(a transposed convolution scatters each input pixel into a ``k x k`` patch of every output
channel). Whole training steps are counted with :class:`torch.utils.flop_counter.FlopCounterMode`,
which sees the forward and backward matrix products and convolutions actually executed; element-wise
work (norms, activations, the optimiser) is not counted, as in the usual model-FLOPs convention.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


def linear_flops(n: int, d_in: int, d_out: int) -> int:
    """``2 N d_in d_out`` for ``x [N, d_in] @ W^T [d_in, d_out]`` (bias adds not counted)."""
    return 2 * n * d_in * d_out


def conv2d_flops(n: int, c_in: int, c_out: int, kernel: int, h_out: int, w_out: int) -> int:
    """``2 N C_out H_out W_out C_in k^2``: each output value is a ``C_in k^2``-term dot product."""
    return 2 * n * c_out * h_out * w_out * c_in * kernel * kernel


def conv_transpose2d_flops(n: int, c_in: int, c_out: int, kernel: int, h_in: int, w_in: int) -> int:
    """``2 N C_in H_in W_in C_out k^2``: each input value is scattered into ``C_out k^2`` outputs."""
    return 2 * n * c_in * h_in * w_in * c_out * kernel * kernel


def dcgan_forward_flops(image_size: int, width: int, *, channels: int = 3, z_dim: int = 100) -> dict[str, int]:
    """Forward FLOPs per image of :class:`gankit.models.DCGANGenerator` and the discriminator.

    G: ``Linear(z, 16 top)`` then ``L - 1`` stride-2 ``ConvTranspose2d(4)`` halving channels and a
    last one to ``channels``; D: ``L`` stride-2 ``Conv2d(4)`` from ``channels`` to ``top`` and a
    4x4 valid ``Conv2d`` to one logit, with ``L = log2(S / 4)`` and ``top = width 2^(L-1)``.

    Returns:
        ``{"G": ..., "D": ...}`` for one image (N = 1).
    """
    levels = int(math.log2(image_size // 4))
    top = width * 2 ** (levels - 1)
    g = linear_flops(1, z_dim, 16 * top)
    c_in, side = top, 4
    for i in range(levels):
        c_out = channels if i == levels - 1 else max(1, c_in // 2)
        g += conv_transpose2d_flops(1, c_in, c_out, 4, side, side)
        c_in, side = c_out, side * 2
    d, c_in, side = 0, channels, image_size
    for i in range(levels):
        c_out = width * 2**i
        side //= 2
        d += conv2d_flops(1, c_in, c_out, 4, side, side)
        c_in = c_out
    d += conv2d_flops(1, c_in, 1, 4, 1, 1)
    return {"G": g, "D": d}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matrix products and convolutions (forward and backward) ``fn()`` runs."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


# Dense (no 2:4 sparsity) peak rates in TFLOP/s from NVIDIA's data sheets. fp32 is the CUDA-core
# rate; tf32 is what cuDNN uses for fp32 convolutions by default (torch.backends.cudnn.allow_tf32).
# Longest name first: "H100 NVL" must win over "H100".
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200 NVL": {"bf16": 835.0, "tf32": 417.5, "fp32": 60.0},
    "H200": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H100 NVL": {"bf16": 835.0, "tf32": 417.5, "fp32": 60.0},
    "H100 PCIe": {"bf16": 756.0, "tf32": 378.0, "fp32": 51.2},
    "H100": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},  # SXM5 ("H100 80GB HBM3")
    "A100": {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5},
}


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The table's peak for a device name (e.g. ``"NVIDIA H100 80GB HBM3"``), or None if unknown.

    Args:
        device_name: ``torch.cuda.get_device_name()`` (any text; CPUs are not in the table).
        precision: ``"bf16"``, ``"tf32"`` or ``"fp32"``.
    """
    name = device_name.lower()
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if key.lower() in name:
            return PEAK_TFLOPS[key].get(precision)
    return None


def images_per_second_limit(peak: float, flops_per_image: float) -> float:
    """The physical ceiling ``peak [FLOP/s] / FLOPs per image`` (compute-bound, 100% utilisation).

    Args:
        peak: peak rate in TFLOP/s.
        flops_per_image: FLOPs one image costs in a training step.
    """
    return peak * 1e12 / flops_per_image
