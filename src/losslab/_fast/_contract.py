"""The one contract by which a fused kernel joins a loss: :func:`fused` and :func:`defbackward`.

A loss is a pure pair, ``name(*inputs, **options)`` and ``name_backward(dout, *inputs,
**options)``, written by its definition for every input and option. A *kernel* is a
third function with the same signature as ``name`` that returns ``(out, grad)`` (the
loss and its gradient for ``dout = 1``, computed in one pass: an array, or a tuple of
arrays for several differentiable inputs) for the calls it covers, and ``None`` for
every other call, including every invalid one. (Where ``dout`` does more than scale the
gradient, the kernel returns an :class:`Upstream` in its place.) Two decorators bind the three::

    def _mse_kernel(input, target, *, reduction="mean"):
        return _fast.pointwise(_fast.MSE, input, target, reduction)

    @fused(_mse_kernel)
    def mse_loss(input, target, *, reduction="mean"):
        ...                                    # the definition: every layout and option

    @defbackward(mse_loss)
    def mse_loss_backward(dout, input, target, *, reduction="mean"):
        ...                                    # the definition of the gradient

Every caller then goes through the kernel first, whichever door it enters by:
``mse_loss(...)`` returns the kernel's ``out``; ``mse_loss_backward(dout, ...)`` scales
the kernel's gradient by ``dout``; :class:`losslab.nn.Loss` keeps the gradient that its
forward call computed and hands it to ``backward``. Where the kernel answers ``None``
the definitions run, so they alone decide results and errors outside the fused cases;
``mse_loss.reference`` and ``mse_loss_backward.reference`` are those definitions,
which the tests hold the kernel to.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _validation as v

__all__ = ["fused", "defbackward", "kernel_of", "scale_by_dout", "plain_inputs", "Upstream"]


class Upstream:
    """A kernel's gradient that ``dout`` does not merely scale: ``pull(g)`` computes it for the upstream ``g``.

    Where one output entry's upstream weighs the gradient of several inputs' rows (NT-Xent's
    ``'none'``: anchor ``i``'s loss depends on every embedding), the gradient for ``dout = 1``
    times ``dout`` is not the gradient for ``dout``. A kernel then returns ``(out,
    Upstream(pull, dtype))``: ``pull(g)``, with ``g`` the validated ``dout`` (a 0-d array, or one
    of the output's shape, in ``dtype``), returns fresh gradient arrays, as the kernel's gradient
    would be. It runs only when a gradient is asked for: a forward-only call pays for the loss alone.
    """

    __slots__ = ("pull", "dtype")

    def __init__(self, pull: Callable[[np.ndarray], Any], dtype: np.dtype) -> None:
        self.pull = pull
        self.dtype = dtype


def _call_shape(reference: Callable) -> tuple[int, frozenset[str]]:
    """Positional inputs and keyword options of ``reference``: a call outside them never reaches the kernel."""
    params = inspect.signature(reference).parameters.values()
    positional = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
    return positional, frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY)


def plain_inputs(inputs: tuple) -> tuple:
    """``inputs`` with each ndarray subclass (``np.memmap``, ...) as the plain ndarray it views, not a copy.

    The values are the same, so the kernel answers for them as for an ndarray: the same
    bits wherever the arrays lie.
    """
    for a in inputs:  # a loop, not all(...): this runs on every call, and a generator costs ~0.3 us
        if a.__class__ is not np.ndarray and isinstance(a, np.ndarray):
            return tuple(np.asarray(a) if isinstance(a, np.ndarray) else a for a in inputs)
    return inputs


def fused(kernel: Callable[..., Any]) -> Callable[[Callable], Callable]:
    """Decorate a loss's pure function: ``kernel(*inputs, **options)`` answers first.

    The decorated function keeps the definition's name, docstring and signature, and
    carries ``.reference`` (the definition) and ``.kernel``.
    """

    def attach(reference: Callable) -> Callable:
        positional, keywords = _call_shape(reference)

        @functools.wraps(reference)
        def function(*inputs, **options):
            if len(inputs) == positional and (not options or keywords.issuperset(options)):
                hit = kernel(*plain_inputs(inputs), **options)
                if hit is not None:
                    return hit[0]
            return reference(*inputs, **options)

        _carry(function, reference, kernel)
        return function

    return attach


def _carry(wrapper: Callable, reference: Callable, kernel: Callable) -> None:
    """Attach the definition and the kernel to a fused wrapper (``.reference``, ``.kernel``)."""
    setattr(wrapper, "reference", reference)  # noqa: B010  (attributes a Callable's type does not declare)
    setattr(wrapper, "kernel", kernel)  # noqa: B010


def defbackward(function: Callable) -> Callable[[Callable], Callable]:
    """Decorate the backward definition of a :func:`fused` function: its kernel's gradient answers first."""
    kernel = getattr(function, "kernel")  # noqa: B009  (set by fused(); a plain Callable declares no such attribute)

    def attach(reference: Callable) -> Callable:
        positional, keywords = _call_shape(reference)
        positional -= 1  # dout

        @functools.wraps(reference)
        def backward(dout, *inputs, **options):
            if len(inputs) == positional and (not options or keywords.issuperset(options)):
                hit = kernel(*plain_inputs(inputs), **options)
                if hit is not None:
                    return scale_by_dout(hit[1], dout, np.shape(hit[0]))
            return reference(dout, *inputs, **options)

        _carry(backward, reference, kernel)
        return backward

    return attach


def kernel_of(function: Callable) -> Callable | None:
    """The kernel attached to ``function`` by :func:`fused`, or ``None``."""
    return getattr(function, "kernel", None)


def scale_by_dout(grad, dout, out_shape: tuple[int, ...]):
    """``grad`` (fresh arrays for ``dout = 1``) times the upstream gradient, in place.

    ``dout`` is validated as the definitions do (a scalar, or an array of the loss's
    output shape ``out_shape``). Where ``grad`` has more axes than the output (a class
    axis after the output's axes, as in cross-entropy, or the class axis 1 of a K-dimensional
    ``(N, C, d1, ..., dK)`` gradient whose output is ``(N, d1, ..., dK)``), ``dout`` broadcasts along them.
    A tuple of gradients (several differentiable inputs) is scaled array by array; an
    :class:`Upstream` gradient is computed for ``dout``.
    """
    if grad.__class__ is Upstream:
        return grad.pull(v.check_dout(dout, out_shape, grad.dtype))
    if dout.__class__ in (float, int) and dout == 1:
        return grad
    first = grad[0] if isinstance(grad, tuple) else grad
    g = v.check_dout(dout, out_shape, first.dtype)
    if isinstance(grad, tuple):
        return tuple(_scale(gi, g) for gi in grad)
    return _scale(grad, g)


def _scale(grad: np.ndarray, g: np.ndarray) -> np.ndarray:
    if g.ndim == 0:
        if g != 1:
            np.multiply(grad, g, out=grad)
        return grad
    if g.ndim < grad.ndim:
        if g.ndim > 1 and grad.ndim == g.ndim + 1 and grad.shape[:1] + grad.shape[2:] == g.shape:
            g = g.reshape(g.shape[:1] + (1,) + g.shape[1:])  # a class axis 1 of (N, C, d1, ...), as cross-entropy's
        else:
            g = g.reshape(g.shape + (1,) * (grad.ndim - g.ndim))
    np.multiply(grad, g, out=grad)
    return grad
