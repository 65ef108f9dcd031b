"""The layer protocol shared by every computational-graph node.

A layer's ``forward(x)`` caches what its backward needs and returns the output;
``backward(dout)`` returns the gradient with respect to ``x`` and *adds nothing*
but writes each parameter's gradient into ``Parameter.grad`` (overwriting it, as
the textbook's layers do). ``parameters()`` lists the trainable parameters in a
fixed order, the order optimizers align their state with.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from .._validation import BackwardBeforeForwardError

T = TypeVar("T")


class Parameter:
    """A trainable array and the gradient of the loss with respect to it (same shape and dtype)."""

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: np.ndarray, name: str = "") -> None:
        self.data = data
        self.grad = np.zeros_like(data)
        self.name = name

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.data.shape}, dtype={self.data.dtype})"


class Layer:
    """Base class: no parameters, training mode on."""

    training: bool = True

    def forward(self, x):
        """The output for the input ``x``, caching what :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, dout):
        """The gradient with respect to the last forward input, given ``dout``, the gradient with respect to
        the output; writes each parameter's gradient into its ``Parameter.grad``."""
        raise NotImplementedError

    def __call__(self, *args):
        return self.forward(*args)

    def parameters(self) -> list[Parameter]:
        """The trainable parameters, in the fixed order optimizers align their state with (none here)."""
        return []

    def train(self, mode: bool = True) -> Layer:
        """Switch training behaviour (Dropout, BatchNorm) on or off; returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Switch to evaluation mode: ``train(False)``; returns self."""
        return self.train(False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _require(self, value: T | None, what: str = "forward") -> T:
        """``value`` cached by forward, or a clear error when backward comes first."""
        if value is None:
            raise BackwardBeforeForwardError(
                f"{type(self).__name__}.backward() was called before {what}(): run forward first"
            )
        return value
