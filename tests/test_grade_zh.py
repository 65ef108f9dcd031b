"""The judge in Chinese: full-width punctuation, the Chinese templates, the commands' lines under --lang zh."""

from __future__ import annotations

import ast
import io
import json
import re
import string
import tokenize
from importlib import resources

import pytest

from losslab.cli import main
from losslab.grade import catalog
from losslab.grade._i18n import MESSAGES
from losslab.grade.report import _width

GRADE = resources.files("losslab.grade")
SCAFFOLD = GRADE.joinpath("templates", "new")
FOLDERS = [e.folder for e in catalog.EXERCISES] + [SCAFFOLD]

HAN = "\u3400-\u4dbf\u4e00-\u9fff"
CJK = HAN + "\u3000-\u303f\uff00-\uffef"  # and the full-width punctuation
# a parenthesis beside a full-width mark may close code, as in "sum(x)，"; a comma or a colon may not
HALF_WIDTH_NEXT_TO_CJK = re.compile(rf"(?<=[{HAN}])[()]|[()](?=[{HAN}])|(?<=[{CJK}])[,:;?!]|[,:;?!](?=[{CJK}])")


def half_width_slips(text: str) -> list[str]:
    """Each half-width ( ) , : ; ? ! that touches a Chinese character, with the characters beside it."""
    return [text[max(m.start() - 1, 0) : m.end() + 1] for m in HALF_WIDTH_NEXT_TO_CJK.finditer(text)]


def prose(markdown: str) -> str:
    """The Markdown without its code: fenced and indented code blocks and inline code removed."""
    markdown = re.sub(r"^```.*?^```[^\n]*$", "", markdown, flags=re.M | re.S)
    markdown = re.sub(r"^(?: {4}|\t).*$", "", markdown, flags=re.M)
    return re.sub(r"`[^`\n]*`", "", markdown)


def test_the_rule_catches_half_width_punctuation_and_spares_code():
    assert half_width_slips("损失函数的前向传播(第 1 关):SoftmaxWithLoss") == ["播(第", "关):"]
    assert half_width_slips("损失函数的前向传播（第 1 关）:SoftmaxWithLoss") == ["）:S"]
    assert half_width_slips("损失函数的前向传播（第 1 关）：SoftmaxWithLoss") == []
    assert half_width_slips("是不是乘了两次 0.5?") == []  # a space or a digit is not Chinese: see the next line
    assert half_width_slips("是不是忘了?") and half_width_slips("应为 1,实际")
    code_block = "用 `y[np.arange(B), t]` 取出。\n\n    dx = (y - t) / B        形状 (B, C),dtype\n"
    assert half_width_slips(prose(code_block)) == []
    assert half_width_slips(prose("```\nx = 1  # 注释,逗号\n```\n说明:这里")) == ["明:这"]


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_chinese_messages_use_full_width_punctuation(key):
    assert half_width_slips(MESSAGES[key][1]) == [], key


def _fields(text: str) -> list[tuple[str, str]]:
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(text) if name is not None)


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_takes_the_same_parameters_in_both_languages(key):
    en, zh = MESSAGES[key]
    if key == "case.custom":  # a teacher's case: its English and its Chinese wording
        assert (_fields(en), _fields(zh)) == ([("en", "")], [("zh", "")])
    else:
        assert _fields(en) == _fields(zh), key


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_chinese_titles_and_statements_use_full_width_punctuation(folder):
    title = json.loads(folder.joinpath("exercise.json").read_text(encoding="utf-8"))["title"]["zh"]
    assert half_width_slips(title) == []
    statement = folder.joinpath("statement.zh.md").read_text(encoding="utf-8")
    assert half_width_slips(prose(statement)) == []


def test_the_chinese_grading_note_uses_full_width_punctuation():
    note = GRADE.joinpath("templates", "_grading.zh.md").read_text(encoding="utf-8")
    assert re.search(r"[，：；（）]", prose(note))  # there is prose left to check
    assert half_width_slips(prose(note)) == []


def test_the_titles_seen_in_chinese_are_the_fixed_ones():
    assert (
        catalog.BUILTIN.get("loss-forward").title("zh")
        == "损失函数的前向传播（第 1 关）：SoftmaxWithLoss 与 MeanSquaredError"
    )


# --------------------------------------------------------------------------- the Chinese templates


