"""The one place for array-namespace logic: which array library a loss call computes with.

A converted loss (see ``LossSpec.array_api`` in :mod:`losslab.registry`) is written
against ``xp = namespace(*its arrays)`` and returns arrays of its inputs' library:
NumPy, CuPy, PyTorch, JAX, Dask or array-api-strict (the standard's reference).

Rules of :func:`namespace`:

* NumPy is the default and costs nothing. When every argument is a NumPy array, a
  NumPy scalar, a Python scalar, a list or tuple, or ``None``, the answer is the
  ``numpy`` module itself, found by ``isinstance`` checks alone: ``array_api_compat``
  is not imported, so the NumPy path (and ``import losslab``) stays NumPy-only.
* Otherwise the library of the array arguments decides, through
  ``array_api_compat.array_namespace`` (imported on first use; without it an
  ``ImportError`` names the ``array`` extra). Scalars, lists and ``None`` go with
  any library; lists and Python scalars are read as NumPy reads them (``float64``
  for Python floats, see :func:`asarray`), then moved to that library.
* Arrays of two libraries in one call are a ``TypeError`` naming both: "input is a
  torch.Tensor but target is a numpy.ndarray: pass arrays of one library" (mixing would
  mean a silent transfer between devices). The one exception is NumPy arrays with Dask
  arrays: Dask takes NumPy arrays into its graphs as they are, so the call computes in
  Dask (a class weight, a ``var``, quantiles given as NumPy arrays).

Values of lazy arrays (:func:`check_values`). Checks of *values* (labels in
{1, -1}, class indices in range, probabilities in [0, 1], nonzero denominators)
run at once on eager arrays (NumPy, array-api-strict, PyTorch, CuPy). A Dask
array has no values until it is computed, and reading them at the door would
compute the whole graph (twice: once to check, once for the loss). So for Dask
the check goes *into* the graph: each chunk is checked as it is computed, and the
same error (same type, same message, the index counted in the whole array) is
raised by ``.compute()``. The loss stays lazy; no value is read before it is asked
for. Shape and dtype checks need no values and run at the door for every library.
Other lazy arrays (JAX, possibly traced under ``jit``) cannot be read at all:
their values are not checked.

Helpers for what the standard lacks, or what NumPy 1.x spells differently
(losslab supports NumPy >= 1.23, whose module has no ``astype``, ``isdtype`` or
``cumulative_sum``, and whose creation functions take no ``device``):
:func:`asarray`, :func:`const` and :func:`arange` (new arrays on the input's device),
:func:`astype`, :func:`has_kind`, :func:`is_float`, :func:`cumulative_sum`,
:func:`take_along_last` / :func:`one_hot`, :func:`any_true`, :func:`first_value`,
:func:`first_index` and :func:`scalar` (a Python number out of a 0-d array, without a
round trip through NumPy), :func:`describe`, :func:`concat`, :func:`moveaxis`,
:func:`eye_mask` and :func:`int_arange`; for the class-index losses :func:`class_mask`,
:func:`take_along_axis` and :func:`gather` (NumPy indexes; elsewhere one-hot selects, as
:func:`take_along_last`), :func:`full` and :func:`typed` (a number in an array's dtype:
a NumPy scalar for NumPy, a 0-d array elsewhere), :func:`whole_rows` (a Dask array with
each row in one chunk, for a check that reads whole rows).

IEEE results on purpose (:func:`quietly`): a mean over nothing is ``0 / 0 = NaN``, as in
PyTorch, and NumPy warns about it. ``np.errstate`` silences eager arrays, but Dask does
its arithmetic later, in ``.compute()``, outside any ``errstate``: there the operation
runs in each block's task, under ``errstate``.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "namespace",
    "asarray",
    "const",
    "arange",
    "astype",
    "has_kind",
    "is_float",
    "describe",
    "cumulative_sum",
    "one_hot",
    "take_along_last",
    "any_true",
    "first_value",
    "first_index",
    "scalar",
    "check_values",
    "concat",
    "moveaxis",
    "eye_mask",
    "int_arange",
    "class_mask",
    "take_along_axis",
    "gather",
    "full",
    "typed",
    "quietly",
    "whole_rows",
]

# libraries array_api_compat knows by type (their arrays have no ``__array_namespace__``)
_COMPAT_LIBRARIES = frozenset({"torch", "cupy", "jax", "jaxlib", "dask", "sparse", "ndonnx"})
_TYPE_NAMES = {"numpy": "numpy.ndarray", "torch": "torch.Tensor", "dask": "dask.array.Array", "jax": "jax.Array"}


def _compat():
    try:
        import array_api_compat
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "losslab needs array-api-compat to compute on arrays other than NumPy's: pip install 'losslab[array]'"
        ) from exc
    return array_api_compat


def _library(a) -> str | None:
    """The array library of ``a`` ('numpy', 'torch', ...), or ``None`` for scalars, lists and other array-likes."""
    if isinstance(a, np.ndarray):
        return "numpy"
    if a is None or isinstance(a, (numbers.Number, np.generic, list, tuple)):
        return None
    top = type(a).__module__.partition(".")[0]
    if top in _COMPAT_LIBRARIES or hasattr(a, "__array_namespace__"):
        return "jax" if top == "jaxlib" else top  # concrete JAX arrays live in jaxlib, tracers in jax
    return None  # anything else NumPy converts (np.asarray), as it always has


def _type_name(a, library: str) -> str:
    name = _TYPE_NAMES.get(library, f"{library}.{type(a).__name__}")
    return ("an " if name[0] in "aeiou" else "a ") + name


def namespace(*arrays, names: tuple[str, ...] | None = None):
    """The array namespace of ``arrays``: ``numpy`` itself for NumPy inputs, else array_api_compat's.

    ``names`` (one per argument) word the error when two array libraries are mixed, and the
    error for a ragged nested list.

    >>> import numpy as np
    >>> namespace(np.ones(3), 2.0, None) is np
    True
    """
    first = None
    for i, a in enumerate(arrays):
        lib = _library(a)
        if lib is None:
            if a.__class__ in (list, tuple) and names is not None:
                _numpy(a, names[i])  # a ragged nested list is named here, before any reads it
            continue
        if first is None or first[1] == "numpy" and lib == "dask":
            first = (i, lib, a)
        elif lib == "numpy" and first[1] == "dask":
            continue  # Dask takes NumPy arrays into its graphs (weights, parameters): no transfer
        elif lib != first[1]:
            j, first_lib, first_a = first
            name_i, name_j = (names[k] if names is not None else f"argument {k + 1}" for k in (i, j))
            raise TypeError(
                f"{name_j} is {_type_name(first_a, first_lib)} but {name_i} is {_type_name(a, lib)}: "
                f"pass arrays of one library"
            )
    if first is None or first[1] == "numpy":
        return np
    return _compat().array_namespace(*(a for a in arrays if _library(a) not in (None, "numpy")))


def _on(like, xp) -> dict:
    """The ``device`` keyword that puts a new array beside ``like`` (none for NumPy: 1.x takes none)."""
    if xp is np or like is None:
        return {}
    return {"device": _compat().device(like)}


def asarray(x, xp, like=None, name: str | None = None):
    """``x`` as an array of ``xp``: its own arrays unchanged; scalars and lists read as NumPy reads
    them, placed on ``like``'s device; a NumPy array with Dask (see :func:`namespace`) as a Dask array.

    A ragged nested list is a ``ValueError`` naming ``name`` (the argument it was passed as).
    """
    if xp is np:
        return _numpy(x, name)
    lib = _library(x)
    if lib == "numpy" and _compat().is_dask_namespace(xp):
        return xp.asarray(x)
    if lib is not None:
        return x
    return xp.asarray(_numpy(x, name), **_on(like, xp))


def _numpy(x, name: str | None):
    """``np.asarray(x)``, with NumPy's error about a ragged nested list said in losslab's words."""
    try:
        return np.asarray(x)
    except ValueError as exc:
        if not isinstance(x, (list, tuple)):
            raise
        raise ValueError(
            f"{name or 'an argument'} must be a rectangular array, got a nested list whose rows have "
            f"different lengths (a ragged list); pass lists of equal lengths or an array"
        ) from exc


def const(value, like, xp):
    """``value`` as a 0-d array of ``like``'s dtype, on its device (so a GPU loss makes no host array)."""
    return xp.asarray(value, dtype=like.dtype, **_on(like, xp))


