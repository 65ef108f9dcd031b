"""The converted losses (``LossSpec.array_api``) on other array libraries, against their NumPy results.

Every registry case x reduction, forward and backward, on array-api-strict (the standard's
reference implementation: nothing NumPy-only gets through), on Dask arrays chunked along the
batch (lazy until computed) and on PyTorch tensors; CuPy when a GPU is present. Each library
is optional: its tests skip when it is not installed.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _support import as_tuple, case_args, spec_case_reduction

from losslab import _array_api as xpa
from losslab.registry import LOSSES, get

CONVERTED = [spec.name for spec in LOSSES if spec.array_api]
PARAMS = spec_case_reduction(only=CONVERTED)
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}


def _numpy_call(spec, case, reduction, dtype):
    """The NumPy reference: (out, dout, gradients)."""
    inputs, options = case_args(case, dtype)
    out = spec.function(*inputs, **options, reduction=reduction)
    dout = np.random.default_rng(7).uniform(0.5, 1.5, np.shape(out)).astype(dtype)
    grads = as_tuple(spec.backward(dout, *inputs, **options, reduction=reduction))
    return out, dout, grads


def _convert(case, dtype, dout, to):
    """The case's arrays (inputs, array options, dout) converted by ``to``; other options as they are."""
    inputs, options = case_args(case, dtype)
    inputs = tuple(to(np.asarray(a)) for a in inputs)
    options = {k: to(val) if isinstance(val, np.ndarray) else val for k, val in options.items()}
    return inputs, options, to(np.asarray(dout))


def _library_call(spec, case, reduction, dtype, to):
    """The same call on converted arrays: (NumPy out, NumPy grads, library out, library grads)."""
    out, dout, grads = _numpy_call(spec, case, reduction, dtype)
    inputs, options, ldout = _convert(case, dtype, dout, to)
    lout = spec.function(*inputs, **options, reduction=reduction)
    lgrads = as_tuple(spec.backward(ldout, *inputs, **options, reduction=reduction))
    return out, grads, lout, lgrads


def _assert_close(result, expected, dtype):
    assert np.shape(result) == np.shape(expected)
    np.testing.assert_allclose(result, expected, **TOL[dtype])


# --------------------------------------------------------------------------- array-api-strict


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("spec, case, reduction", PARAMS)
def test_array_api_strict_matches_numpy(spec, case, reduction, dtype):
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    out, grads, sout, sgrads = _library_call(spec, case, reduction, dtype, xps.asarray)
    expected_dtype = xps.float64 if dtype is np.float64 else xps.float32
    for result, expected in zip((sout,) + sgrads, (out,) + grads, strict=True):
        assert type(result) is type(xps.asarray(0))
        assert result.dtype == expected_dtype
        _assert_close(np.from_dlpack(result), expected, dtype)


@pytest.mark.parametrize("spec", [get(n) for n in CONVERTED], ids=CONVERTED)
def test_class_on_array_api_strict(spec):
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    for case in spec.make_cases():  # array options (a class weight) in the input's library too
        inputs, options, _ = _convert(case, np.float64, 1.0, xps.asarray)
        loss, args = spec.build(inputs, options)
        out = spec.call(loss, args)
        assert type(out) is type(xps.asarray(0))
        # the class is the function on the same library, to the bit; NumPy's (maybe fused) result within TOL
        np.testing.assert_array_equal(np.from_dlpack(out), np.from_dlpack(spec.function(*inputs, **options)))
        _assert_close(np.from_dlpack(out), spec.function(*case_args(case)[0], **case_args(case)[1]), np.float64)
        for g, e in zip(spec.gradients(loss), as_tuple(spec.backward(1.0, *inputs, **options)), strict=True):
            assert type(g) is type(xps.asarray(0))
            np.testing.assert_array_equal(np.from_dlpack(g), np.from_dlpack(e))


# --------------------------------------------------------------------------- Dask


