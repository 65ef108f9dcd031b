"""The one registry of losses: it drives the parametrized tests, the CLI's choices and the docs table.

The registry reads every loss class that :func:`losslab.nn.registered` lists, in the
order the classes are defined, and describes each as a :class:`LossSpec`: its class,
pure function and backward, positional inputs and which of them are differentiable
(from the class), its options and reductions (from the class's option table), and
its summary, sample cases (:class:`Case`) and plot recipe (:class:`Curve`), declared
beside the class. Nothing here repeats what a class says.

Adding a loss means writing it in its family modules (see CONTRIBUTING.md); it then
appears here, in the CLI, in the README table and in the parametrized tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._cases import Case, Curve
from .nn._base import Loss, registered_losses

# LOSSES is built on each access, by the module __getattr__ below
__all__ = ["Case", "Curve", "LossSpec", "LOSSES", "get", "names", "markdown_table", "curve_values", "spec_of"]  # noqa: F822


@dataclass(frozen=True)
class LossSpec:
    """What the tests, the CLI and the docs need of one loss, read from its class."""

    name: str  # the class name in losslab.nn (PyTorch's where it has one)
    module: str  # family module under losslab.functional / losslab.nn
    function_name: str  # the pure function in losslab.functional
    inputs: tuple[str, ...]  # positional inputs, in call order
    differentiable: tuple[str, ...]  # inputs that backward returns gradients for, in order
    options: tuple[str, ...]  # constructor / keyword options (reduction included)
    summary: str
    cases: Callable[[np.random.Generator], list[Case]] = field(repr=False)
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    torch_name: str | None = None  # the torch.nn class to compare with, if any
    curve: Curve | None = None  # how `losslab plot` draws it against one scalar
    array_api: bool = False  # runs on any array library (losslab._array_api), tested on each
    cls: type[Loss] | None = field(default=None, repr=False, compare=False)
    parameters: tuple[str, ...] = ()  # inputs the object owns as parameters (built by cls.from_inputs)
    paths: Callable[..., list[Case]] | None = field(default=None, repr=False, compare=False)

    @property
    def function(self) -> Callable:
        return self._class()._function

    @property
    def backward(self) -> Callable:
        return self._class()._backward

    def _class(self) -> type[Loss]:
        if self.cls is None:
            raise ValueError(f"{self.name} was described without its class")
        return self.cls

    @property
    def grad_positions(self) -> tuple[int, ...]:
        return tuple(self.inputs.index(n) for n in self.differentiable)

    def make_cases(self, seed: int = 0) -> list[Case]:
        """The loss's sample calls (every option combination the tests check), drawn from ``seed``."""
        return self.cases(np.random.default_rng(seed))

    def build(self, inputs, options: dict[str, Any]) -> tuple[Any, tuple]:
        """The loss object for a call of the pure function, and the inputs its call takes.

        ``cls(**options)`` called on every input; a class that owns parameters (``parameters``)
        is built by ``cls.from_inputs(*those inputs, **options)`` and called on the others.
        """
        cls = self._class()
        if not self.parameters:
            return cls(**options), tuple(inputs)
        if len(inputs) != len(self.inputs):
            raise TypeError(
                f"{self.name} takes {len(self.inputs)} inputs ({', '.join(self.inputs)}), got {len(inputs)}"
            )
        named = dict(zip(self.inputs, inputs, strict=True))
        build = getattr(cls, "from_inputs")  # noqa: B009  (declared by the classes that own parameters)
        loss = build(*(named[n] for n in self.parameters), **options)
        return loss, tuple(a for n, a in named.items() if n not in self.parameters)

    def call(self, loss, args: tuple):
        """The pure function's value, through the object: ``loss(*args)``, read by ``loss._registry_value``
        where the class returns more than the loss (AdaptiveLogSoftmaxWithLoss's ``(output, loss)``)."""
        out = loss(*args)
        read = getattr(loss, "_registry_value", None)
        return out if read is None else read(out)

    def gradients(self, loss, dout=1.0) -> tuple:
        """The object's gradients of the differentiable inputs, in order: ``loss.backward(dout)`` as a tuple,
        or, for a class that owns parameters, ``loss._registry_grads(dout)`` (its parameters' ``.grad`` too)."""
        grads = getattr(loss, "_registry_grads", loss.backward)(dout)
        return grads if isinstance(grads, tuple) else (grads,)

    def make_paths(self, b: int, seed: int = 0, only: str | None = None) -> list[Case]:
        """One call per option path at batch size ``b`` (declared beside the class; the benchmarks' grid).

        ``only``: build the path of that id alone (its inputs then come from their own draw of ``seed``).
        """
        if self.paths is None:
            raise ValueError(f"{self.name} declares no option paths: pass paths= to its @registered entry")
        return self.paths(np.random.default_rng(seed), b, only=only)