def arange(n: int, like, xp):
    """``0, 1, ..., n - 1`` in ``like``'s dtype, on its device."""
    return xp.arange(n, dtype=like.dtype, **_on(like, xp))


def astype(x, dtype, xp):
    """``x`` cast to ``dtype``, without a copy when it already has it."""
    if xp is np:
        return x.astype(dtype, copy=False)
    return xp.astype(x, dtype, copy=False)


_KINDS = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "real floating"}


def has_kind(x, kinds: str, xp) -> bool:
    """Whether ``x``'s dtype is of one of NumPy's ``kinds`` letters (``"biuf"``: bool, int, uint, float)."""
    if xp is np:
        return x.dtype.kind in kinds
    return xp.isdtype(x.dtype, tuple(_KINDS[k] for k in kinds))


def is_float(x, xp) -> bool:
    """Whether ``x`` is float32 or float64 (the dtypes a loss computes in)."""
    return x.dtype == xp.float32 or x.dtype == xp.float64


def describe(x) -> str:
    return f"an array of shape {tuple(x.shape)} and dtype {x.dtype}"


def cumulative_sum(x, axis: int, xp):
    """Running sum along ``axis`` (NumPy 1.x has only ``cumsum``)."""
    if xp is np:
        return np.cumsum(x, axis=axis)
    return xp.cumulative_sum(x, axis=axis)