def _code(source: str) -> str:
    """The module's syntax tree without its docstrings (comments are not in the tree)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _comments_and_docstrings(source: str) -> list[str]:
    found = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                found.append(doc)
    return found


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_each_template_has_a_chinese_twin_with_the_same_code(folder):
    en = folder.joinpath("template.py").read_text(encoding="utf-8")
    zh = folder.joinpath("template.zh.py").read_text(encoding="utf-8")
    compile(zh, "template.zh.py", "exec")
    assert catalog.definitions(zh) == catalog.definitions(en)
    assert _code(zh) == _code(en)
    assert en != zh and zh.count("##########") == en.count("##########")
    for marker in ("########## Begin ##########", "########## End ##########"):
        assert [line.strip() for line in zh.splitlines() if marker in line] == [
            line.strip() for line in en.splitlines() if marker in line
        ]
    texts = _comments_and_docstrings(zh)
    chinese = [t for t in texts if re.search(r"[\u4e00-\u9fff]", t)]
    assert chinese, "the comments and docstrings are translated"
    assert all(half_width_slips(t) == [] for t in texts), [half_width_slips(t) for t in texts]
    # the English words of the English template's comments are gone (code names may stay)
    assert "Write your code between" not in zh and "Returns:" not in zh and "Given" not in zh


def test_template_picks_the_language_and_falls_back_to_english(tmp_path, capsys):
    exercise = catalog.BUILTIN.get("sgd-step")
    assert exercise.template() == exercise.template("en") == exercise.folder.joinpath("template.py").read_text("utf-8")
    assert exercise.template("zh") == exercise.folder.joinpath("template.zh.py").read_text("utf-8")
    assert exercise.template_file("zh") == "template.zh.py" and exercise.template_file("en") == "template.py"
    with pytest.raises(ValueError, match="lang must be one of"):
        exercise.template("fr")
    assert main(["exercise", "new", "mae-loss", str(tmp_path)]) == 0  # English: no Chinese template written
    capsys.readouterr()
    folder = tmp_path / "mae-loss"
    assert not (folder / "template.zh.py").exists()
    only_english = catalog.load(folder)
    assert only_english.template_file("zh") == "template.py"
    assert only_english.template("zh") == (folder / "template.py").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the commands under --lang zh


def test_exercise_start_in_chinese_writes_the_chinese_template_and_says_so_in_chinese(tmp_path, capsys):
    folder = tmp_path / "work"
    assert main(["exercise", "start", "loss-backward", str(folder), "--lang", "zh"]) == 0
    out = capsys.readouterr().out.splitlines()
    code = folder / "loss_backward.py"
    assert code.read_text(encoding="utf-8") == catalog.BUILTIN.get("loss-backward").template("zh")
    assert "已经给出" in code.read_text(encoding="utf-8") and "Given" not in code.read_text(encoding="utf-8")
    assert out == [
        f"已写入 {code}（模板：在 Begin 和 End 之间填写代码）",
        f"已写入 {folder / 'loss_backward.md'}（题目）",
        f"下一步：编辑 {code}，然后运行：losslab grade {code} --lang zh",
    ]
    assert main(["exercise", "start", "loss-backward", str(folder), "--force"]) == 0
    assert code.read_text(encoding="utf-8") == catalog.BUILTIN.get("loss-backward").template("en")
    assert capsys.readouterr().out.startswith(f"wrote {code}  (the template: fill in the code between Begin and End)")


def test_exercise_list_in_chinese_labels_the_sections_and_keeps_the_titles_aligned(capsys):
    assert main(["exercise", "list", "--lang", "zh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(catalog.EXERCISES)
    assert "ch." not in "".join(lines)
    by_name = {line.split()[0]: line for line in lines}
    assert "  第 4.2、5.6 节  " in by_name["loss-backward"] and "  第 4.2 节  " in by_name["loss-forward"]
    starts = {_width(line[: line.index(e.title("zh"))]) for line, e in zip(lines, catalog.EXERCISES)}
    assert len(starts) == 1  # every title starts at the same column, Chinese labels counted 2 columns a character


def test_grade_dir_in_chinese_prints_a_chinese_aligned_table_and_summary(tmp_path, capsys):
    exercise = catalog.BUILTIN.get("sgd-step")
    (tmp_path / "good.py").write_text(exercise.solution(), encoding="utf-8")
    (tmp_path / "todo.py").write_text(exercise.template("zh"), encoding="utf-8")
    assert main(["grade", str(tmp_path), "--seed", "5", "--timeout", "10", "--lang", "zh"]) == 1
    lines = capsys.readouterr().out.splitlines()
    head, rule, *rows = lines[:4]
    assert head.split() == ["文件", "练习", "通过数", "检查数", "得分", "结果", "第一项未通过的检查"]
    assert lines[-1] == "2 个文件中有 1 个通过了全部检查（随机种子 5）" and lines[-2] == ""
    # each column starts where its rule of dashes starts, in display columns
    rule_starts = [m.start() for m in re.finditer(r"-+", rule)]
    head_starts = [_width(head[: m.start()]) for m in re.finditer(r"\S+", head)]
    assert head_starts == rule_starts
    for row in rows:
        starts = [_width(row[: m.start()]) for m in re.finditer(r"(?:(?<=  )|^)\S", row)]
        assert starts == rule_starts[: len(starts)]
    assert "通过" in rows[0] and "失败" in rows[1]


def test_exercise_new_and_test_in_chinese(tmp_path, capsys):
    assert main(["exercise", "new", "mae-loss", str(tmp_path), "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "mae-loss"
    assert (folder / "template.zh.py").read_text(encoding="utf-8") == SCAFFOLD.joinpath("template.zh.py").read_text(
        encoding="utf-8"
    )
    assert out.startswith(f"已写入 {folder}/：") and "template.zh.py" in out.splitlines()[0]
    assert f"下一步：修改这些文件，然后运行：losslab exercise test {folder} --lang zh" in out
    assert main(["exercise", "test", str(folder), "--lang", "zh"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "solution.py：通过（得 5 分，满分 5 分），符合预期",
        "template.py：未通过（得 1 分，满分 5 分），符合预期",
        "template.zh.py：未通过（得 1 分，满分 5 分），符合预期",
        "mae-loss：4 项检查，共 5 分",
    ]
