"""The exercises: one registry that drives ``exercise list``, ``exercise start``, detection and grading.

An exercise is a folder (the nine built-in ones are in ``grade/exercises/``; a teacher's
own are loaded from theirs with ``--exercises DIR``, see :func:`load`)::

    exercise.json        name, chapter, title {en, zh}, defines, and optional points and
                         visibility per check: {"checks": {"<check id>": {"points": 2,
                         "visibility": "hidden"}}}
    statement.en.md      the statement, in English and in Chinese
    statement.zh.md
    template.py          the skeleton the learner fills in (``########## Begin ##########`` ...)
    template.zh.py       optional: the same skeleton with Chinese comments and docstrings
    solution.py          a reference solution (it must pass every check)
    checks.py            make_cases(seed) -> dict; PROBES {name: probe}; judge(cases, probes) ->
                         [Check]; optionally detect(definitions) -> bool

``checks.py`` runs in the judge's process: its probes call the submission's code in
the sandbox (see :mod:`losslab.grade.sandbox`) and its judge compares what came back
with references it computes (:mod:`losslab.grade.kit` builds both for the common
case of functions and methods compared with the reference solution).

Detection reads the file's syntax tree and never runs it:

>>> detect("class SoftmaxWithLoss:\\n    def forward(self, x, t): pass\\nclass MeanSquaredError: pass")
['loss-forward']
>>> detect("class SoftmaxWithLoss:\\n    def forward(self, x, t): pass\\n    def backward(self): pass")
['loss-backward']
>>> detect("def numerical_gradient(f, x): pass\\nclass Relu: pass")
['numerical-gradient', 'relu-backward']
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ._i18n import LANGS

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11


@dataclass(frozen=True)
class Definitions:
    """The top-level functions of a file and its classes with their methods; ``twice``: the names
    defined more than once, with the lines of each definition (the last one is the one that counts)."""

    functions: frozenset[str]
    classes: Mapping[str, frozenset[str]]
    twice: Mapping[str, tuple[int, ...]]

    def has(self, name: str) -> bool:
        """Whether ``name`` (a function, a class, or ``Class.method``) is defined."""
        cls, _, method = name.partition(".")
        if method:
            return method in self.classes.get(cls, ())
        return name in self.functions or name in self.classes


# CPython 3.11 and 3.12 keep the AST converter's recursion depth in state shared by threads: two
# ast.parse calls at once (grade_dir's thread pool) can fail with "AST constructor recursion depth
# mismatch" (python/cpython#106905). One parse at a time.
_PARSE_LOCK = threading.Lock()


def definitions(source: str | bytes) -> Definitions:
    """What ``source`` defines at module level; raises ``SyntaxError`` (or ``ValueError``) if it does not parse."""
    with _PARSE_LOCK:
        try:
            tree = ast.parse(source)
        except RecursionError:  # a file nested past what the parser builds: it does not compile either
            raise SyntaxError("too deeply nested for Python to parse (maximum recursion depth exceeded)") from None
    funcs: set[str] = set()
    classes: dict[str, frozenset[str]] = {}
    lines: dict[str, list[int]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs.add(node.name)
            classes.pop(node.name, None)
        elif isinstance(node, ast.ClassDef):
            funcs.discard(node.name)
            classes[node.name] = frozenset(
                n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
        else:
            continue
        lines.setdefault(node.name, []).append(node.lineno)
    twice = {name: tuple(at) for name, at in lines.items() if len(at) > 1}
    return Definitions(frozenset(funcs), classes, twice)


VISIBILITIES = ("public", "hidden")
NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
FILES = ("exercise.json", "statement.en.md", "statement.zh.md", "template.py", "solution.py", "checks.py")


class ExerciseFolderError(ValueError):
    """A malformed exercise folder: the message names the file and the field."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its name, titles, what a submission defines, its inputs, probes and judge, the points
    and visibility of its checks, and the folder it was loaded from."""

    name: str
    chapter: str
    title_en: str
    title_zh: str
    defines: tuple[str, ...]
    detect: Callable[[Definitions], bool]
    make_cases: Callable[[int], dict]
    probes: Mapping[str, Callable]
    judge: Callable[[dict, Mapping], list]
    policy: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # check id -> (points, visibility)
    folder: Traversable | None = None  # a Path or an importlib.resources Traversable

    def checks(self, cases: dict, probes: Mapping) -> list:
        """The judge's checks with their points and visibility (1 point and public unless the policy says)."""
        return [
            replace(
                c,
                exercise=self.name,
                points=self.policy.get(c.id, (c.points, c.visibility))[0],
                visibility=self.policy.get(c.id, (c.points, c.visibility))[1],
            )
            for c in self.judge(cases, probes)
        ]

    def check_ids(self, seed: int = 0) -> list[str]:
        """The ids of the exercise's checks, in order (the judge run on probes that observed nothing)."""
        return [c.id for c in self._blank(seed)]

    def _blank(self, seed: int) -> list:
        from ._i18n import Msg
        from .checks import Probe

        nothing = Probe(failure=Msg("reason.not_run", {"call": "-"}))
        return self.checks(self.make_cases(seed), {p: nothing for p in self.probes})

    def max_points(self, seed: int = 0) -> float:
        """What every check of the exercise together is worth."""
        return sum(c.points for c in self._blank(seed))

    @property
    def filename(self) -> str:
        """The learner's file: ``loss-forward`` -> ``loss_forward.py``."""
        return self.name.replace("-", "_") + ".py"

    def title(self, lang: str = "en") -> str:
        """The exercise's title in ``lang`` (English for any language but Chinese)."""
        return self.title_zh if lang == "zh" else self.title_en

    def _path(self, name: str) -> Traversable:
        if self.folder is None:
            raise ExerciseFolderError(f"the exercise {self.name!r} was made without a folder: it has no {name}")
        return self.folder.joinpath(name)

    def _file(self, name: str) -> str:
        return self._path(name).read_text(encoding="utf-8")

    def template_file(self, lang: str = "en") -> str:
        """The file of the skeleton in ``lang``: ``template.<lang>.py`` where the folder has one, else
        ``template.py`` (a folder may hold the English skeleton only)."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        own = f"template.{lang}.py"
        return own if self._path(own).is_file() else "template.py"

    def template(self, lang: str = "en") -> str:
        """The skeleton the learner fills in, its comments and docstrings in ``lang`` where the folder
        has that translation (see :meth:`template_file`)."""
        return self._file(self.template_file(lang))

    def solution(self) -> str:
        """The reference solution."""
        return self._file("solution.py")

    def statement(self, lang: str = "en") -> str:
        """The exercise statement (Markdown) in ``lang``, with how to grade it."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        grading = (
            resources.files(__package__)
            .joinpath("templates")
            .joinpath(f"_grading.{lang}.md")
            .read_text(encoding="utf-8")
        )
        return self._file(f"statement.{lang}.md") + grading.format(file=self.filename, name=self.name)