def one_hot(labels, num_classes: int, xp):
    """``labels[..., None] == arange(num_classes)``: a boolean mask with the classes on a new last axis."""
    return labels[..., None] == arange(num_classes, labels, xp)


def take_along_last(x, labels, xp):
    """``x[..., labels]`` per row: the entry of each row of ``x`` at that row's label (shape ``labels.shape``).

    NumPy indexes; elsewhere a one-hot select (the standard's integer indexing is one axis
    at a time), whose sum adds exact zeros only, so the values are the same to the bit.
    """
    if xp is np:
        return np.take_along_axis(x, labels[..., np.newaxis], axis=-1)[..., 0]
    return xp.sum(xp.where(one_hot(labels, x.shape[-1], xp), x, 0), axis=-1)


def any_true(mask) -> bool:
    """Whether any entry of the boolean array ``mask`` is true (an eager read)."""
    if isinstance(mask, (np.ndarray, np.generic)):
        return bool(mask.any())
    return bool(namespace(mask).any(mask))


def scalar(a) -> Any:
    """The Python number in a 0-d (or one-element) array: ``bool``, ``int`` or ``float`` by its dtype."""
    if isinstance(a, (np.ndarray, np.generic)):
        return a.item()
    xp = namespace(a)
    a = xp.reshape(a, ())
    if xp.isdtype(a.dtype, "bool"):
        return bool(a)
    if xp.isdtype(a.dtype, "integral"):
        return int(a)
    return float(a)


def first_value(x, mask) -> Any:
    """The first entry of ``x`` (in C order) where ``mask`` is true, as a Python number."""
    if isinstance(x, np.ndarray):
        return x[mask].flat[0].item()
    xp = namespace(x)
    return scalar(xp.reshape(x[mask], (-1,))[0])


