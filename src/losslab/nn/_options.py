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

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import _validation as v

__all__ = ["Configurable", "Option", "array", "checked", "flag", "reduction", "scalar"]


@dataclass(frozen=True)
class Option:
    """One constructor option: ``check(value, name)`` validates a value and returns what is stored."""

    name: str
    default: Any
    check: Callable[[Any, str], Any] | None = None
    positional: bool = False
    choices: tuple[str, ...] | None = None  # the allowed strings, where the option is a choice (reduction)

    def accept(self, value):
        return value if self.check is None else self.check(value, self.name)


def reduction(default: str = "mean", *, allowed: Sequence[str] = v.REDUCTIONS, positional: bool = False) -> Option:
    """``reduction``: one of ``allowed`` (the registry's reductions for the loss)."""
    allowed = tuple(allowed)
    return Option("reduction", default, lambda value, name: v.check_reduction(value, allowed), positional, allowed)


def scalar(name: str, default, *, positional: bool = False, **limits) -> Option:
    """A real scalar inside the limits of :func:`losslab._validation.check_scalar` (``low``, ``high``...)."""
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


class Configurable:
    """An object whose options are declared once, in the class's ``_options`` table.

    The constructor (its signature, the options it takes by position, the checks and
    the errors for an unknown or repeated option), :meth:`options` and the attribute of
    each option follow from the table. :class:`losslab.nn.Loss` and the distance objects
    of :mod:`losslab.nn.metric` are built on it.
    """

    _options: ClassVar[tuple[Option, ...]] = ()
    # derived from _options by __init_subclass__
    _positional: ClassVar[tuple[str, ...]] = ()
    _by_name: ClassVar[dict[str, Option]] = {}
    _names: ClassVar[tuple[str, ...]] = ()
    __signature__: ClassVar[inspect.Signature | None]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        table = cls._options
        cls._positional = tuple(o.name for o in table if o.positional)
        cls._by_name = {o.name: o for o in table}
        cls._names = tuple(cls._by_name)
        if "__init__" not in cls.__dict__:
            params = [
                inspect.Parameter(
                    o.name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD if o.positional else inspect.Parameter.KEYWORD_ONLY,
                    default=o.default,
                )
                for o in table
            ]
            cls.__signature__ = inspect.Signature(params)
        else:
            cls.__signature__ = None  # inspect reads the class's own __init__

    def __init__(self, *args, **kwargs) -> None:
        cls = type(self)
        positional = cls._positional
        if len(args) > len(positional):
            takes = f"at most {len(positional)} ({', '.join(positional)})" if positional else "none"
            raise TypeError(
                f"{cls.__name__}() takes {takes} of its options by position, got {len(args)}; "
                f"pass the others by keyword"
            )
        given = dict(zip(positional, args, strict=False)) if args else {}  # args: at most the positional options
        for name, value in kwargs.items():
            if name not in cls._by_name:
                raise TypeError(
                    f"{cls.__name__}() got an unexpected keyword argument {name!r}; its options are: "
                    f"{', '.join(cls._by_name) or 'none'}"
                )
            if name in given:
                raise TypeError(f"{cls.__name__}() got multiple values for option {name!r}")
            given[name] = value
        state = self.__dict__
        for option in cls._options:
            state[option.name] = option.accept(given[option.name] if option.name in given else option.default)

    def __setattr__(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        if name in type(self)._by_name:
            self.__dict__.pop("_current", None)  # an option changed: forget the options of the last call

    def options(self) -> dict[str, Any]:
        """The keyword options passed to the pure function."""
        return dict(self._options_now())

    def _options_now(self) -> dict[str, Any]:
        """The options as one dict, rebuilt only after an option is set (kept identical until then)."""
        if type(self).options is not Configurable.options:  # a subclass that writes options() itself
            return self.options()
        state = self.__dict__
        current = state.get("_current")
        if current is None:
            current = state["_current"] = {name: getattr(self, name) for name in type(self)._names}
        return current
