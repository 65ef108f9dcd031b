"""The grader pool: processes apart from the web server that claim queued submissions and grade them.

Each grader loops: claim the oldest queued submission (:func:`losslab.serve.queue.claim`), grade its source
with :func:`losslab.grade.grader.grade_source` under the judge's sandbox (or on a Dask cluster when a scheduler
is given), store the report. The pool's supervisor restarts a grader that dies and puts its submission back
in the queue.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from ..grade._i18n import Msg
from ..grade.grader import FileReport, _problem, grade_source
from ..grade.sandbox import SandboxConfig, printable
from . import codec, queue
from .db import engine_for

__all__ = ["GraderSettings", "Pool", "grade_one", "run_grader"]

IDLE_WAIT = 0.2  # seconds between looks at an empty queue


@dataclass(frozen=True)
class GraderSettings:
    """What every grader needs: the database, the sandbox's limits, the teachers' exercise folders, and the
    Dask scheduler to grade on (None: grade here)."""

    db: str
    config: SandboxConfig = field(default_factory=SandboxConfig)
    exercises: tuple[str, ...] = ()
    scheduler: str | None = None


@functools.lru_cache(maxsize=8)
def _catalog(folders: tuple[str, ...]):
    """The built-in exercises and those of the teachers' ``folders``, loaded once per grader process, with
    their files packed for a Dask cluster's workers."""
    from ..grade import catalog
    from ..grade.distributed import pack_exercises

    found = catalog.BUILTIN.with_folders(folders) if folders else catalog.BUILTIN
    return found, pack_exercises(found)


def grade_one(sid: int, exercise: str, source: str, settings: GraderSettings, client=None) -> FileReport:
    """The report of submission ``sid``: graded here in the sandbox, or as a task on the Dask ``client``."""
    name = f"submission-{sid}.py"
    data = source.encode("utf-8")
    try:
        if client is not None:
            from ..grade.distributed import _grade_bytes

            future = client.submit(
                _grade_bytes,
                name,
                data,
                [exercise],
                sid,
                settings.config,
                _catalog(settings.exercises)[1],
                pure=False,
                retries=0,
                key=f"losslab-serve-{sid}-{uuid.uuid4().hex}",
            )
            return future.result()
        return grade_source(
            name, data, exercises=[exercise], seed=sid, config=settings.config, catalog=_catalog(settings.exercises)[0]
        )
    except Exception as exc:  # the judge's own failure becomes the submission's verdict
        from pathlib import Path

        return FileReport(
            name,
            sid,
            problem=_problem(
                Path(name), Msg("reason.internal", {"msg": printable(f"{type(exc).__name__}: {exc}")}), [exercise]
            ),
        )


def store(engine, sid: int, grader: str, report: FileReport) -> bool:
    passed, total = report.counts
    score, max_score = report.score
    return queue.finish(engine, sid, grader, codec.encode(report), passed, total, score, max_score)


def run_grader(settings: GraderSettings, name: str, stop=None) -> None:
    """One grader's loop, until ``stop`` (an Event) is set or the process is terminated."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal stops the server, which stops us
    engine = engine_for(settings.db)
    client = None
    if settings.scheduler is not None:
        from ..grade.distributed import _distributed

        client = _distributed().Client(settings.scheduler, timeout="10s")
    try:
        while stop is None or not stop.is_set():
            row = queue.claim(engine, name)
            if row is None:
                time.sleep(IDLE_WAIT)
                continue
            store(engine, row.id, name, grade_one(row.id, row.exercise, row.source, settings, client))
    finally:
        if client is not None:
            client.close()
        engine.dispose()


class Pool:
    """``n`` grader processes, supervised: one that dies is replaced and its submission requeued."""

    def __init__(self, settings: GraderSettings, n: int) -> None:
        self.settings, self.n = settings, n
        self._ctx = mp.get_context("spawn")
        self._procs: dict[str, mp.process.BaseProcess] = {}
        self._stop = self._ctx.Event()
        self._watching = threading.Event()
        self._engine = engine_for(settings.db)

    def _start_one(self) -> None:
        name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        proc = self._ctx.Process(
            target=run_grader,
            args=(self.settings, name, self._stop),
            daemon=True,
            name=f"losslab-grader-{len(self._procs)}",
        )
        proc.start()
        self._procs[name] = proc

    def start(self) -> None:
        for _ in range(self.n):
            self._start_one()
        self._watching.set()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while self._watching.is_set():
            for name, proc in list(self._procs.items()):
                if not proc.is_alive() and self._watching.is_set():
                    del self._procs[name]
                    queue.requeue(self._engine, name)
                    self._start_one()
            time.sleep(0.5)

    def stop(self, wait: float = 5.0) -> None:
        """Ask the graders to stop after their current submission; terminate those still grading after ``wait``
        seconds (their submissions stay ``running`` and are requeued at the next start)."""
        self._watching.clear()
        self._stop.set()
        deadline = time.monotonic() + wait
        for proc in self._procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self._procs.values():
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
        self._engine.dispose()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.pid is not None]
