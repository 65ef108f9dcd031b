"""The exercise judge: reference solutions pass, each mistake is named, broken submissions cannot hurt it.

Submissions live in tests/grade_fixtures/ (never imported by pytest: see its conftest.py);
the variants for the less common mistakes are made here by editing a reference solution.
Timeouts are short (2 s) so that the whole file runs in a few seconds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from _support import REFERENCES, grade_fixture

from losslab.cli import main
from losslab.grade import SandboxConfig, catalog, grade_dir, grade_file
from losslab.grade._i18n import MESSAGES, say

FAST = SandboxConfig(timeout=2.0)


def mistake_en(key: str) -> str:
    return say(f"mistake.{key}", "en")


def failed(report):
    """The failed checks of a file report."""
    return [c for e in report.exercises for c in e.checks if not c.passed]


# --------------------------------------------------------------------------- reference solutions


@pytest.mark.parametrize("name", ["level1_reference.py", "level2_reference.py"])
def test_textbook_solutions_of_levels_1_and_2_pass(name, capsys):
    assert main(["grade", str(grade_fixture(name)), "--seed", "3", "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and f"{REFERENCES[name]} (" in out
    assert " 11 of 11 checks passed" in out or " 17 of 17 checks passed" in out


def test_every_reference_solution_passes_on_several_seeds(tmp_path):
    for name in REFERENCES:
        shutil.copy(grade_fixture(name), tmp_path / name)
    for seed in (0, 1):
        reports = grade_dir(tmp_path, seed=seed, config=SandboxConfig(timeout=10))
        assert [(Path(r.path).name, r.passed) for r in reports] == [(n, True) for n in sorted(REFERENCES)], [
            (r.path, [c.to_dict() for c in failed(r)]) for r in reports if not r.passed
        ]
        assert {r.exercises[0].exercise for r in reports} == set(REFERENCES.values())


# --------------------------------------------------------------------------- detection


def test_detection_tells_level_1_from_level_2():
    assert catalog.detect((grade_fixture("level1_reference.py")).read_text()) == ["loss-forward"]
    assert catalog.detect((grade_fixture("level2_reference.py")).read_text()) == ["loss-backward"]
    assert catalog.detect("class MeanSquaredError:\n    def forward(self, y, t): pass\n") == ["loss-forward"]
    assert catalog.detect("class MeanSquaredError:\n    def backward(self): pass\n") == ["loss-backward"]
    assert catalog.detect("def cross_entropy_error(y, t): pass\nclass SGD: pass\n") == [
        "cross-entropy-error",
        "sgd-step",
    ]
    assert catalog.detect("x = 1\n") == []
    for name, exercise in REFERENCES.items():
        assert catalog.detect((grade_fixture(name)).read_text()) == [exercise]


def test_exercise_option_overrides_detection(tmp_path, capsys):
    shutil.copy(grade_fixture("level2_reference.py"), tmp_path / "level2.py")
    code = main(["grade", str(tmp_path / "level2.py"), "--exercise", "loss-forward", "--seed", "1"])
    out = capsys.readouterr().out
    assert "loss-forward (" in out and "loss-backward" not in out.splitlines()[0]
    assert code == 0  # level 2's given forward is a correct level-1 answer


# --------------------------------------------------------------------------- the named feedback messages

REQUIRED = [  # (fixture, mistake): the feedback the issue asks for, each on its own broken solution
    ("level1_forgot_batch_mean.py", "no_batch_mean"),
    ("level1_mse_mean.py", "mse_mean"),
    ("level1_mse_no_half.py", "mse_no_half"),
    ("level2_wrong_sign.py", "grad_sign"),
    ("level2_not_divided_by_batch.py", "grad_no_batch"),
    ("level1_no_max_subtraction.py", "no_max_subtraction"),
    ("level1_loss_not_set.py", "loss_not_set"),
]


@pytest.mark.parametrize("name, mistake", REQUIRED)
def test_each_required_mistake_is_named(name, mistake, capsys):
    assert main(["grade", str(grade_fixture(name)), "--seed", "4", "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    fail_lines = [line for line in out.splitlines() if line.lstrip().startswith("FAIL")]
    assert fail_lines and all(mistake_en(mistake) in line for line in fail_lines), out
    assert all("[seed 4]" in line for line in fail_lines)
    assert any("expected" in line or "is None" in line for line in fail_lines)
    assert "reproduce with: losslab grade" in out and "--seed 4" in out


def test_required_mistakes_in_chinese(capsys):
    assert main(["grade", str(grade_fixture("level1_forgot_batch_mean.py")), "--seed", "4", "--lang", "zh"]) == 1
    out = capsys.readouterr().out
    assert say("mistake.no_batch_mean", "zh") in out and "失败" in out and "应为" in out


# Every other mistake the judge can name, each made by one edit of a reference solution:
# mistake -> (reference, [(old, new), ...]).
VARIANTS = {
    "mean_over_all": (
        "level1_reference.py",
        [
            (
                "loss = -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size",
                "onehot = np.eye(y.shape[1])[t]\n        loss = -np.mean(onehot * np.log(y + 1e-7))",
            )
        ],
    ),
    "loss_sign": ("level1_reference.py", [("loss = -np.sum(np.log(", "loss = np.sum(np.log(")]),
    "half_twice": ("level1_reference.py", [("loss = 0.5 * np.sum(", "loss = 0.25 * np.sum(")]),
    "mse_batch_mean": (
        "level1_reference.py",
        [("loss = 0.5 * np.sum((y - t) ** 2)", "loss = 0.5 * np.sum((y - t) ** 2) / y.shape[0]")],
    ),
    "grad_batch_twice": ("level2_reference.py", [("dx = dx / batch_size", "dx = dx / batch_size / batch_size")]),
    "grad_no_onehot": ("level2_reference.py", [("        dx[np.arange(batch_size), self.t] -= 1\n", "")]),
    "mse_grad_batch": ("level2_reference.py", [("return self.y - self.t", "return (self.y - self.t) / len(self.y)")]),
    "mse_grad_count": ("level2_reference.py", [("return self.y - self.t", "return (self.y - self.t) / self.y.size")]),
    "mse_grad_two": ("level2_reference.py", [("return self.y - self.t", "return 2 * (self.y - self.t)")]),
    "no_delta": ("cee_reference.py", [("t] + 1e-7))", "t]))")]),
    "index_labels": (
        "cee_reference.py",
        [
            (
                "    if t.size == y.size:  # one-hot rows: turn them into class indices\n        t = t.argmax(axis=1)\n"
                "    batch_size = y.shape[0]\n"
                "    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size",
                "    return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]",
            )
        ],
    ),
    "onehot_labels": ("cee_reference.py", [("    if t.size == y.size:", "    if False:")]),
    "single_sample": ("cee_reference.py", [("    if y.ndim == 1:", "    if False:")]),
    "one_sided": (
        "numerical_gradient_reference.py",
        [("x[idx] = tmp - h", "x[idx] = tmp"), ("(fxh1 - fxh2) / (2 * h)", "(fxh1 - fxh2) / h")],
    ),
    "h_not_2h": ("numerical_gradient_reference.py", [("(fxh1 - fxh2) / (2 * h)", "(fxh1 - fxh2) / h")]),
    "not_restored": (
        "numerical_gradient_reference.py",
        [("        x[idx] = tmp\n        it.iternext()", "        it.iternext()")],
    ),
    "only_1d": (
        "numerical_gradient_reference.py",
        [
            (
                'it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])\n    while not it.finished:\n'
                "        idx = it.multi_index",
                "for idx in range(x.size):",
            ),
            ("        it.iternext()\n", ""),
        ],
    ),
    "dout_in_place": ("relu_reference.py", [("dx = dout.copy()", "dx = dout")]),
    "relu_no_mask": ("relu_reference.py", [("        dx[self.mask] = 0\n", "")]),
    "relu_inverted_mask": ("relu_reference.py", [("dx[self.mask] = 0", "dx[~self.mask] = 0")]),
    "forgot_dout": (
        "sigmoid_reference.py",
        [("return dout * (1.0 - self.out) * self.out", "return (1.0 - self.out) * self.out")],
    ),
    "sigmoid_used_x": (
        "sigmoid_reference.py",
        [
            ("self.out = out\n", "self.out = out\n        self.x = x\n"),
            ("(1.0 - self.out) * self.out", "(1.0 - self.x) * self.x"),
        ],
    ),
    "nonfinite_grad": (
        "sigmoid_reference.py",
        [
            ("self.out = out\n", "self.out = out\n        self.x = x\n"),
            ("return dout * (1.0 - self.out) * self.out", "return dout * np.exp(-self.x) / (1 + np.exp(-self.x)) ** 2"),
        ],
    ),
    "dW_transposed": ("affine_reference.py", [("np.dot(self.x.T, dout)", "np.dot(dout.T, self.x)")]),
    "param_batch_mean": ("affine_reference.py", [("np.sum(dout, axis=0)", "np.mean(dout, axis=0)")]),
    "db_not_summed": ("affine_reference.py", [("np.sum(dout, axis=0)", "dout")]),
    "no_reshape": ("affine_reference.py", [("return dx.reshape(*self.original_x_shape)", "return dx")]),
    "bce_sum": ("bce_reference.py", [("return np.mean(", "return np.sum(")]),
    "bce_row_mean": (
        "bce_reference.py",
        [
            (
                "return np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))",
                "return np.sum(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))) / x.shape[0]",
            )
        ],
    ),
    "unstable_bce": (
        "bce_reference.py",
        [
            (
                "return np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))",
                "p = 1 / (1 + np.exp(-x))\n    return -np.mean(t * np.log(p + 1e-7) + (1 - t) * np.log(1 - p + 1e-7))",
            )
        ],
    ),
    "bce_grad_count": ("bce_reference.py", [("return (sig - t) / x.size", "return sig - t")]),
    "index_slip": ("level1_reference.py", [("y[np.arange(batch_size), t]", "y[:, t]")]),
    "grad_index_slip": ("level2_reference.py", [("dx[np.arange(batch_size), self.t] -= 1", "dx[:, self.t] -= 1")]),
    "grad_in_self_y": ("level2_reference.py", [("dx = self.y.copy()", "dx = self.y")]),
    "sgd_sign": ("sgd_reference.py", [("-= self.lr", "+= self.lr")]),
    "sgd_no_lr": ("sgd_reference.py", [("-= self.lr * grads[key]", "-= grads[key]")]),
    "not_in_place": (
        "sgd_reference.py",
        [("params[key] -= self.lr * grads[key]", "params[key] = params[key] - self.lr * grads[key]")],
    ),
}


@pytest.fixture(scope="module")
def variant_reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    for mistake, (reference, edits) in VARIANTS.items():
        source = (grade_fixture(reference)).read_text()
        for old, new in edits:
            assert source.count(old) == 1, (mistake, old)
            source = source.replace(old, new)
        (folder / f"{mistake}.py").write_text(source)
    reports = grade_dir(folder, seed=6, config=SandboxConfig(timeout=10))
    return {Path(r.path).stem: r for r in reports}


@pytest.mark.parametrize("mistake", sorted(VARIANTS))
def test_every_other_mistake_is_named(variant_reports, mistake):
    report = variant_reports[mistake]
    assert not report.passed and report.problem is None
    named = {c.mistake for c in failed(report)}
    assert mistake in named, [c.to_dict() for c in failed(report)]


def test_every_mistake_message_has_a_broken_solution():
    keys = {k.split(".", 1)[1] for k in MESSAGES if k.startswith("mistake.")}
    assert keys == {m for _, m in REQUIRED} | set(VARIANTS)


def test_every_message_exists_in_both_languages():
    for key, (en, zh) in MESSAGES.items():
        assert en and zh and en != zh or key.startswith("word.pass"), key


# --------------------------------------------------------------------------- untrusted code


def test_hanging_submission_is_stopped_and_reported(capsys):
    code = main(["grade", str(grade_fixture("hang_forward.py")), "--seed", "1", "--timeout", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "timed out after 2 s while running SoftmaxWithLoss.forward" in out
    assert "not run: the submission stopped earlier" in out


@pytest.mark.parametrize(
    "name, expected",
    [
        ("crash_raise.py", "MeanSquaredError.forward raised RuntimeError: not done yet (line 31)"),
        ("crash_exit.py", "MeanSquaredError.forward called sys.exit(3)"),
        ("crash_memory.py", "MeanSquaredError.forward ran out of memory (the limit is 512 MiB)"),
    ],
)
def test_crash_during_a_check_fails_that_check_only(name, expected, capsys):
    code = main(["grade", str(grade_fixture(name)), "--seed", "1", "--timeout", "5", "--memory", "512"])
    out = capsys.readouterr().out
    assert code == 1 and expected in out
    assert "PASS  SoftmaxWithLoss.forward" in out  # the other class was still graded
    assert "6 of 11 checks passed" in out


LEVEL1 = (grade_fixture("level1_reference.py")).read_text()


@pytest.mark.parametrize(
    "prefix, expected",
    [
        ("import sys\nsys.exit(0)\n", "the top-level code of your file called sys.exit(0)"),
        ("import torch_that_is_not_there\n", "there is no module named 'torch_that_is_not_there'"),
        ("raise ValueError('boom')\n", "importing your file failed: ValueError: boom (line 1)"),
        ("while True:\n    pass\n", "timed out after 2 s while running the top-level code of your file"),
        ("import os\nos._exit(7)\n", "the process ended (exit status 7)"),
        ("def softmax(x:\n", "your file does not compile"),
    ],
)
def test_broken_file_is_one_failed_check(tmp_path, prefix, expected):
    path = tmp_path / "submission.py"
    path.write_text(prefix + LEVEL1)
    report = grade_file(path, seed=1, config=FAST)
    assert not report.passed and report.exercises == () and report.counts == (0, 1)
    assert expected in report.problem.reason.text("en")


@pytest.mark.skipif(sys.platform != "linux", reason="a segmentation fault by ctypes, Linux only")
def test_segfault_is_reported(tmp_path):
    path = tmp_path / "segv.py"
    path.write_text(
        LEVEL1.replace(
            "        loss = 0.5 * np.sum((y - t) ** 2)", "        import ctypes\n        ctypes.string_at(0)"
        )
    )
    report = grade_file(path, seed=1, config=FAST)
    reasons = {c.reason.text("en") for c in failed(report)}
    assert any("killed by SIGSEGV while running MeanSquaredError.forward" in r for r in reasons)


def test_learners_file_is_never_modified(tmp_path):
    path = tmp_path / "mine.py"
    shutil.copy(grade_fixture("level2_reference.py"), path)
    before = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    assert grade_file(path, seed=2, config=FAST).passed
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.py"]  # no __pycache__, no stray files


def test_sandbox_limits_are_validated():
    with pytest.raises(ValueError, match="timeout"):
        SandboxConfig(timeout=0)
    with pytest.raises(ValueError, match="memory_mb"):
        SandboxConfig(memory_mb=10)


# --------------------------------------------------------------------------- exercise list / show / start


def test_exercise_list_names_every_exercise(capsys):
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in catalog.names())
    assert main(["exercise", "list", "--lang", "zh"]) == 0
    assert "损失函数的前向传播" in capsys.readouterr().out


def test_exercise_start_writes_template_and_statement_and_refuses_to_overwrite(tmp_path, capsys):
    folder = tmp_path / "work"
    assert main(["exercise", "start", "loss-forward", str(folder), "--lang", "zh"]) == 0
    code, statement = folder / "loss_forward.py", folder / "loss_forward.md"
    assert "########## Begin ##########" in code.read_text() and "def softmax(x):" in code.read_text()
    assert "SoftmaxWithLoss" in statement.read_text(encoding="utf-8")
    assert "平均值" in statement.read_text(encoding="utf-8")
    capsys.readouterr()
    code.write_text("# my work\n")
    assert main(["exercise", "start", "loss-forward", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "already exists; pass --force" in err and len(err.strip().splitlines()) == 1
    assert code.read_text() == "# my work\n"
    assert main(["exercise", "start", "loss-forward", str(folder), "--force"]) == 0
    assert "########## Begin ##########" in code.read_text()
    assert "mean over the batch" in statement.read_text(encoding="utf-8")


def test_every_template_is_detected_and_fails_cleanly(tmp_path):
    for exercise in catalog.EXERCISES:
        path = tmp_path / exercise.filename
        path.write_text(exercise.template())
        assert catalog.detect(path.read_text()) == [exercise.name]
        assert "########## End ##########" in exercise.statement("en") or "Begin" in exercise.statement("en")
        assert exercise.statement("zh") != exercise.statement("en")
    reports = grade_dir(tmp_path, seed=0, config=SandboxConfig(timeout=10))
    for report in reports:
        assert report.problem is None and not report.passed
        assert all(c.reason is not None for c in failed(report))


def test_exercise_show_and_unknown_name(capsys):
    assert main(["exercise", "show", "numerical-gradient"]) == 0
    assert "central difference" in capsys.readouterr().out
    assert main(["exercise", "show", "no-such-thing"]) == 2
    assert "no exercise 'no-such-thing'" in capsys.readouterr().err


# --------------------------------------------------------------------------- grade DIR, --report, --json


def test_grade_dir_prints_a_table_and_writes_the_csv_report(tmp_path, capsys):
    for name in ("level1_reference.py", "level1_mse_no_half.py", "hang_forward.py"):
        shutil.copy(grade_fixture(name), tmp_path / name)
    (tmp_path / "notes.py").write_text("print('hello')\n")
    report = tmp_path / "marks.csv"
    code = main(["grade", str(tmp_path), "--seed", "2", "--timeout", "2", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["file", "exercise", "passed", "checks", "score", "result", "first", "failure"]
    assert "1 of 4 files pass every check (seed 2)" in out
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    by_file = {r["file"]: r for r in rows}
    assert by_file["level1_reference.py"]["result"] == "PASS" and by_file["level1_reference.py"]["passed"] == "11"
    assert by_file["level1_reference.py"]["score"] == by_file["level1_reference.py"]["max_score"] == "11"
    assert by_file["hang_forward.py"]["score"] == "0" and float(by_file["hang_forward.py"]["max_score"]) > 0
    assert by_file["level1_reference.py"]["student"] == "level1_reference"
    assert mistake_en("mse_no_half") in by_file["level1_mse_no_half.py"]["first_failure"]
    assert "timed out" in by_file["hang_forward.py"]["first_failure"]
    assert "could not tell which exercise" in by_file["notes.py"]["first_failure"]


def test_json_output_parses(tmp_path, capsys):
    assert main(["grade", str(grade_fixture("level2_wrong_sign.py")), "--seed", "5", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False and data["seed"] == 5
    assert data["checks_total"] == 17 and data["checks_passed"] < 17
    checks = data["exercises"][0]["checks"]
    assert {c["mistake"] for c in checks if not c["passed"]} == {"grad_sign"}
    shutil.copy(grade_fixture("level1_reference.py"), tmp_path / "a.py")
    assert main(["grade", str(tmp_path), "--seed", "5", "--json", "--lang", "zh"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and data[0]["passed"] and "平台的测试" in data[0]["exercises"][0]["checks"][0]["case"]


def test_same_seed_same_verdicts():
    one = grade_file(grade_fixture("level1_mse_mean.py"), seed=11, config=FAST)
    two = grade_file(grade_fixture("level1_mse_mean.py"), seed=11, config=FAST)
    assert [c.to_dict() for e in one.exercises for c in e.checks] == [
        c.to_dict() for e in two.exercises for c in e.checks
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["grade", "no/such/file.py"], "does not exist"),
        (["grade", "FIXTURE", "--timeout", "0"], "timeout must be"),
        (["grade", "FIXTURE", "--memory", "16"], "memory_mb must be"),
    ],
)
def test_usage_mistakes_exit_2_with_one_line(argv, message, capsys):
    argv = [str(grade_fixture("level1_reference.py")) if a == "FIXTURE" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_undetected_single_file_is_a_usage_mistake(tmp_path, capsys):
    path = tmp_path / "other.py"
    path.write_text("x = 1\n")
    assert main(["grade", str(path)]) == 2
    assert "pass --exercise NAME" in capsys.readouterr().err


def test_the_learners_guide_shows_a_real_session(tmp_path, monkeypatch, capsys):
    """The learners' guide's session, replayed: every output it shows is what the commands print."""
    readme = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "learners.md").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    outputs = []
    assert main(["exercise", "list"]) == 0
    outputs.append(capsys.readouterr().out)
    assert main(["exercise", "start", "loss-forward", "work"]) == 0
    outputs.append(capsys.readouterr().out)
    code = Path("work/loss_forward.py")
    first = code.read_text().replace(
        "        ########## Begin ##########\n        pass\n        ########## End ##########\n\n\nclass Mean",
        "        ########## Begin ##########\n        y = softmax(x)\n"
        "        loss = -np.sum(np.log(y[np.arange(x.shape[0]), t] + 1e-7))\n"
        "        self.loss = loss\n        return loss\n        ########## End ##########\n\n\nclass Mean",
        1,
    )
    first = first.replace(
        "        ########## Begin ##########\n        pass\n",
        "        ########## Begin ##########\n        loss = 0.5 * np.sum((y - t) ** 2)\n"
        "        self.loss = loss\n        return loss\n",
        1,
    )
    code.write_text(first)
    assert main(["grade", str(code), "--seed", "42"]) == 1
    outputs.append(capsys.readouterr().out)
    code.write_text(first.replace(" + 1e-7))\n", " + 1e-7)) / x.shape[0]\n"))
    assert main(["grade", str(code), "--seed", "42"]) == 0
    outputs.append(capsys.readouterr().out)
    for out in outputs:
        assert out.strip() in readme, out
