"""The fused fast paths (losslab._fast) against the reference implementations they stand in for.

Every test runs on each available backend (the NumPy kernels always, the numba kernels
when numba is installed) and on one thread and on several (the threshold for threads is
lowered so that small arrays take the threaded path). Nothing here measures time.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from losslab import _fast, nn
from losslab._fast import _dispatch, _numpy
from losslab._validation import ClassIndexError
from losslab.functional import classification as FC
from losslab.functional import embedding as FE
from losslab.functional import regression as FR
from losslab.functional import robust as FRobust

TOL = {np.float64: dict(rtol=1e-12), np.float32: dict(rtol=2e-5)}


def _have_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not _have_numba(), reason="numba not installed"))]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Force one kernel set for the test; restore the dispatcher's state afterwards."""
    monkeypatch.setitem(_dispatch._state, "kernels", None if request.param == "numba" else False)
    monkeypatch.setenv("LOSSLAB_NUMBA", "1")
    assert _fast.backend() == request.param
    return request.param


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request, monkeypatch):
    """One thread, or two with the threshold lowered so that test-sized calls are split."""
    old = _fast.get_num_threads()
    _fast.set_num_threads(request.param)
    if request.param > 1:
        monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 16)
    yield request.param
    _fast.set_num_threads(old)


