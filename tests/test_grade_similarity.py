"""``losslab grade DIR --similarity``: planted copies are found, independent solutions are not paired.

The copies are edits of the built-in exercises' reference solutions (renamed variables,
reordered definitions, other comments, other whitespace); the independent solutions are
five ways of filling in the loss-forward template. Only the CLI tests grade (a small folder).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("copydetect")

from _support import grade_fixture

from losslab.cli import main
from losslab.grade import catalog
from losslab.grade.similarity import THRESHOLD, format_text, similar_pairs, to_json

LEVEL1 = grade_fixture("level1_reference.py").read_text(encoding="utf-8")
LEVEL2 = grade_fixture("level2_reference.py").read_text(encoding="utf-8")
TEMPLATE = catalog.get("loss-forward").template()


# --------------------------------------------------------------------------- planted copies


def renamed(source: str) -> str:
    """Local variables renamed (attributes such as self.loss, which the exercise requires, kept)."""
    names = {"batch_size": "rows", "loss": "value", "y": "probs", "dx": "grad"}
    return re.sub(r"(?<![.\w])(batch_size|loss|y|dx)\b", lambda m: names[m.group(1)], source)


def blocks(source: str) -> list[str]:
    """The top-level blocks of a file: the header (comments, imports), then each def and class."""
    return re.split(r"\n\n\n(?=def |class )", source.rstrip("\n"))


def reordered(source: str) -> str:
    """The classes in the other order, the softmax helper moved last."""
    header, helper, *classes = blocks(source)
    return "\n\n\n".join([header, *reversed(classes), helper]) + "\n"


def recommented(source: str) -> str:
    """Every comment removed (the Begin / End markers too), other comments added."""
    lines = [re.sub(r"\s*#.*$", "", line) for line in source.splitlines()]
    out = []
    for line in lines:
        if line.strip().startswith(("loss =", "dx =", "return")):
            out.append(re.match(r"\s*", line).group(0) + "# my own step, worked out on paper")
        if line.strip() or not out or out[-1].strip():
            out.append(line + ("  # keep it" if line.strip().startswith("self.") else ""))
    return "\n".join(out) + "\n"


def respaced(source: str) -> str:
    """Indented by 2 instead of 4, no spaces around = and after commas, blank lines moved."""
    out = []
    for line in source.splitlines():
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            body = line.strip().replace(" = ", "=").replace(", ", ",").replace(" - ", "-")
            out.append(" " * (indent // 2) + body)
            if body.startswith(("def ", "class ")):
                out.append("")
    return "\n".join(out) + "\n"


EDITS = {"renamed": renamed, "reordered": reordered, "recommented": recommented, "respaced": respaced}


@pytest.mark.parametrize("level, original", [("level1", LEVEL1), ("level2", LEVEL2)])
@pytest.mark.parametrize("edit", EDITS)
def test_each_planted_copy_is_paired_with_its_original(level, original, edit):
    copy = EDITS[edit](original)
    assert copy != original
    compile(copy, f"{edit}.py", "exec")  # still a Python solution
    pairs = similar_pairs({"original.py": original, "copy.py": copy})
    assert [(p.a, p.b) for p in pairs] == [("copy.py", "original.py")]
    pair = pairs[0]
    # all of the original is in the copy (a copy that renames the given code too has more code of its own)
    assert pair.similarity_b >= 0.8 and pair.similarity_a >= THRESHOLD, (pair.similarity_a, pair.similarity_b)
    assert pair.fragments
    # the shared fragments point at the learner's code in both files, by line
    key_line = "batch_size = y.shape[0]" if level == "level1" else "dx = self.y.copy()"
    at_b = original.splitlines().index(next(x for x in original.splitlines() if x.strip() == key_line)) + 1
    hits = [f for f in pair.fragments if f.lines_b[0] <= at_b <= f.lines_b[1]]
    assert hits and key_line in hits[0].text_b
    copied = hits[0].text_a.splitlines()
    assert len(copied) == hits[0].lines_a[1] - hits[0].lines_a[0] + 1
    assert copied == copy.splitlines()[hits[0].lines_a[0] - 1 : hits[0].lines_a[1]]


def test_each_file_ignores_the_template_of_its_own_exercise():
    # level 2's template gives level 1's answer (the forward pass): a level-2 file is not paired for it,
    # while a level-1 copy next to it still is
    copy = renamed(reordered(LEVEL1))
    pairs = similar_pairs({"ann.py": LEVEL1, "bob.py": copy, "cat.py": LEVEL2})
    assert [(p.a, p.b) for p in pairs] == [("ann.py", "bob.py")]


# --------------------------------------------------------------------------- independent solutions


def filled(softmax_loss: str, mse: str, helper: str = "") -> str:
    """The loss-forward template with its two ``pass`` lines replaced (and ``helper`` above the classes)."""
    head, first, second = TEMPLATE.split("        pass\n")
    source = head + softmax_loss + first + mse + second
    if helper:
        source = source.replace("\n\n\nclass SoftmaxWithLoss:", f"\n\n\n{helper}\n\n\nclass SoftmaxWithLoss:", 1)
    return source


INDEPENDENT = {
    # loops, a row at a time, log-sum-exp by hand
    "loops.py": filled(
        """\
        batch = x.shape[0]
        total = 0.0
        for i in range(batch):
            row = x[i] - x[i].max()
            log_norm = np.log(np.exp(row).sum())
            total += log_norm - row[t[i]]
        self.loss = total / batch
        return self.loss