def _dask_array(a: np.ndarray):
    """A Dask array chunked along the first (batch) axis, in two chunks where there are two rows."""
    import dask.array as da

    chunks = ((a.shape[0] + 1) // 2 or 1,) + a.shape[1:] if a.ndim else ()
    return da.from_array(a, chunks=chunks)


class _TaskCounter:
    """Counts the tasks Dask runs while it is active: 0 means nothing was computed."""

    def __enter__(self):
        from dask.callbacks import Callback

        self.count = 0

        def pretask(key, dsk, state):
            self.count += 1

        self._callback = Callback(pretask=pretask)
        self._callback.__enter__()
        return self

    def __exit__(self, *exc):
        self._callback.__exit__(*exc)


@pytest.mark.parametrize("spec, case, reduction", PARAMS)
def test_dask_is_lazy_and_matches_numpy(spec, case, reduction):
    da = pytest.importorskip("dask.array")
    pytest.importorskip("array_api_compat")
    with _TaskCounter() as tasks:
        out, grads, dout_, dgrads = _library_call(spec, case, reduction, np.float64, _dask_array)
    assert tasks.count == 0, "the loss computed part of its Dask graph before being asked to"
    for result, expected in zip((dout_,) + dgrads, (out,) + grads, strict=True):
        assert isinstance(result, da.Array)
        assert result.dtype == np.float64
        _assert_close(result.compute(), expected, np.float64)


# --------------------------------------------------------------------------- PyTorch and CuPy


@pytest.mark.parametrize("spec, case, reduction", PARAMS)
def test_torch_tensors_match_numpy(spec, case, reduction):
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    out, grads, tout, tgrads = _library_call(spec, case, reduction, np.float64, torch.from_numpy)
    for result, expected in zip((tout,) + tgrads, (out,) + grads, strict=True):
        assert isinstance(result, torch.Tensor) and result.dtype == torch.float64
        _assert_close(result.numpy(), expected, np.float64)


def _cupy():
    cp = pytest.importorskip("cupy")
    pytest.importorskip("array_api_compat")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no GPU")
    except cp.cuda.runtime.CUDARuntimeError:
        pytest.skip("no GPU")
    return cp


@pytest.mark.parametrize("spec, case, reduction", PARAMS)
def test_cupy_arrays_match_numpy(spec, case, reduction):
    cp = _cupy()
    out, grads, cout, cgrads = _library_call(spec, case, reduction, np.float64, cp.asarray)
    for result, expected in zip((cout,) + cgrads, (out,) + grads, strict=True):
        assert isinstance(result, cp.ndarray) and result.dtype == np.float64
        _assert_close(cp.asnumpy(result), expected, np.float64)


# --------------------------------------------------------------------------- helpers beside the losses


def _converter(to):
    """``(convert, back)``: NumPy -> the library (skipping when it is missing), and back to NumPy."""
    pytest.importorskip("array_api_compat")
    if to == "strict":
        xps = pytest.importorskip("array_api_strict")
        return xps.asarray, np.from_dlpack
    if to == "dask":
        pytest.importorskip("dask.array")
        return _dask_array, lambda a: np.asarray(a.compute())
    torch = pytest.importorskip("torch")
    return torch.from_numpy, lambda a: a.numpy()


def _textbook_cases(dtype):
    """(name, y or x, t) for the book's losses: probabilities with one-hot rows, class indices, one sample."""
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(6, 4)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, size=6)
    onehot = np.eye(4)[labels]
    soft = np.full((6, 4), 0.25)
    return [
        ("one-hot", probs.astype(dtype), onehot.astype(dtype), logits.astype(dtype)),
        ("indices", probs.astype(dtype), labels, logits.astype(dtype)),
        ("soft rows", probs.astype(dtype), soft.astype(dtype), logits.astype(dtype)),
        ("one sample", probs[0].astype(dtype), np.int64(labels[0]), logits[0].astype(dtype)),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("to", ["strict", "dask", "torch"])
def test_textbook_losses_match_numpy(to, dtype):
    """The book's functions and layers compute in the inputs' library and give the NumPy numbers."""
    convert, back = _converter(to)
    from losslab.functional import (
        cross_entropy_error,
        cross_entropy_error_backward,
        mean_squared_error,
        mean_squared_error_backward,
    )
    from losslab.nn import MeanSquaredError, SoftmaxWithLoss

    def lib(a):
        return convert(np.asarray(a))

    for label, y, t, x in _textbook_cases(dtype):
        pairs = [
            (cross_entropy_error(lib(y), lib(t)), cross_entropy_error(y, t)),
            (cross_entropy_error_backward(0.75, lib(y), lib(t)), cross_entropy_error_backward(0.75, y, t)),
        ]
        layer, ref = SoftmaxWithLoss(), SoftmaxWithLoss()
        pairs += [(layer(lib(x), lib(t)), ref(x, t)), (layer.backward(0.75), ref.backward(0.75))]
        if label == "one-hot":
            pairs += [
                (mean_squared_error(lib(y), lib(t)), mean_squared_error(y, t)),
                (mean_squared_error_backward(0.75, lib(y), lib(t)), mean_squared_error_backward(0.75, y, t)),
            ]
            mse, ref_mse = MeanSquaredError(), MeanSquaredError()
            pairs += [(mse(lib(y), lib(t)), ref_mse(y, t)), (mse.backward(), ref_mse.backward())]
        for result, expected in pairs:
            assert xpa._library(result) == xpa._library(lib(y)), label
            got = back(result)
            assert got.dtype == np.dtype(dtype) and got.shape == np.shape(expected), label
            _assert_close(got, expected, dtype)


def test_textbook_value_checks_on_dask_run_when_computed():
    """Probabilities outside [0, 1] and rows that do not sum to 1 raise NumPy's errors at ``compute()``."""
    convert, _ = _converter("dask")
    from losslab.functional import cross_entropy_error
    from losslab.nn import SoftmaxWithLoss

    y = np.full((4, 3), 1 / 3)
    y[3, 1] = 1.5
    lazy = cross_entropy_error(convert(y), convert(np.eye(3)[[0, 1, 2, 0]]))
    with pytest.raises(
        ValueError,
        match=r"^y must hold probabilities \(e\.g\. a softmax output, not logits\) "
        r"in \[0, 1\], got the value 1\.5$",
    ):
        lazy.compute()
    rows = np.full((4, 3), 0.25)
    message = r"^t's rows must sum to 1 \(one-hot rows or class probabilities\), got a row summing to 0\.75"
    with pytest.raises(ValueError, match=message):
        SoftmaxWithLoss()(np.zeros((4, 3)), rows)
    lazy = SoftmaxWithLoss()(convert(np.zeros((4, 3))), convert(rows))
    with pytest.raises(ValueError, match=message):
        lazy.compute()


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "focal_loss"])
@pytest.mark.parametrize("how", ["all ignored", "zero weights", "zero weights, smoothed"])
@pytest.mark.parametrize("to", ["strict", "dask"])
def test_mean_over_a_zero_denominator_is_ieee_without_warnings(name, how, to):
    """'mean' with nothing to divide by gives PyTorch's numbers (NaN, or inf and NaN gradients), on any
    library, and no RuntimeWarning: on Dask, too, where the arithmetic runs later, at ``compute()``
    (warnings are errors in this suite)."""
    convert, back = _converter(to)
    import losslab.functional as F

    if how == "zero weights, smoothed" and name != "cross_entropy":
        pytest.skip("label smoothing is cross-entropy's option")
    rng = np.random.default_rng(9)
    x = rng.normal(size=(6, 3))
    t = np.full(6, -100) if how == "all ignored" else np.array([0, 0, 1, 1, 0, 1])
    options = {} if how == "all ignored" else {"weight": np.array([0.0, 0.0, 1.0])}
    if how == "zero weights, smoothed":
        options["label_smoothing"] = 0.3  # a nonzero sum over a zero denominator: inf
    fn, bwd = getattr(F, name), getattr(F, name + "_backward")
    lib = {k: convert(a) for k, a in options.items() if isinstance(a, np.ndarray)}
    lib_options = {**options, **lib}
    out, grad = fn(x, t, **options), bwd(1.0, x, t, **options)
    lout, lgrad = fn(convert(x), convert(t), **lib_options), bwd(1.0, convert(x), convert(t), **lib_options)
    np.testing.assert_array_equal(back(lout), out)
    np.testing.assert_array_equal(back(lgrad), grad)
    if how == "all ignored":
        assert np.isnan(out) and np.all(grad == 0)