def assert_close(actual, expected, dtype, scale=None):
    """Within the dtype's tolerance, relative to the largest magnitude (``scale``) for near-zero entries."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype == np.dtype(dtype)
    assert actual.shape == expected.shape
    tol = TOL[dtype]["rtol"]
    ref = float(np.max(np.abs(expected), initial=0.0)) if scale is None else scale
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * ref + np.finfo(dtype).tiny * 1e6)


# --------------------------------------------------------------------------- cross-entropy

CE_SHAPES = [(1, 1), (1, 10), (7, 3), (32, 10), (100, 17), (33, 64), (9, 1000)]


def _ce_inputs(n, c, dtype, seed=0, spread=3.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c)) * spread).astype(dtype), rng.integers(0, c, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_reference(backend, threads, dtype, shape, reduction):
    x, t = _ce_inputs(*shape, dtype)
    assert _fast.cross_entropy(x, t, None, -100, reduction, 0.0) is not None
    out = FC.cross_entropy(x, t, reduction=reduction)
    assert_close(out, FC.cross_entropy.reference(x, t, reduction=reduction), dtype)
    dout = np.linspace(0.5, 1.5, shape[0]).astype(dtype) if reduction == "none" else 0.75
    grad = FC.cross_entropy_backward(dout, x, t, reduction=reduction)
    assert_close(grad, FC.cross_entropy_backward.reference(dout, x, t, reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_extreme_logits(backend, threads, dtype):
    x = np.array(
        [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [0.0, 0.0, 0.0], [1e4, 1e4 - 1, -3.0], [50.0, -50.0, 100.0]], dtype
    )
    for t in (np.array([0, 1, 2, 1, 1]), np.array([1, 0, 0, 2, 2])):
        for reduction in ("mean", "sum", "none"):
            out = FC.cross_entropy(x, t, reduction=reduction)
            assert np.all(np.isfinite(out))
            assert_close(out, FC.cross_entropy.reference(x, t, reduction=reduction), dtype)
            assert_close(
                FC.cross_entropy_backward(1.0, x, t, reduction=reduction),
                FC.cross_entropy_backward.reference(1.0, x, t, reduction=reduction),
                dtype,
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_tiny_loss_keeps_relative_precision(backend, dtype):
    """A confident correct prediction: the loss ~ exp(-20) is not swallowed by 1 + rest."""
    x = np.array([[20.0, 0.0, 0.0, -5.0]], dtype)
    t = np.array([0])
    exact = np.log1p(2 * np.exp(-20.0) + np.exp(-25.0))
    np.testing.assert_allclose(FC.cross_entropy(x, t), exact, rtol=TOL[dtype]["rtol"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ignore_index", [-100, 2, 0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_ignore_index(backend, threads, dtype, ignore_index, reduction):
    x, t = _ce_inputs(40, 5, dtype, seed=3)
    t[::3] = ignore_index
    out = FC.cross_entropy(x, t, ignore_index=ignore_index, reduction=reduction)
    assert_close(out, FC.cross_entropy.reference(x, t, ignore_index=ignore_index, reduction=reduction), dtype)
    grad = FC.cross_entropy_backward(1.0, x, t, ignore_index=ignore_index, reduction=reduction)
    assert_close(
        grad, FC.cross_entropy_backward.reference(1.0, x, t, ignore_index=ignore_index, reduction=reduction), dtype
    )
    assert np.all(grad[t == ignore_index] == 0)


def test_cross_entropy_non_contiguous_and_other_label_dtypes(backend, threads):
    x, t = _ce_inputs(30, 12, np.float64, seed=5)
    views = [np.asfortranarray(x), x[::2], x[:, ::2], x.T.copy().T]
    for xv in views:
        tv = t[: xv.shape[0]] % xv.shape[1]
        for labels in (tv, tv.astype(np.int32), tv.astype(np.uint8), tv.astype(np.uint64)):
            assert_close(
                FC.cross_entropy(xv, labels, reduction="none"),
                FC.cross_entropy.reference(xv, labels, reduction="none"),
                np.float64,
            )
            assert_close(
                FC.cross_entropy_backward(1.0, xv, labels),
                FC.cross_entropy_backward.reference(1.0, xv, labels),
                np.float64,
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_nan_propagates(backend, dtype):
    x, t = _ce_inputs(4, 6, dtype)
    x[1, 2] = np.nan
    x[2, 3] = np.inf
    with np.errstate(invalid="ignore"):
        out = FC.cross_entropy(x, t, reduction="none")
        ref = FC.cross_entropy.reference(x, t, reduction="none")
        assert np.isnan(FC.cross_entropy(x, t))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))


def test_cross_entropy_falls_back_outside_the_fused_cases(backend):
    x, t = _ce_inputs(6, 4, np.float64)
    w = np.array([1.0, 2.0, 0.5, 1.0])
    probs = np.full_like(x, 0.25)
    for args in [
        (x, t, w, -100, "mean", 0.0),
        (x, t, None, -100, "mean", 0.1),
        (x, probs, None, -100, "mean", 0.0),
        (x[0], t[0], None, -100, "mean", 0.0),
        (x.reshape(6, 4, 1), t.reshape(6, 1), None, -100, "mean", 0.0),
        (x.tolist(), t, None, -100, "mean", 0.0),
        (x, t, None, -100, "batchmean", 0.0),
        (x, t, None, True, "mean", 0.0),
        (x.astype(np.float16), t, None, -100, "mean", 0.0),
        (x, np.full(6, -100), None, -100, "mean", 0.0),
        (x, t.astype(float), None, -100, "mean", 0.0),
    ]:
        assert _fast.cross_entropy(*args) is None


def test_cross_entropy_errors_come_from_the_reference(backend):
    x, t = _ce_inputs(5, 3, np.float32)
    bad = t.copy()
    bad[2] = 3
    with pytest.raises(ClassIndexError, match="class index 3"):
        FC.cross_entropy(x, bad)
    with pytest.raises(ClassIndexError):
        nn.CrossEntropyLoss()(x, -bad - 1)
    with pytest.raises(ValueError, match="reduction"):
        FC.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match="dout"):
        FC.cross_entropy_backward(np.ones(3), x, t)
    loss = nn.CrossEntropyLoss(reduction="none")
    loss(x, t)
    with pytest.raises(ValueError, match="dout"):
        loss.backward(np.ones(4))
    all_ignored = np.full(5, -100)
    assert np.isnan(FC.cross_entropy(x, all_ignored))


# --------------------------------------------------------------------------- pointwise losses

POINTWISE = {
    "mse": (FR.mse_loss, FR.mse_loss_backward, FR.mse_loss.reference, FR.mse_loss_backward.reference, {}),
    "l1": (FR.l1_loss, FR.l1_loss_backward, FR.l1_loss.reference, FR.l1_loss_backward.reference, {}),
    "huber": (
        FR.huber_loss,
        FR.huber_loss_backward,
        FR.huber_loss.reference,
        FR.huber_loss_backward.reference,
        {"delta": 0.7},
    ),
    "smooth_l1": (
        FR.smooth_l1_loss,
        FR.smooth_l1_loss_backward,
        FR.smooth_l1_loss.reference,
        FR.smooth_l1_loss_backward.reference,
        {"beta": 1.3},
    ),
    "log_cosh": (
        FRobust.log_cosh_loss,
        FRobust.log_cosh_loss_backward,
        FRobust.log_cosh_loss.reference,
        FRobust.log_cosh_loss_backward.reference,
        {},
    ),
    "bce_logits": (
        FC.binary_cross_entropy_with_logits,
        FC.binary_cross_entropy_with_logits_backward,
        FC.binary_cross_entropy_with_logits.reference,
        FC.binary_cross_entropy_with_logits_backward.reference,
        {},
    ),
}
SIZES = [(1,), (5,), (4, 3, 2), (3 * 2**15 + 7,)]


def _pair(kind, shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    t = rng.random(shape) if kind == "bce_logits" else rng.standard_normal(shape)
    return x, t.astype(dtype)


@pytest.mark.parametrize("kind", list(POINTWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SIZES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pointwise_matches_reference(backend, threads, kind, dtype, shape, reduction):
    fwd, bwd, ref_fwd, ref_bwd, opts = POINTWISE[kind]
    x, t = _pair(kind, shape, dtype)
    param = next(iter(opts.values()), None)
    assert _fast.pointwise(kind, x, t, reduction, param) is not None
    assert_close(fwd(x, t, reduction=reduction, **opts), ref_fwd(x, t, reduction=reduction, **opts), dtype)
    dout = (np.random.default_rng(1).random(shape) + 0.5).astype(dtype) if reduction == "none" else 1.25
    assert_close(bwd(dout, x, t, reduction=reduction, **opts), ref_bwd(dout, x, t, reduction=reduction, **opts), dtype)


@pytest.mark.parametrize("kind", ["huber", "l1", "bce_logits"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_large_chunks_on_any_threads(backend, monkeypatch, kind, dtype):
    """Past 4 x 2**16 elements NumPy's chunks grow (fewer calls per pass on several threads): the results still
    match the definitions, with a ragged last chunk and a loss per element, and are the same bits on 1-3 threads."""
    n = 5 * 2**17 + 11
    assert _numpy.chunk(np.dtype(dtype), n) > _numpy.CHUNK
    monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 16)
    fwd, bwd, ref_fwd, ref_bwd, opts = POINTWISE[kind]
    x, t = _pair(kind, (n,), dtype, seed=5)
    old = _fast.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            _fast.set_num_threads(threads)
            results.append([fwd(x, t, reduction=r, **opts) for r in ("mean", "none")] + [bwd(1.0, x, t, **opts)])
    finally:
        _fast.set_num_threads(old)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            np.testing.assert_array_equal(a, b)
    mean, each, grad = results[0]
    assert_close(mean, ref_fwd(x, t, **opts), dtype)
    assert_close(each, ref_fwd(x, t, reduction="none", **opts), dtype)
    assert_close(grad, ref_bwd(1.0, x, t, **opts), dtype)


@pytest.mark.parametrize("kind", list(POINTWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_special_values(backend, kind, dtype):
    fwd, bwd, ref_fwd, ref_bwd, opts = POINTWISE[kind]
    x = np.array([0.0, -0.0, 1e4, -1e4, 0.7, -0.7, 1.3, -1.3, 3.0, 40.0, -40.0, 1e-30], dtype)
    t = np.array([0.0, 0.0, 0.0, 1.0, 0.7, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.5], dtype)
    assert_close(fwd(x, t, reduction="none", **opts), ref_fwd(x, t, reduction="none", **opts), dtype)
    assert_close(bwd(1.0, x, t, reduction="none", **opts), ref_bwd(1.0, x, t, reduction="none", **opts), dtype)
    x[3], t[5] = np.nan, np.inf
    with np.errstate(invalid="ignore"):
        out, ref = fwd(x, t, reduction="none", **opts), ref_fwd(x, t, reduction="none", **opts)
        g, ref_g = bwd(1.0, x, t, reduction="none", **opts), ref_bwd(1.0, x, t, reduction="none", **opts)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(np.isnan(g), np.isnan(ref_g))


@pytest.mark.parametrize("kind", list(POINTWISE))
def test_pointwise_non_contiguous_and_cast_targets(backend, threads, kind):
    fwd, bwd, ref_fwd, ref_bwd, opts = POINTWISE[kind]
    x, t = _pair(kind, (40, 30), np.float32, seed=2)
    for xv, tv in [(x[::2, ::3], t[::2, ::3]), (x.T, t.T), (x, t.astype(np.float64)), (x, (t > 0.5).astype(np.int64))]:
        assert_close(fwd(xv, tv, reduction="sum", **opts), ref_fwd(xv, tv, reduction="sum", **opts), np.float32)
        assert_close(bwd(0.5, xv, tv, **opts), ref_bwd(0.5, xv, tv, **opts), np.float32)


def test_pointwise_falls_back_outside_the_fused_cases(backend):
    x, t = _pair("mse", (6,), np.float64)
    for args in [
        ("mse", x, t[:5], "mean"),
        ("mse", x.tolist(), t, "mean"),
        ("mse", x, t, "batchmean"),
        ("mse", x.astype(np.int64), t, "mean"),
        ("mse", x[:0], t[:0], "mean"),
        ("huber", x, t, "mean", 0.0),
        ("huber", x, t, "mean", -1.0),
        ("huber", x, t, "mean", True),
        ("huber", x, t, "mean", float("inf")),
        ("smooth_l1", x, t, "mean", 0.0),
        ("mse", x, t.astype(complex), "mean"),
    ]:
        assert _fast.pointwise(*args) is None
    with pytest.raises(ValueError, match="kind"):
        _fast.pointwise("hinge", x, t, "mean")


def test_smooth_l1_with_beta_zero_is_l1(backend):
    x, t = _pair("l1", (50,), np.float64)
    np.testing.assert_array_equal(FR.smooth_l1_loss(x, t, beta=0.0), FR.l1_loss(x, t))


# --------------------------------------------------------------------------- loss objects

CLASSES = [
    (nn.CrossEntropyLoss, {}, "ce"),
    (nn.MSELoss, {}, "mse"),
    (nn.L1Loss, {}, "l1"),
    (nn.HuberLoss, {"delta": 0.5}, "huber"),
    (nn.SmoothL1Loss, {"beta": 2.0}, "smooth_l1"),
    (nn.BCEWithLogitsLoss, {}, "bce_logits"),
]


def _class_inputs(kind, dtype):
    if kind == "ce":
        return _ce_inputs(16, 5, dtype, seed=9)
    return _pair(kind, (16, 5), dtype, seed=9)


@pytest.mark.parametrize("cls, opts, kind", CLASSES, ids=[c[0].__name__ for c in CLASSES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_object_returns_the_function_numbers(backend, cls, opts, kind, dtype, reduction):
    x, t = _class_inputs(kind, dtype)
    loss = cls(**opts, reduction=reduction)
    out = loss(x, t)
    assert loss._pending is not None  # the fused path took the call
    np.testing.assert_array_equal(out, loss._function(x, t, **loss.options()))
    dout = np.full(np.shape(out), 0.75, dtype)
    first = loss.backward(dout)
    np.testing.assert_array_equal(first, loss._backward(dout, x, t, **loss.options()))
    second = loss.backward(dout)  # recomputed, never the array handed out before
    assert second is not first
    np.testing.assert_array_equal(second, first)
    loss(x, t)
    np.testing.assert_array_equal(loss.backward(), loss._backward(1.0, x, t, **loss.options()))


def test_loss_object_sees_options_changed_after_forward(backend):
    x, t = _ce_inputs(8, 4, np.float64)
    loss = nn.CrossEntropyLoss()
    loss(x, t)
    loss.reduction = "sum"
    np.testing.assert_array_equal(loss.backward(), FC.cross_entropy_backward(1.0, x, t, reduction="sum"))
    mse = nn.MSELoss()
    mse(x, x + 1)
    mse.reduction = "none"
    assert mse.backward(np.ones((8, 4))).shape == (8, 4)


def test_loss_object_without_fused_path_uses_the_reference(backend):
    x, t = _ce_inputs(8, 4, np.float64)
    x, t = x[:, :, None], t[:, None].astype(np.uint8)  # K-dimensional logits, unsigned labels: no kernel takes them
    loss = nn.CrossEntropyLoss(label_smoothing=0.2)
    out = loss(x, t)
    assert loss._pending is None
    np.testing.assert_array_equal(out, FC.cross_entropy.reference(x, t, label_smoothing=0.2))
    np.testing.assert_array_equal(loss.backward(), FC.cross_entropy_backward.reference(1.0, x, t, label_smoothing=0.2))


# --------------------------------------------------------------------------- dispatch


def test_results_do_not_depend_on_the_thread_count(backend, monkeypatch):
    monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 16)
    x, t = _ce_inputs(5000, 7, np.float32, seed=11)
    y, u = _pair("bce_logits", (3 * 2**15 + 5,), np.float64)
    old = _fast.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _fast.set_num_threads(n)
            results.append(
                (
                    FC.cross_entropy(x, t),
                    FC.cross_entropy_backward(1.0, x, t),
                    FC.binary_cross_entropy_with_logits(y, u),
                    FRobust.log_cosh_loss(y, u),
                    FRobust.log_cosh_loss_backward(1.0, y, u),
                )
            )
    finally:
        _fast.set_num_threads(old)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["mse", "l1", "huber", "bce_logits", "log_cosh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 12, 20, 45, 100])
def test_sums_do_not_depend_on_where_the_gradient_lies(backend, kind, dtype, n):
    """The same inputs give the same bits wherever the allocator put the gradient buffer.

    A vectorised loop that also stores runs behind a check of where its arrays lie;
    a sum taken in such a loop changed its low bits when the gradient landed just
    after an input. Here the gradient is placed at every offset just after ``x``.
    """
    k = _dispatch.kernels() or _dispatch._numpy
    fn, args = {
        "mse": (k.mse_chunks, (dtype(2),)),
        "l1": (k.l1_chunks, (dtype(1),)),
        "huber": (k.huber_chunks, (dtype(1), dtype(0.5), dtype(1))),
        "bce_logits": (k.bce_logits_chunks, (dtype(1),)),
        "log_cosh": (k.log_cosh_chunks, (dtype(1),)),
    }[kind]
    rng = np.random.default_rng(n)
    buf = np.zeros(3 * n + 64, dtype)
    x = buf[:n]
    x[:] = rng.standard_normal(n) * 2
    t = (rng.random(n) if kind == "bce_logits" else rng.standard_normal(n)).astype(dtype)
    sums = set()
    for g in [np.empty(n, dtype)] + [buf[n + j : 2 * n + j] for j in range(40)]:
        partials = np.full(1, np.nan)
        fn(x, t, g, np.empty(0, dtype), *args, 0, 1, partials)
        sums.add(float(partials[0]))
    assert len(sums) == 1, sums


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("num_classes", [3, 10, 33, 64, 100])
def test_cross_entropy_does_not_depend_on_where_the_gradient_lies(kernels, dtype, num_classes):
    """As above, for the numba cross-entropy: the gradient placed at every offset just after the logits."""
    from losslab._fast import _numba

    rng = np.random.default_rng(num_classes)
    n = 4
    size = n * num_classes
    buf = np.zeros(3 * size + 64, dtype)
    x = buf[:size].reshape(n, num_classes)
    x[:] = rng.standard_normal((n, num_classes)) * 3
    t = rng.integers(0, num_classes, n)
    results = set()
    for g in [np.empty(size, dtype)] + [buf[size + j : 2 * size + j] for j in range(40)]:
        grad = g.reshape(n, num_classes)
        valid, total = _numba.ce_small(x, t, -100, True, grad, np.empty(0))
        results.add((valid, total, grad.tobytes()))
    assert len(results) == 1


def test_numba_absent_or_disabled_means_numpy(monkeypatch):
    monkeypatch.setitem(_dispatch._state, "kernels", None)
    monkeypatch.setenv("LOSSLAB_NUMBA", "0")
    assert _fast.backend() == "numpy"
    monkeypatch.setitem(_dispatch._state, "kernels", None)
    monkeypatch.setenv("LOSSLAB_NUMBA", "1")
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.delitem(sys.modules, "losslab._fast._numba", raising=False)
    monkeypatch.delattr(_fast, "_numba", raising=False)
    assert _fast.backend() == "numpy"
    x, t = _ce_inputs(6, 3, np.float64)
    assert_close(FC.cross_entropy(x, t), FC.cross_entropy.reference(x, t), np.float64)


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="n must"):
        _fast.set_num_threads(0)
    with pytest.raises(TypeError):
        _fast.set_num_threads(1.5)


def test_threads_come_from_losslab_num_threads(monkeypatch):
    """The README's knob: LOSSLAB_NUM_THREADS sets the threads; anything but a positive integer is refused by name."""
    monkeypatch.setitem(_dispatch._state, "threads", None)
    monkeypatch.setitem(_dispatch._state, "pool", None)
    monkeypatch.setenv("LOSSLAB_NUM_THREADS", "3")
    assert _fast.get_num_threads() == 3
    for bad in ("0", "-2", "two", "1.5", "²"):
        monkeypatch.setitem(_dispatch._state, "threads", None)
        monkeypatch.setenv("LOSSLAB_NUM_THREADS", bad)
        with pytest.raises(ValueError, match=f"LOSSLAB_NUM_THREADS must be a positive integer .*got '{bad}'"):
            _fast.get_num_threads()


