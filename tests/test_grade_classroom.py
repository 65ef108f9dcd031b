"""The judge in a classroom: notebooks, the self-check, points and hidden checks, exports, a teacher's own
exercises, and the feedback on a few more common mistakes."""

from __future__ import annotations

import csv
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _support import grade_fixture

from losslab.cli import main
from losslab.grade import SandboxConfig, catalog, grade_dir, grade_file
from losslab.grade.catalog import ExerciseFolderError

nbformat = pytest.importorskip("nbformat")

CONFIG = SandboxConfig(timeout=10)
LEVEL1 = grade_fixture("level1_reference.py").read_text()


def notebook(path: Path, *cells: str, markdown: str = "# my answer") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="printed earlier\n")]
    nbformat.write(nb, path)
    return path


def summary(report):
    return [(c.id, c.passed, c.mistake) for e in report.exercises for c in e.checks]


# =========================================================================== notebooks


def test_a_notebook_gets_the_verdicts_of_the_same_code_in_a_py_file(tmp_path):
    (tmp_path / "same.py").write_text(LEVEL1)
    py = grade_file(tmp_path / "same.py", seed=3, config=CONFIG)
    head, tail = LEVEL1.split("class MeanSquaredError", 1)
    nb = grade_file(notebook(tmp_path / "same.ipynb", head, "class MeanSquaredError" + tail), seed=3, config=CONFIG)
    assert py.passed and nb.passed and summary(py) == summary(nb) and nb.notes == ()


def test_magics_and_shell_lines_are_removed_and_noted(tmp_path):
    path = notebook(
        tmp_path / "magic.ipynb",
        "%matplotlib inline\n!pip install numpy\n" + LEVEL1,
        "%%time\nSoftmaxWithLoss().forward(None, None)",
    )
    report = grade_file(path, seed=3, config=CONFIG)
    assert report.passed
    note = report.notes[0].text("en")
    assert "cell 1 line 1 (%matplotlib inline)" in note and "cell 1 line 2 (!pip install numpy)" in note
    assert "cell 2 line 1 (%%time)" in note
    assert main(["grade", str(path), "--seed", "3"]) == 0


def test_a_wrong_notebook_names_the_mistake_and_the_cell(tmp_path, capsys):
    wrong = LEVEL1.replace(") / batch_size", ")").replace(
        "self.loss = loss\n        return loss", "self.loss = loss\n        return loss", 1
    )
    path = notebook(tmp_path / "wrong.ipynb", "import numpy as np", wrong)
    report = grade_file(path, seed=3, config=CONFIG)
    assert not report.passed and "no_batch_mean" in {m for _, _, m in summary(report)}
    broken = notebook(tmp_path / "broken.ipynb", "x = 1", "raise ValueError('boom')\n" + LEVEL1)
    report = grade_file(broken, seed=3, config=CONFIG)
    assert "(cell 2, line 1)" in report.problem.reason.text("en")
    assert main(["grade", str(broken), "--seed", "3", "--lang", "zh"]) == 1
    assert "第 2 个代码单元格第 1 行" in capsys.readouterr().out


def test_a_folder_mixing_notebooks_and_py_files(tmp_path):
    shutil.copy(grade_fixture("level1_reference.py"), tmp_path / "alice.py")
    notebook(tmp_path / "bob.ipynb", LEVEL1)
    (tmp_path / "carol.ipynb").write_text("{not a notebook")
    (tmp_path / "readme.md").write_text("notes")
    reports = {Path(r.path).name: r for r in grade_dir(tmp_path, seed=2, config=CONFIG)}
    assert reports["alice.py"].passed and reports["bob.ipynb"].passed
    assert "could not read this notebook" in reports["carol.ipynb"].problem.reason.text("en")
    assert reports["readme.md"].skipped is not None


def test_a_notebook_whose_cells_lack_ids_is_graded_without_warnings(tmp_path, recwarn):
    """nbformat 4.5 asks for cell ids; editors that write 4.5 without them (or one id twice) still get graded,
    and nothing warns on the teacher's terminal."""
    path = notebook(tmp_path / "noids.ipynb", "import numpy as np", LEVEL1, "x = 1")
    raw = json.loads(path.read_text())
    del raw["cells"][1]["id"]
    raw["cells"][3]["id"] = raw["cells"][2]["id"]
    raw["cells"][0]["id"] = "cell-1-0"  # the id a repair could pick
    path.write_text(json.dumps(raw))
    report = grade_file(path, seed=3, config=CONFIG)
    assert report.passed and report.notes == ()
    assert not [w for w in recwarn if "nbformat" in type(w.message).__module__], [str(w.message) for w in recwarn]
    from losslab.grade.notebook import from_notebook

    assert from_notebook(path.read_bytes()).source.splitlines()[-1] == "x = 1"