@pytest.mark.parametrize("to", ["strict", "dask"])
def test_distances_and_sparsemax_match_numpy(to):
    convert, back = _converter(to)
    from losslab.functional import (
        cosine_distance,
        cosine_distance_backward,
        pairwise_distance,
        pairwise_distance_backward,
        sparsemax,
        sparsemax_backward,
    )
    from losslab.nn import CosineDistance

    rng = np.random.default_rng(5)
    x1, x2, d = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=6)
    a1, a2, ad = convert(x1), convert(x2), convert(d)
    pairs = [
        (pairwise_distance(a1, a2, p=1.5), pairwise_distance(x1, x2, p=1.5)),
        (cosine_distance(a1, a2, eps=0.0), cosine_distance(x1, x2, eps=0.0)),
        (CosineDistance()(a1, a2), cosine_distance(x1, x2)),
        (sparsemax(a1), sparsemax(x1)),
        (sparsemax(a1, axis=0), sparsemax(x1, axis=0)),
        (sparsemax_backward(a2, a1, axis=0), sparsemax_backward(x2, x1, axis=0)),
    ]
    pairs += list(zip(pairwise_distance_backward(ad, a1, a2, p=3.0), pairwise_distance_backward(d, x1, x2, p=3.0)))
    pairs += list(zip(cosine_distance_backward(ad, a1, a2), cosine_distance_backward(d, x1, x2)))
    for result, expected in pairs:
        _assert_close(back(result), expected, np.float64)


