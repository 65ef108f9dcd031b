"""Run a submission in a separate, time- and memory-limited process; collect what its probes observed.

The learner's code never runs in the judge's process. For each file, one child
process (``python -I -B``: isolated from environment variables, the user's site
directory and the current directory, writing no ``.pyc`` next to the learner's file)
runs :mod:`losslab.grade._runner`, which imports the file by path and runs every
probe of every exercise asked for, writing one JSON line per event to a results
file in a private temporary directory (also the child's working directory, removed
afterwards). The judge:

- kills the child's whole process group once ``timeout`` seconds have passed (a
  ``while True``, or a fork left behind, cannot outlive the check);
- caps the child's address space (``RLIMIT_AS``, ``memory_mb``), its file writes
  (16 MiB) and core dumps; the child sets these on itself before importing NumPy,
  rather than in a ``preexec_fn`` (unsafe when the judge grades with threads);
- turns what came back into one :class:`~losslab.grade.checks.Probe` per probe: the
  observed values, or the reason there are none (an exception, ``sys.exit``, a
  timeout, a crash, or an earlier stop).

Limits: the memory and file-size caps are POSIX resource limits: enforced on Linux;
on macOS ``RLIMIT_AS`` is accepted but not enforced; on Windows there are none, and
only the timeout protects the judge. The sandbox protects the judge from mistakes,
not from malice: a submission can read and write files the user can, and it can
import anything installed (NumPy, even losslab).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ._i18n import Msg
from ._wire import decode
from .checks import Probe

BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from losslab.grade._runner import main; main(sys.argv[2:])"
SRC_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the losslab package

__all__ = ["SandboxConfig", "RunResult", "run_probes"]


@dataclass(frozen=True)
class SandboxConfig:
    """Limits for one submission: ``timeout`` seconds of wall time, ``memory_mb`` MiB of address space."""

    timeout: float = 5.0
    memory_mb: int = 1024

    def __post_init__(self) -> None:
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not (
                0 < self.timeout <= 3600):
            raise ValueError(f"timeout must be a number of seconds in (0, 3600], got {self.timeout!r}")
        if isinstance(self.memory_mb, bool) or not isinstance(self.memory_mb, int) or self.memory_mb < 256:
            raise ValueError(f"memory_mb must be an integer of at least 256 (MiB; NumPy alone needs about "
                             f"100), got {self.memory_mb!r}")


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed run produced: a :class:`Probe` per probe id (``"import"`` included)."""

    probes: dict
    seconds: float
    timed_out: bool
    returncode: int | None


def _child_env(home: str) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "LC_ALL": "C.UTF-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if os.name == "nt":  # Windows needs these to start Python at all
        env.update({k: os.environ[k] for k in ("SYSTEMROOT", "TEMP", "TMP") if k in os.environ})
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child and anything it started (its process group on POSIX)."""
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    elif proc.poll() is None:
        proc.kill()


def _spawn(cmd: list[str], cwd: str, stderr, timeout: float) -> tuple[int, bool]:
    options = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, cwd=cwd,
                            env=_child_env(cwd), **options)
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
    return proc.wait(), timed_out


def _events(path: Path) -> list[dict]:
    """The JSON lines the runner wrote; a line cut short by a kill ends the list."""
    events = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return events
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            break
    return events


def _call(label: str) -> Msg | str:
    return Msg("call.import") if label == "import" else label


def _failure(error: dict, memory_mb: int) -> Msg:
    """A runner error record as the reason a probe observed nothing."""
    kind = error.get("kind")
    if kind == "missing":
        return Msg("reason.missing", {"name": error.get("name", "?")})
    call = error.get("call") or "?"
    line = error.get("line")
    where = Msg("reason.where", {"line": line}) if line else ""
    if kind == "exit":
        code = error.get("code")
        return Msg("reason.exit", {"call": _call(call), "code": "" if code is None else code})
    if kind == "memory":
        return Msg("reason.memory", {"call": _call(call), "mb": memory_mb, "where": where})
    if call == "import":
        if kind == "no_module" and error.get("module"):
            return Msg("reason.missing_module", {"module": error["module"]})
        return Msg("reason.import", {"exc": error.get("exc", "?"), "msg": error.get("msg", ""), "where": where})
    return Msg("reason.raised", {"call": call, "exc": error.get("exc", "?"), "msg": error.get("msg", ""),
                                 "where": where})


def _stop_reason(call: Msg | str, timed_out: bool, returncode: int, timeout: float) -> Msg:
    if timed_out:
        return Msg("reason.timeout", {"seconds": timeout, "call": call})
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return Msg("reason.signal", {"signal": name, "call": call})
    return Msg("reason.died", {"code": returncode, "call": call})


def _collect(events: list[dict], probe_ids: list[str], stderr_tail: str, timed_out: bool, returncode: int,
             config: SandboxConfig) -> dict:
    ids = ["import", *probe_ids]
    probes: dict[str, Probe] = {}
    if not any(e.get("event") == "ready" for e in events):
        if timed_out:
            reason = Msg("reason.start_timeout", {"seconds": config.timeout})
        else:
            reason = Msg("reason.sandbox", {"msg": stderr_tail or f"the runner exited with status {returncode}"})
        return {i: Probe(failure=reason) for i in ids}
    current, label = None, ""
    for event in events:
        kind = event.get("event")
        if kind == "start":
            current, label = event.get("probe"), ""
        elif kind == "call":
            label = event.get("call", "")
        elif kind == "done" and event.get("probe") == current:
            if "error" in event:
                probes[current] = Probe(failure=_failure(event["error"], config.memory_mb))
            else:
                probes[current] = Probe(values=decode(event.get("obs") or {}))
            current = None
    stop = None
    if current is not None:  # the process stopped inside this probe
        call = _call("import") if current == "import" else (label or current)
        probes[current] = Probe(failure=_stop_reason(call, timed_out, returncode, config.timeout))
        stop = Msg("reason.not_run", {"call": call})
    imported = probes.get("import")
    for i in ids:
        if i in probes:
            continue
        if imported is not None and imported.failure is not None:
            probes[i] = Probe(failure=imported.failure)
        else:
            probes[i] = Probe(failure=stop or _stop_reason("?", timed_out, returncode, config.timeout))
    return probes


def run_probes(path: str | os.PathLike, exercises: Sequence, seed: int,
               config: SandboxConfig = SandboxConfig()) -> RunResult:
    """Run every probe of ``exercises`` (catalog :class:`~losslab.grade.catalog.Exercise` objects) on ``path``.

    One child process for all of them; returns within about ``config.timeout`` seconds
    whatever the submission does.
    """
    path = Path(path).resolve()
    probe_ids = [f"{e.name}:{p}" for e in exercises for p in e.probes]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="losslab-grade-") as tmp:
        tmp_path = Path(tmp)
        work = tmp_path / "work"
        work.mkdir()
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"file": str(path), "exercises": [e.name for e in exercises], "seed": int(seed),
                                    "memory_mb": config.memory_mb}), encoding="utf-8")
        results = tmp_path / "results.jsonl"
        cmd = [sys.executable, "-I", "-B", "-c", BOOT, SRC_ROOT, str(plan), str(results)]
        with open(tmp_path / "stderr.txt", "w+b") as err:
            returncode, timed_out = _spawn(cmd, str(work), err, config.timeout)
            err.seek(0)
            lines = err.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
        probes = _collect(_events(results), probe_ids, lines[-1] if lines else "", timed_out, returncode, config)
    return RunResult(probes, time.perf_counter() - start, timed_out, returncode)
