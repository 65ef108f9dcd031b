"""The exercises: one registry that drives ``exercise list``, ``exercise start``, detection and grading.

Each :class:`Exercise` names the functions or classes a learner's file defines, the
inputs (``make_cases(seed)``), the probes run on the learner's code in the sandbox
and the judge that turns what they observed into checks. Its template (the
platform-style skeleton with ``########## Begin ##########`` / ``########## End ##########``
markers) and its statement (English and Chinese) live in ``templates/``.

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
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Callable, Mapping

from ._i18n import LANGS
from .exercises import functions, layers, losses, optim


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


def definitions(source: str | bytes) -> Definitions:
    """What ``source`` defines at module level; raises ``SyntaxError`` (or ``ValueError``) if it does not parse."""
    tree = ast.parse(source)
    funcs, classes, lines = set(), {}, {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs.add(node.name)
            classes.pop(node.name, None)
        elif isinstance(node, ast.ClassDef):
            funcs.discard(node.name)
            classes[node.name] = frozenset(n.name for n in node.body
                                           if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        else:
            continue
        lines.setdefault(node.name, []).append(node.lineno)
    twice = {name: tuple(at) for name, at in lines.items() if len(at) > 1}
    return Definitions(frozenset(funcs), classes, twice)


@dataclass(frozen=True)
class Exercise:
    """One exercise: its name, titles, what a submission defines, its inputs, probes and judge."""

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

    def checks(self, cases: dict, probes: Mapping) -> list:
        """The judge's checks with their points and visibility (1 point and public unless the policy says)."""
        return [replace(c, points=self.policy.get(c.id, (c.points, c.visibility))[0],
                        visibility=self.policy.get(c.id, (c.points, c.visibility))[1])
                for c in self.judge(cases, probes)]

    def max_points(self, seed: int = 0) -> float:
        """What every check of the exercise together is worth (the judge run on probes that observed nothing)."""
        from ._i18n import Msg
        from .checks import Probe

        nothing = Probe(failure=Msg("reason.not_run", {"call": "-"}))
        return sum(c.points for c in self.checks(self.make_cases(seed), {p: nothing for p in self.probes}))

    @property
    def filename(self) -> str:
        """The learner's file: ``loss-forward`` -> ``loss_forward.py``."""
        return self.name.replace("-", "_") + ".py"

    def title(self, lang: str = "en") -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def template(self) -> str:
        """The skeleton the learner fills in."""
        return _read(f"{self.name.replace('-', '_')}.py.txt")

    def statement(self, lang: str = "en") -> str:
        """The exercise statement (Markdown) in ``lang``."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        body = _read(f"{self.name.replace('-', '_')}.{lang}.md")
        return body + _read(f"_grading.{lang}.md").format(file=self.filename, name=self.name)


def _read(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def _has_losses(d: Definitions, backward: bool) -> bool:
    present = [d.classes[c] for c in ("SoftmaxWithLoss", "MeanSquaredError") if c in d.classes]
    return bool(present) and any("backward" in methods for methods in present) == backward


EXERCISES: tuple[Exercise, ...] = (
    Exercise("loss-forward", "4.2", "Loss forward (level 1): SoftmaxWithLoss and MeanSquaredError",
             "损失函数的前向传播(第 1 关):SoftmaxWithLoss 与 MeanSquaredError",
             ("SoftmaxWithLoss", "MeanSquaredError"), lambda d: _has_losses(d, backward=False),
             losses.make_cases, losses.FORWARD_PROBES, losses.judge_forward),
    Exercise("loss-backward", "4.2, 5.6", "Loss backward (level 2): SoftmaxWithLoss and MeanSquaredError",
             "损失函数的反向传播(第 2 关):SoftmaxWithLoss 与 MeanSquaredError",
             ("SoftmaxWithLoss.backward", "MeanSquaredError.backward"), lambda d: _has_losses(d, backward=True),
             losses.make_cases, losses.BACKWARD_PROBES, losses.judge_backward),
    Exercise("cross-entropy-error", "4.2", "cross_entropy_error: one-hot or index labels, mini-batches",
             "cross_entropy_error:one-hot 或索引标签,mini-batch", ("cross_entropy_error",),
             lambda d: "cross_entropy_error" in d.functions, functions.cee_cases, functions.CEE_PROBES,
             functions.judge_cee),
    Exercise("numerical-gradient", "4.3-4.4", "numerical_gradient(f, x): central differences",
             "numerical_gradient(f, x):中心差分求梯度", ("numerical_gradient",),
             lambda d: "numerical_gradient" in d.functions, functions.ng_cases, functions.NG_PROBES,
             functions.judge_ng),
    Exercise("relu-backward", "5.5", "Relu layer: backward", "Relu 层的反向传播", ("Relu",),
             lambda d: "Relu" in d.classes, layers.activation_cases, layers.RELU_PROBES, layers.judge_relu),
    Exercise("sigmoid-backward", "5.5", "Sigmoid layer: backward", "Sigmoid 层的反向传播", ("Sigmoid",),
             lambda d: "Sigmoid" in d.classes, layers.activation_cases, layers.SIGMOID_PROBES,
             layers.judge_sigmoid),
    Exercise("affine-backward", "5.6", "Affine layer: backward (dx, dW, db)", "Affine 层的反向传播(dx、dW、db)",
             ("Affine",), lambda d: "Affine" in d.classes, layers.affine_cases, layers.AFFINE_PROBES,
             layers.judge_affine),
    Exercise("bce-with-logits", "3.2, 4.2", "Binary cross-entropy with logits, forward and gradient",
             "基于 logits 的二元交叉熵:前向与梯度", ("bce_with_logits", "bce_with_logits_backward"),
             lambda d: bool({"bce_with_logits", "bce_with_logits_backward"} & d.functions), functions.bce_cases,
             functions.BCE_PROBES, functions.judge_bce),
    Exercise("sgd-step", "4.4, 6.1", "One gradient-descent step: SGD.update(params, grads)",
             "梯度下降的一步:SGD.update(params, grads)", ("SGD",), lambda d: "SGD" in d.classes,
             optim.sgd_cases, optim.SGD_PROBES, optim.judge_sgd),
)

_BY_NAME = {e.name: e for e in EXERCISES}


def names() -> list[str]:
    """The exercise names, in catalog order."""
    return [e.name for e in EXERCISES]


def get(name: str) -> Exercise:
    """The exercise called ``name``; ``KeyError`` naming the choices otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no exercise {name!r}; the exercises are: {', '.join(names())}") from None


def detect(source: str | bytes) -> list[str]:
    """The exercises a file's source implements, judged by the names it defines (catalog order)."""
    found = definitions(source)
    return [e.name for e in EXERCISES if e.detect(found)]
