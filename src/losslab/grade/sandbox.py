"""Run a submission in its own isolated process and call its code from the judge, over a channel the judge owns.

The judge never runs a learner's code in its own process, and the learner's process
never sees the judge. For each file, one child process runs
:mod:`losslab.grade._runner` (the standard library and NumPy; no losslab) in the
sandbox of :mod:`losslab.grade._isolation`. The judge sends it the file's source,
then, one request at a time over two pipes, the calls the exercise's probes make:
"construct ``SoftmaxWithLoss``", "call its ``forward`` with these arrays". The probes
run here, in the judge's process: they make the inputs, compute numerical gradients
by calling the learner's ``forward`` at points of the judge's choosing, and hand
the learner's ``numerical_gradient`` a function whose every value the judge computes.
What comes back is plain data (arrays, numbers, strings); everything else stays in
the sandbox as a handle (:class:`~losslab.grade._session.Remote`). The verdicts are made from that data by
the judge alone, so nothing a submission prints, writes or exits with can add a
pass. Only one kind of observation is made inside the learner's process: which
arguments a call changed; the checks built on it are marked advisory.

Limits: ``timeout`` seconds of wall time for everything a submission does (start,
import and every call), hard resource limits (address space ``memory_mb``, CPU
time, 16 MiB per file, 64 open files, 64 processes), and with isolation one memory
limit for all its processes together where cgroups allow. When the time is up, or
the process dies or sends anything malformed, the process and everything it started
are killed and the probes not yet run say so.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import _isolation
from ._i18n import Msg
from ._session import LearnerError, Session, Stopped, printable
from .checks import Probe
from .exercises._probe import MissingName, Recorder

__all__ = ["SandboxConfig", "RunResult", "run_probes", "IsolationUnavailable", "isolation_for", "printable"]


@dataclass(frozen=True)
class SandboxConfig:
    """Limits for one submission: ``timeout`` seconds of wall time, ``memory_mb`` MiB of memory, and the
    ``isolation`` wanted: ``"auto"`` (bubblewrap where it works, else none, said at the start of every run),
    ``"required"`` (refuse to grade without it) or ``"none"`` (trusted files only)."""

    timeout: float = 5.0
    memory_mb: int = 1024
    isolation: str = "auto"

    def __post_init__(self) -> None:
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, (int, float))
            or not (0 < self.timeout <= 3600)
        ):
            raise ValueError(f"timeout must be a number of seconds in (0, 3600], got {self.timeout!r}")
        if isinstance(self.memory_mb, bool) or not isinstance(self.memory_mb, int) or self.memory_mb < 256:
            raise ValueError(
                f"memory_mb must be an integer of at least 256 (MiB; NumPy alone needs about "
                f"100), got {self.memory_mb!r}"
            )
        if self.isolation not in _isolation.MODES:
            raise ValueError(f"isolation must be one of {', '.join(_isolation.MODES)}, got {self.isolation!r}")


class IsolationUnavailable(RuntimeError):
    """``isolation="required"`` on a machine where submissions cannot be isolated."""


def isolation_for(config: SandboxConfig) -> _isolation.Isolation:
    """The isolation ``config`` gets on this machine; raises :class:`IsolationUnavailable` if it requires
    isolation that is not available."""
    if os.name != "posix":  # the channel is a pair of inherited pipes, and the limits are POSIX rlimits
        raise IsolationUnavailable("the judge runs submissions on Linux and macOS only (on Windows, use WSL)")
    if config.isolation == "none":
        return _isolation.Isolation("none", "asked for with --isolation none")
    found = _isolation.status()
    if config.isolation == "required" and not found.isolated:
        raise IsolationUnavailable(f"isolation is required but not available here: {found.detail}")
    return found


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed run produced: a :class:`Probe` per probe id (``"import"`` included)."""

    probes: dict
    seconds: float
    isolation: str


# =========================================================================== reasons


def _call(label: str) -> Msg | str:
    return Msg("call.import") if label == "import" else label


def _failure(error: dict, call: str, memory_mb: int) -> Msg:
    """A learner error as the reason a probe observed nothing."""
    kind = error.get("kind")
    if kind == "missing":
        return Msg("reason.missing", {"name": error.get("name", "?")})
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
    return Msg(
        "reason.raised", {"call": call, "exc": error.get("exc", "?"), "msg": error.get("msg", ""), "where": where}
    )


def _stop_reason(stop: Stopped, call: Msg | str, session: Session) -> Msg:
    config = session.config
    if stop.kind == "timeout":
        return Msg("reason.timeout", {"seconds": config.timeout, "call": call})
    if stop.kind == "protocol":
        return Msg("reason.protocol", {"call": call, "detail": stop.detail})
    if stop.kind == "broken":
        return Msg("reason.sandbox", {"msg": stop.detail})
    if session.out_of_memory():
        return Msg("reason.memory_all", {"call": call, "mb": config.memory_mb})
    code = session.proc.returncode if session.proc is not None else None
    if code is not None and session.isolation.isolated and code > 128:  # bwrap reports a signal as 128 + n
        code = -(code - 128)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Msg("reason.signal", {"signal": name, "call": call})
    return Msg("reason.died", {"code": code, "call": call})


