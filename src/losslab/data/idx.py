"""The IDX reader: the binary format of the MNIST files (plain or gzipped).

An IDX file is a 4-byte magic number ``0x0000TTNN`` (``TT`` the data type,
``0x08`` for unsigned bytes; ``NN`` the number of dimensions), then one
big-endian 32-bit size per dimension, then the data, row-major. MNIST uses two
kinds: images ``0x00000803`` (count, rows, columns) and labels ``0x00000801``
(count). Every way a file can be damaged (a wrong magic number, a header or a
payload cut short, bytes left over after the payload, a broken gzip stream)
raises a ``ValueError`` that names the file and says what was expected and
what was found.
"""

from __future__ import annotations

import gzip
import os
import zlib
from typing import BinaryIO, Union

import numpy as np

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "read_idx"]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_GZIP_MAGIC = b"\x1f\x8b"

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


def _describe_source(path_or_fileobj: PathOrFile) -> str:
    if isinstance(path_or_fileobj, (str, os.PathLike)):
        return os.fspath(path_or_fileobj)
    name = getattr(path_or_fileobj, "name", None)
    return str(name) if isinstance(name, (str, os.PathLike)) else "<file object>"


def _read_bytes(path_or_fileobj: PathOrFile, name: str) -> bytes:
    if isinstance(path_or_fileobj, (str, os.PathLike)):
        with open(path_or_fileobj, "rb") as f:
            raw = f.read()
    elif hasattr(path_or_fileobj, "read"):
        raw = path_or_fileobj.read()
        if not isinstance(raw, bytes):
            raise TypeError(f"read_idx needs a file opened in binary mode ('rb'), got text from {name}")
    else:
        raise TypeError(f"path_or_fileobj must be a path or a binary file object, got {type(path_or_fileobj).__name__}")
    if raw[:2] == _GZIP_MAGIC:  # detected by content, not by the file name
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{name}: a damaged gzip stream ({exc}); download or copy the file again") from exc
    return raw


def read_idx(path_or_fileobj: PathOrFile) -> np.ndarray:
    """Read an unsigned-byte IDX file (MNIST images or labels), plain or gzipped.

    Args:
        path_or_fileobj: a path, or a file object opened in binary mode. Gzip
            is recognised by its first two bytes, whatever the name.

    Returns:
        A fresh, writable ``uint8`` array: shape ``(N, rows, cols)`` for an
        image file (magic ``0x00000803``), ``(N,)`` for a label file
        (magic ``0x00000801``).

    Raises:
        ValueError: naming the file, for a magic number other than those two,
            a header or a payload shorter than its sizes announce, bytes left
            over after the payload, or a damaged gzip stream.
        TypeError: for an argument that is neither a path nor a binary file.

    Example:
        >>> import io
        >>> header = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big")
        >>> read_idx(io.BytesIO(header + bytes([7, 2, 1])))
        array([7, 2, 1], dtype=uint8)
    """
    name = _describe_source(path_or_fileobj)
    raw = _read_bytes(path_or_fileobj, name)
    if len(raw) < 4:
        raise ValueError(f"{name}: truncated IDX file: expected a 4-byte magic number, found {len(raw)} bytes")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise ValueError(
            f"{name}: not an MNIST IDX file: expected the magic number 0x{IMAGES_MAGIC:08x} (images) "
            f"or 0x{LABELS_MAGIC:08x} (labels), found 0x{magic:08x}"
        )
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(
            f"{name}: truncated IDX header: expected {header_len} bytes for {ndim} dimension sizes, found {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(raw) - header_len
    if found < expected:
        raise ValueError(
            f"{name}: truncated IDX file: the header announces shape {shape}, i.e. {expected} bytes "
            f"of data, found {found}"
        )
    if found > expected:
        raise ValueError(
            f"{name}: trailing garbage: the header announces shape {shape}, i.e. {expected} bytes "
            f"of data, found {found} ({found - expected} extra)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()
