"""The page's recording as an animated GIF (Pillow): what the lab showed, frame by frame.

The page records its canvases as PNG data URLs and POSTs them as JSON
``{"frames": ["data:image/png;base64,...", ...], "ms": 100}``; this module checks every limit
before decoding anything (count, bytes, PNG signature, pixel size) and answers the GIF's bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import json

from PIL import Image

from gankit.errors import GankitError

MAX_EXPORT_BYTES = 48 * 1024 * 1024  # the whole request
MAX_EXPORT_FRAMES = 200
MAX_SIDE = 2048  # pixels per side of one frame
PNG_PREFIX = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ExportError(GankitError):
    """A recording the server refuses to turn into a GIF."""


def _frame(url: object, index: int) -> Image.Image:
    if not isinstance(url, str) or not url.startswith(PNG_PREFIX):
        raise ExportError(f"frame {index} must be a PNG data URL")
    try:
        raw = base64.b64decode(url[len(PNG_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ExportError(f"frame {index} is not valid base64") from None
    if not raw.startswith(PNG_SIGNATURE):
        raise ExportError(f"frame {index} is not a PNG")
    try:
        image = Image.open(io.BytesIO(raw), formats=["PNG"])
        if image.width > MAX_SIDE or image.height > MAX_SIDE:
            raise ExportError(f"frame {index} is {image.width}x{image.height}; at most {MAX_SIDE} pixels a side")
        image.load()
    except ExportError:
        raise
    except Exception as err:  # Pillow raises many kinds on a corrupt file
        raise ExportError(f"frame {index} cannot be read ({type(err).__name__})") from None
    return image.convert("RGB")


def gif_from_frames(body: bytes) -> bytes:
    """An animated GIF (looping) from the page's recording; :class:`ExportError` on anything malformed."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        raise ExportError("send JSON: {\"frames\": [PNG data URLs], \"ms\": milliseconds per frame}") from None
    if not isinstance(request, dict) or not isinstance(request.get("frames"), list):
        raise ExportError("send {\"frames\": [PNG data URLs], \"ms\": milliseconds per frame}")
    urls, ms = request["frames"], request.get("ms", 100)
    if not 1 <= len(urls) <= MAX_EXPORT_FRAMES:
        raise ExportError(f"send 1 to {MAX_EXPORT_FRAMES} frames; got {len(urls)}")
    if not (isinstance(ms, int) and not isinstance(ms, bool) and 20 <= ms <= 5000):
        raise ExportError("ms must be an integer in [20, 5000]")
    images = [_frame(url, i) for i, url in enumerate(urls)]
    size = images[0].size
    images = [im if im.size == size else im.resize(size) for im in images]
    palette = [im.quantize(colors=255, method=Image.Quantize.MEDIANCUT) for im in images]
    out = io.BytesIO()
    palette[0].save(out, format="GIF", save_all=True, append_images=palette[1:], duration=ms, loop=0,
                    optimize=False, disposal=1)
    return out.getvalue()
