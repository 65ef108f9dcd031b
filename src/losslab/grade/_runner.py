"""The sandboxed side of the judge: a small server that runs one submission's code on the judge's requests.

This file is the only part of losslab a submission's process ever sees. It runs as a
script, ``python -I -S -B runner.py IN_FD OUT_FD LIMITS SITE``, with the standard library
and NumPy alone (inside the sandbox losslab is neither importable nor readable); the
judge imports it only for the wire format the two sides share (:func:`write_frame`,
:func:`read_frame`, :func:`encode`, :func:`decode`). It holds no inputs, references,
seed or expected values: the judge sends the inputs one call at a time and compares
what comes back in its own process.

In order, the server:

1. sets hard resource limits on itself (address space, CPU time, file size, open
   files, processes, no core dumps), which nothing it runs afterwards can raise;
2. imports NumPy, keeping its own references to the functions it needs, and answers
   ``ready``;
3. serves requests until ``end``: ``import`` (the submission's source, run as a fresh
   module with ``print`` and ``input`` going nowhere), ``lookup`` (a name the file
   defines), ``call`` (a function or method with the judge's arguments; the answer
   carries the return value and the arguments the call changed) and ``get`` (an
   attribute). An object that is not plain data stays here and travels as a handle;
   a judge's function passed as an argument (``f`` of ``numerical_gradient``) is a
   stub that asks the judge for each value.

Frames are length-prefixed JSON, at most :data:`MAX_FRAME` bytes; arrays travel as
their raw bytes (base64), dtype and shape, so float32 values come back bit for bit.
No pickle, in either direction.

>>> import numpy as np
>>> decode(encode({"loss": np.float32(0.5), "shape": (2, 3)}, repr), None)
{'loss': array(0.5, dtype=float32), 'shape': (2, 3)}
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys
import traceback
import types

HEADER = struct.Struct(">I")
MAX_FRAME = 32 << 20  # bytes in one frame, either direction
MAX_ARRAY_BYTES = 8 << 20  # an array larger than this travels as "too large"
MAX_TEXT = 4000  # characters of a string kept
MAX_DEPTH = 16  # nesting of lists and dicts
NUMERIC_KINDS = "biuf"
MODULE_NAME = "submission"
FILENAME = "submission.py"


class ProtocolError(Exception):
    """A frame that is not one the other side may send."""


# =========================================================================== frames


def write_frame(fd: int, message) -> None:
    """Send ``message`` (JSON data) on the file descriptor ``fd``, blocking until written."""
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the channel closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int):
    """The next message on ``fd`` (blocking); ``EOFError`` when the other side is gone."""
    (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size))
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes (at most {MAX_FRAME})")
    return parse(_read_exactly(fd, size))


def parse(data: bytes):
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError included
        raise ProtocolError(f"not a JSON message ({exc})") from None


# =========================================================================== values


def encode(value, other, depth: int = 0):
    """``value`` as JSON data: None, bools, strings, numbers, NumPy arrays, and lists, tuples
    and string-keyed dicts of them; anything else is ``other(value)`` (a handle or an error)."""
    import numpy as np

    if depth > MAX_DEPTH:
        return other(value)
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str):
        return str.__str__(value)[:MAX_TEXT]
    if isinstance(value, (np.ndarray, np.generic)):  # before float: np.float64 is a float
        arr = np.array(value, copy=True, subok=False, order="C")
        if arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.hasobject or arr.dtype.fields is not None:
            return other(value)
        if arr.nbytes > MAX_ARRAY_BYTES:
            return {"large": [int(n) for n in arr.shape], "dtype": arr.dtype.str}
        return {
            "nd": base64.b64encode(np.ndarray.tobytes(arr)).decode("ascii"),
            "dtype": arr.dtype.str,
            "shape": [int(n) for n in arr.shape],
        }
    if isinstance(value, bool):  # a bool subclass
        return bool(value)
    if isinstance(value, int):
        return {"int": str(int.__index__(value))}
    if isinstance(value, float):
        return {"num": float.__float__(value)}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        if len(value) > 100_000:
            return other(value)
        return {kind: [encode(v, other, depth + 1) for v in list(value)]}
    if isinstance(value, dict) and all(type(k) is str for k in value):
        return {"dict": [[k, encode(v, other, depth + 1)] for k, v in dict.items(value)]}
    return other(value)


def _array(data: dict):
    import numpy as np

    dtype = np.dtype(str(data["dtype"]))
    shape = data["shape"]
    if (
        dtype.kind not in NUMERIC_KINDS
        or dtype.hasobject
        or dtype.fields is not None
        or dtype.subdtype is not None
        or not isinstance(shape, list)
        or len(shape) > 32
        or not all(type(n) is int and 0 <= n <= MAX_ARRAY_BYTES for n in shape)
    ):
        raise ProtocolError(f"an array of dtype {dtype} and shape {shape!r}")
    raw = base64.b64decode(str(data["nd"]), validate=True)
    count = 1
    for n in shape:
        count *= n
    if len(raw) > MAX_ARRAY_BYTES or count * dtype.itemsize != len(raw):
        raise ProtocolError(f"{len(raw)} bytes for an array of dtype {dtype} and shape {shape}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode(data, other, depth: int = 0):
    """The inverse of :func:`encode`; tagged objects other than data (handles, stubs, notes) are
    ``other(data)``. Raises :class:`ProtocolError` on anything malformed."""
    if depth > MAX_DEPTH + 1:  # encode stops nesting at MAX_DEPTH: one level more holds a handle
        raise ProtocolError("values nested too deeply")
    if data is None or isinstance(data, bool):
        return data
    if isinstance(data, str):
        return data[:MAX_TEXT]
    if not isinstance(data, dict) or len(data) == 0:
        raise ProtocolError(f"a value of JSON type {type(data).__name__}")
    try:
        if "nd" in data:
            return _array(data)
        if "num" in data:
            return float(data["num"])
        if "int" in data:
            text = str(data["int"])
            if len(text) > 5000:
                raise ProtocolError("an integer of more than 5000 digits")
            return int(text)
        for kind, make in (("list", list), ("tuple", tuple)):
            if kind in data:
                if not isinstance(data[kind], list):
                    raise ProtocolError(f"a {kind} that is not a list")
                return make(decode(v, other, depth + 1) for v in data[kind])
        if "dict" in data:
            return {str(k): decode(v, other, depth + 1) for k, v in data["dict"]}
    except ProtocolError:
        raise
    except Exception as exc:  # wrong types inside a well-formed frame
        raise ProtocolError(f"a malformed value ({type(exc).__name__}: {exc})") from None
    if other is None:
        raise ProtocolError(f"an unexpected value {sorted(data)!r}")
    return other(data)


# =========================================================================== the server (sandbox side)

LIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE")


def set_limits(limits: dict) -> None:
    """Set each ``RLIMIT_*`` of ``limits`` as both soft and hard limit (hard limits cannot be raised again).

    A limit the system refuses (macOS and ``RLIMIT_AS``) stays as it was.
    """
    try:
        import resource
    except ImportError:  # Windows: no resource limits
        return
    for name in LIMITS:
        limit = getattr(resource, name, None)
        if limit is None or name not in limits:
            continue
        value = int(limits[name])
        try:
            hard = resource.getrlimit(limit)[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass


class _Sink:
    """Where the submission's prints go: nowhere."""

    encoding = "utf-8"

    def write(self, s) -> int:
        return len(s) if isinstance(s, str) else 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Empty(_Sink):
    def read(self, *args) -> str:
        return ""

    def readline(self, *args) -> str:
        return ""


