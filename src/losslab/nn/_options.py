"""A loss class's options, declared once: name, default, check, and whether it may be passed by position.

A class lists its options in constructor order, e.g. ::

    _options = (array("weight", positional=True), scalar("ignore_index", -100, integer=True),
                reduction(), scalar("label_smoothing", 0.0, low=0.0, high=1.0))

and :class:`losslab.nn.Loss` derives from that table the constructor (signature,
checks, errors), :meth:`~losslab.nn.Loss.options`, ``repr`` and the registry's and
README's list of options. Options marked ``positional`` come first, in PyTorch's order;
the others are keyword-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .. import _validation as v

__all__ = ["Option", "array", "checked", "flag", "reduction", "scalar"]


@dataclass(frozen=True)
class Option:
    """One constructor option: ``check(value, name)`` validates a value and returns what is stored."""

    name: str
    default: Any
    check: Callable[[Any, str], Any] | None = None
    positional: bool = False
    choices: tuple[str, ...] | None = None   # the allowed strings, where the option is a choice (reduction)

    def accept(self, value):
        return value if self.check is None else self.check(value, self.name)


def reduction(default: str = "mean", *, allowed: Sequence[str] = v.REDUCTIONS, positional: bool = False) -> Option:
    """``reduction``: one of ``allowed`` (the registry's reductions for the loss)."""
    allowed = tuple(allowed)
    return Option("reduction", default, lambda value, name: v.check_reduction(value, allowed), positional, allowed)


def scalar(name: str, default, *, positional: bool = False, **limits) -> Option:
    """A real scalar inside the limits of :func:`losslab._validation.check_scalar` (``low``, ``high``, ``integer``...)."""
    return Option(name, default, lambda value, n: v.check_scalar(value, n, **limits), positional)


def flag(name: str, default: bool, *, positional: bool = False) -> Option:
    """``True`` or ``False``."""
    return Option(name, default, v.check_bool, positional)


def array(name: str, default=None, *, positional: bool = False) -> Option:
    """An array option (``weight``...), validated when the loss is called, once the input's shape is known."""
    return Option(name, default, None, positional)


def checked(name: str, default, check: Callable[[Any], Any], *, positional: bool = False) -> Option:
    """An option with its own ``check(value)``, which raises on a bad value and returns what to store."""
    return Option(name, default, lambda value, n: check(value), positional)