def first_index(mask) -> tuple[int, ...]:
    """The index of the first true entry of ``mask`` (in C order)."""
    if isinstance(mask, np.ndarray):
        return tuple(int(i) for i in np.argwhere(mask)[0])
    xp = namespace(mask)
    return tuple(int(i[0]) for i in xp.nonzero(mask))


def check_values(x, check: Callable[[Any, tuple[int, ...]], None]):
    """Run ``check(values, start)`` on ``x``; return the array to compute with from here on.

    ``check`` raises on bad values; ``start`` is the index in ``x`` of the first of
    ``values`` (all zeros but for a Dask chunk), for messages that name a position.
    Eager arrays are checked now and returned as they are. A Dask array is returned
    with the check in its graph: each chunk is checked when it is computed, and the
    error is raised by ``.compute()``. Other lazy arrays (JAX) are not checked.
    """
    if _library(x) in (None, "numpy"):
        check(x, (0,) * np.ndim(x))
        return x
    compat = _compat()
    if not compat.is_lazy_array(x):
        check(x, (0,) * x.ndim)
        return x
    if compat.is_dask_array(x):
        from dask.array.utils import meta_from_array

        def checked(block, block_info=None):
            if block_info is None:  # dask probing the function on an empty array
                return block
            check(block, tuple(lo for lo, _ in block_info[0]["array-location"]))
            return block

        return x.map_blocks(checked, dtype=x.dtype, meta=meta_from_array(x))
    return x


def whole_rows(x):
    """``x`` (B, C) with each row whole in one chunk (a Dask array rechunked along C), for
    checks and computations that need a row at once; other arrays as they are."""
    if _library(x) == "dask":
        return x.rechunk({x.ndim - 1: -1})
    return x


def concat(arrays, xp, axis: int = 0):
    """Join ``arrays`` along ``axis`` (NumPy 1.x has only ``concatenate``)."""
    if xp is np:
        return np.concatenate(arrays, axis=axis)
    return xp.concat(arrays, axis=axis)


def moveaxis(x, source: int, destination: int, xp):
    """``x`` with axis ``source`` moved to ``destination`` (a view where the library has views)."""
    if xp is np:
        return np.moveaxis(x, source, destination)
    return xp.moveaxis(x, source, destination)


def eye_mask(n: int, like, xp):
    """The boolean ``(n, n)`` identity, on ``like``'s device (the standard has no ``fill_diagonal``)."""
    i = xp.arange(n, **_on(like, xp))
    return i[:, None] == i[None, :]


def int_arange(n: int, like, xp):
    """``0, 1, ..., n - 1`` as int64, on ``like``'s device."""
    return xp.arange(n, dtype=xp.int64, **_on(like, xp))


def class_mask(labels, num_classes: int, axis: int, xp):
    """The boolean one-hot of int64 ``labels``, its classes on a new axis ``axis`` (1 for ``(N, C, *d)``)."""
    view = [1] * (labels.ndim + 1)
    view[axis] = num_classes
    return xp.reshape(int_arange(num_classes, labels, xp), tuple(view)) == xp.expand_dims(labels, axis=axis)


def take_along_axis(x, labels, axis: int, xp):
    """``x``'s entry at each label along ``axis`` (``labels`` has ``x``'s shape without that axis).

    NumPy indexes; elsewhere a one-hot select whose sum adds exact zeros only (entries off
    the label, even -inf or NaN, are never read into the sum).
    """
    if xp is np:
        return np.take_along_axis(x, np.expand_dims(labels, axis), axis=axis).squeeze(axis)
    return xp.sum(xp.where(class_mask(labels, x.shape[axis], axis, xp), x, 0), axis=axis)


def gather(values, labels, xp):
    """``values[labels]`` for a 1-D ``values`` (a per-class weight) and int64 ``labels`` of any shape."""
    if xp is np:
        return values[labels]
    return xp.sum(xp.where(one_hot(labels, values.shape[0], xp), values, 0), axis=-1)