""",
        """\
        s = 0.0
        for a, b in zip(y.ravel(), t.ravel()):
            s += (a - b) ** 2
        self.loss = s / 2
        return self.loss
""",
    ),
    # vectorised log-softmax, fancy indexing
    "log_softmax.py": filled(
        """\
        shifted = x - x.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(t)
        self.loss = -log_probs[np.arange(n), t].mean()
        return self.loss
""",
        """\
        diff = y - t
        self.loss = 0.5 * np.sum(diff * diff)
        return self.loss
""",
    ),
    # the given softmax, then log; one-hot labels from np.eye
    "one_hot.py": filled(
        """\
        y = softmax(x)
        one_hot = np.eye(x.shape[1])[t]
        loss = -np.sum(one_hot * np.log(y + 1e-7)) / x.shape[0]
        self.loss = loss
        return loss
""",
        """\
        loss = np.sum(np.square(y - t)) / 2
        self.loss = float(loss)
        return self.loss
""",
    ),
    # a helper function of the learner's own
    "helper.py": filled(
        """\
        probs = softmax(x)
        self.loss = _mean_nll(probs, t)
        return self.loss
""",
        """\
        err = (y - t).ravel()
        self.loss = 0.5 * float(err @ err)
        return self.loss
""",
        helper='''def _mean_nll(probs, labels):
    """Mean negative log-likelihood of the correct classes."""
    picked = np.take_along_axis(probs, labels.reshape(-1, 1), axis=1)
    return float(np.mean(-np.log(picked + 1e-7)))''',
    ),
    # log-sum-exp with the row maximum, labels picked with range()
    "logsumexp.py": filled(
        """\
        m = np.max(x, axis=1)
        lse = m + np.log(np.sum(np.exp(x - m[:, None]), axis=1))
        correct = x[range(x.shape[0]), t]
        loss = np.mean(lse - correct)
        self.loss = loss
        return loss
""",
        """\
        loss = ((y - t) ** 2).sum() * 0.5
        self.loss = loss
        return loss