def test_custom_distance_of_another_library_is_a_type_error():
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    from losslab.functional import triplet_margin_with_distance_loss

    class NumpyDistance:
        def forward(self, x1, x2):
            return np.zeros(tuple(x1.shape[:1]))

        def backward(self, dout):
            raise AssertionError("not reached")

    a = xps.zeros((2, 3), dtype=xps.float64)
    with pytest.raises(
        TypeError, match="anchor is an array_api_strict.Array but distance_function's output is a numpy.ndarray"
    ):
        triplet_margin_with_distance_loss(a, a, a, distance_function=NumpyDistance())


# --------------------------------------------------------------------------- one library per call


@pytest.mark.parametrize("spec", [get(n) for n in CONVERTED], ids=CONVERTED)
def test_mixing_libraries_is_a_type_error(spec):
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    case = spec.make_cases()[0]
    inputs, options = case_args(case)
    mixed = (xps.asarray(inputs[0]),) + inputs[1:]
    first, second = spec.inputs[0], spec.inputs[1]
    with pytest.raises(
        TypeError,
        match=f"{first} is an array_api_strict.Array but {second} is a numpy.ndarray: pass arrays of one library",
    ):
        spec.function(*mixed, **options)
    strict_inputs = tuple(xps.asarray(a) for a in inputs)
    strict_options = {k: xps.asarray(val) if isinstance(val, np.ndarray) else val for k, val in options.items()}
    out = spec.function(*strict_inputs, **strict_options, reduction="none")
    with pytest.raises(TypeError, match="dout is a numpy.ndarray but input is an array_api_strict.Array"):
        spec.backward(np.ones(tuple(out.shape)), *strict_inputs, **strict_options, reduction="none")


def test_mixing_torch_and_numpy_names_both():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    from losslab.functional import log_cosh_loss

    with pytest.raises(
        TypeError,
        match=r"^input is a torch.Tensor but target is a numpy.ndarray: "
        r"pass arrays of one library$",
    ):
        log_cosh_loss(torch.zeros(3, dtype=torch.float64), np.zeros(3))


def test_mixed_weight_is_a_type_error():
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    from losslab.functional import multilabel_soft_margin_loss

    x, t = xps.zeros((2, 3), dtype=xps.float64), xps.ones((2, 3), dtype=xps.float64)
    with pytest.raises(TypeError, match="input is an array_api_strict.Array but weight is a numpy.ndarray"):
        multilabel_soft_margin_loss(x, t, weight=np.ones(3))


def test_scalars_and_lists_go_with_any_library():
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    from losslab.functional import hinge_embedding_loss, hinge_embedding_loss_backward

    x = xps.asarray([0.3, 0.3, 1.5], dtype=xps.float32)
    out = hinge_embedding_loss(x, [1.0, -1.0, -1.0], reduction="none")
    assert type(out) is type(xps.asarray(0)) and out.dtype == xps.float32
    np.testing.assert_allclose(np.from_dlpack(out), [0.3, 0.7, 0.0], rtol=1e-6)
    g = hinge_embedding_loss_backward(np.float64(2.0), x, [1.0, -1.0, -1.0], reduction="sum")
    np.testing.assert_array_equal(np.from_dlpack(g), [2.0, -2.0, 0.0])