def _madvise_spy(monkeypatch):
    """Calls to madvise, recorded as ``(address, length, advice)`` and passed on; POPULATE_MIN lowered to 64 KiB."""
    real = _dispatch._libc_madvise()
    if real is None:
        pytest.skip("no madvise here (not Linux)")
    calls = []
    monkeypatch.setattr(_dispatch, "_madvise", [lambda *a: calls.append(a) or real(*a), _dispatch._madvise[1]])
    monkeypatch.setattr(_dispatch, "POPULATE_MIN", 1 << 16)
    return calls


def test_large_zeros_are_mapped_up_front_and_stay_zeros(monkeypatch):
    """``_dispatch.zeros`` (NLL's gradient): from POPULATE_MIN bytes, one MADV_POPULATE_WRITE per thread over the
    array's whole pages, together all of them; the contents stay zeros; a kernel that refuses stops the calls."""
    import ctypes
    import errno

    calls = _madvise_spy(monkeypatch)
    page = _dispatch._madvise[1]
    old = _fast.get_num_threads()
    _fast.set_num_threads(2)
    try:
        g = _dispatch.zeros((300, 70), np.dtype(np.float64))  # 168,000 bytes: two ranges of whole pages
        small = _dispatch.zeros((100, 70), np.dtype(np.float64))
    finally:
        _fast.set_num_threads(old)
    assert g.shape == (300, 70) and g.dtype == np.float64 and not g.any()
    assert small.shape == (100, 70) and not small.any()
    assert len(calls) == 2 and {c[2] for c in calls} == {23}
    (a0, n0, _), (a1, n1, _) = sorted(calls)
    lo, hi = g.ctypes.data, g.ctypes.data + g.nbytes
    assert a0 % page == 0 and a0 + n0 == a1 and n0 % page == 0 and n1 % page == 0
    assert lo <= a0 < lo + page and hi - page < a1 + n1 <= hi
    g += 1.0  # the memory is the array's own
    assert g.sum() == g.size

    def refuses(addr, length, advice):
        calls.append(advice)
        ctypes.set_errno(errno.EINVAL)
        return -1

    calls.clear()
    monkeypatch.setattr(_dispatch, "_madvise", [refuses, page])
    assert not _dispatch.zeros((300, 70), np.dtype(np.float32)).any()
    assert calls and set(calls) == {23} and _dispatch._madvise == [None, page]
    calls.clear()
    assert not _dispatch.zeros((300, 70), np.dtype(np.float32)).any()
    assert calls == []