def test_a_notebook_off_the_schema_outside_its_code_is_graded_and_one_with_unreadable_code_refused(tmp_path):
    """An output or metadata nbformat's schema refuses does not stop the grading (nbformat itself reads such a
    notebook, and the judge reads only the code); cells the judge cannot read are refused by name."""
    from losslab.grade.notebook import NotebookError, from_notebook

    path = notebook(tmp_path / "odd.ipynb", LEVEL1)
    raw = json.loads(path.read_text())
    raw["cells"][1]["outputs"] = [{"output_type": "not-an-output"}]
    path.write_text(json.dumps(raw))
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(nbformat.read(path, as_version=4))
    assert grade_file(path, seed=3, config=CONFIG).passed
    raw["cells"][1]["source"] = 42
    with pytest.raises(NotebookError, match="not a notebook nbformat can read"):
        from_notebook(json.dumps(raw).encode())


# =========================================================================== the self-check


def test_self_check_grades_the_callers_namespace(capsys):
    from losslab.exercise import check

    namespace: dict = {}
    exec(compile(LEVEL1, "cell", "exec"), namespace)
    report = check("loss-forward", namespace, seed=4)
    out = capsys.readouterr().out
    assert report.passed and "your own Python process" in out and "11 of 11 checks passed" in out
    exec(compile(LEVEL1.replace(") / batch_size", ")"), "cell", "exec"), namespace)
    report = check("loss-forward", namespace, seed=4, lang="zh")
    out = capsys.readouterr().out
    assert not report.passed and "忘记对 batch 求平均" in out
    with pytest.raises(ValueError, match="no exercise 'loss-fwd'"):
        check("loss-fwd", namespace)


def test_self_check_sees_the_notebooks_globals():
    from losslab.exercise import check

    namespace: dict = {"check": check}
    exec(compile(LEVEL1 + "\nreport = check('loss-forward', seed=1, quiet=True)\n", "cell", "exec"), namespace)
    assert namespace["report"].passed


# =========================================================================== a teacher's own exercise


@pytest.fixture()
def course(tmp_path):
    """A course folder holding one new exercise, made by `losslab exercise new`."""
    assert main(["exercise", "new", "mae-loss", str(tmp_path / "course")]) == 0
    return tmp_path / "course"


def test_exercise_new_writes_a_folder_that_passes_its_own_test(course, capsys):
    capsys.readouterr()
    assert main(["exercise", "test", str(course / "mae-loss")]) == 0
    out = capsys.readouterr().out
    assert "solution.py: passes (5 of 5 points), as it should" in out
    assert "template.py: fails" in out
    assert main(["exercise", "list", "--exercises", str(course)]) == 0
    assert "mae-loss" in capsys.readouterr().out
    assert main(["exercise", "show", "mae-loss", "--exercises", str(course), "--lang", "zh"]) == 0
    assert "平均绝对误差" in capsys.readouterr().out
    assert main(["exercise", "new", "mae-loss", str(course)]) == 2  # exists: nothing overwritten


def test_a_teachers_exercise_grades_with_points_and_hidden_checks(course, tmp_path, capsys):
    learner = tmp_path / "2024001_learner.py"
    learner.write_text("import numpy as np\n\ndef mean_absolute_error(y, t):\n    return np.sum(np.abs(y - t))\n")
    found = catalog.BUILTIN.with_folders([course])
    report = grade_file(learner, seed=2, config=CONFIG, catalog=found)
    assert [e.exercise for e in report.exercises] == ["mae-loss"]
    assert report.score == (1.0, 5.0)
    by_id = {c.id: c for e in report.exercises for c in e.checks}
    assert by_id["mean_absolute_error:random"].points == 2
    assert by_id["mean_absolute_error:float32"].visibility == "hidden"
    capsys.readouterr()
    assert main(["grade", str(learner), "--exercises", str(course), "--seed", "2"]) == 1
    out = capsys.readouterr().out
    hidden = next(line for line in out.splitlines() if "float32" in line)
    assert "FAIL" in hidden and "hidden check" in hidden and "expected" not in hidden
    assert "[2 points]" in out and "score 1 of 5" in out
    assert main(["grade", str(learner), "--seed", "2"]) == 2  # without --exercises: not recognised


