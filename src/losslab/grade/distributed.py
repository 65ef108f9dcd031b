"""Grade a directory on a Dask cluster: one task per submission, each sandboxed on its worker.

``losslab grade DIR --scheduler ADDRESS`` (or ``--scheduler local`` for a
``LocalCluster`` of processes on this machine) calls :func:`grade_dir_distributed`.
The client reads every ``*.py`` file of ``DIR`` and submits one task per file,
carrying the file's *bytes* (workers need not share the client's filesystem). On
its worker the task calls :func:`~losslab.grade.grader.grade_source` on them: the
very same sandbox as a local run (bubblewrap isolation where the worker's machine
allows it, the same limits), and each report says which isolation its worker gave
it. With ``isolation="required"`` a worker without isolation refuses the task. The
reports come back to the client in the files' order, with the client's paths, so
the table, the CSV and the JSON are those of :func:`~losslab.grade.grader.grade_dir`;
only the timings differ.

Workers need losslab (and NumPy) installed, of the client's version. A worker runs
one submission per thread at a time: ``--nthreads`` of ``dask worker`` bounds the
submissions running at once on a machine, as ``--jobs`` does locally.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Sequence

from .grader import FileReport, _problem, grade_source, read_submission, skipped_reports, submissions
from .sandbox import SandboxConfig

__all__ = ["grade_dir_distributed", "connect"]

LOCAL = "local"
CONNECT_TIMEOUT = "10s"  # how long to try reaching a scheduler before giving up


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "grading on a Dask cluster needs dask.distributed: pip install 'losslab[distributed]'"
        ) from exc
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
    with (
        distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _grade_bytes(name: str, source: bytes, exercises, seed: int, config: SandboxConfig) -> FileReport:
    """The task run on a worker: grade the submission's bytes in the worker's sandbox."""
    return grade_source(name, source, exercises=exercises, seed=seed, config=config)


def grade_dir_distributed(
    path: str | os.PathLike,
    *,
    scheduler: str | None = None,
    exercises: Sequence[str] | None = None,
    seed: int = 0,
    config: SandboxConfig = SandboxConfig(),
    workers: int | None = None,
    client=None,
) -> list[FileReport]:
    """Grade every ``*.py`` file directly in ``path`` (sorted by name) on the Dask cluster at ``scheduler``.

    The same reports as :func:`~losslab.grade.grader.grade_dir` (``seconds`` aside):
    each file is graded by :func:`~losslab.grade.grader.grade_file` in the sandbox of
    the worker that runs its task. ``scheduler`` is an address (``tcp://host:8786``)
    or ``"local"`` (a ``LocalCluster`` of ``workers`` processes); an open ``client``
    may be passed instead. Raises as ``grade_dir`` for a bad ``path`` or exercise
    name, ``ImportError`` without dask.distributed, ``OSError`` when the scheduler
    cannot be reached.
    """
    files, skipped = submissions(path, exercises)
    exercises = list(exercises) if exercises else None
    if client is None:
        if scheduler is None:
            raise ValueError("pass a scheduler address, 'local', or an open client")
        with connect(scheduler, workers=workers) as client:
            return grade_dir_distributed(
                path, scheduler=scheduler, exercises=exercises, seed=seed, config=config, client=client
            )
    futures, local = {}, {}
    run = uuid.uuid4().hex  # task keys unique to this run: a shared cluster may grade other runs at once
    for i, file in enumerate(files):
        source, why = read_submission(file)
        if source is None:
            local[i] = FileReport(str(file), seed, problem=_problem(file, why))
            continue
        # pure=False: two identical files are two submissions, each graded (and timed) on its own
        futures[i] = client.submit(
            _grade_bytes,
            file.name,
            source,
            exercises,
            seed,
            config,
            pure=False,
            retries=0,
            key=f"losslab-grade-{run}-{i}",
        )
    remote = dict(zip(futures, client.gather(list(futures.values())), strict=True))
    reports = {**local, **{i: dataclasses.replace(r, path=str(files[i])) for i, r in remote.items()}}
    graded = [reports[i] for i in range(len(files))]
    return sorted(graded + skipped_reports(skipped, seed), key=lambda r: os.path.basename(r.path))