def spec_of(cls: type[Loss]) -> LossSpec:
    """The :class:`LossSpec` of a registered loss class, read from the class and its entry."""
    entry = cls._entry
    if entry is None:
        raise ValueError(f"{cls.__name__} is not registered: decorate it with @losslab.nn.registered(...)")
    reductions = next((o.choices for o in cls._options if o.name == "reduction"), None) or ("none", "mean", "sum")
    module = cls.__module__.rsplit(".", 1)[-1]
    return LossSpec(
        name=cls.__name__,
        module=module,
        function_name=cls._function.__name__,
        inputs=tuple(cls._inputs),
        differentiable=tuple(cls._grad_inputs),
        options=tuple(o.name for o in cls._options),
        summary=entry.summary,
        cases=entry.cases,
        reductions=tuple(reductions),
        torch_name=cls.__name__ if entry.torch else None,
        curve=entry.curve,
        array_api=entry.array_api,
        cls=cls,
        parameters=tuple(getattr(cls, "_parameter_inputs", ())),
        paths=entry.paths,
    )


def _losses() -> tuple[LossSpec, ...]:
    importlib.import_module("losslab.nn")  # every family module registers its classes on import
    return tuple(spec_of(cls) for cls in registered_losses())


def __getattr__(name: str):
    if name == "LOSSES":  # read afresh: a loss registered after this import is listed too
        return _losses()
    if name == "CURVES":  # each loss's plot recipe, by name (declared beside its class)
        return {spec.name: spec.curve for spec in _losses() if spec.curve is not None}
    if name == "_ctc_log_probs":
        from .nn.ctc import ctc_log_probs

        return ctc_log_probs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def names() -> list[str]:
    """The registered loss names, in registry order."""
    return [spec.name for spec in _losses()]


def get(name: str) -> LossSpec:
    """The spec of loss ``name``; ``ValueError`` listing the choices for an unknown name."""
    for spec in _losses():
        if spec.name == name:
            return spec
    raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(names())}")


def markdown_table() -> str:
    """The README's loss table, generated from the registry."""
    rows = [
        "| loss | `losslab.functional` | inputs (gradient for) | options | what it is |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in _losses():
        ins = ", ".join(f"**{n}**" if n in s.differentiable else n for n in s.inputs)
        opts = ", ".join(s.options)
        if "batchmean" in s.reductions:
            opts += " (incl. 'batchmean')"
        rows.append(f"| `nn.{s.name}` | `{s.function_name}` | {ins} | {opts} | {s.summary} |")
    return "\n".join(rows)


def curve_values(name: str, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss and its derivative at each value of ``xs``, drawn as its :class:`Curve` says."""
    spec = get(name)
    if spec.curve is None:
        raise ValueError(f"{name} has no plot recipe")
    xs = np.asarray(xs, dtype=np.float64)
    curve = spec.curve
    if curve.at is not None:
        values, grads = np.empty_like(xs), np.empty_like(xs)
        for i, x in enumerate(xs):
            inputs, options = curve.make(float(x))
            values[i] = spec.function(*inputs, **options, reduction="sum")
            g = spec.backward(1.0, *inputs, **options, reduction="sum")
            grads[i] = (g if isinstance(g, tuple) else (g,))[curve.grad_input][curve.at]
        return values, grads
    inputs, options = curve.make(xs)
    out = spec.function(*inputs, **options, reduction="none")
    grads = spec.backward(np.ones_like(out), *inputs, **options, reduction="none")
    grad = (grads if isinstance(grads, tuple) else (grads,))[spec.curve.grad_input]
    values = np.asarray(out).reshape(len(xs), -1).sum(axis=1)
    grad = grad if spec.curve.column is None else grad[:, spec.curve.column]
    return values, np.asarray(grad).reshape(len(xs))