def test_the_reproduce_line_of_a_teachers_exercise_names_its_folder(course, tmp_path, capsys):
    import shlex

    learner = tmp_path / "learner.py"
    learner.write_text("import numpy as np\n\ndef mean_absolute_error(y, t):\n    return np.sum(np.abs(y - t))\n")
    capsys.readouterr()
    assert main(["grade", str(learner), "--exercises", str(course), "--seed", "3"]) == 1
    first = capsys.readouterr().out
    command = next(line for line in first.splitlines() if line.startswith("reproduce with: "))
    argv = shlex.split(command.removeprefix("reproduce with: "))
    assert argv[:2] == ["losslab", "grade"] and "--exercises" in argv
    assert main(argv[1:]) == 1  # the printed command, run as printed, grades the same way
    assert capsys.readouterr().out == first


def test_self_check_of_a_teachers_exercise_runs_the_public_checks_only(course, capsys):
    import numpy as np

    from losslab.exercise import check

    report = check(
        "mae-loss", {"mean_absolute_error": lambda y, t: np.mean(np.abs(y - t))}, seed=1, exercises=str(course)
    )
    assert report.passed and all(c.visibility == "public" for e in report.exercises for c in e.checks)
    assert "1 hidden checks run only in `losslab grade`" in capsys.readouterr().out


BROKEN = [
    (lambda f: (f / "checks.py").unlink(), "checks.py: missing"),
    (lambda f: (f / "exercise.json").write_text("{oops"), "exercise.json: not valid JSON"),
    (lambda f: _edit(f, lambda m: m.pop("defines")), "the field 'defines' is missing"),
    (lambda f: _edit(f, lambda m: m.update(name="Bad Name")), "the field 'name' must be lowercase"),
    (lambda f: _edit(f, lambda m: m["title"].pop("zh")), "the field 'title.zh' must be a non-empty string"),
    (lambda f: _edit(f, lambda m: m["checks"].update({"nope": {}})), "checks.nope is not a check of this exercise"),
    (
        lambda f: _edit(f, lambda m: m["checks"]["mean_absolute_error:random"].update(points=-1)),
        "checks.mean_absolute_error:random.points must be a number >= 0, got -1",
    ),
    (
        lambda f: _edit(f, lambda m: m["checks"]["mean_absolute_error:random"].update(visibility="secret")),
        "visibility must be one of public, hidden, got 'secret'",
    ),
    (lambda f: (f / "checks.py").write_text("PROBES = {}\n"), "checks.py: must define a function make_cases"),
    (lambda f: (f / "checks.py").write_text("raise RuntimeError('typo')\n"), "checks.py: importing it failed"),
]


