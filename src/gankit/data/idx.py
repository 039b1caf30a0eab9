"""A strict reader for the IDX format of MNIST and Fashion-MNIST.

Layout (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number ``0x00 0x00 T D``
where ``T`` is the element type and ``D`` the number of dimensions, then ``D`` big-endian uint32
sizes, then ``prod(sizes)`` big-endian elements, row-major, nothing after them.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from gankit.errors import DataError, one_line

# type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(buf: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode one uncompressed IDX file.

    Args:
        buf: The file's bytes.
        source: Name used in error messages.

    Returns:
        A writable array of the stored shape, in native byte order.

    Raises:
        DataError: bad magic number, unknown type code, or a payload whose length differs from the
            header's (truncated or trailing bytes).
    """
    if len(buf) < 4:
        raise DataError(
            f"{source}: not an IDX file ({len(buf)} bytes); re-download or reinstall it"
        )
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if zero0 or zero1 or code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{source}: bad IDX magic number 0x{buf[:4].hex()}; the file is corrupt or not IDX, re-download or reinstall it"
        )
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{source}: IDX header is truncated; re-download or reinstall it")
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    got = len(buf) - header
    if got != expected:
        what = "truncated" if got < expected else "followed by extra bytes"
        raise DataError(
            f"{source}: IDX data is {what} ({got} bytes for shape {dims}, expected {expected}); re-download or reinstall it"
        )
    arr = np.frombuffer(buf, dtype=dtype, offset=header).reshape(dims)
    # astype copies: the result is writable (frombuffer over bytes is not) and native-endian.
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not (detected by its first bytes), see :func:`parse_idx`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"cannot read {path}: {one_line(exc, with_type=True, limit=10_000)}; re-download or reinstall it"
        ) from exc
    return parse_idx(raw, str(path))