@pytest.mark.parametrize("shape", [(300, 70), (30, 70, 11)], ids=str)
def test_nll_gradient_mapped_up_front_is_the_definitions(monkeypatch, backend, threads, shape):
    calls = []
    real = _dispatch.zeros
    monkeypatch.setattr(_dispatch, "zeros", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setattr(_fast, "zeros", _dispatch.zeros)
    monkeypatch.setattr(_dispatch, "POPULATE_MIN", 1 << 12)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    t = rng.integers(0, shape[1], shape[:1] + shape[2:])
    t.flat[::7] = -100
    loss = nn.NLLLoss()
    value = loss(x, t)
    grad = loss.backward()
    assert_close(value, FC.nll_loss(x, t), np.float64)
    np.testing.assert_array_equal(grad, FC.nll_loss_backward(1.0, x, t))
    assert calls and calls[0] == (x.shape, x.dtype)  # the kernel's gradient came from zeros()


@pytest.mark.parametrize("block", [None, 40])
def test_numpy_row_kernels_run_a_call_per_block(monkeypatch, threads, block):
    """``numpy_rows`` calls the kernel once per fixed block of rows (its temporaries a block's size), the same
    blocks on any number of threads; the sum of what the calls return comes back."""
    monkeypatch.setattr(_dispatch, "NUMPY_BLOCK", 30)
    monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 1)
    calls = []

    def kernel(tag, lo, hi):
        calls.append((tag, lo, hi))
        return hi - lo

    n, cols = 23, 4
    rows = (30 if block is None else block) // cols  # 7 or 10 rows a block
    assert _dispatch.numpy_rows(kernel, ("k",), n, cols, 1, block) == n
    assert sorted(calls) == [("k", lo, min(lo + rows, n)) for lo in range(0, n, rows)]


@pytest.mark.parametrize("small", [True, False], ids=["small_pages", "huge_pages"])
def test_large_outputs_are_mapped_up_front_only_on_small_pages(monkeypatch, small):
    """``_dispatch.empty``/``empty_like`` (a kernel's output): over the array's whole pages where they are 4 KiB,
    never with huge pages, never below POPULATE_MIN; ``empty_like`` keeps the layout."""
    calls = _madvise_spy(monkeypatch)
    monkeypatch.setattr(_dispatch, "small_pages", lambda: small)
    old = _fast.get_num_threads()
    _fast.set_num_threads(1)  # one range an array (the threads' split: the zeros test above)
    try:
        g = _dispatch.empty((300, 70), np.dtype(np.float64))
        f = _dispatch.empty_like(np.asfortranarray(np.ones((70, 300), np.float32)))
        _dispatch.empty((100, 70), np.dtype(np.float64))  # 56,000 bytes: below
    finally:
        _fast.set_num_threads(old)
    assert g.shape == (300, 70) and g.dtype == np.float64
    assert f.shape == (70, 300) and f.dtype == np.float32 and f.flags.f_contiguous and not f.flags.c_contiguous
    if not small:
        assert calls == []
        return
    page = _dispatch._madvise[1]
    for a, (lo, n) in zip((g, f), ((c[0], c[1]) for c in calls)):
        assert lo % page == 0 and n % page == 0
        assert a.ctypes.data <= lo < a.ctypes.data + page and a.ctypes.data + a.nbytes - page < lo + n
        assert lo + n <= a.ctypes.data + a.nbytes
    assert len(calls) == 2 and {c[2] for c in calls} == {23}


@pytest.mark.parametrize(
    ("mode", "numpy_asks", "small"),
    [("always", False, False), ("always", True, False), ("madvise", True, False), ("madvise", False, True),
     ("never", True, True), ("never", False, True)],
)  # fmt: skip
def test_small_pages_follow_the_machine_and_numpy(monkeypatch, mode, numpy_asks, small):
    monkeypatch.setattr(_dispatch, "_THP", [mode])
    monkeypatch.setattr(_dispatch, "_numpy_hugepages", lambda: numpy_asks)
    assert _dispatch.small_pages() is small


def test_numpy_hugepages_is_numpys_own_setting():
    code = "from losslab._fast import _dispatch as D; print(D._numpy_hugepages(), D._GET_MADVISE_HUGEPAGE is not None)"
    for env, asks in (("0", "False"), ("1", "True")):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "NUMPY_MADVISE_HUGEPAGE": env},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.split() == [asks, "True"]


def test_thp_mode_is_read_from_the_machine(monkeypatch):
    monkeypatch.setattr(_dispatch, "_THP", [])
    mode = _dispatch._thp_mode()
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
    except OSError:
        assert mode == "never"
    else:
        assert f"[{mode}]" in text and mode in ("always", "madvise", "never")
    assert _dispatch._THP == [mode]


CASES_POPULATED = {
    "mse": (lambda rng: (rng.standard_normal((300, 70)), rng.standard_normal((300, 70))), FR.mse_loss,
            FR.mse_loss_backward, {}),
    "cross_entropy": (lambda rng: (rng.standard_normal((300, 70)), rng.integers(0, 70, 300)), FC.cross_entropy,
                      FC.cross_entropy_backward, {}),
    "triplet": (lambda rng: tuple(rng.standard_normal((300, 70)) for _ in range(3)), FE.triplet_margin_loss,
                FE.triplet_margin_loss_backward, {"swap": True}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES_POPULATED))
def test_outputs_mapped_up_front_are_the_definitions(monkeypatch, backend, threads, name):
    """With 4 KiB pages and a low threshold, the kernels' outputs are populated, and their values the definitions'."""
    make, fn, back, opts = CASES_POPULATED[name]
    calls = _madvise_spy(monkeypatch)
    monkeypatch.setattr(_dispatch, "small_pages", lambda: True)
    inputs = make(np.random.default_rng(4))
    for reduction in ("mean", "none"):
        value = fn(*inputs, reduction=reduction, **opts)
        dout = 1.0 if reduction == "mean" else np.linspace(0.5, 1.5, np.size(value)).reshape(np.shape(value))
        grads = back(dout, *inputs, reduction=reduction, **opts)
        assert_close(value, fn.reference(*inputs, reduction=reduction, **opts), np.float64)
        expected = back.reference(dout, *inputs, reduction=reduction, **opts)
        for g, e in zip(
            grads if isinstance(grads, tuple) else (grads,), expected if isinstance(expected, tuple) else (expected,)
        ):
            assert_close(g, e, np.float64)
    assert calls and {c[2] for c in calls} == {23}  # the gradients' pages were mapped up front


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_taken_and_added_back_by_index(backend, threads, dtype):
    """The adaptive softmax's cluster rows: ``take_rows`` is ``x[rows]`` and ``add_rows`` is ``a[rows] += m``,
    bit for bit, on either backend and any threads; a read-only ``x``, a strided one and other index types too."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 7)).astype(dtype)
    rows = np.flatnonzero(rng.random(300) < 0.4)
    got = _fast.take_rows(x, rows)
    np.testing.assert_array_equal(got, x[rows])
    assert got.dtype == x.dtype and got.flags.c_contiguous
    frozen = x.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(_fast.take_rows(frozen, rows), x[rows])
    np.testing.assert_array_equal(_fast.take_rows(x[:, ::2], rows), x[rows][:, ::2])
    np.testing.assert_array_equal(_fast.take_rows(x, rows.astype(np.int32)), x[rows])
    m = rng.standard_normal((rows.size, 7)).astype(dtype)
    a = rng.standard_normal((300, 7)).astype(dtype)
    want = a.copy()
    want[rows] += m
    before = m.copy()
    _fast.add_rows(a, rows, m)
    np.testing.assert_array_equal(a, want)
    np.testing.assert_array_equal(m, before)
    f = np.asfortranarray(a)
    want[rows] += m
    _fast.add_rows(f, rows, m)
    np.testing.assert_array_equal(f, want)


def test_import_losslab_stays_numpy_only():
    code = "import sys, losslab, losslab.nn, losslab.functional; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- numba building blocks


@pytest.fixture(scope="module")
def kernels():
    pytest.importorskip("numba")
    import numba

    from losslab._fast import _vecmath as k

    @numba.njit(fastmath={"contract"}, error_model="numpy")
    def apply(fn_id, a, out):
        for i in range(a.size):
            if fn_id == 0:
                out[i] = k.expneg(a[i])
            else:
                out[i] = k.log1p_unit(a[i])

    return k, apply


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_exp_of_non_positive_numbers(kernels, dtype):
    k, apply = kernels
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.random(5000) * 90, -rng.random(5000) * 2, [0.0, -0.0, -1e-30, -87.0, -700.0, -np.inf]])
    x = x.astype(dtype)
    out = np.empty_like(x)
    apply(0, x, out)
    expected = np.exp(x)
    normal = expected >= np.finfo(dtype).tiny * 2
    np.testing.assert_allclose(out[normal], expected[normal], rtol=4 * np.finfo(dtype).eps)
    assert np.all(np.abs(out[~normal]) <= np.finfo(dtype).tiny * 2)  # flushed below the normal range
    nan = np.array([np.nan], dtype)
    apply(0, nan, nan)
    assert np.isnan(nan[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_log1p_on_the_unit_interval(kernels, dtype):
    k, apply = kernels
    e = np.concatenate([np.random.default_rng(1).random(5000), np.exp(-np.arange(0, 700, 7.0)), [0.0, 1.0]])
    e = e.astype(dtype)
    out = np.empty_like(e)
    apply(1, e, out)
    exact = np.log1p(e.astype(np.float64)).astype(dtype)  # within 1 ulp of it (NumPy's float64 log1p: <1 ulp)
    np.testing.assert_allclose(out, exact, rtol=2 * np.finfo(dtype).eps, atol=2 * np.finfo(dtype).smallest_subnormal)


def test_numba_log1p_of_non_negative_numbers(kernels):
    k, _ = kernels
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.random(5000) * 20, np.exp(-rng.random(2000) * 700), [0.0, 1e-300, 1.0, 2.0, 1e300]])
    out = v.copy()
    k.log1p_inplace(out)
    np.testing.assert_allclose(out, np.log1p(v), rtol=2 * np.finfo(np.float64).eps, atol=0)
    special = np.array([np.inf, np.nan])
    k.log1p_inplace(special)
    assert special[0] == np.inf and np.isnan(special[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_row_max(kernels, dtype):
    k, _ = kernels
    import numba

    row_max = numba.njit(lambda r: k.row_max(r))
    rows = [
        [1.0, 3.0, 2.0],
        [-3.0, -1.0, -2.0],
        [-0.0, -1.0],
        [-np.inf, -np.inf],
        [1.0, np.inf],
        [5.0],
        list(np.random.default_rng(2).standard_normal(1001)),
    ]
    for row in rows:
        r = np.array(row, dtype)
        assert row_max(r) == r.max()
    assert np.isnan(row_max(np.array([1.0, np.nan, 3.0], dtype)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_row_max_of_finite_rows_and_lane_sums(kernels, dtype):
    k, _ = kernels
    import numba

    row_max = numba.njit(lambda r: k.row_max_finite(r))
    below_one = numba.njit(lambda r: k.row_sum_below_one_lanes(r))
    rng = np.random.default_rng(4)
    for n in (1, 3, 16, 17, 100, 1001):
        r = (rng.standard_normal(n) * 5).astype(dtype)
        assert row_max(r) == r.max()
        r[n // 2] = np.inf
        assert row_max(r) == np.inf
        assert row_max(np.full(n, -np.inf, dtype)) == -np.inf
        e = np.exp(rng.standard_normal(n) * 3 - 12).astype(dtype)
        e[0] = e[n // 2] = 1  # the maximum and a tie: counted apart, the rest keeps its relative precision
        want = float(e.astype(np.float64).sum()) - 1  # n = 3: one small entry, lost in 1 + it if the ones were summed
        np.testing.assert_allclose(below_one(e), want, rtol=64 * np.finfo(dtype).eps)


# --------------------------------------------------------------------------- the contract


def _toy_pair():
    """A loss sum((x - t)^2) whose kernel counts its calls and covers float64 NumPy calls only."""
    calls = []

    def kernel(input, target, *, reduction="sum"):
        calls.append(reduction)
        if input.__class__ is not np.ndarray or input.dtype != np.float64 or reduction != "sum":
            return None
        d = input - target
        return np.sum(d * d), 2 * d

    @_fast.fused(kernel)
    def toy(input, target, *, reduction="sum"):
        """The definition."""
        if reduction not in ("sum", "none"):
            raise ValueError(f"reduction must be 'sum' or 'none', got {reduction!r}")
        d = np.asarray(input) - np.asarray(target)
        return np.sum(d * d) if reduction == "sum" else d * d

    @_fast.defbackward(toy)
    def toy_backward(dout, input, target, *, reduction="sum"):
        """The gradient's definition."""
        return 2 * (np.asarray(input) - np.asarray(target)) * np.asarray(dout)

    return toy, toy_backward, calls


