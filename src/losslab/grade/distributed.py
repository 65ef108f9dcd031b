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

A teacher's exercise folders (``--exercises DIR``) travel with the tasks too: the client
packs each folder's files (:func:`pack_exercises`, at most :data:`MAX_FOLDER_BYTES`) and
a worker writes them once into a private temporary folder and loads its catalog from
there (cached by the files' digest), so its workers need not see the teacher's disk.

Workers need losslab (and NumPy) installed, of the client's version. A worker runs
one submission per thread at a time: ``--nthreads`` of ``dask worker`` bounds the
submissions running at once on a machine, as ``--jobs`` does locally.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from . import catalog as catalog_module
from .grader import FileReport, _problem, grade_source, read_submission, skipped_reports, submissions
from .sandbox import SandboxConfig

__all__ = ["grade_dir_distributed", "connect", "pack_exercises", "Exercises"]

LOCAL = "local"
CONNECT_TIMEOUT = "10s"  # how long to try reaching a scheduler before giving up
MAX_FOLDER_BYTES = 16 * 2**20  # the most a teacher's exercise folders may weigh, all files together


@dataclasses.dataclass(frozen=True)
class Exercises:
    """A teacher's exercise folders as bytes: ``folders`` holds each exercise folder's files, ``(relative path,
    bytes)``, in catalog order; ``digest`` names their content."""

    folders: tuple[tuple[tuple[str, bytes], ...], ...]
    digest: str


def pack_exercises(found: catalog_module.Catalog) -> Exercises | None:
    """The teacher's exercises of catalog ``found`` (those beyond the built-in ones, loaded from their folders by
    :meth:`~losslab.grade.catalog.Catalog.with_folders`) packed for the workers; ``None`` for none.

    Raises ``ValueError`` when their files weigh more than :data:`MAX_FOLDER_BYTES`."""
    loaded = found.exercises[len(catalog_module.BUILTIN.exercises) :]
    if not loaded:
        return None
    packed: list[tuple[tuple[str, bytes], ...]] = []
    total, digest = 0, hashlib.sha256()
    for exercise in loaded:
        root = Path(str(exercise.folder))
        files: list[tuple[str, bytes]] = []
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            data = path.read_bytes()
            total += len(data)
            if total > MAX_FOLDER_BYTES:
                raise ValueError(
                    f"the exercise folders weigh more than {MAX_FOLDER_BYTES // 2**20} MiB"
                    f" (at {path}): the tasks carry them to the workers"
                )
            rel = path.relative_to(root).as_posix()
            files.append((rel, data))
            digest.update(f"{len(packed)}/{rel}:{len(data)}:".encode())
            digest.update(data)
        packed.append(tuple(files))
    return Exercises(tuple(packed), digest.hexdigest())


_unpacked: dict[str, catalog_module.Catalog] = {}  # a worker's catalogs, by the digest of their files
_unpack_lock = threading.Lock()


def _cleanup(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def worker_catalog(exercises: Exercises | None) -> catalog_module.Catalog:
    """The catalog of the built-in exercises and the packed ones, written once per worker process into a
    temporary folder of its own (removed when the process exits) and loaded from there."""
    if exercises is None:
        return catalog_module.BUILTIN
    with _unpack_lock:
        found = _unpacked.get(exercises.digest)
        if found is None:
            root = Path(tempfile.mkdtemp(prefix="losslab-exercises-")).resolve()
            atexit.register(_cleanup, str(root))
            folders = []
            for i, files in enumerate(exercises.folders):
                folder = root / f"{i:04d}"
                for rel, data in files:
                    target = folder / rel
                    if folder not in target.resolve().parents:  # the client's relative paths, nothing outside
                        raise ValueError(f"an exercise file outside its folder: {rel!r}")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                folders.append(folder)
            found = _unpacked[exercises.digest] = catalog_module.BUILTIN.with_folders(folders)
    return found


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


def _grade_bytes(
    name: str, source: bytes, exercises, seed: int, config: SandboxConfig, folders: Exercises | None = None
) -> FileReport:
    """The task run on a worker: grade the submission's bytes in the worker's sandbox, among the built-in
    exercises and the packed ``folders``."""
    return grade_source(name, source, exercises=exercises, seed=seed, config=config, catalog=worker_catalog(folders))


def grade_dir_distributed(
    path: str | os.PathLike,
    *,
    scheduler: str | None = None,
    exercises: Sequence[str] | None = None,
    seed: int = 0,
    config: SandboxConfig = SandboxConfig(),
    workers: int | None = None,
    client=None,
    exercise_folders: Sequence[str | os.PathLike] = (),
) -> list[FileReport]:
    """Grade every ``*.py`` file directly in ``path`` (sorted by name) on the Dask cluster at ``scheduler``.

    The same reports as :func:`~losslab.grade.grader.grade_dir` (``seconds`` aside):
    each file is graded by :func:`~losslab.grade.grader.grade_file` in the sandbox of
    the worker that runs its task. ``scheduler`` is an address (``tcp://host:8786``)
    or ``"local"`` (a ``LocalCluster`` of ``workers`` processes); an open ``client``
    may be passed instead. ``exercise_folders``: a teacher's exercise folders (as
    ``--exercises``), carried to the workers with the tasks. Raises as ``grade_dir`` for a
    bad ``path`` or exercise name, :class:`~losslab.grade.catalog.ExerciseFolderError` or
    ``ValueError`` for exercise folders that do not load or weigh too much, ``ImportError``
    without dask.distributed, ``OSError`` when the scheduler cannot be reached.
    """
    found = catalog_module.BUILTIN.with_folders(exercise_folders) if exercise_folders else catalog_module.BUILTIN
    packed = pack_exercises(found)
    files, skipped = submissions(path, exercises, found)
    exercises = list(exercises) if exercises else None
    if client is None:
        if scheduler is None:
            raise ValueError("pass a scheduler address, 'local', or an open client")
        with connect(scheduler, workers=workers) as client:
            return grade_dir_distributed(
                path,
                scheduler=scheduler,
                exercises=exercises,
                seed=seed,
                config=config,
                client=client,
                exercise_folders=exercise_folders,
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
            packed,
            pure=False,
            retries=0,
            key=f"losslab-grade-{run}-{i}",
        )
    remote = dict(zip(futures, client.gather(list(futures.values())), strict=True))
    reports = {**local, **{i: dataclasses.replace(r, path=str(files[i])) for i, r in remote.items()}}
    graded = [reports[i] for i in range(len(files))]
    return sorted(graded + skipped_reports(skipped, seed), key=lambda r: os.path.basename(r.path))