def full(shape: tuple[int, ...], value, like, xp, dtype=None):
    """An array of ``shape`` filled with ``value``, of ``dtype`` (``like``'s by default), on ``like``'s device."""
    return xp.full(shape, value, dtype=like.dtype if dtype is None else dtype, **_on(like, xp))


def typed(value, like, xp):
    """``value`` in ``like``'s dtype: a NumPy scalar for NumPy (as ``like.dtype.type(value)``), else :func:`const`."""
    if xp is np:
        return like.dtype.type(value)
    return const(value, like, xp)


class _Quiet:
    """A Dask block task: ``op(*blocks)`` without the divide and invalid warnings."""

    def __init__(self, op: Callable) -> None:
        self.op = op
        self.__name__ = f"quietly-{getattr(op, '__name__', 'op')}"  # Dask names the array's layer after it

    def __repr__(self) -> str:
        return self.__name__

    def __call__(self, *blocks):
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.op(*blocks)

    def __dask_tokenize__(self):
        return "losslab.quietly", self.op.__module__, self.op.__qualname__


def quietly(op: Callable, a, b):
    """``op(a, b)``, an elementwise operator (``operator.truediv``, ``operator.mul``) whose
    inf and NaN (of a division by zero, ``0 * inf``) are the wanted results, without NumPy's
    warnings about them, now or when a Dask result is computed. An overflow still warns.

    >>> import operator
    >>> quietly(operator.truediv, np.float64(0.0), np.float64(0.0))
    np.float64(nan)
    """
    if _library(a) == "dask" or _library(b) == "dask":
        import dask.array as da

        a, b = da.broadcast_arrays(a, b)
        return da.map_blocks(_Quiet(op), a, b, dtype=np.result_type(a.dtype, b.dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        return op(a, b)


class _Silent:
    """A Dask task's function run under ``np.errstate(all="ignore")``: the IEEE steps a loss takes
    quietly on NumPy arrays (its ``np.errstate`` blocks) stay quiet when a Dask worker computes them."""

    def __init__(self, func: Callable) -> None:
        self.func = func

    def __repr__(self) -> str:
        return f"quiet({self.func!r})"

    def __call__(self, *args, **kwargs):
        with np.errstate(all="ignore"):
            return self.func(*args, **kwargs)

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return "losslab.silent", tokenize(self.func)


def _silent_node(node):
    from dask._task_spec import Task

    if type(node) is not Task or isinstance(node.func, _Silent):
        return node
    args = tuple(_silent_node(a) for a in node.args)
    kwargs = {k: _silent_node(a) for k, a in node.kwargs.items()}
    return Task(node.key, _Silent(node.func), *args, _data_producer=node.data_producer, **kwargs)


def silent(result):
    """``result`` (an array, or a tuple of arrays) with each Dask array's tasks run without NumPy's
    floating-point warnings when it is computed, as the loss ran on NumPy arrays; anything else as it is.

    NumPy's error state is per thread, so a loss's ``np.errstate`` does not reach the threads that
    compute a Dask graph later; this wraps each task of the graph instead (no task runs now).
    """
    if "dask.array" not in sys.modules:  # no Dask array can exist
        return result
    if isinstance(result, tuple):
        return tuple(silent(r) for r in result)
    if _library(result) != "dask":
        return result
    import dask.array as da
    from dask._task_spec import convert_legacy_graph
    from dask.highlevelgraph import HighLevelGraph

    graph = convert_legacy_graph(dict(result.__dask_graph__()))  # tuple tasks (a reduction's) as Task nodes
    graph = {k: _silent_node(node) for k, node in graph.items()}
    hlg = HighLevelGraph.from_collections(result.name, graph, dependencies=())
    return da.Array(hlg, result.name, result.chunks, meta=result._meta)
