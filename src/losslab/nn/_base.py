"""The protocol every loss object follows: ``out = L(*inputs)``, then ``L.backward(dout)``."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from .._validation import BackwardBeforeForwardError


class Loss:
    """Base class of the loss objects: options in ``__init__``, a pure function underneath.

    Subclasses name the pure pair (``_function``, ``_backward``) from
    :mod:`losslab.functional`, the positional inputs (``_inputs``) and which of
    them are differentiable (``_grad_inputs``), and return their options from
    :meth:`options`. ``forward`` keeps references to its inputs (never copies or
    modifies them); ``backward(dout=1.0)`` returns the gradient of
    ``sum(dout * out)`` with respect to the differentiable inputs: one array, or
    a tuple in input order when there are several.
    """

    _function: ClassVar[Callable[..., Any]]
    _backward: ClassVar[Callable[..., Any]]
    _inputs: ClassVar[tuple[str, ...]] = ("input", "target")
    _grad_inputs: ClassVar[tuple[str, ...]] = ("input",)

    def __init__(self) -> None:
        self._cache: tuple | None = None

    def options(self) -> dict[str, Any]:
        """The keyword options passed to the pure function."""
        raise NotImplementedError

    def forward(self, *inputs):
        if len(inputs) != len(self._inputs):
            names = ", ".join(self._inputs)
            raise TypeError(
                f"{type(self).__name__} takes {len(self._inputs)} inputs ({names}), got {len(inputs)}"
            )
        out = type(self)._function(*inputs, **self.options())
        self._cache = inputs
        return out

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def backward(self, dout=1.0):
        if self._cache is None:
            raise BackwardBeforeForwardError(
                f"{type(self).__name__}.backward() was called before forward(): "
                f"call the loss on its inputs first"
            )
        return type(self)._backward(dout, *self._cache, **self.options())

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items() if not hasattr(v, "shape"))
        return f"{type(self).__name__}({opts})"
