"""How the sandboxed runner sends what a submission returned back to the judge: JSON-safe values.

A NumPy array travels as its raw bytes (base64), dtype and shape, so float32 values
come back bit for bit; Python numbers, strings, booleans and ``None`` travel as
themselves. Anything else a submission might return (a list of objects, a
generator, a class instance) becomes an :class:`Opaque` that only keeps its type
name: the judge reports "returned a generator" instead of failing to decode.

>>> import numpy as np
>>> decode(encode(np.arange(3, dtype=np.float32)))
array([0., 1., 2.], dtype=float32)
>>> decode(encode({"loss": np.float64(0.5), "flag": True}))
{'loss': array(0.5), 'flag': True}
>>> decode(encode(iter([])))
Opaque(type='list_iterator')
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

MAX_ARRAY_BYTES = 8 << 20  # an observation larger than this is not sent back
NUMERIC_KINDS = "biuf"


@dataclass(frozen=True)
class Opaque:
    """A value that is not a number, an array or a plain Python scalar: only its type name is kept."""

    type: str


def encode(value):
    """``value`` as JSON-safe data (dicts and lists of them are encoded item by item)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (np.ndarray, np.generic)):  # before float: np.float64 is a float
        arr = np.asarray(value)
        if arr.dtype.kind not in NUMERIC_KINDS or arr.nbytes > MAX_ARRAY_BYTES:
            return {"opaque": f"ndarray of dtype {arr.dtype}" if arr.dtype.kind not in NUMERIC_KINDS
                    else "ndarray too large to report"}
        arr = np.array(arr, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
        return {"nd": base64.b64encode(arr.tobytes()).decode("ascii"), "dtype": arr.dtype.str,
                "shape": list(arr.shape)}
    if isinstance(value, (int, float)):
        return {"num": value} if isinstance(value, float) else {"int": str(value)}
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):  # names (and the empty list) stay a list
            return list(value)
        try:
            arr = np.asarray(value)
        except Exception:  # ragged or exotic content
            return {"opaque": type(value).__name__}
        if arr.dtype.kind in NUMERIC_KINDS:
            return encode(arr)
    return {"opaque": type(value).__name__}


def decode(data):
    """The inverse of :func:`encode`: arrays (0-d for NumPy scalars), Python values or :class:`Opaque`."""
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, dict):
        if "nd" in data:
            raw = base64.b64decode(data["nd"])
            return np.frombuffer(raw, dtype=np.dtype(data["dtype"])).reshape(data["shape"]).copy()
        if "num" in data and len(data) == 1:
            return data["num"]
        if "int" in data and len(data) == 1:
            return int(data["int"])
        if "opaque" in data and len(data) == 1:
            return Opaque(str(data["opaque"]))
        return {k: decode(v) for k, v in data.items()}
    if isinstance(data, list):
        return [decode(v) for v in data]
    return Opaque(type(data).__name__)