class Server:
    """Runs the submission's code on the judge's requests, one at a time."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        import numpy as np

        self.np = np
        self.array_equal = np.array_equal  # the server's own references: a submission may patch NumPy's
        self.copy = np.array
        self.in_fd, self.out_fd = in_fd, out_fd
        self.objects: dict[int, object] = {}
        self.module: types.ModuleType | None = None
        self.exit = os._exit
        self.write, self.read = write_frame, read_frame

    # ---------------------------------------------------------------- values
    def _handle(self, value) -> dict:
        key = len(self.objects) + 1
        self.objects[key] = value
        try:
            name = type(value).__name__
        except Exception:
            name = "object"
        return {"ref": key, "type": str(name)[:200]}

    def out(self, value):
        return encode(value, self._handle)

    def _resolve(self, data: dict):
        if "ref" in data:
            return self.objects[int(data["ref"])]
        if "callback" in data:
            return self._stub(int(data["callback"]))
        raise ProtocolError(f"an unexpected value {sorted(data)!r}")

    def inp(self, data):
        return decode(data, self._resolve)

    def _stub(self, key: int):
        """The judge's function number ``key``: each call asks the judge for the value."""

        def judge_function(*args):
            self.write(self.out_fd, {"kind": "callback", "id": key, "args": self.out(list(args))})
            reply = self.read(self.in_fd)
            if "error" in reply:
                raise ValueError(str(reply["error"]))
            return self.inp(reply["ok"])

        return judge_function

    # ---------------------------------------------------------------- errors
    def _line(self, exc: BaseException) -> int | None:
        line = None
        try:
            for frame in traceback.extract_tb(exc.__traceback__):
                if frame.filename == FILENAME:
                    line = frame.lineno
            if line is None and isinstance(exc, SyntaxError) and exc.filename == FILENAME:
                line = exc.lineno
        except Exception:
            pass
        return line if type(line) is int else None

    def error(self, exc: BaseException) -> dict:
        """An exception as the judge needs it: its kind, type, message and the line of the file."""
        try:
            msg = str(exc).strip()[:300]
        except Exception:  # an exception class with a broken __str__
            msg = ""
        error = {"exc": str(type(exc).__name__)[:100], "msg": msg, "line": self._line(exc)}
        if isinstance(exc, SystemExit):
            code = exc.code if exc.code is None or type(exc.code) is int else repr(exc.code)[:100]
            return {**error, "kind": "exit", "code": code}
        if isinstance(exc, MemoryError):
            return {**error, "kind": "memory"}
        if isinstance(exc, ModuleNotFoundError):
            return {**error, "kind": "no_module", "module": str(exc.name)[:100]}
        return {**error, "kind": "raised"}

    # ---------------------------------------------------------------- requests
    def do_import(self, request: dict) -> dict:
        sys.stdout = sys.stderr = _Sink()
        sys.stdin = _Empty()
        module = types.ModuleType(MODULE_NAME)
        module.__file__ = FILENAME
        sys.modules[MODULE_NAME] = module
        self.module = module
        exec(compile(str(request["source"]), FILENAME, "exec", dont_inherit=True), module.__dict__)
        return {"ok": None}

    def do_lookup(self, request: dict) -> dict:
        value = self.module.__dict__.get(str(request["name"])) if self.module is not None else None
        if value is None:
            return {"missing": True}
        return {"ok": self._handle(value)}

    def _target(self, request: dict):
        obj = self.objects[int(request["ref"])]
        for name in request.get("path") or ():
            obj = getattr(obj, str(name))
        return obj

    def do_get(self, request: dict) -> dict:
        try:
            value = self._target(request)
        except AttributeError:
            return {"missing": True}
        return {"ok": self.out(value)}

    def _state(self, value):
        """What the judge needs to see later whether a call changed ``value``: a private copy."""
        np = self.np
        if isinstance(value, np.ndarray):
            return ("array", self.copy(value, copy=True))
        if isinstance(value, dict):
            return ("dict", dict(value), {k: self._state(v) for k, v in value.items()})
        return None

    def _changed_array(self, now, before) -> bool:
        return (
            now.shape != before.shape
            or now.dtype != before.dtype
            or not self.array_equal(now, before, equal_nan=now.dtype.kind in "fc")
        )

    def _after(self, value, state):
        """How ``value`` differs from ``state`` after a call, or None if it does not."""
        if state is None:
            return None
        if state[0] == "array":
            return self.out(value) if self._changed_array(value, state[1]) else None
        _, members, inner = state
        same = {k: k in value and value[k] is members[k] for k in members}
        changed_members = {k: self._after(members[k], inner[k]) for k in members}
        if (
            all(same.values())
            and set(value) == set(members)
            and not any(v is not None for v in changed_members.values())
        ):
            return None
        return {
            "items": self.out(dict(value)),
            "same": same,
            "members": {k: v for k, v in changed_members.items() if v is not None},
        }

    def do_call(self, request: dict) -> dict:
        target = self._target(request)
        args = self.inp(request.get("args") or {"list": []})
        kwargs = self.inp(request.get("kwargs") or {"dict": []})
        states = [self._state(a) for a in args]
        kw_states = {k: self._state(v) for k, v in kwargs.items()}
        result = target(*args, **kwargs)
        after = {
            str(i): a
            for i, a in ((i, self._after(v, s)) for i, (v, s) in enumerate(zip(args, states, strict=True)))
            if a is not None
        }
        after.update({k: a for k, a in ((k, self._after(kwargs[k], s)) for k, s in kw_states.items()) if a is not None})
        return {"ok": self.out(result), "after": after}

    def serve(self) -> None:
        handlers = {"import": self.do_import, "lookup": self.do_lookup, "get": self.do_get, "call": self.do_call}
        self.write(self.out_fd, {"kind": "ready"})
        while True:
            request = self.read(self.in_fd)
            op = request.get("op")
            if op == "end":
                self.exit(0)
            try:
                reply = handlers[op](request)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt included
                reply = {"error": self._safe_error(exc)}
            try:
                self.write(self.out_fd, {"kind": "result", **reply})
            except (ProtocolError, TypeError, ValueError) as exc:  # a value JSON cannot hold
                self.write(self.out_fd, {"kind": "result", "error": self._safe_error(exc)})

    def _safe_error(self, exc: BaseException) -> dict:
        """:meth:`error`, or as much of it as the state the submission left allows (no file descriptor
        left, no memory ...)."""
        try:
            return self.error(exc)
        except BaseException:
            return {"kind": "raised", "exc": "Error", "msg": "", "line": None}


def main(argv: list[str]) -> None:
    in_fd, out_fd, limits, site = int(argv[0]), int(argv[1]), json.loads(argv[2]), argv[3]
    set_limits(limits)
    sys.path.insert(0, site)  # NumPy, alone
    sys.dont_write_bytecode = True
    try:
        server = Server(in_fd, out_fd)
    except BaseException as exc:  # NumPy missing or out of memory at start
        write_frame(out_fd, {"kind": "broken", "msg": f"{type(exc).__name__}: {exc}"[:500]})
        os._exit(3)
    try:
        server.serve()
    except (EOFError, ProtocolError, OSError):
        pass
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
