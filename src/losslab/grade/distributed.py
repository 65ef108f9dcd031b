"""Grade a directory on a Dask cluster: one task per submission, each sandboxed on its worker.

``losslab grade DIR --scheduler ADDRESS`` (or ``--scheduler local`` for a
``LocalCluster`` of processes on this machine) calls :func:`grade_dir_distributed`.
The client reads every ``*.py`` file of ``DIR`` and submits one task per file,
carrying the file's *bytes* (workers need not share the client's filesystem). On
its worker the task writes them to a private temporary folder, under the same file
name, and calls :func:`~losslab.grade.grader.grade_file` there: the very same
sandbox as a local run (its own ``python -I -B`` child process, the same timeout,
memory and file-size limits, killed with its process group). The reports come back
to the client in the files' order, with the client's paths, so the table, the CSV
and the JSON are those of :func:`~losslab.grade.grader.grade_dir`; only the timings
differ.

Workers need losslab (and NumPy) installed, of the client's version. A worker runs
one submission per thread at a time: ``--nthreads`` of ``dask worker`` bounds the
submissions running at once on a machine, as ``--jobs`` does locally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import uuid
from pathlib import Path
from typing import Sequence

from .grader import FileReport, grade_file, submission_files
from .sandbox import SandboxConfig

__all__ = ["grade_dir_distributed", "connect"]

LOCAL = "local"
CONNECT_TIMEOUT = "10s"  # how long to try reaching a scheduler before giving up


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("grading on a Dask cluster needs dask.distributed: "
                          "pip install 'losslab[distributed]'") from exc
    return distributed


@contextlib.contextmanager
def connect(scheduler: str, *, workers: int | None = None):
    """A ``distributed.Client`` of the cluster at ``scheduler``, closed on exit; ``"local"`` starts (and
    then stops) a ``LocalCluster`` of ``workers`` processes (default: the CPUs, at most 8), one thread each.

    Raises ``ImportError`` without dask.distributed, ``OSError`` when the scheduler cannot be reached.
    """
    distributed = _distributed()
    if scheduler != LOCAL:
        with distributed.Client(scheduler, timeout=CONNECT_TIMEOUT) as client:
            yield client
        return
    n = workers or min(os.cpu_count() or 1, 8)
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def _grade_bytes(name: str, source: bytes, exercises, seed: int, config: SandboxConfig) -> FileReport:
    """The task run on a worker: the submission's bytes written to a private folder, then graded there."""
    with tempfile.TemporaryDirectory(prefix="losslab-grade-task-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(source)
        return grade_file(path, exercises=exercises, seed=seed, config=config)


def _unreadable(path: Path, seed: int, exc: OSError) -> FileReport:
    """A file the client cannot read: the failed check a local run gives it."""
    from ._i18n import Msg
    from .grader import _problem

    return FileReport(str(path), seed, problem=_problem(path, Msg("reason.sandbox", {"msg": str(exc)})))


def grade_dir_distributed(path: str | os.PathLike, *, scheduler: str | None = None, exercises: Sequence[str] | None = None,
                          seed: int = 0, config: SandboxConfig = SandboxConfig(),
                          workers: int | None = None, client=None) -> list[FileReport]:
    """Grade every ``*.py`` file directly in ``path`` (sorted by name) on the Dask cluster at ``scheduler``.

    The same reports as :func:`~losslab.grade.grader.grade_dir` (``seconds`` aside):
    each file is graded by :func:`~losslab.grade.grader.grade_file` in the sandbox of
    the worker that runs its task. ``scheduler`` is an address (``tcp://host:8786``)
    or ``"local"`` (a ``LocalCluster`` of ``workers`` processes); an open ``client``
    may be passed instead. Raises as ``grade_dir`` for a bad ``path`` or exercise
    name, ``ImportError`` without dask.distributed, ``OSError`` when the scheduler
    cannot be reached.
    """
    files = submission_files(path, exercises)
    exercises = list(exercises) if exercises else None
    if client is None:
        if scheduler is None:
            raise ValueError("pass a scheduler address, 'local', or an open client")
        with connect(scheduler, workers=workers) as client:
            return grade_dir_distributed(path, scheduler=scheduler, exercises=exercises, seed=seed,
                                         config=config, client=client)
    futures, local = {}, {}
    run = uuid.uuid4().hex  # task keys unique to this run: a shared cluster may grade other runs at once
    for i, file in enumerate(files):
        try:
            source = file.read_bytes()
        except OSError as exc:
            local[i] = _unreadable(file, seed, exc)
            continue
        # pure=False: two identical files are two submissions, each graded (and timed) on its own
        futures[i] = client.submit(_grade_bytes, file.name, source, exercises, seed, config,
                                   pure=False, retries=0, key=f"losslab-grade-{run}-{i}")
    remote = dict(zip(futures, client.gather(list(futures.values()))))
    reports = {**local, **{i: dataclasses.replace(r, path=str(files[i])) for i, r in remote.items()}}
    return [reports[i] for i in range(len(files))]