""",
    ),
}


def test_the_independent_solutions_are_correct_and_different():
    import numpy as np

    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(4, 5)), rng.integers(0, 5, size=4)
    y, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    shifted = x - x.max(axis=1, keepdims=True)
    expected = -np.mean(shifted[np.arange(4), t] - np.log(np.exp(shifted).sum(axis=1)))
    for name, source in INDEPENDENT.items():
        assert catalog.detect(source) == ["loss-forward"], name
        space: dict = {}
        exec(compile(source, name, "exec"), space)
        assert space["SoftmaxWithLoss"]().forward(x, t) == pytest.approx(expected, abs=1e-6), name
        assert space["MeanSquaredError"]().forward(y, target) == pytest.approx(0.5 * np.sum((y - target) ** 2))
    assert len(set(INDEPENDENT.values())) == len(INDEPENDENT)


def test_no_pair_among_independent_solutions_of_the_same_template():
    assert similar_pairs(INDEPENDENT) == []


def test_a_copy_hidden_among_independent_solutions_is_the_only_pair():
    sources = dict(INDEPENDENT, **{"copied.py": recommented(renamed(INDEPENDENT["log_softmax.py"]))})
    pairs = similar_pairs(sources)
    assert [(p.a, p.b) for p in pairs] == [("copied.py", "log_softmax.py")]


# --------------------------------------------------------------------------- the template is ignored


def test_the_template_is_what_is_ignored():
    # the same template, filled in differently: alike only in the template's lines
    one, two = INDEPENDENT["one_hot.py"], INDEPENDENT["logsumexp.py"]
    assert similar_pairs({"one.py": one, "two.py": two}) == []  # templates of the exercises detected
    assert similar_pairs({"one.py": one, "two.py": two}, template=TEMPLATE, exercises=()) == []
    assert similar_pairs({"one.py": one, "two.py": two}, exercises=["loss-forward"]) == []
    unfiltered = similar_pairs({"one.py": one, "two.py": two}, exercises=())  # nothing ignored
    assert [(p.a, p.b) for p in unfiltered] == [("one.py", "two.py")]


def test_fragments_of_a_copy_are_the_learners_code_not_the_template():
    original = INDEPENDENT["loops.py"]
    pairs = similar_pairs({"a.py": original, "b.py": renamed(original)})
    assert len(pairs) == 1 and pairs[0].similarity >= 0.8
    template_lines = {line.strip() for line in TEMPLATE.splitlines()}
    for fragment in pairs[0].fragments:
        own = [line for line in fragment.text_a.splitlines() if line.strip() not in template_lines]
        assert own, fragment.text_a


def test_a_teachers_own_template_is_ignored():
    given = (
        "import numpy as np\n\n\ndef standardise(a):\n    mean = a.mean(axis=0)\n    std = a.std(axis=0)\n"
        "    return (a - mean) / (std + 1e-8)\n\n\ndef fit(a, b):\n    pass\n"
    )
    one = given.replace("    pass\n", "    a = standardise(a)\n    return np.linalg.lstsq(a, b, rcond=None)[0]\n")
    two = given.replace(
        "    pass\n",
        "    w = np.zeros(a.shape[1])\n    for _ in range(100):\n"
        "        w -= 0.1 * a.T @ (a @ w - b) / len(b)\n    return w\n",
    )
    assert [(p.a, p.b) for p in similar_pairs({"one.py": one, "two.py": two})] == [("one.py", "two.py")]
    assert similar_pairs({"one.py": one, "two.py": two}, template=given) == []


# --------------------------------------------------------------------------- notebooks, report, options


def notebook(source: str) -> bytes:
    nbformat = pytest.importorskip("nbformat")
    cells = [nbformat.v4.new_code_cell(block) for block in blocks(source)]
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode("utf-8")


def test_a_notebook_copy_is_found_and_located_by_cell():
    pairs = similar_pairs({"copy.ipynb": notebook(renamed(LEVEL1)), "original.py": LEVEL1.encode()})
    assert [(p.a, p.b) for p in pairs] == [("copy.ipynb", "original.py")]
    assert all(f.where_a.startswith("cell ") and f.where_b.startswith("line") for f in pairs[0].fragments)
    assert similar_pairs({"broken.ipynb": b"{not json", "original.py": LEVEL1}) == []


def test_text_and_json_reports():
    pairs = similar_pairs({"ann.py": LEVEL1, "bob.py": renamed(LEVEL1)})
    text = format_text(pairs, files=2)
    first = pairs[0].fragments[0]
    assert "ann.py <-> bob.py: 100% of ann.py is in bob.py" in text
    assert f"ann.py {first.where_a}  ~  bob.py {first.where_b}" in text
    assert "rows = probs.shape[0]" in text and "not a verdict" in text
    short = format_text(pairs, max_lines=1)
    assert "more lines" in short and len(short) < len(text)
    assert "不是结论" in format_text(pairs, lang="zh")
    assert format_text([], files=3) == "No similar submissions among 3 files (threshold 50%)."
    data = json.loads(json.dumps(to_json(pairs)))
    assert data[0]["a"] == "ann.py" and data[0]["similarity_a"] == pytest.approx(pairs[0].similarity_a, abs=1e-4)
    assert data[0]["fragments"][0]["b"]["lines"] == list(first.lines_b)


def test_threshold_is_met_by_either_direction_and_k_is_the_shortest_match():
    # with nothing ignored, independent solutions share the template: pairs with similarities below 1
    pairs = similar_pairs(INDEPENDENT, exercises=(), threshold=0.01)
    pair = max(pairs, key=lambda p: abs(p.similarity_a - p.similarity_b))
    assert pair.similarity_a != pair.similarity_b and pair.similarity < 1
    kept = similar_pairs(
        {pair.a: INDEPENDENT[pair.a], pair.b: INDEPENDENT[pair.b]}, exercises=(), threshold=pair.similarity
    )
    assert [(p.a, p.b) for p in kept] == [(pair.a, pair.b)]
    assert (
        similar_pairs(
            {pair.a: INDEPENDENT[pair.a], pair.b: INDEPENDENT[pair.b]}, exercises=(), threshold=pair.similarity + 1e-6
        )
        == []
    )
    # a very short k finds the idioms every solution shares
    assert similar_pairs(INDEPENDENT, k=4)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"threshold": 0}, r"threshold must be a number in \(0, 1\].*got 0"),
        ({"threshold": 1.5}, r"threshold .*got 1.5"),
        ({"threshold": "high"}, r"threshold .*got 'high'"),
        ({"k": 0}, r"k must be an integer of at least 1, got 0"),
        ({"window": 2.5}, r"window must be an integer of at least 1, got 2.5"),
        ({"exercises": ["no-such-thing"]}, r"no exercise 'no-such-thing'"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        similar_pairs({"a.py": LEVEL1}, **options)


def test_bad_sources_are_named():
    with pytest.raises(TypeError, match="sources must be a mapping.*got list"):
        similar_pairs([LEVEL1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sources\['a.py'\] must be str or bytes, got int"):
        similar_pairs({"a.py": 3})  # type: ignore[dict-item]


def test_without_copydetect_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "copydetect", None)
    with pytest.raises(ImportError, match=r"pip install 'losslab\[classroom\]'"):
        similar_pairs({"a.py": LEVEL1, "b.py": LEVEL1})


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def classroom(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ann.py").write_text(LEVEL1, encoding="utf-8")
    (folder / "bob.py").write_text(respaced(renamed(LEVEL1)), encoding="utf-8")
    (folder / "cat.py").write_text(INDEPENDENT["one_hot.py"], encoding="utf-8")
    shutil.copy(grade_fixture("level1_mse_no_half.py"), folder / "dan.py")  # fails one check
    return folder


def test_cli_prints_the_report_after_the_table_and_exits_with_the_grading_status(classroom, capsys):
    assert main(["grade", str(classroom), "--similarity", "--seed", "1", "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    table_end = out.index("3 of 4 files pass every check (seed 1)")
    report = out[table_end:]
    assert "ann.py <-> bob.py" in report and "ann.py <-> dan.py" in report
    assert "cat.py" not in report
    # without --similarity the output is the table alone
    assert main(["grade", str(classroom), "--seed", "1", "--timeout", "5"]) == 1
    assert "Similar submissions" not in capsys.readouterr().out


def test_cli_json_with_similarity_is_an_object(classroom, capsys):
    (classroom / "dan.py").unlink()
    assert (
        main(
            [
                "grade",
                str(classroom),
                "--similarity",
                "--json",
                "--seed",
                "1",
                "--timeout",
                "5",
                "--similarity-threshold",
                "0.9",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"reports", "similarity"}
    assert [Path(r["file"]).name for r in data["reports"]] == ["ann.py", "bob.py", "cat.py"]
    assert [(p["a"], p["b"]) for p in data["similarity"]] == [("ann.py", "bob.py")]


def test_cli_template_file_is_ignored(tmp_path, capsys):
    given = (
        "import numpy as np\n\n\ndef standardise(a):\n    mean = a.mean(axis=0)\n    std = a.std(axis=0)\n"
        "    return (a - mean) / (std + 1e-8)\n\n\ndef fit(a, b):\n    pass\n"
    )
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "one.py").write_text(given.replace("    pass\n", "    return np.linalg.pinv(a) @ b\n"))
    (folder / "two.py").write_text(given.replace("    pass\n", "    w = a.T @ b\n    return w / len(b)\n"))
    (tmp_path / "given.py").write_text(given)
    main(["grade", str(folder), "--similarity", "--timeout", "5"])
    assert "one.py <-> two.py" in capsys.readouterr().out
    main(["grade", str(folder), "--similarity", "--template", str(tmp_path / "given.py"), "--timeout", "5"])
    assert "No similar submissions among 2 files" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["grade", "FILE", "--similarity"], "--similarity compares the submissions of a directory"),
        (["grade", "DIR", "--similarity-threshold", "0.5"], "go with --similarity"),
        (["grade", "DIR", "--similarity", "--similarity-threshold", "2"], "threshold must be a number in (0, 1]"),
        (["grade", "DIR", "--similarity", "--template", "no/such/template.py"], "no such file"),
    ],
)
def test_cli_usage_mistakes_exit_2_before_grading(argv, message, classroom, capsys):
    argv = [str(classroom / "ann.py") if a == "FILE" else str(classroom) if a == "DIR" else a for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert "file " not in captured.out  # nothing was graded


def test_cli_without_copydetect_says_what_to_install(classroom, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "copydetect", None)
    assert main(["grade", str(classroom), "--similarity"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'losslab[classroom]'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # the isolation line, then the error


def test_every_pair_of_the_independent_solutions_is_compared():
    # the assertion above is not vacuous: each pair has fingerprints left after the template
    from losslab.grade import similarity

    names = sorted(INDEPENDENT)
    for a, b in itertools.combinations(names, 2):
        assert similarity.similar_pairs({a: INDEPENDENT[a], b: INDEPENDENT[b]}, exercises=(), threshold=0.01)


def test_odd_files_are_compared_without_error():
    broken = LEVEL1 + "\ndef unfinished(:\n    '''never closed\n"
    crlf = renamed(LEVEL1).replace("\n", "\r\n").encode("utf-8")
    pairs = similar_pairs(
        {
            "broken.py": broken,
            "crlf.py": crlf,
            "latin.py": b"\xff\xfe" + LEVEL1.encode(),
            "empty.py": "",
            "template.py": TEMPLATE,
            "also_template.py": TEMPLATE,
        }
    )
    names = {(p.a, p.b) for p in pairs}
    assert {("broken.py", "crlf.py"), ("broken.py", "latin.py"), ("crlf.py", "latin.py")} <= names
    assert not any("empty.py" in pair or "template.py" in pair for pair in names)
    crlf_pair = next(p for p in pairs if (p.a, p.b) == ("crlf.py", "latin.py"))
    assert any(f.lines_a == f.lines_b and "rows = probs.shape[0]" in f.text_a for f in crlf_pair.fragments)


def test_a_very_long_source_is_left_out_and_said_so(tmp_path, capsys):
    from losslab.grade.similarity import MAX_CHARS, read_source

    long = LEVEL1 + "# padding\n" * (MAX_CHARS // 10)
    assert similar_pairs({"a.py": LEVEL1, "long.py": long, "b.py": renamed(LEVEL1)})[0].b == "b.py"
    assert all("long.py" not in (p.a, p.b) for p in similar_pairs({"a.py": LEVEL1, "long.py": long}))
    with pytest.raises(ValueError, match=f"more than the {MAX_CHARS} compared"):
        read_source("long.py", long)
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "a.py").write_text(LEVEL1)
    (folder / "long.py").write_text(long)
    main(["grade", str(folder), "--similarity", "--timeout", "5"])
    assert "not compared: long.py (" in capsys.readouterr().out


def test_results_do_not_depend_on_the_hash_seed():
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import test_grade_similarity as t; "
        "from losslab.grade.similarity import similar_pairs, to_json; "
        "print(json.dumps(to_json(similar_pairs(dict(t.INDEPENDENT, copy=t.renamed(t.LEVEL1), "
        "original=t.LEVEL1), threshold=0.05, k=12))))"
    )
    runs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1] and len(runs[0]) > 1