# =========================================================================== one submission


def probe_all(session, exercises: Sequence, cases: dict, probes: dict, memory_mb: int = 0):
    """Run every probe of ``exercises`` on ``session`` (a :class:`Session`, or a :class:`LocalSession`),
    filling ``probes``; returns how the submission stopped (a :class:`Stopped` or None) and in which call."""
    rec = Recorder(session)
    stop, where = None, ""
    for exercise in exercises:
        for name, probe in exercise.probes.items():
            probe_id = f"{exercise.name}:{name}"
            if stop is not None:
                probes[probe_id] = Probe(failure=Msg("reason.not_run", {"call": _call(where)}))
                continue
            rec.current = ""
            try:
                probes[probe_id] = Probe(values=probe(session, cases[exercise.name], rec))
            except LearnerError as exc:
                probes[probe_id] = Probe(failure=_failure(exc.error, rec.current, memory_mb))
            except MissingName as exc:
                probes[probe_id] = Probe(failure=_failure({"kind": "missing", "name": exc.name}, "", 0))
            except Stopped as exc:
                stop, where = exc, rec.current or name
                probes[probe_id] = Probe(failure=_stop_reason(exc, where, session))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # what the learner returned broke the probe's use of it;
                # in a local session, the learner's own exception)
                probes[probe_id] = Probe(
                    failure=_failure(
                        {
                            "kind": "exit" if isinstance(exc, SystemExit) else "raised",
                            "exc": type(exc).__name__,
                            "msg": printable(exc),
                            "code": getattr(exc, "code", None),
                        },
                        rec.current or name,
                        memory_mb,
                    )
                )
    return stop, where


class LocalSession:
    """The learner's own objects, called directly in this process (the self-check of a notebook)."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace

    def need(self, name: str):
        value = self.namespace.get(name)
        if value is None:
            raise MissingName(name)
        return value

    def get(self, obj, name: str, default=None):
        return getattr(obj, name, default)


def run_probes(
    source: str,
    exercises: Sequence,
    cases: dict,
    config: SandboxConfig = SandboxConfig(),
    isolation: _isolation.Isolation | None = None,
    hide: tuple = (),
) -> RunResult:
    """Import ``source`` in a sandbox and run every probe of ``exercises`` on it, with ``cases[name]`` as the
    inputs of the exercise ``name``. Returns within about ``config.timeout`` seconds whatever the submission does.
    ``hide``: folders the sandbox must not show (the submission's own folder), where its view would.
    """
    isolation = isolation or isolation_for(config)
    begin = time.perf_counter()
    session = Session(config, isolation, tuple(Path(p) for p in hide))
    probes: dict[str, Probe] = {}
    ids = ["import", *(f"{e.name}:{p}" for e in exercises for p in e.probes)]
    stop, where = None, ""
    try:
        try:
            session.start()
        except Stopped as exc:
            stop = exc
            if exc.kind == "timeout":
                probes["import"] = Probe(failure=Msg("reason.start_timeout", {"seconds": config.timeout}))
            elif exc.kind == "died":
                probes["import"] = Probe(
                    failure=Msg(
                        "reason.sandbox",
                        {
                            "msg": session.stderr_tail()
                            or f"the runner exited with status "
                            f"{session.proc.poll() if session.proc is not None else None}"
                        },
                    )
                )
            else:
                probes["import"] = Probe(failure=_stop_reason(exc, Msg("call.import"), session))
        except OSError as exc:
            stop = Stopped("broken", str(exc))
            probes["import"] = Probe(failure=Msg("reason.sandbox", {"msg": printable(exc)}))
        if stop is None:
            try:
                session.import_source(source)
                probes["import"] = Probe(values={})
            except LearnerError as exc:
                probes["import"] = Probe(failure=_failure(exc.error, "import", config.memory_mb))
            except Stopped as exc:
                stop, where = exc, "import"
                probes["import"] = Probe(failure=_stop_reason(exc, Msg("call.import"), session))
        imported = probes["import"]
        if imported.failure is not None and stop is None:
            probes.update({i: Probe(failure=imported.failure) for i in ids[1:]})
        elif stop is None:
            stop, where = probe_all(session, exercises, cases, probes, config.memory_mb)
    finally:
        problem = session.close()
    if problem is not None:  # the run is not to be trusted: every probe fails with the reason
        failure = Probe(failure=Msg("reason.sandbox", {"msg": problem}))
        probes = {i: failure for i in ids}
    for i in ids:
        probes.setdefault(i, Probe(failure=Msg("reason.not_run", {"call": _call(where or "import")})))
    return RunResult(probes, time.perf_counter() - begin, isolation.describe())