def _edit(folder: Path, change) -> None:
    meta = json.loads((folder / "exercise.json").read_text())
    change(meta)
    (folder / "exercise.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("breakage, message", BROKEN, ids=[m for _, m in BROKEN])
def test_a_malformed_exercise_folder_names_the_file_and_the_field(course, breakage, message, capsys):
    breakage(course / "mae-loss")
    with pytest.raises(ExerciseFolderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        catalog.load(course / "mae-loss")
    capsys.readouterr()
    assert main(["exercise", "list", "--exercises", str(course)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# =========================================================================== exports and the gradebook CSV


@pytest.fixture()
def graded_class(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(grade_fixture("level1_reference.py"), folder / "hw1_2024000001_ann.py")
    shutil.copy(grade_fixture("level1_mse_no_half.py"), folder / "hw1_2024000002_ben.py")
    (folder / "hw1_2024000003_cai.py").write_text("def SoftmaxWithLoss(:\n")
    return folder


def test_gradescope_results_follow_the_specification(graded_class, tmp_path):
    out = tmp_path / "results.json"
    assert (
        main(
            [
                "grade",
                str(graded_class),
                "--seed",
                "3",
                "--format",
                "gradescope",
                "--out",
                str(out),
                "--exercise",
                "loss-forward",
            ]
        )
        == 1
    )
    data = json.loads(out.read_text())
    assert set(data) >= {"score", "tests"} and isinstance(data["score"], float)
    assert data["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    for test in data["tests"]:
        assert set(test) <= {
            "score",
            "max_score",
            "status",
            "name",
            "name_format",
            "number",
            "output",
            "output_format",
            "tags",
            "visibility",
            "extra_data",
        }
        assert isinstance(test["name"], str) and test["status"] in ("passed", "failed")
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert data["score"] == sum(t["score"] for t in data["tests"])
    assert data["score"] == 11 + 8  # ann: every check; ben: 8 of 11 (his MSE is twice too large)
    failing = [t for t in data["tests"] if t["status"] == "failed"]
    assert any("dropped the 0.5" in t["output"] for t in failing)
    compile_error = next(t for t in data["tests"] if "cai" in t["name"])
    assert compile_error["max_score"] == catalog.get("loss-forward").max_points() and compile_error["score"] == 0


def test_junit_xml_parses_back(graded_class, tmp_path):
    out = tmp_path / "junit.xml"
    assert (
        main(
            [
                "grade",
                str(graded_class),
                "--seed",
                "3",
                "--format",
                "junit",
                "--out",
                str(out),
                "--id-pattern",
                r"_(\d{10})_",
            ]
        )
        == 1
    )
    root = ET.parse(out).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"2024000001", "2024000002", "2024000003"}
    assert suites["2024000001"].get("failures") == "0" and int(suites["2024000002"].get("failures")) > 0
    assert int(root.get("tests")) == sum(len(list(s.iter("testcase"))) for s in suites.values())
    failure = next(suites["2024000002"].iter("failure"))
    assert "dropped the 0.5" in failure.get("message")


def test_the_csv_is_a_gradebook_with_student_ids(graded_class, tmp_path):
    out = tmp_path / "marks.csv"
    assert (
        main(
            [
                "grade",
                str(graded_class),
                "--seed",
                "3",
                "--report",
                str(out),
                "--id-pattern",
                r"\d{10}",
                "--exercise",
                "loss-forward",
            ]
        )
        == 1
    )
    rows = {r["student"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(rows) == {"2024000001", "2024000002", "2024000003"}
    assert rows["2024000001"]["score"] == rows["2024000001"]["max_score"] == "11"
    assert rows["2024000003"]["score"] == "0" and rows["2024000003"]["max_score"] == "11"
    assert main(["grade", str(graded_class), "--id-pattern", "(unclosed"]) == 2


# =========================================================================== more named mistakes


def test_after_a_timeout_the_other_checks_are_not_run(tmp_path):
    head = (
        "class MeanSquaredError:\n    def __init__(self):\n        self.loss = None\n\n    def forward(self, y, t):\n"
    )
    hang = LEVEL1.replace(head, head + "        while True:\n            pass\n")
    assert hang != LEVEL1
    (tmp_path / "hang.py").write_text(hang)
    report = grade_file(tmp_path / "hang.py", seed=1, config=SandboxConfig(timeout=3))
    reasons = [c.reason.text("en") for e in report.exercises for c in e.checks if not c.passed]
    assert sum("timed out" in r for r in reasons) == 1
    assert reasons[1:] and all(r.startswith("not run") for r in reasons[1:])


def test_a_wrong_exercise_says_once_what_is_missing(tmp_path, capsys):
    shutil.copy(grade_fixture("level1_reference.py"), tmp_path / "level1.py")
    assert main(["grade", str(tmp_path / "level1.py"), "--exercise", "loss-backward", "--seed", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) <= 4
    assert any("loss-backward needs SoftmaxWithLoss.backward, MeanSquaredError.backward" in line for line in out)


def test_a_class_defined_twice_is_reported(tmp_path):
    twice = LEVEL1 + "\n\nclass SoftmaxWithLoss:\n    def forward(self, x, t):\n        return 0.0\n"
    (tmp_path / "twice.py").write_text(twice)
    report = grade_file(tmp_path / "twice.py", seed=1, config=CONFIG)
    assert not report.passed
    note = " ".join(n.text("en") for n in report.notes)
    assert "SoftmaxWithLoss is defined more than once (lines" in note and "the last definition" in note


def test_the_teachers_guide_session_is_real(tmp_path, monkeypatch, capsys):
    """The teachers' guide's session, replayed: each command prints what the guide shows."""
    import re
    import shlex

    readme = (Path(__file__).parents[1] / "docs" / "guide" / "teachers.md").read_text(encoding="utf-8")
    session = readme.split("<!-- teacher-session:start -->")[1].split("<!-- teacher-session:end -->")[0]
    blocks = re.findall(r"^\$ losslab (.*)\n((?:(?!\$ ).*\n)*)", session.split("```console\n")[1].split("```")[0], re.M)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    (tmp_path / "submissions").mkdir()
    (tmp_path / "submissions" / "2024000001_ann.py").write_text(
        "import numpy as np\n\n\ndef mean_absolute_error(y, t):\n    return np.mean(np.abs(y - t))\n"
    )
    (tmp_path / "submissions" / "2024000002_ben.py").write_text(
        "import numpy as np\n\n\ndef mean_absolute_error(y, t):\n    return np.sum(np.abs(y - t)) / len(y)\n"
    )
    for command, shown in blocks:
        code = main(shlex.split(command))
        assert code in (0, 1)
        assert capsys.readouterr().out.strip() == shown.strip(), command
    assert (tmp_path / "grades.csv").exists()
