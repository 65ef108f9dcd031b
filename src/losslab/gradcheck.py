"""Numerical differentiation, as in "Deep Learning from Scratch" chapter 4, and a gradient checker.

``numerical_diff`` and ``numerical_gradient`` are the textbook's central
differences (step ``h = 1e-4``); ``gradient_descent`` is its plain descent loop.
``gradcheck`` compares an analytic gradient with central differences computed
in float64 and reports the worst relative error and where it occurred.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import _validation as v

__all__ = ["numerical_diff", "numerical_gradient", "gradient_descent", "gradcheck", "GradcheckResult"]


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference ``(f(x + h) - f(x - h)) / (2h)`` of a scalar function.

    >>> round(numerical_diff(lambda x: 0.01 * x**2 + 0.1 * x, 5.0), 10)
    0.2
    """
    v.check_scalar(h, "h", low=0.0, low_open=True)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference gradient of scalar ``f`` at array ``x`` of any shape.

    Each element is perturbed in turn on a private float64 copy, so ``x`` is left
    exactly as it was found, even if ``f`` raises. The result has ``x``'s shape
    and dtype.

    >>> import numpy as np
    >>> numerical_gradient(lambda x: x[0]**2 + x[1]**2, np.array([3.0, 4.0])).round(6)
    array([6., 8.])
    """
    v.check_scalar(h, "h", low=0.0, low_open=True)
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    work = x.astype(np.float64, copy=True)
    grad = np.zeros_like(work)
    flat, gflat = work.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = float(f(work))
        flat[i] = old - h
        fm = float(f(work))
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return grad.astype(x.dtype, copy=False)


def _five_point_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float) -> np.ndarray:
    """Fourth-order central differences ``(-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h`` in float64.

    Truncation error O(h^4) lets ``h`` be large (1e-3), which keeps rounding
    error (about eps * |f| / h) small even when ``f`` is large.
    """
    work = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(work)
    flat, gflat = work.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        vals = []
        for step in (2 * h, h, -h, -2 * h):
            flat[i] = old + step
            vals.append(float(f(work)))
        flat[i] = old
        gflat[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    return grad


def gradient_descent(
    f: Callable[[np.ndarray], float], init_x, lr: float = 0.01, step_num: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Plain gradient descent with numerical gradients: ``x <- x - lr * grad f(x)``.

    Returns the final ``x`` and the history of ``x`` (``step_num + 1`` rows, the
    starting point first). ``init_x`` is not modified.

    >>> import numpy as np
    >>> x, history = gradient_descent(lambda x: x[0]**2 + x[1]**2, np.array([-3.0, 4.0]), lr=0.1)
    >>> bool(np.all(np.abs(x) < 1e-8)), history.shape
    (True, (101, 2))
    """
    v.check_scalar(lr, "lr", low=0.0, low_open=True)
    v.check_scalar(step_num, "step_num", low=0, integer=True)
    x = v.as_float_array(init_x, "init_x").copy()
    history = [x.copy()]
    for _ in range(step_num):
        x = x - lr * numerical_gradient(f, x)
        history.append(x.copy())
    return x, np.array(history)


@dataclass(frozen=True)
class GradcheckResult:
    """The outcome of :func:`gradcheck`."""

    ok: bool
    max_rel_error: float
    worst_input: int  # which argument (position in ``inputs``) held the worst element
    worst_index: tuple  # its index inside that argument
    analytic: float
    numeric: float

    def __str__(self) -> str:
        status = "ok" if self.ok else "FAILED"
        return (
            f"gradcheck {status}: max relative error {self.max_rel_error:.2e} at input "
            f"{self.worst_input}, index {self.worst_index} (analytic {self.analytic:.10g}, "
            f"numeric {self.numeric:.10g})"
        )


def gradcheck(
    f: Callable[..., float],
    inputs: Sequence[np.ndarray],
    analytic: Sequence[np.ndarray],
    *,
    wrt: Sequence[int] | None = None,
    h: float = 1e-3,
    rtol: float = 1e-6,
) -> GradcheckResult:
    """Compare ``analytic`` gradients of scalar ``f(*inputs)`` with float64 central differences.

    The numerical gradient uses the fourth-order five-point stencil with step ``h``
    (so ``f`` must be smooth within ``2h`` of each input element).

    ``wrt`` lists the positions in ``inputs`` that ``analytic`` holds gradients for
    (all by default). The error of element ``i`` is
    ``|a_i - n_i| / max(|a_i|, |n_i|, 1e-4 * max|n|, 1e-12)``: relative, with a floor
    at 1e-4 of the largest gradient so that elements near zero are judged on the
    scale of the whole gradient. ``ok`` is ``max error <= rtol``.
    """
    inputs = [np.asarray(a) for a in inputs]
    wrt = list(range(len(inputs))) if wrt is None else list(wrt)
    if len(analytic) != len(wrt):
        raise ValueError(f"analytic holds {len(analytic)} gradients for {len(wrt)} inputs in wrt")
    work = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in inputs]
    numerics = []
    for pos, a in zip(wrt, analytic, strict=True):
        if np.shape(a) != work[pos].shape:
            raise ValueError(
                f"the analytic gradient for input {pos} has shape {np.shape(a)}, expected {work[pos].shape}"
            )

        def g(xi, pos=pos):
            args = list(work)
            args[pos] = xi
            return f(*args)

        numerics.append(_five_point_gradient(g, work[pos], h))
    scale = max((float(np.max(np.abs(n))) for n in numerics if n.size), default=0.0)
    floor = max(1e-4 * scale, 1e-12)
    worst: tuple[float, int, tuple[int, ...], float, float] = (0.0, wrt[0] if wrt else -1, (), 0.0, 0.0)
    for pos, a, n in zip(wrt, analytic, numerics, strict=True):
        a = np.asarray(a, dtype=np.float64)
        if a.size == 0:
            continue
        err = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
        err = np.where(np.isnan(err), np.inf, err)
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        if err[i] >= worst[0]:
            worst = (float(err[i]), pos, tuple(int(k) for k in i), float(a[i]), float(n[i]))
    return GradcheckResult(worst[0] <= rtol, *worst)