# =========================================================================== loading a folder


def _field(meta: dict, key: str, kind, where: str, what: str):
    if key not in meta:
        raise ExerciseFolderError(f"{where}: the field {key!r} is missing ({what})")
    value = meta[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ExerciseFolderError(f"{where}: the field {key!r} must be {what}, got {value!r}")
    return value


def _module(folder, name: str, where: str):
    """Import ``checks.py`` of ``folder`` as a module of its own."""
    path = folder.joinpath("checks.py")
    module_name = f"losslab_exercise_{name.replace('-', '_')}_{abs(hash(str(path))) % 10**8}"
    with resources.as_file(path) as real:
        spec = importlib.util.spec_from_file_location(module_name, real)
        if spec is None or spec.loader is None:
            raise ExerciseFolderError(f"{where}/checks.py: Python cannot import it")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a teacher's code: say where it broke
            raise ExerciseFolderError(f"{where}/checks.py: importing it failed: {type(exc).__name__}: {exc}") from exc
    return module


def load(folder) -> Exercise:
    """The exercise in ``folder`` (a path, or a resources folder); :class:`ExerciseFolderError` naming the
    file and the field when something is missing or malformed."""
    folder = Path(folder) if isinstance(folder, (str, Path)) else folder
    where = str(folder)
    if not folder.is_dir():
        raise ExerciseFolderError(f"{where}: not a folder")
    for name in FILES:
        if not folder.joinpath(name).is_file():
            raise ExerciseFolderError(f"{where}/{name}: missing (an exercise folder holds {', '.join(FILES)})")
    try:
        meta = json.loads(folder.joinpath("exercise.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ExerciseFolderError(f"{where}/exercise.json: not valid JSON ({exc})") from None
    at = f"{where}/exercise.json"
    if not isinstance(meta, dict):
        raise ExerciseFolderError(f"{at}: must hold a JSON object, got {type(meta).__name__}")
    name = _field(meta, "name", str, at, "the exercise's name: lowercase letters, digits and '-'")
    if not NAME.match(name):
        raise ExerciseFolderError(f"{at}: the field 'name' must be lowercase letters, digits and '-', got {name!r}")
    title = _field(meta, "title", dict, at, 'the titles, {"en": "...", "zh": "..."}')
    for lang in LANGS:
        if not isinstance(title.get(lang), str) or not title[lang].strip():
            raise ExerciseFolderError(
                f"{at}: the field 'title.{lang}' must be a non-empty string, got {title.get(lang)!r}"
            )
    defines = _field(meta, "defines", list, at, "the functions, classes or Class.method names a solution defines")
    if not defines or not all(isinstance(d, str) and d for d in defines):
        raise ExerciseFolderError(f"{at}: the field 'defines' must be a non-empty list of names, got {defines!r}")
    chapter = meta.get("chapter", "-")
    if not isinstance(chapter, str):
        raise ExerciseFolderError(f"{at}: the field 'chapter' must be a string, got {chapter!r}")
    module = _module(folder, name, where)
    for attr, kind in (
        ("make_cases", "a function make_cases(seed) -> dict"),
        ("PROBES", "a dict PROBES of probes"),
        ("judge", "a function judge(cases, probes) -> checks"),
    ):
        value = getattr(module, attr, None)
        if value is None or (attr == "PROBES") != isinstance(value, dict) or attr != "PROBES" and not callable(value):
            raise ExerciseFolderError(f"{where}/checks.py: must define {kind}")
    detect = getattr(module, "detect", None) or (lambda d, names=tuple(defines): all(d.has(n) for n in names))
    exercise = Exercise(
        name,
        chapter,
        title["en"],
        title["zh"],
        tuple(defines),
        detect,
        module.make_cases,
        module.PROBES,
        module.judge,
        {},
        folder,
    )
    checks = meta.get("checks", {})
    if not isinstance(checks, dict):
        raise ExerciseFolderError(f"{at}: the field 'checks' must be an object of check ids, got {checks!r}")
    policy = {}
    known = None
    for check_id, rule in checks.items():
        if known is None:
            try:
                known = exercise.check_ids()
            except Exception as exc:
                raise ExerciseFolderError(
                    f"{where}/checks.py: its judge failed on a blank run: {type(exc).__name__}: {exc}"
                ) from exc
        if check_id not in known:
            raise ExerciseFolderError(
                f"{at}: checks.{check_id} is not a check of this exercise (its checks: {', '.join(known)})"
            )
        if not isinstance(rule, dict):
            raise ExerciseFolderError(
                f'{at}: checks.{check_id} must be an object like {{"points": 2, "visibility": "hidden"}}, got {rule!r}'
            )
        points = rule.get("points", 1)
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not points >= 0:
            raise ExerciseFolderError(f"{at}: checks.{check_id}.points must be a number >= 0, got {points!r}")
        visibility = rule.get("visibility", "public")
        if visibility not in VISIBILITIES:
            raise ExerciseFolderError(
                f"{at}: checks.{check_id}.visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}"
            )
        policy[check_id] = (float(points), visibility)
    return replace(exercise, policy=policy)


class Catalog:
    """A set of exercises by name: the built-in ones, and a teacher's added with :meth:`with_folders`."""

    def __init__(self, exercises: Iterable[Exercise]) -> None:
        self.exercises: tuple[Exercise, ...] = tuple(exercises)
        self._by_name: dict[str, Exercise] = {}
        for e in self.exercises:
            if e.name in self._by_name:
                raise ExerciseFolderError(f"{e.folder}: an exercise named {e.name!r} exists already")
            self._by_name[e.name] = e

    def names(self) -> list[str]:
        """The exercise names, in catalog order."""
        return [e.name for e in self.exercises]

    def get(self, name: str) -> Exercise:
        """The exercise called ``name``; ``KeyError`` naming the choices otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no exercise {name!r}; the exercises are: {', '.join(self.names())}") from None

    def detect(self, source: str | bytes) -> list[str]:
        """The exercises a file's source implements, judged by the names it defines (catalog order)."""
        found = definitions(source)
        return [e.name for e in self.exercises if e.detect(found)]

    def with_folders(self, folders: Iterable) -> Catalog:
        """This catalog and the exercises of ``folders``: each an exercise folder, or a folder of them."""
        added = []
        for folder in folders:
            folder = Path(folder)
            if folder.is_dir() and not (folder / "exercise.json").exists():
                subfolders = sorted(p for p in folder.iterdir() if (p / "exercise.json").exists())
                if not subfolders:
                    raise ExerciseFolderError(f"{folder}: holds no exercise.json, and no folder that does")
                added += [load(p) for p in subfolders]
            else:
                added.append(load(folder))
        return Catalog([*self.exercises, *added])


def _builtin() -> Catalog:
    root = resources.files(__package__).joinpath("exercises")
    folders = [p for p in root.iterdir() if p.is_dir() and p.joinpath("exercise.json").is_file()]
    order = {
        p.name: json.loads(p.joinpath("exercise.json").read_text(encoding="utf-8")).get("order", 0) for p in folders
    }
    return Catalog(load(p) for p in sorted(folders, key=lambda p: (order[p.name], p.name)))


BUILTIN = _builtin()
EXERCISES = BUILTIN.exercises
"""The built-in exercises, in their course order (``order`` in each ``exercise.json``)."""


def names() -> list[str]:
    """The built-in exercises' names, in catalog order."""
    return BUILTIN.names()


def get(name: str) -> Exercise:
    """The built-in exercise called ``name``; ``KeyError`` naming the choices otherwise."""
    return BUILTIN.get(name)


def detect(source: str | bytes) -> list[str]:
    """The built-in exercises a file's source implements, judged by the names it defines (catalog order)."""
    return BUILTIN.detect(source)