def test_the_contract_sends_both_doors_through_the_kernel_and_falls_back_to_the_definition():
    toy, toy_backward, calls = _toy_pair()
    x, t = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert toy.__name__ == "toy" and toy.__doc__ == "The definition." and toy.reference.__name__ == "toy"
    assert _fast.kernel_of(toy) is toy.kernel and _fast.kernel_of(toy.reference) is None
    assert toy(x, t) == 10.0 and calls == ["sum"]
    np.testing.assert_array_equal(toy_backward(0.5, x, t), [1.0, 0.0, 3.0])
    assert len(calls) == 2
    np.testing.assert_array_equal(toy(x, t, reduction="none"), [1.0, 0.0, 9.0])  # kernel said None
    assert len(calls) == 3
    with pytest.raises(ValueError, match="reduction must be"):  # the definition's error
        toy(x, t, reduction="mean")
    with pytest.raises(TypeError, match="unexpected keyword"):  # never reaches the kernel
        toy(x, t, reducton="sum")
    with pytest.raises(TypeError):
        toy(x, t, "sum")
    assert len(calls) == 4
    with pytest.raises(ValueError, match="dout"):  # dout checked on the fast path
        toy_backward(np.ones(2), x, t)


def test_a_loss_class_keeps_the_kernels_gradient_for_backward():
    toy, toy_backward, calls = _toy_pair()

    class ToyLoss(nn.Loss):
        _function = staticmethod(toy)
        _backward = staticmethod(toy_backward)
        _options = (nn._options.reduction("sum", allowed=("sum", "none")),)

    loss = ToyLoss()
    x, t = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert loss(x, t) == 10.0 and loss._pending is not None and calls == ["sum"]
    np.testing.assert_array_equal(loss.backward(2.0), [4.0, 0.0, 12.0])
    assert len(calls) == 1  # the kept gradient: no second pass
    np.testing.assert_array_equal(loss.backward(2.0), [4.0, 0.0, 12.0])
    assert len(calls) == 2  # handed out once; then the backward door (kernel again)
    loss(x, t)
    loss.reduction = "none"  # options changed since forward: the kept gradient is stale
    np.testing.assert_array_equal(loss.backward(np.ones(3)), [2.0, 0.0, 6.0])
    loss.reduction = "sum"
    assert loss(x.astype(np.float32), t) == 10.0 and loss._pending is None


def test_a_subclass_that_writes_options_itself_is_still_honoured():
    toy, toy_backward, calls = _toy_pair()

    class OldStyle(nn.Loss):
        _function = staticmethod(toy)
        _backward = staticmethod(toy_backward)

        def __init__(self, reduction="sum"):
            super().__init__()
            self.reduction = reduction

        def options(self):
            return {"reduction": self.reduction}

    x, t = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    loss = OldStyle(reduction="none")
    np.testing.assert_array_equal(loss(x, t), [1.0, 0.0, 9.0])
    np.testing.assert_array_equal(loss.backward(np.ones(3)), [2.0, 0.0, 6.0])
    loss.reduction = "sum"
    assert loss(x, t) == 10.0
    np.testing.assert_array_equal(loss.backward(), [2.0, 0.0, 6.0])


# --------------------------------------------------------------------------- K-dimensional cross-entropy and NLL

KDIM_SHAPES = [(3, 5, 300), (2, 4, 3, 2), (1, 7, 1)]


def _kdim_call(shape, dtype, kind, seed=0):
    """Logits of ``shape`` and targets: class indices with a few ignored (``kind="index"``) or probabilities."""
    rng = np.random.default_rng(seed)
    n, c = shape[:2]
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if kind == "probs":
        return x, np.moveaxis(rng.dirichlet(np.ones(c), size=(n,) + shape[2:]), -1, 1).astype(dtype)
    t = rng.integers(0, c, (n,) + shape[2:])
    t.reshape(-1)[1::4] = -100
    return x, t


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", KDIM_SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_kdim_cross_entropy_matches_the_definitions(backend, threads, shape, dtype, kind):
    x, t = _kdim_call(shape, dtype, kind)
    w = np.random.default_rng(1).uniform(0.5, 2.0, shape[1]).astype(dtype)
    dout = np.random.default_rng(2).standard_normal((shape[0],) + shape[2:]).astype(dtype)
    for weight in (None, w):
        for ls in (0.0, 0.2):
            for reduction in ("mean", "sum", "none"):
                opts = dict(weight=weight, label_smoothing=ls, reduction=reduction)
                hit = FC.cross_entropy.kernel(x, t, **opts)
                assert hit is not None, opts
                out, grad = hit
                want = FC.cross_entropy.reference(x, t, **opts)
                assert np.asarray(out).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
                np.testing.assert_allclose(out, want, **TOL[dtype], atol=1e-6)
                d = dout if reduction == "none" else 0.7
                want_grad = FC.cross_entropy_backward.reference(d, x, t, **opts)
                np.testing.assert_allclose(
                    FC.cross_entropy_backward(d, x, t, **opts), want_grad, **TOL[dtype], atol=1e-6
                )
                loss = nn.CrossEntropyLoss(weight=weight, label_smoothing=ls, reduction=reduction)
                loss(x, t)
                np.testing.assert_allclose(loss.backward(d), want_grad, **TOL[dtype], atol=1e-6)


