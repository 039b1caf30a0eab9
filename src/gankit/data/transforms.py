"""Pixel-range conversion (the one place it happens) and the resizing every image source shares.

Sources store images as uint8 ``[N, C, H, W]`` in 0..255; models see float32 in [-1, 1]:

.. math::

    x_{model} = x_{uint8} / 127.5 - 1, \\qquad
    x_{uint8} = \\operatorname{clamp}(\\operatorname{round}((x_{model} + 1) \\cdot 127.5), 0, 255)

which is the range DCGAN's ``tanh`` output layer produces (Radford et al., 2016).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Images per interpolation chunk: bounds the float32 scratch memory to a few hundred MB at 256 px.
_CHUNK = 1024


def to_model_space(batch: torch.Tensor) -> torch.Tensor:
    """Map a batch from storage to the model's input space, on whatever device it lives.

    uint8 images ``[N, C, H, W]`` become float32 ``x / 127.5 - 1`` in [-1, 1]; float points ``[N, 2]``
    become float32 with values unchanged (no copy when already float32). No host synchronisation.

    Args:
        batch: uint8 images or floating-point points, on any device.

    Returns:
        float32 tensor of the same shape and device.
    """
    if batch.dtype == torch.uint8:
        return batch.to(torch.float32) / 127.5 - 1.0
    if batch.is_floating_point():
        return batch.to(torch.float32)
    raise TypeError(f"to_model_space expects uint8 images or float points, got {batch.dtype}")


def images_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_model_space` for images: [-1, 1] float ``[N, C, H, W]`` to uint8 0..255.

    Computes ``clamp(round((x + 1) * 127.5), 0, 255)``; values outside [-1, 1] saturate and NaN maps
    to 0, so a diverged generator still yields a viewable grid. Stays on ``x``'s device, no gradient.
    """
    y = (x.detach().to(torch.float32) + 1.0) * 127.5
    y = torch.nan_to_num(y, nan=0.0).round_().clamp_(0.0, 255.0)
    return y.to(torch.uint8)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize images to ``size x size`` with antialiased bilinear interpolation and round to uint8.

    Args:
        x: uint8 or float ``[N, C, H, W]`` with values on the 0..255 scale (floats avoid rounding twice
            when a source is rescaled first, e.g. sklearn's 0..16 digits).

    Returns:
        uint8 ``[N, C, size, size]``, contiguous; ``x`` rounded only when it already has that size.
    """
    n, c, h, w = x.shape
    if (h, w) == (size, size):
        if x.dtype == torch.uint8:
            return x.contiguous()
        return x.to(torch.float32).round().clamp_(0, 255).to(torch.uint8).contiguous()
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        chunk = x[start : start + _CHUNK].to(torch.float32)
        # antialias only acts when shrinking; align_corners=False matches PIL/OpenCV pixel centres.
        y = F.interpolate(
            chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
        out[start : start + _CHUNK] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def pad_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad square images ``[N, C, H, H]`` equally on every side to ``[N, C, size, size]``.

    Used for 28x28 MNIST-style digits -> 32x32 (2 pixels a side): exact, no interpolation, and the
    background of those datasets is already 0.
    """
    h = x.shape[-1]
    total = size - h
    if total < 0 or total % 2:
        raise ValueError(f"cannot pad {h} px to {size} px evenly")
    p = total // 2
    return F.pad(x, (p, p, p, p)).contiguous()


def set_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Force uint8 images ``[N, C, H, W]`` to ``channels`` (1 or 3); ``None`` keeps them.

    Grayscale -> RGB replicates the plane; RGB -> grayscale uses ITU-R BT.601 luma (PIL's "L"),
    ``L = round(0.299 R + 0.587 G + 0.114 B)``, in exact integer arithmetic.
    """
    c = x.shape[1]
    if channels is None or channels == c:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        out = torch.empty((x.shape[0], 1, *x.shape[2:]), dtype=torch.uint8)
        weights = torch.tensor([299, 587, 114], dtype=torch.int32).view(1, 3, 1, 1)
        for start in range(0, x.shape[0], _CHUNK * 8):
            chunk = x[start : start + _CHUNK * 8].to(torch.int32)
            # +500 then floor-divide by 1000 rounds half up, without float error.
            out[start : start + _CHUNK * 8] = ((chunk * weights).sum(1, keepdim=True) + 500) // 1000
        return out
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels")
