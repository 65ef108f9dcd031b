"""``losslab grade DIR --scheduler``: the submissions graded on a Dask cluster give the local report.

A LocalCluster of worker processes grades tests/grade_fixtures/ (reference solutions,
named mistakes, a hang, crashes, a memory blow-up); every verdict, reason and
mistake must be those of the local run (timings aside). Skips without dask.distributed.
"""

from __future__ import annotations

import json
import shutil

import pytest

from losslab.cli import main
from losslab.grade import SandboxConfig, grade_dir, report

distributed = pytest.importorskip("distributed")

from _support import GRADE_FIXTURES, REFERENCES, grade_fixture  # noqa: E402

from losslab.grade import distributed as remote_grading  # noqa: E402

CONFIG = SandboxConfig(timeout=5.0, memory_mb=512)
SEED = 3


def _without_timings(data):
    """A report's JSON with its ``seconds`` left out."""
    if isinstance(data, list):
        return [_without_timings(d) for d in data]
    if isinstance(data, dict):
        return {k: _without_timings(val) for k, val in data.items() if k != "seconds"}
    return data


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
    ) as local_cluster:
        yield local_cluster


def test_cluster_grades_the_fixtures_as_the_local_judge(cluster, tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in [*REFERENCES, *(p.name for p in GRADE_FIXTURES.glob("*.py") if p.name != "conftest.py")]:
        shutil.copy(grade_fixture(name), folder / name)
    local = grade_dir(folder, seed=SEED, config=CONFIG)
    assert any(r.passed for r in local) and not all(r.passed for r in local)
    argv = [
        "grade",
        str(folder),
        "--seed",
        str(SEED),
        "--timeout",
        "5",
        "--memory",
        "512",
        "--json",
        "--report",
        str(tmp_path / "remote.csv"),
        "--scheduler",
        cluster.scheduler_address,
    ]
    assert main(argv) == 1
    remote = json.loads(capsys.readouterr().out)
    assert _without_timings(remote) == _without_timings([report.to_json(r) for r in local])
    report.write_csv(tmp_path / "local.csv", report.table_rows(local))
    assert (tmp_path / "remote.csv").read_text() == (tmp_path / "local.csv").read_text()
    hang = next(r for r in remote if r["file"].endswith("hang_forward.py"))
    assert "timed out after 5 s" in json.dumps(hang)  # the time limit held on the worker


def test_files_travel_with_their_tasks(cluster, tmp_path):
    """Each task carries its file's bytes; the report keeps the client's path and table."""
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "mine.py").write_text("def numerical_gradient(f, x):\n    return None\n")
    (folder / "same.py").write_text("def numerical_gradient(f, x):\n    return None\n")
    with distributed.Client(cluster) as client:
        reports = remote_grading.grade_dir_distributed(folder, seed=0, config=CONFIG, client=client)
        assert len(client.run(lambda: True)) == 2  # the tasks ran on the two worker processes
    assert [r.path for r in reports] == [str(folder / "mine.py"), str(folder / "same.py")]
    assert all([e.exercise for e in r.exercises] == ["numerical-gradient"] and not r.passed for r in reports)
    local = grade_dir(folder, seed=0, config=CONFIG)
    assert report.table_rows(reports, "zh") == report.table_rows(local, "zh")


def test_scheduler_usage_mistakes(monkeypatch, capsys):
    assert main(["grade", str(grade_fixture("level1_reference.py")), "--scheduler", "local"]) == 2
    assert "--scheduler grades a directory" in capsys.readouterr().err
    monkeypatch.setattr(remote_grading, "CONNECT_TIMEOUT", "0.5s")
    assert main(["grade", str(GRADE_FIXTURES), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "could not reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    with pytest.raises(ValueError, match="pass a scheduler address"):
        remote_grading.grade_dir_distributed(GRADE_FIXTURES)


def test_each_worker_runs_the_same_sandbox(cluster, tmp_path):
    """A submission that looks for the judge finds nothing on a worker either; each report names its isolation."""
    from test_grade_attacks import SEARCH, WRONG

    from losslab.grade import _isolation

    if not _isolation.status().isolated:
        pytest.skip(f"no isolation here: {_isolation.status().detail}")
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "attacker.py").write_text(SEARCH + WRONG)
    (folder / "classmate.py").write_text((grade_fixture("level1_reference.py")).read_text())
    with distributed.Client(cluster) as client:
        reports = remote_grading.grade_dir_distributed(
            folder, seed=5, client=client, config=SandboxConfig(timeout=60, isolation="required")
        )
    attacker, classmate = reports
    assert classmate.passed and not attacker.passed
    assert "FOUND:[]" in attacker.problem.reason.text("en")
    assert all(r.isolation.startswith("bubblewrap (") for r in reports)


MAE_WRONG = "import numpy as np\n\ndef mean_absolute_error(y, t):\n    return np.sum(np.abs(y - t))\n"


@pytest.fixture()
def course(tmp_path):
    """A teacher's course folder holding one exercise, made by `losslab exercise new`."""
    assert main(["exercise", "new", "mae-loss", str(tmp_path / "course")]) == 0
    return tmp_path / "course"


def test_a_teachers_exercises_travel_with_the_tasks(cluster, course, tmp_path, capsys):
    """--exercises with --scheduler: the folders' files go with the tasks; each worker loads them from its own
    copy; the reports are those of the local run."""
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "2024001.py").write_text(MAE_WRONG)
    (folder / "2024002.py").write_text((course / "mae-loss" / "solution.py").read_text())
    capsys.readouterr()
    local_argv = ["grade", str(folder), "--exercises", str(course), "--seed", "2", "--json"]
    assert main(local_argv) == 1
    local = json.loads(capsys.readouterr().out)
    assert main([*local_argv, "--scheduler", cluster.scheduler_address]) == 1
    remote = json.loads(capsys.readouterr().out)
    assert _without_timings(remote) == _without_timings(local)
    assert [(r["score"], r["max_score"]) for r in remote] == [(1.0, 5.0), (5.0, 5.0)]
    with distributed.Client(cluster) as client:
        copies = client.run(lambda: [str(c.exercises[-1].folder) for c in remote_grading._unpacked.values()])
    folders = [f for per_worker in copies.values() for f in per_worker]
    assert folders and all("losslab-exercises-" in f and str(course) not in f for f in folders)


def test_exercise_folders_over_the_limit_are_refused(course, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(remote_grading, "MAX_FOLDER_BYTES", 1000)
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "a.py").write_text(MAE_WRONG)
    capsys.readouterr()
    argv = ["grade", str(folder), "--exercises", str(course), "--scheduler", "tcp://127.0.0.1:9"]
    assert main(argv) == 2  # before any connection is tried
    assert "the exercise folders weigh more than" in capsys.readouterr().err


def test_a_packed_file_cannot_leave_its_folder():
    packed = remote_grading.Exercises(((("../../escaped.py", b"x = 1\n"),),), "a digest of its own")
    with pytest.raises(ValueError, match="outside its folder"):
        remote_grading.worker_catalog(packed)