# --------------------------------------------------------------------------- value checks


def test_eager_value_checks_keep_their_messages():
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    from losslab._validation import ClassIndexError
    from losslab.functional import dice_loss, hinge_embedding_loss, multi_margin_loss

    with pytest.raises(ValueError, match=r"target must hold only the labels 1 and -1, got the value 0.5"):
        hinge_embedding_loss(xps.zeros(3, dtype=xps.float64), xps.asarray([1.0, 0.5, -1.0]))
    with pytest.raises(ClassIndexError, match=r"target holds the class index 4, out of range"):
        multi_margin_loss(xps.zeros((2, 3), dtype=xps.float64), xps.asarray([0, 4]))
    with pytest.raises(ValueError, match=r"the dice denominator is 0 for sample 1, class 0"):
        dice_loss(xps.asarray([[[0.5]], [[0.0]]]), xps.asarray([[[1.0]], [[0.0]]]), smooth=0.0)


def test_dask_value_checks_run_when_computed():
    """Bad values in a later chunk: the call stays lazy, ``.compute()`` raises the NumPy message."""
    da = pytest.importorskip("dask.array")
    pytest.importorskip("array_api_compat")
    from losslab._validation import ClassIndexError
    from losslab.functional import dice_loss, hinge_embedding_loss, multi_margin_loss, quantile_loss

    labels = np.ones(8)
    labels[6] = 0.5
    with _TaskCounter() as tasks:
        out = hinge_embedding_loss(da.zeros(8, chunks=4), da.from_array(labels, chunks=4))
    assert tasks.count == 0
    with pytest.raises(ValueError, match=r"target must hold only the labels 1 and -1, got the value 0.5"):
        out.compute()

    classes = da.from_array(np.array([0, 1, 2, 7]), chunks=2)
    loss = multi_margin_loss(da.zeros((4, 3), chunks=(2, 3)), classes, reduction="none")
    with pytest.raises(ClassIndexError, match=r"target holds the class index 7"):
        loss.compute()

    probs = np.full((4, 1, 2), 0.5)
    probs[3] = 0.0
    masks = np.ones((4, 1, 2))
    masks[3] = 0.0
    loss = dice_loss(da.from_array(probs, chunks=(2, 1, 2)), da.from_array(masks, chunks=(2, 1, 2)), smooth=0.0)
    with pytest.raises(ValueError, match=r"the dice denominator is 0 for sample 3, class 0"):  # global index
        loss.compute()

    x = da.zeros((2, 2), chunks=(1, 2))
    with pytest.raises(ValueError, match=r"input must be a 2-D array"):  # shapes: at the door
        quantile_loss(da.zeros(3, chunks=2), da.zeros(3, chunks=2), quantiles=[0.5])
    assert quantile_loss(x, da.zeros(2, chunks=1), quantiles=[0.1, 0.9]).compute() == 0.0