def test_kdim_cross_entropy_leaves_what_it_cannot_take_to_the_definition(backend):
    x, t = _kdim_call((2, 4, 5), np.float64, "index")
    t[:] = -100
    assert FC.cross_entropy.kernel(x, t) is None  # all ignored: 'mean' is the definition's NaN
    x, t = _kdim_call((2, 4, 5), np.float64, "index")
    t[0, 0] = 3
    x[0, 1, 0] = -np.inf
    assert FC.cross_entropy.kernel(x, t, label_smoothing=0.1) is None  # an infinite loss: the limits
    hit = FC.cross_entropy.kernel(x, t)  # no smoothing: a -inf logit off the target is harmless
    np.testing.assert_allclose(hit[0], FC.cross_entropy.reference(x, t), rtol=1e-12)
    np.testing.assert_allclose(hit[1], FC.cross_entropy_backward.reference(1.0, x, t), rtol=1e-12, atol=1e-15)
    t[0, 0] = 4
    assert FC.cross_entropy.kernel(x, t) is None  # a label outside [0, C): the definition raises
    with pytest.raises(ClassIndexError):
        FC.cross_entropy(x, t)


@pytest.mark.parametrize("shape", [(5, 6, 700), (60, 6, 5)], ids=["blocks", "narrow"])
def test_kdim_results_do_not_depend_on_the_thread_count(backend, monkeypatch, shape):
    monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 16)
    x, t = _kdim_call(shape, np.float32, "index", seed=3)
    old = _fast.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _fast.set_num_threads(n)
            out, g = FC.cross_entropy.kernel(x, t, label_smoothing=0.1)
            results.append((out.tobytes(), g.tobytes()))
    finally:
        _fast.set_num_threads(old)
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_kdim_numpy_row_blocks_match_the_definitions_on_any_threads(monkeypatch, dtype, kind):
    """NumPy's K-dim rows in several blocks (4 rows of 6 x 5 each here, the last one short): the definitions'
    values and the same bits on 1-3 threads."""
    monkeypatch.setitem(_dispatch._state, "kernels", False)
    monkeypatch.setattr(_numpy, "_KDIM_BLOCK", 120)
    monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 16)
    x, t = _kdim_call((14, 6, 5), dtype, kind, seed=4)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 6).astype(dtype)
    old = _fast.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _fast.set_num_threads(n)
            out, g = FC.cross_entropy.kernel(x, t, weight=w, label_smoothing=0.1, reduction="none")
            results.append((out.tobytes(), g.tobytes()))
    finally:
        _fast.set_num_threads(old)
    assert results[0] == results[1] == results[2]
    opts = dict(weight=w, label_smoothing=0.1, reduction="none")
    assert_close(out, FC.cross_entropy.reference(x, t, **opts), dtype)
    ones = np.ones(out.shape, dtype)  # the kernel's gradient is for dout = 1 per position
    assert_close(g, FC.cross_entropy_backward.reference(ones, x, t, **opts), dtype)


@pytest.mark.parametrize("kind", ["index", "probs"])
def test_kdim_cross_entropy_makes_no_full_size_temporary(backend, kind):
    import tracemalloc

    x, t = _kdim_call((4096, 100, 8), np.float32, kind)  # NumPy's blocks (2**17 elements) are 4% of it
    FC.cross_entropy(x, t, label_smoothing=0.1)  # compile, warm up
    tracemalloc.start()
    try:
        loss = nn.CrossEntropyLoss(label_smoothing=0.1)
        loss(x, t)
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 1.5 * x.nbytes, peak / x.nbytes  # the gradient and a few (N, d) statistics


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4), (2, 4, 3, 2)], ids=str)
def test_nll_kernel_matches_the_definitions(backend, shape, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    t.reshape(-1)[::3] = 1
    w = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
    dout = rng.standard_normal(t.shape).astype(dtype)
    for weight in (None, w):
        for ignore_index in (-100, 1):
            for reduction in ("mean", "sum", "none"):
                opts = dict(weight=weight, ignore_index=ignore_index, reduction=reduction)
                out, grad = FC.nll_loss.kernel(x, t, **opts)
                np.testing.assert_allclose(out, FC.nll_loss.reference(x, t, **opts), **TOL[dtype])
                assert np.asarray(out).dtype == dtype and grad.dtype == dtype
                d = dout if reduction == "none" else 0.7
                want = FC.nll_loss_backward.reference(d, x, t, **opts)
                np.testing.assert_allclose(FC.nll_loss_backward(d, x, t, **opts), want, **TOL[dtype])
                loss = nn.NLLLoss(weight=weight, ignore_index=ignore_index, reduction=reduction)
                loss(x, t)
                np.testing.assert_allclose(loss.backward(d), want, **TOL[dtype])
    t[:] = 1
    assert FC.nll_loss.kernel(x, t, ignore_index=1) is None  # all ignored: the definition's NaN
    t[0] = shape[1]
    assert FC.nll_loss.kernel(x, t) is None  # a label outside [0, C): the definition raises


# --------------------------------------------------------------------------- CTC, both backends


def _ctc_batch(rng, t_len, n, c, s, spread=1.0, ragged=True):
    x = rng.normal(0.0, spread, (t_len, n, c))
    lp = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    tl = rng.integers(0 if ragged else s, s + 1, n)
    il = rng.integers(2 * s + 1, t_len + 1, n) if ragged else np.full(n, t_len)
    return lp, rng.integers(1, c, (n, s)), il, tl


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "t_len,n,c,s,spread",
    [(12, 1, 5, 3, 1.0), (50, 3, 20, 10, 1.0), (50, 70, 20, 10, 1.0), (300, 4, 30, 20, 4.0), (40, 5, 6, 4, 30.0)],
    ids=["one", "few", "blocks", "long-rescaled", "peaked"],
)
def test_ctc_kernel_matches_the_definitions(backend, threads, t_len, n, c, s, spread, dtype):
    from losslab.functional import ctc as FCTC

    rng = np.random.default_rng(11)
    lp, tg, il, tl = _ctc_batch(rng, t_len, n, c, s, spread)
    lp = lp.astype(dtype)
    flat = np.concatenate([tg[i, : tl[i]] for i in range(n)])
    for targets in (tg, flat):
        for reduction in ("mean", "sum"):
            hit = FCTC.ctc_loss.kernel(lp, targets, il, tl, reduction=reduction, zero_infinity=True)
            assert hit is not None
            out, grad = hit
            want = FCTC.ctc_loss.reference(lp, targets, il, tl, reduction=reduction, zero_infinity=True)
            assert np.asarray(out).dtype == dtype and grad.dtype == dtype
            np.testing.assert_allclose(out, want, **TOL[dtype])
            want_grad = FCTC.ctc_loss_backward.reference(1.0, lp, targets, il, tl, reduction=reduction)
            # both sides round at every frame (log space there, rescaled probabilities here): float64's
            # agreement loosens with the number of frames
            tol = dict(rtol=1e-12 * max(1, t_len // 50)) if dtype == np.float64 else TOL[dtype]
            np.testing.assert_allclose(grad, want_grad, atol=tol["rtol"] * np.abs(want_grad).max(), **tol)


def test_ctc_numpy_kernel_defers_to_the_definitions(backend):
    """Impossible targets, -inf log-probabilities, empty inputs and bad labels: the definitions answer."""
    from losslab.functional import ctc as FCTC

    if backend != "numpy":
        pytest.skip("numba's kernel takes impossible targets and -inf itself")
    rng = np.random.default_rng(12)
    lp, tg, il, tl = _ctc_batch(rng, 8, 3, 4, 2, ragged=False)
    assert _fast.ctc(lp, tg, il, tl, 0, "sum", False) is not None
    impossible = np.array([[1, 1], [2, 1], [1, 2]])  # '1 1' needs 3 frames
    assert _fast.ctc(lp, impossible, np.array([2, 8, 8]), tl, 0, "sum", True) is None
    with_inf = lp.copy()
    with_inf[0, 0, 1] = -np.inf
    assert _fast.ctc(with_inf, tg, il, tl, 0, "sum", False) is None
    assert _fast.ctc(lp, tg, np.array([0, 8, 8]), tl, 0, "sum", False) is None
    bad = tg.copy()
    bad[1, 0] = 0  # the blank
    assert _fast.ctc(lp, bad, il, tl, 0, "sum", False) is None
    assert _fast.ctc(lp, tg, np.array([9, 8, 8]), tl, 0, "sum", False) is None  # longer than T
    with pytest.raises(ClassIndexError):
        FCTC.ctc_loss(lp, bad, il, tl)


# --------------------------------------------------------------------------- multi-label margin, both backends


def _label_lists(rng, n, c, longest):
    t = np.full((n, c), -1, dtype=np.int64)
    for row, k in zip(t, rng.integers(0, longest + 1, n), strict=True):
        row[:k] = rng.integers(0, c, k)  # repeats allowed: a class listed twice counts twice
        row[k + 1 :] = rng.integers(-1, c, max(c - k - 1, 0))  # after the first -1: ignored
    return t


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c,longest", [(1, 7, 3), (40, 20, 20), (300, 12, 5), (9, 1, 1)], ids=str)
def test_multilabel_margin_kernel_matches_the_definitions(backend, threads, n, c, longest, dtype):
    from losslab.functional import margin as FM

    rng = np.random.default_rng(13)
    x = rng.normal(0.0, 2.0, (n, c)).astype(dtype)
    x[0, : min(2, c)] = x[0, min(2, c - 1)]  # ties
    t = _label_lists(rng, n, c, longest)
    x_before, t_before = x.copy(), t.copy()
    for inputs in ((x, t), (x[0], t[0])):
        for reduction in ("mean", "sum", "none"):
            out, grad = FM.multilabel_margin_loss.kernel(*inputs, reduction=reduction)
            # the NumPy kernel sets target classes to -inf in its own copy: one class (a transposed view that
            # is contiguous) must not reach the caller's scores
            np.testing.assert_array_equal(x, x_before)
            np.testing.assert_array_equal(t, t_before)
            want = FM.multilabel_margin_loss.reference(*inputs, reduction=reduction)
            assert np.asarray(out).dtype == dtype and np.shape(out) == np.shape(want) and grad.dtype == dtype
            np.testing.assert_allclose(out, want, **TOL[dtype])
            dout = np.ones(np.shape(want), dtype) if np.ndim(want) else 1.0
            assert_close(grad, FM.multilabel_margin_loss_backward.reference(dout, *inputs, reduction=reduction), dtype)


def test_multilabel_margin_memory_is_linear(backend):
    """A (4, 2000) float64 input: the definition's hinge cube would take 128 MB; the kernels a few blocks."""
    import tracemalloc

    from losslab.functional import margin as FM

    rng = np.random.default_rng(14)
    x = rng.normal(size=(4, 2000))
    t = _label_lists(rng, 4, 2000, 2000)
    FM.multilabel_margin_loss(x[:1, :20], np.full((1, 20), -1))  # compile, warm up
    tracemalloc.start()
    try:
        assert FM.multilabel_margin_loss.kernel(x, t) is not None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak


# --------------------------------------------------------------------------- multi-label soft margin, both backends


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (300, 11), (2, 3, 40)], ids=str)
def test_multilabel_soft_margin_kernel_matches_the_definitions(backend, threads, shape, dtype):
    from losslab.functional import margin as FM

    rng = np.random.default_rng(15)
    x = rng.normal(0.0, 8.0, shape).astype(dtype)  # far into both tails of the sigmoid
    soft = rng.uniform(0.0, 1.0, shape).astype(dtype)
    hard = rng.integers(0, 2, shape).astype(dtype)
    w = rng.uniform(0.5, 2.0, shape[-1]).astype(dtype)
    for t in (soft, hard):
        for weight in (None, w):
            for reduction in ("mean", "sum", "none"):
                opts = dict(weight=weight, reduction=reduction)
                out, grad = FM.multilabel_soft_margin_loss.kernel(x, t, **opts)
                want = FM.multilabel_soft_margin_loss.reference(x, t, **opts)
                assert np.asarray(out).dtype == dtype and np.shape(out) == np.shape(want) and grad.dtype == dtype
                np.testing.assert_allclose(out, want, **TOL[dtype])
                dout = np.ones(np.shape(want), dtype) if np.ndim(want) else 1.0
                want_grad = FM.multilabel_soft_margin_loss_backward.reference(dout, x, t, **opts)
                assert_close(grad, want_grad, dtype)  # numba's (1 - y) - sigmoid(-x) cancels near 0
    x[0] = np.inf
    assert FM.multilabel_soft_margin_loss.kernel(x, hard) is None  # the definition takes the limit


