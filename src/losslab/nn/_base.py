"""The protocol every loss object follows: ``out = L(*inputs)``, then ``L.backward(dout)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

from .._array_api import silent
from .._cases import Entry
from .._fast._contract import kernel_of, plain_inputs, scale_by_dout
from .._validation import BackwardBeforeForwardError
from ._options import Configurable

__all__ = ["Loss", "registered", "registered_losses"]


class Loss(Configurable):
    """Base class of the loss objects: options declared once, a pure function underneath.

    Subclasses name the pure pair (``_function``, ``_backward``) from
    :mod:`losslab.functional`, the positional inputs (``_inputs``) and which of
    them are differentiable (``_grad_inputs``), and declare their constructor
    options in ``_options`` (see :mod:`losslab.nn._options`): the constructor,
    :meth:`options` and ``repr`` follow from that table. ``forward`` keeps
    references to its inputs (never copies or modifies them); ``backward(dout=1.0)``
    returns the gradient of ``sum(dout * out)`` with respect to the differentiable
    inputs: one array, or a tuple in input order when there are several.

    Where the pure function has a fused kernel (:func:`losslab._fast.fused`) and the
    kernel takes the call, ``forward`` also keeps the gradient it computed, and
    ``backward`` hands it out once (scaled by ``dout``) if the options are unchanged.
    """

    _function: ClassVar[Callable[..., Any]]
    _backward: ClassVar[Callable[..., Any]]
    _inputs: ClassVar[tuple[str, ...]] = ("input", "target")
    _grad_inputs: ClassVar[tuple[str, ...]] = ("input",)
    _entry: ClassVar[Any] = None  # the registry's entry (losslab._cases.Entry), set by @registered
    _kernel: ClassVar[Callable[..., Any] | None] = None  # the fused kernel of _function, if it has one

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        function = cls.__dict__.get("_function")
        if function is not None:
            cls._kernel = kernel_of(function.__func__ if isinstance(function, staticmethod) else function)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cache: tuple | None = None
        self._pending: tuple | None = None  # (gradient, options, output shape) from a fused forward

    def forward(self, *inputs):
        cls = type(self)
        if len(inputs) != len(cls._inputs):
            names = ", ".join(cls._inputs)
            raise TypeError(f"{cls.__name__} takes {len(cls._inputs)} inputs ({names}), got {len(inputs)}")
        state = self.__dict__  # plain stores below: they change no option
        options = state.get("_current") or self._options_now()
        kernel = cls._kernel
        hit = None if kernel is None else kernel(*plain_inputs(inputs), **options)
        state["_pending"] = None
        if hit is None:
            function = cls._function
            out = function(*inputs, **options) if kernel is None else cast(Any, function).reference(*inputs, **options)
            out = silent(out)  # a Dask result computes as quietly as NumPy's
        else:
            out, grad = hit
            state["_pending"] = (grad, options, out.shape)
        state["_cache"] = inputs
        return out

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def backward(self, dout=1.0):
        if self._cache is None:
            raise BackwardBeforeForwardError(
                f"{type(self).__name__}.backward() was called before forward(): call the loss on its inputs first"
            )
        state = self.__dict__
        pending = state.get("_pending")
        options = state.get("_current") or self._options_now()
        if pending is not None:
            state["_pending"] = None  # the array is handed out: never hand it out twice
            if pending[1] is options:  # no option set since forward
                return scale_by_dout(pending[0], dout, pending[2])
        return silent(type(self)._backward(dout, *self._cache, **options))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items() if not hasattr(v, "shape"))
        return f"{type(self).__name__}({opts})"


# --------------------------------------------------------------------------- the registry's entries

_REGISTERED: dict[str, type[Loss]] = {}


def registered(
    summary: str,
    cases: Callable,
    *,
    curve=None,
    torch: bool = True,
    array_api: bool = False,
    paths: Callable | None = None,
):
    """Class decorator: list the loss in :mod:`losslab.registry` (tests, CLI, README table, plots).

    ``summary`` is its line in the README table; ``cases(rng)`` returns its sample
    calls (:class:`losslab._cases.Case`), covering every option combination the
    tests check; ``curve`` (:class:`losslab._cases.Curve`) draws it against one
    scalar; ``torch``: ``torch.nn`` has a class of the same name and semantics (the
    parity tests compare with it); ``array_api``: it computes in its inputs' array
    library (tested on each); ``paths(rng, b)`` returns one :class:`losslab._cases.Case` per
    option path at batch size ``b`` (the benchmarks enumerate them; the same ids at every ``b``).
    """

    def register(cls: type[Loss]) -> type[Loss]:
        name = cls.__name__
        if name in _REGISTERED and _REGISTERED[name] is not cls:
            raise ValueError(f"a loss named {name!r} is already registered ({_REGISTERED[name].__module__})")
        cls._entry = Entry(summary, cases, curve, torch, array_api, paths)
        _REGISTERED[name] = cls
        return cls

    return register


def registered_losses() -> tuple[type[Loss], ...]:
    """The registered loss classes, in the order they were defined."""
    return tuple(_REGISTERED.values())
