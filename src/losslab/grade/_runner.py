"""The sandboxed process: import one submission by path and run the exercises' probes on it.

Started by :mod:`losslab.grade.sandbox` as ``python -I -B -c BOOT SRC PLAN RESULTS``;
never imported by the judge for any other purpose, and never run in the judge's own
process. In order, it:

1. sets its own resource limits (address space, file size, no core dumps) before it
   imports anything heavy, so that they cover the submission's every allocation;
2. imports NumPy and the exercise probes (trusted code), then writes ``ready``;
3. imports the learner's file under a fresh module name, with ``print`` output and
   ``input()`` going nowhere;
4. runs each probe, writing one JSON line per event to ``RESULTS`` (flushed at once,
   so that what was done before a hang or a crash survives the kill):
   ``start``, ``call`` (the learner call now running), ``done`` (with the
   observations or the error), and ``end``;
5. leaves with ``os._exit`` so that threads the submission started cannot keep it alive.
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback

MODULE_NAME = "_losslab_submission"


def _set_limits(memory_mb: int) -> None:
    """Cap the address space at ``memory_mb`` MiB and written files at 16 MiB (POSIX; best effort)."""
    try:
        import resource
    except ImportError:  # Windows: no limits
        return
    for name, value in (("RLIMIT_AS", memory_mb << 20), ("RLIMIT_FSIZE", 16 << 20), ("RLIMIT_CORE", 0)):
        limit = getattr(resource, name, None)
        if limit is None:
            continue
        try:
            soft, hard = resource.getrlimit(limit)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(limit, (value, hard))
        except (ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS: the timeout still applies
            pass


class _Sink(io.TextIOBase):
    """Where the submission's prints go: nowhere (but ``write`` works and is fast)."""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        return len(s)


def _learner_line(exc: BaseException, path: str) -> int | None:
    """The line of the learner's file where ``exc`` was raised (innermost frame in that file)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == path:
            line = frame.lineno
    if line is None and isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == path:
        line = exc.lineno
    return line


def _text(exc: BaseException) -> str:
    try:
        return str(exc).strip()[:300]
    except Exception:  # a submission's exception class with a broken __str__
        return ""


def _error(exc: BaseException, call: str, path: str) -> dict:
    """An exception as the judge needs it: its kind, type, message, the learner's line and the call."""
    from .exercises._probe import MissingName

    if isinstance(exc, MissingName):
        return {"kind": "missing", "name": exc.name}
    error = {"call": call, "line": _learner_line(exc, path), "exc": type(exc).__name__, "msg": _text(exc)}
    if isinstance(exc, SystemExit):
        code = exc.code if exc.code is None or isinstance(exc.code, int) else repr(exc.code)
        return {**error, "kind": "exit", "code": code}
    if isinstance(exc, MemoryError):
        return {**error, "kind": "memory"}
    if isinstance(exc, ModuleNotFoundError):
        return {**error, "kind": "no_module", "module": exc.name}
    return {**error, "kind": "raised"}


def main(argv: list[str]) -> None:
    plan_path, results_path = argv
    with open(plan_path, encoding="utf-8") as fh:
        plan = json.load(fh)
    _set_limits(int(plan["memory_mb"]))
    out = open(results_path, "w", encoding="utf-8", buffering=1)

    def emit(event: dict) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    import importlib.util

    import numpy as np  # noqa: F401  (imported before the submission, under the limits)

    from . import catalog
    from ._wire import encode
    from .exercises._probe import Recorder

    path = os.path.abspath(plan["file"])
    exercises = [catalog.get(name) for name in plan["exercises"]]
    cases = {e.name: e.make_cases(int(plan["seed"])) for e in exercises}
    emit({"event": "ready"})

    sys.stdout = sys.stderr = _Sink()
    sys.stdin = io.StringIO("")
    sys.dont_write_bytecode = True
    rec = Recorder(lambda label: emit({"event": "call", "call": label}))
    emit({"event": "start", "probe": "import"})
    try:
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001  (SystemExit and KeyboardInterrupt included)
        emit({"event": "done", "probe": "import", "error": _error(exc, "import", path)})
        emit({"event": "end"})
        out.close()
        os._exit(0)
    emit({"event": "done", "probe": "import"})

    for exercise in exercises:
        for name, probe in exercise.probes.items():
            probe_id = f"{exercise.name}:{name}"
            emit({"event": "start", "probe": probe_id})
            rec.current = ""
            try:
                observed = probe(module, cases[exercise.name], rec)
                emit({"event": "done", "probe": probe_id, "obs": encode(observed)})
            except BaseException as exc:  # noqa: BLE001
                emit({"event": "done", "probe": probe_id, "error": _error(exc, rec.current, path)})
    emit({"event": "end"})
    out.close()
    os._exit(0)