# --------------------------------------------------------------------------- cross-entropy rows without numba


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ["index", "probs"])
@pytest.mark.parametrize("weighted", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_row_blocks_match_reference_on_any_threads(monkeypatch, dtype, target, weighted, ls, reduction):
    """NumPy's row blocks (several per call here): blocks of typical logits taken without the shift by the row
    maximum, a block with a logit of 1e4 (or 30 in float64) with it; the same bits on one thread and on two."""
    from losslab._fast import _numpy

    monkeypatch.setitem(_dispatch._state, "kernels", False)
    monkeypatch.setattr(_numpy, "_DENSE_BLOCK", 64)  # 9 rows of 7 classes per block
    monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 16)
    rng = np.random.default_rng(5)
    n, c = 50, 7
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    x[40, 2] = 1e4 if dtype == np.float32 else 30.0  # the last blocks: shifted
    t = rng.integers(0, c, n) if target == "index" else rng.dirichlet(np.ones(c), n).astype(dtype)
    if target == "index":
        t[::6] = 3  # ignored
    opts = dict(
        weight=rng.uniform(0.5, 2.0, c).astype(dtype) if weighted else None,
        ignore_index=3 if target == "index" else -100,
        label_smoothing=ls,
        reduction=reduction,
    )
    before = x.copy()
    results = []
    for n_threads in (1, 2):
        _fast.set_num_threads(n_threads)
        try:
            out, grad = FC.cross_entropy.kernel(x, t, **opts)
        finally:
            _fast.set_num_threads(1)
        assert_close(out, FC.cross_entropy.reference(x, t, **opts), dtype)
        assert_close(grad, FC.cross_entropy_backward.reference(1.0, x, t, **opts), dtype)
        results.append((np.asarray(out).tobytes(), grad.tobytes()))
    assert results[0] == results[1]
    np.testing.assert_array_equal(x, before)


def test_cross_entropy_row_blocks_leave_non_finite_rows_to_the_definition(monkeypatch):
    monkeypatch.setitem(_dispatch._state, "kernels", False)
    x = np.array([[0.0, 1.0, 2.0], [np.inf, 0.0, 1.0]])
    w = np.array([1.0, 2.0, 0.5])
    t, valid = np.array([0, 1]), np.array([True, True])
    assert _dispatch.cross_entropy_dense(x, t, valid, w, w[t], 3.0, "mean", 0.0) is None
    np.testing.assert_array_equal(
        FC.cross_entropy(x, np.array([0, 1]), weight=w, reduction="none"),
        FC.cross_entropy.reference(x, np.array([0, 1]), weight=w, reduction="none"),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2000])
def test_cross_entropy_row_blocks_keep_a_tiny_loss(monkeypatch, dtype, rows):
    """The row blocks take ``lse - x[t]`` again as ``log1p`` where it is small: a confident correct prediction's
    loss ~ exp(-20) keeps its relative precision, with a weight and without (2000 rows: the blocks' route)."""
    monkeypatch.setitem(_dispatch._state, "kernels", False)
    x = np.tile(np.array([[20.0, 0.0, 0.0, -5.0]], dtype), (rows, 1))
    t = np.zeros(rows, np.int64)
    exact = np.log1p(2 * np.exp(-20.0) + np.exp(-25.0))
    for weight in (None, np.full(4, 2.0, dtype)):
        out = FC.cross_entropy(x, t, weight=weight, reduction="none")
        np.testing.assert_allclose(out, np.full(rows, exact * (1 if weight is None else 2)), rtol=TOL[dtype]["rtol"])