def test_out_of_core_loss_and_gradient_stay_lazy():
    """200,000 x 8 in 20 chunks through a row-wise and an elementwise loss, computed only when asked."""
    da = pytest.importorskip("dask.array")
    pytest.importorskip("array_api_compat")
    from losslab.functional import (
        cosine_embedding_loss,
        cosine_embedding_loss_backward,
        log_cosh_loss,
        log_cosh_loss_backward,
    )

    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(0, 2, (200_000, 8)), rng.normal(0, 2, (200_000, 8))
    y = rng.choice([-1.0, 1.0], 200_000)
    d1, d2 = da.from_array(x1, chunks=(10_000, 8)), da.from_array(x2, chunks=(10_000, 8))
    dy = da.from_array(y, chunks=10_000)
    with _TaskCounter() as tasks:
        loss = log_cosh_loss(d1, d2)
        grad = log_cosh_loss_backward(1.0, d1, d2)
        closs = cosine_embedding_loss(d1, d2, dy, margin=0.2)
        g1, g2 = cosine_embedding_loss_backward(1.0, d1, d2, dy, margin=0.2)
    assert tasks.count == 0
    assert grad.numblocks == (20, 1) and g1.numblocks == (20, 1)
    with _TaskCounter() as tasks:
        value, gradient = da.compute(loss, grad)
    assert tasks.count > 20  # every chunk was read
    np.testing.assert_allclose(value, log_cosh_loss(x1, x2), rtol=1e-12)
    np.testing.assert_allclose(gradient, log_cosh_loss_backward(1.0, x1, x2), rtol=1e-12)
    np.testing.assert_allclose(closs.compute(), cosine_embedding_loss(x1, x2, y, margin=0.2), rtol=1e-12)
    e1, e2 = cosine_embedding_loss_backward(1.0, x1, x2, y, margin=0.2)
    np.testing.assert_allclose(g1.compute(), e1, rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose(g2.compute(), e2, rtol=1e-12, atol=1e-20)


def test_dask_value_checks_of_the_probability_losses_run_when_computed():
    """BCE's [0, 1] checks, KL's p >= 0, a class index and a negative variance: lazy, raised by .compute()."""
    da = pytest.importorskip("dask.array")
    pytest.importorskip("array_api_compat")
    from losslab._validation import ClassIndexError
    from losslab.functional import binary_cross_entropy, cross_entropy, gaussian_nll_loss, kl_div

    probs = np.full(8, 0.5)
    probs[5] = 1.5
    half = da.full(8, 0.5, chunks=4)
    with _TaskCounter() as tasks:
        bce_input = binary_cross_entropy(da.from_array(probs, chunks=4), half)
        bce_target = binary_cross_entropy(half, da.from_array(probs, chunks=4))
        kl = kl_div(half, da.from_array(probs - 1.0, chunks=4))
        ce = cross_entropy(da.zeros((4, 3), chunks=(2, 3)), da.from_array(np.array([0, 1, 2, 3]), chunks=2))
        gauss = gaussian_nll_loss(half, half, da.from_array(probs - 1.0, chunks=4))
    assert tasks.count == 0
    with pytest.raises(ValueError, match=r"^input must hold probabilities in \[0, 1\], got the value 1.5$"):
        bce_input.compute()
    with pytest.raises(ValueError, match=r"^target must hold probabilities in \[0, 1\], got the value 1.5$"):
        bce_target.compute()
    with pytest.raises(ValueError, match=r"target must hold probabilities >= 0 when log_target=False"):
        kl.compute()
    with pytest.raises(ClassIndexError, match=r"target holds the class index 3, out of range"):
        ce.compute()
    with pytest.raises(ValueError, match=r"var must be non-negative"):
        gauss.compute()


@pytest.mark.parametrize(
    "name", ["CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"]
)
def test_fused_loss_objects_engage_for_numpy_only(name):
    """The fused kernels (and the gradient a loss object keeps from a fused forward) are NumPy's; other
    arrays take the pure backward."""
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    spec = get(name)
    for case in spec.make_cases():  # the first case the fused path takes
        inputs, options = case_args(case)
        loss = spec.cls(**options)
        loss(*inputs)
        if loss._pending is not None:  # NumPy: fused, the gradient kept
            break
    else:
        pytest.fail(f"no {name} case takes the fused path")
    strict = tuple(xps.asarray(a) for a in inputs)
    out = loss(*strict)
    assert loss._pending is None and type(out) is type(xps.asarray(0))
    grad = loss.backward(2.0)
    np.testing.assert_array_equal(np.from_dlpack(grad), np.from_dlpack(spec.backward(2.0, *strict, **options)))
    _assert_close(np.from_dlpack(grad), spec.backward(2.0, *inputs, **options), np.float64)


# --------------------------------------------------------------------------- the NumPy path stays NumPy-only


def test_numpy_namespace_needs_no_import():
    assert xpa.namespace(np.ones(2), np.float32(1.0), 2.0, [1.0], None) is np
    assert xpa.namespace() is np


def test_import_and_numpy_calls_do_not_import_array_api_compat_or_dask():
    code = (
        "import sys, numpy as np, losslab, losslab.registry\n"
        "from losslab.functional import log_cosh_loss_backward, dice_loss\n"
        "log_cosh_loss_backward(1.0, np.ones(3), np.zeros(3))\n"
        "dice_loss(np.full((1, 1, 2), 0.5), np.ones((1, 1, 2)))\n"
        "from losslab.functional import cross_entropy, cross_entropy_backward, mse_loss, gaussian_nll_loss\n"
        "cross_entropy_backward(1.0, np.zeros((2, 3)), np.array([0, 2]))\n"
        "cross_entropy(np.zeros((2, 3)), np.array([0, 2]), label_smoothing=0.1)\n"
        "mse_loss(np.ones(3), np.zeros(3)); gaussian_nll_loss(np.ones(3), np.zeros(3), 1.0)\n"
        "bad = [m for m in ('array_api_compat', 'array_api_strict', 'dask', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- the array-API guide


def _readme_section() -> str:
    """The array-API guide (docs/guide/arrays.md), up to its out-of-core part."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "arrays.md").read_text(encoding="utf-8")
    return text.split("\n## Larger than memory")[0]


def test_readme_lists_exactly_the_converted_losses():
    after = _readme_section().split("| family | losses |")[1].strip().splitlines()[1:]
    table = "\n".join(itertools.takewhile(lambda line: line.startswith("|"), after))
    listed = set(re.findall(r"`(\w+Loss)`", table))
    assert listed == set(CONVERTED)


def test_readme_examples_run():
    pytest.importorskip("torch")
    pytest.importorskip("dask.array")
    pytest.importorskip("array_api_compat")
    blocks = re.findall(r"```python\n(.*?)```", _readme_section(), flags=re.S)
    assert len(blocks) == 2
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "arrays.md", "exec"), namespace)
    assert namespace["gradient"].shape == (2_000_000, 8)


def test_ctc_on_dask_maps_over_batch_chunks():
    """CTC on Dask: the NumPy recursion per chunk of the batch, lazy; checks raise at .compute()."""
    da = pytest.importorskip("dask.array")
    pytest.importorskip("array_api_compat")
    from losslab._validation import ClassIndexError
    from losslab.functional import ctc_loss, ctc_loss_backward
    from losslab.registry import _ctc_log_probs

    rng = np.random.default_rng(3)
    lp = _ctc_log_probs(rng, (9, 6, 5))
    il = np.array([9, 7, 8, 9, 3, 6], dtype=np.int64)
    tl = np.array([3, 2, 0, 4, 1, 2], dtype=np.int64)
    targets = rng.integers(1, 5, int(tl.sum()))
    dlp = da.from_array(lp, chunks=(3, 2, 5))
    dt, dil, dtl = da.from_array(targets, chunks=4), da.from_array(il, chunks=3), da.from_array(tl, chunks=3)
    with _TaskCounter() as tasks:
        loss = ctc_loss(dlp, dt, dil, dtl, reduction="none")
        grad = ctc_loss_backward(2.0, dlp, dt, dil, dtl)
    assert tasks.count == 0
    assert grad.numblocks[1] > 1  # one task per chunk of the batch
    _assert_close(loss.compute(), ctc_loss(lp, targets, il, tl, reduction="none"), np.float64)
    _assert_close(grad.compute(), ctc_loss_backward(2.0, lp, targets, il, tl), np.float64)

    bad = targets.copy()
    bad[-1] = 0  # the blank, in the last sequence
    out = ctc_loss(dlp, da.from_array(bad, chunks=4), dil, dtl)
    with pytest.raises(ClassIndexError, match=r"targets hold the label 0 \(sequence 5, position 1\)"):
        out.compute()
    short = il.copy()
    short[4] = 0  # a label in no frame: infinite loss, no gradient
    g = ctc_loss_backward(1.0, dlp, dt, da.from_array(short, chunks=3), dtl)
    with pytest.raises(ValueError, match=r"the CTC loss is infinite for sequence\(s\) \[4\]"):
        g.compute()


def test_the_quiet_dask_wrappers_keep_classes_and_kernels():
    """losslab.functional wraps its functions for Dask's quiet compute: classes stay classes (isinstance works),
    and a fused function keeps its reference and kernel."""
    import inspect

    import losslab.functional as F

    for name in F.__all__:
        obj = getattr(F, name)
        source = inspect.getmodule(inspect.unwrap(obj)) if not isinstance(obj, type) else None
        if isinstance(obj, type):
            assert isinstance(obj(), obj) if name.endswith("Options") else True
        else:
            assert getattr(source, name) is obj, name  # the family module binds the same object
    assert isinstance(F.LinearCrossEntropyOptions(), F.LinearCrossEntropyOptions)
    assert F.cross_entropy.reference is not None and F.cross_entropy.kernel is not None