@pytest.mark.skipif(not _have_numba(), reason="numba not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ["index", "probs"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_small_calls_are_the_kdim_kernel(monkeypatch, dtype, target, reduction):
    """numba's lean (N, C) door gives the K-dimensional kernel's bits on (N, C, 1) views."""
    monkeypatch.setitem(_dispatch._state, "kernels", None)
    monkeypatch.setenv("LOSSLAB_NUMBA", "1")  # numba's kernels even where the run asks for NumPy's
    rng = np.random.default_rng(9)
    n, c = 3, 5
    x = (rng.standard_normal((n, c)) * 2).astype(dtype)
    t = rng.integers(0, c, n) if target == "index" else rng.dirichlet(np.ones(c), n).astype(dtype)
    w = rng.uniform(0.5, 2.0, c).astype(dtype)
    small = _dispatch.cross_entropy_small(x, t, w, -100, reduction, 0.1)
    kdim = _dispatch.cross_entropy_kdim(x[:, :, None], t[..., None], w, -100, reduction, 0.1)
    assert small is not None and kdim is not None
    assert np.asarray(small[0]).tobytes() == np.asarray(kdim[0]).tobytes()
    assert small[1].tobytes() == kdim[1].tobytes() and small[1].shape == x.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ["index", "probs"])
def test_cross_entropy_rows_with_options_match_the_definitions(backend, dtype, target):
    """(N, C) calls with weights, smoothing or probabilities, past a few thousand elements (numba: the
    K-dimensional kernel's rows), against the definitions."""
    rng = np.random.default_rng(10)
    n, c = 400, 30
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    t = rng.integers(0, c, n) if target == "index" else rng.dirichlet(np.ones(c), n).astype(dtype)
    if target == "index":
        t[::7] = 0
    w = rng.uniform(0.5, 2.0, c).astype(dtype)
    dout = rng.standard_normal(n).astype(dtype)
    for weight in (None, w):
        for ls in (0.0, 0.1):
            for reduction in ("mean", "sum", "none"):
                opts = dict(weight=weight, label_smoothing=ls, reduction=reduction)
                if target == "index":
                    opts["ignore_index"] = 0
                out = FC.cross_entropy(x, t, **opts)
                np.testing.assert_allclose(out, FC.cross_entropy.reference(x, t, **opts), **TOL[dtype], atol=1e-6)
                d = dout if reduction == "none" else 0.7
                want = FC.cross_entropy_backward.reference(d, x, t, **opts)
                got = FC.cross_entropy_backward(d, x, t, **opts)
                assert got.dtype == dtype
                np.testing.assert_allclose(got, want, **TOL[dtype], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_infinite_weight_of_another_class_without_smoothing(backend, dtype):
    """Without label smoothing only the targets' weights count: an infinite weight elsewhere changes nothing."""
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype)
    t = np.array([0, 1])
    w = np.array([1.0, 2.0, np.inf], dtype)
    out, grad = FC.cross_entropy.kernel(x, t, weight=w) or (None, None)
    if out is not None:
        assert_close(out, FC.cross_entropy.reference(x, t, weight=w), dtype)
        assert_close(grad, FC.cross_entropy_backward.reference(1.0, x, t, weight=w), dtype)
    assert np.isfinite(FC.cross_entropy_backward(1.0, x, t, weight=w)).all()


# --------------------------------------------------------------------------- NumPy kernels: class-axis reductions, ties


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 2, 3, 9, 33])
def test_kdim_cross_entropy_any_class_count_matches_the_definitions(backend, c, dtype):
    """The class-axis maximum halves C (odd counts carry one class over) and the sums stream it: any C."""
    x, t = _kdim_call((4, c, 6), dtype, "index", seed=c)
    x[1, 0, 2] = 80.0  # one large logit: the shift is the exact maximum
    for ls in (0.0, 0.2):
        out, grad = FC.cross_entropy.kernel(x, t, label_smoothing=ls)
        assert_close(out, FC.cross_entropy.reference(x, t, label_smoothing=ls), dtype)
        want = FC.cross_entropy_backward.reference(1.0, x, t, label_smoothing=ls)
        assert_close(grad, want, dtype, scale=1.0 / t.size)  # one class: a gradient of 0 up to rounding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multilabel_margin_kernel_huge_scores_and_ties(backend, dtype):
    """Scores beyond a quarter of the dtype's range (hinges that overflow) and ties at any height."""
    from losslab.functional import margin as FM

    rng = np.random.default_rng(16)
    big = float(np.finfo(dtype).max) / 3
    x = rng.normal(0.0, 2.0, (6, 9)).astype(dtype)
    x[0, [1, 4]] = dtype(3e7)  # a tie where 1 - x_j + x_i is not 1 in floating point
    x[1, [0, 5]] = big  # a tie past a quarter of the range: 1 - x_j rounds to -x_j
    t = _label_lists(rng, 6, 9, 4)
    t[0, :2] = [1, -1]
    t[1, :2] = [0, -1]
    for reduction in ("sum", "none"):
        out, grad = FM.multilabel_margin_loss.kernel(x, t, reduction=reduction)
        want = FM.multilabel_margin_loss.reference(x, t, reduction=reduction)
        np.testing.assert_allclose(out, want, **TOL[dtype])
        dout = np.ones(np.shape(want), dtype) if np.ndim(want) else 1.0
        assert_close(grad, FM.multilabel_margin_loss_backward.reference(dout, x, t, reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("num_classes", [15, 63, 64, 100, 511, 512])
def test_cross_entropy_rows_on_both_sides_of_the_block_widths(backend, threads, dtype, num_classes):
    """Row blocks shifted then exponentiated, exp(x - max) row by row (64 classes on), one wide row at a time:
    each matches the definition, a NaN or infinite logit makes its row NaN, a tiny loss keeps its precision."""
    x, t = _ce_inputs(70, num_classes, dtype, seed=num_classes)
    t[5] = -100
    for reduction in ("mean", "none"):
        assert_close(
            FC.cross_entropy(x, t, reduction=reduction), FC.cross_entropy.reference(x, t, reduction=reduction), dtype
        )
        assert_close(
            FC.cross_entropy_backward(1.0, x, t, reduction=reduction),
            FC.cross_entropy_backward.reference(1.0, x, t, reduction=reduction),
            dtype,
        )
    x[2, num_classes - 1] = np.nan
    x[3, 0] = np.inf
    x[4, :] = -np.inf
    with np.errstate(invalid="ignore"):
        out = FC.cross_entropy(x, t, reduction="none")
        ref = FC.cross_entropy.reference(x, t, reduction="none")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    confident = np.zeros((3, num_classes), dtype)
    confident[:, 1] = 20
    exact = np.log1p((num_classes - 1) * np.exp(-20.0))
    np.testing.assert_allclose(FC.cross_entropy(confident, np.array([1, 1, 1])), exact, rtol=TOL[dtype]["rtol"])


@pytest.mark.skipif(not _have_numba(), reason="numba not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_batch_of_one_enters_no_errstate_with_numba(monkeypatch, dtype):
    """At B = 1 a call costs a few microseconds, and entering ``np.errstate`` costs ~1.3 of them: with numba, no
    registered loss's path enters one (a float64 total beyond float32's range becomes inf by ``_as_scalar``)."""
    import traceback

    from _support import case_args
    from numpy._core import _ufunc_config

    from losslab import registry

    if not hasattr(_ufunc_config, "_make_extobj"):
        pytest.skip("this NumPy sets its error state another way")
    monkeypatch.setitem(_dispatch._state, "kernels", None)
    monkeypatch.setenv("LOSSLAB_NUMBA", "1")  # numba's paths, even in a run that disables it
    entered: list[str] = []
    make = _ufunc_config._make_extobj

    def counting(*args, **kwargs):
        entered.append(next(f for f in reversed(traceback.extract_stack()) if "losslab" in f.filename).name)
        return make(*args, **kwargs)

    calls = 0
    for spec in registry.LOSSES:
        for case in spec.make_paths(1):
            inputs, options = case_args(case, dtype)
            options.setdefault("reduction", "mean")
            loss, args = spec.build(inputs, options)
            spec.call(loss, args)  # compile, warm up
            monkeypatch.setattr(_ufunc_config, "_make_extobj", counting)
            spec.call(loss, args)
            spec.gradients(loss)
            monkeypatch.setattr(_ufunc_config, "_make_extobj", make)
            assert not entered, f"{spec.name} [{case.id}] {dtype}: np.errstate entered in {entered}"
            calls += 1
    assert calls > 100
