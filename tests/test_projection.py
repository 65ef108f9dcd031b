"""LinearCrossEntropyLoss and AdaptiveLogSoftmaxWithLoss: gradients, dtypes, chunking, errors, PyTorch parity."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from losslab import functional as F
from losslab.gradcheck import gradcheck
from losslab.nn import AdaptiveLogSoftmaxWithLoss, LinearCrossEntropyLoss, LinearCrossEntropyOptions

GOLDEN = Path(__file__).parent / "golden" / "projection_golden.npz"
TOLERANCES = {"float64": dict(rtol=1e-7, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-6)}
REDUCTIONS = ("none", "mean", "sum")
CHUNKED = LinearCrossEntropyOptions(batch_chunk_size=3, chunking_method=None)


def _linear_cases():
    """(id, inputs (x, W, t, b or None), options) over every option path."""
    rng = np.random.default_rng(12)
    n, d, c = 7, 4, 5
    x, w, b = rng.normal(size=(n, d)), rng.normal(size=(c, d)), rng.normal(size=c)
    t = rng.integers(0, c, n)
    t[2] = 1
    weight = rng.uniform(0.5, 2.0, c)
    probs = rng.dirichlet(np.ones(c), size=n)
    cases = [
        ("plain", (x, w, t, None), {}),
        ("bias", (x, w, t, b), {}),
        ("weight", (x, w, t, b), dict(weight=weight)),
        ("ignore", (x, w, t, b), dict(ignore_index=1)),
        ("smooth", (x, w, t, None), dict(label_smoothing=0.3)),
        ("all-options", (x, w, t, b), dict(weight=weight, ignore_index=1, label_smoothing=0.2)),
        ("probs", (x, w, probs, b), dict(weight=weight, label_smoothing=0.1)),
        (
            "kdim",
            (x, rng.normal(size=(c, 2, d)), rng.integers(0, c, (n, 2)), rng.normal(size=(c, 2))),
            dict(weight=weight),
        ),
        ("unbatched", (x[0], w, np.array(3), b), dict(label_smoothing=0.1)),
    ]
    return [pytest.param(inputs, opts, id=name) for name, inputs, opts in cases]


def _call(fn, inputs, opts, *lead, dtype=np.float64, **more):
    x, w, t, b = inputs
    cast = lambda a: a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a  # noqa: E731
    kw = {k: cast(val) for k, val in dict(opts, **more).items()}
    return fn(*lead, cast(x), cast(w), cast(t), linear_bias=None if b is None else cast(b), **kw)


# --------------------------------------------------------------------------- linear cross-entropy


@pytest.mark.parametrize("options", [None, CHUNKED], ids=["whole", "chunked"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("inputs, opts", _linear_cases())
def test_linear_gradients_match_central_differences(inputs, opts, reduction, options):
    x, w, t, b = inputs
    out = _call(F.linear_cross_entropy, inputs, opts, reduction=reduction, options=options)
    dout = np.random.default_rng(3).uniform(0.5, 1.5, np.shape(out))
    grads = _call(F.linear_cross_entropy_backward, inputs, opts, dout, reduction=reduction, options=options)
    args = [x, w] + ([] if b is None else [b])

    def objective(xx, ww, bb=None):
        value = F.linear_cross_entropy(xx, ww, t, linear_bias=bb, reduction=reduction, options=options, **opts)
        return float(np.sum(dout * value))

    assert len(grads) == len(args)
    result = gradcheck(objective, args, grads)
    assert result.ok, str(result)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("inputs, opts", _linear_cases())
def test_linear_float32_in_float32_out_and_chunks_change_nothing(inputs, opts, reduction):
    out64 = _call(F.linear_cross_entropy, inputs, opts, reduction=reduction)
    dout = np.random.default_rng(4).uniform(0.5, 1.5, np.shape(out64))
    g64 = _call(F.linear_cross_entropy_backward, inputs, opts, dout, reduction=reduction)
    for size in (1, 2, 3, 100):
        chunked = LinearCrossEntropyOptions(batch_chunk_size=size, chunking_method=None)
        np.testing.assert_allclose(
            _call(F.linear_cross_entropy, inputs, opts, reduction=reduction, options=chunked),
            out64,
            rtol=1e-12,
            atol=1e-14,
        )
        for g, e in zip(
            _call(F.linear_cross_entropy_backward, inputs, opts, dout, reduction=reduction, options=chunked),
            g64,
            strict=True,
        ):
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-13)
    out32 = _call(F.linear_cross_entropy, inputs, opts, reduction=reduction, dtype=np.float32, options=CHUNKED)
    g32 = _call(
        F.linear_cross_entropy_backward,
        inputs,
        opts,
        dout.astype(np.float32),
        reduction=reduction,
        dtype=np.float32,
        options=CHUNKED,
    )
    assert np.asarray(out32).dtype == np.float32 and np.shape(out32) == np.shape(out64)
    if reduction != "none":
        assert isinstance(out32, np.float32)
    np.testing.assert_allclose(out32, out64, rtol=2e-4, atol=1e-5)
    for g, e in zip(g32, g64, strict=True):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("inputs, opts", _linear_cases())
def test_linear_is_cross_entropy_of_the_logits(inputs, opts):
    x, w, t, b = inputs
    logits = np.tensordot(x, w, axes=([-1], [-1])) + (0 if b is None else b)
    expected_opts = dict(opts)
    if t.dtype.kind == "i" and "ignore_index" not in opts:
        expected_opts["ignore_index"] = -100
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(
            _call(F.linear_cross_entropy, inputs, opts, reduction=reduction, options=CHUNKED),
            F.cross_entropy(logits, t, reduction=reduction, **expected_opts),
            rtol=1e-12,
        )


def test_linear_leaves_inputs_alone_and_value_and_grad_agrees():
    rng = np.random.default_rng(5)
    x, w, b, t = rng.normal(size=(6, 3)), rng.normal(size=(4, 3)), rng.normal(size=4), rng.integers(0, 4, 6)
    copies = [a.copy() for a in (x, w, b, t)]
    out, grads = F.linear_cross_entropy_value_and_grad(0.5, x, w, t, linear_bias=b, options=CHUNKED)
    assert out == F.linear_cross_entropy(x, w, t, linear_bias=b)
    for g, e in zip(grads, F.linear_cross_entropy_backward(0.5, x, w, t, linear_bias=b), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-13)
    for a, c in zip((x, w, b, t), copies):
        np.testing.assert_array_equal(a, c)


def test_linear_every_target_ignored_is_nan_with_zero_gradients():
    x, w, t = np.ones((3, 2)), np.ones((4, 2)), np.full(3, -100)
    assert np.isnan(F.linear_cross_entropy(x, w, t))
    for g in F.linear_cross_entropy_backward(1.0, x, w, t):
        np.testing.assert_array_equal(g, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("inputs, opts", _linear_cases()[:6])
def test_linear_direct_path_is_the_chunked_pass(inputs, opts, reduction, dtype):
    """Plain calls take the direct path (one product each way, no chunk); its values are those of the chunked
    pass (an np.int64 ignore_index sends the same call through the chunked pass, in one chunk): bit for bit
    without numba (the same operations), to rounding with numba (its fused cross-entropy kernels)."""
    from losslab import _fast
    from losslab.functional.projection import _direct

    ignore = opts.get("ignore_index", -100)
    plain, chunked = dict(opts, ignore_index=int(ignore)), dict(opts, ignore_index=np.int64(ignore))
    x, w, t, b = (None if a is None else a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs)
    weight = None if "weight" not in opts else opts["weight"].astype(dtype)
    args = (x, w, t, b, weight, reduction, int(ignore), opts.get("label_smoothing", 0.0), None)
    assert _direct(*args) is not None
    if _fast.backend() == "numba":
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        same = lambda a, e: np.testing.assert_allclose(a, e, **tol)  # noqa: E731
    else:
        same = np.testing.assert_array_equal
    dout = np.random.default_rng(7).uniform(0.5, 1.5, np.shape(_call(F.linear_cross_entropy, inputs, opts)))
    if reduction != "none":
        dout = 0.75
    for options in (None, LinearCrossEntropyOptions(batch_chunk_size=len(t))):
        kw = dict(reduction=reduction, dtype=dtype, options=options)
        value = _call(F.linear_cross_entropy, inputs, plain, **kw)
        same(value, _call(F.linear_cross_entropy, inputs, chunked, **kw))
        direct = _call(F.linear_cross_entropy_value_and_grad, inputs, plain, dout, **kw)
        passed = _call(F.linear_cross_entropy_value_and_grad, inputs, chunked, dout, **kw)
        np.testing.assert_array_equal(direct[0], value)  # the loss alone is the same on each path
        same(direct[0], passed[0])
        assert np.asarray(direct[0]).dtype == dtype
        for got, want in zip(direct[1], passed[1], strict=True):
            assert got.dtype == want.dtype == dtype and got.shape == want.shape
            same(got, want)


def test_linear_direct_path_leaves_huge_and_out_of_range_calls_to_the_checks():
    """Entries whose products could overflow, and a label out of range, are not the direct path's."""
    from losslab.functional.projection import _direct

    x, w, t = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.array([0, 3])
    assert _direct(x, w, t, None, None, "mean", None, 0.0, None) is not None
    assert _direct(x * 1e19, w * 1e19, t, None, None, "mean", None, 0.0, None) is None
    assert _direct(x, w, np.array([0, 4]), None, None, "mean", None, 0.0, None) is None
    assert _direct(x, w, t, None, None, "mean", None, 0.0, LinearCrossEntropyOptions(batch_chunk_size=1)) is None
    with pytest.raises(ValueError, match="class index 4"):
        F.linear_cross_entropy(x, w, np.array([0, 4]))
    dx, dw = F.linear_cross_entropy_backward(1.0, x * 1e19, w * 1e19, t)
    assert np.isfinite(dx).all() and np.isfinite(dw).all()


def test_options_chunk_rows_follow_torch():
    """next_pow2(ceil(N / ceil(C / D))) // factor, capped at N; an explicit size wins under 'auto'."""
    assert LinearCrossEntropyOptions().chunk_rows(8192, 1024, 32000) == 128
    assert LinearCrossEntropyOptions(chunking_method="aspect_ratio").chunk_rows(8192, 1024, 32000) == 256
    assert LinearCrossEntropyOptions(chunking_method="aspect_ratio:4").chunk_rows(8192, 1024, 32000) == 64
    assert LinearCrossEntropyOptions(chunking_method="aspect_ratio").chunk_rows(10, 100, 50) == 10
    assert LinearCrossEntropyOptions(batch_chunk_size=7).chunk_rows(100, 4, 9) == 7
    assert LinearCrossEntropyOptions(batch_chunk_size=700, chunking_method=None).chunk_rows(100, 4, 9) == 100


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(acc_policy="fast"), ValueError, "acc_policy must be one of"),
        (dict(chunking_method="rows"), ValueError, "chunking_method must be"),
        (dict(chunking_method="aspect_ratio:0"), ValueError, "chunking_method must be"),
        (dict(batch_chunk_size=0), ValueError, "batch_chunk_size must be a positive integer or None, got 0"),
        (dict(batch_chunk_size=2.5), ValueError, "batch_chunk_size must be a positive integer"),
        (dict(acc_dtype=np.int32), TypeError, "acc_dtype must be None, np.float32 or np.float64"),
        (dict(allow_retain_graph="yes"), TypeError, "allow_retain_graph must be True or False"),
    ],
)
def test_options_reject_bad_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        LinearCrossEntropyOptions(**kwargs)


def test_options_that_disagree_raise():
    with pytest.raises(ValueError, match=r"batch_chunk_size \(=5\) and chunking_method .* give different"):
        F.linear_cross_entropy(
            np.ones((8, 2)),
            np.ones((3, 2)),
            np.zeros(8, dtype=int),
            options=LinearCrossEntropyOptions(batch_chunk_size=5, chunking_method="aspect_ratio"),
        )


def test_acc_dtype_float64_with_float32_inputs():
    rng = np.random.default_rng(6)
    x, w, t = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32), np.arange(5) % 4
    out = F.linear_cross_entropy(x, w, t, options=LinearCrossEntropyOptions(acc_dtype=np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, F.linear_cross_entropy(x.astype(float), w.astype(float), t), rtol=1e-6)


X, W, T = np.ones((3, 2)), np.ones((4, 2)), np.array([0, 1, 2])


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((np.ones((3, 2), dtype=int), W, T), {}, TypeError, "input must be a float32 or float64 array"),
        ((np.ones((2, 3, 2)), W, T), {}, ValueError, r"input must be of shape \(in_features,\) or \(N, in_features\)"),
        ((X, np.ones(2), T), {}, ValueError, "linear_weight must be of shape"),
        ((X, np.ones((4, 3)), T), {}, ValueError, r"linear_weight's last axis must be in_features = 2"),
        ((X, W.astype(np.float32), T), {}, TypeError, "input and linear_weight must share one dtype"),
        ((X, W, T), dict(linear_bias=np.ones(3)), ValueError, r"linear_bias must have shape \(4,\)"),
        ((X, W, np.array([0, 1])), {}, ValueError, r"target must have shape \(3,\)"),
        ((X, W, np.array([0.0, 1.0, 2.0])), {}, TypeError, "target must hold integer class indices"),
        ((X, W, np.array([0, 1, 4])), {}, IndexError, r"target holds the class index 4, out of range"),
        ((X, W, np.full((3, 4), 0.25)), dict(ignore_index=0), ValueError, "ignore_index must be None with class-prob"),
        ((X, W, T), dict(weight=np.ones(3)), ValueError, r"weight must be a 1-D array with one entry per class \(4,\)"),
        ((X, W, T), dict(reduction="avg"), ValueError, "reduction must be one of"),
        ((X, W, T), dict(label_smoothing=1.5), ValueError, r"label_smoothing must lie in \[0.0, 1.0\]"),
        ((X, W, T), dict(options={"batch_chunk_size": 2}), TypeError, "options must be a LinearCrossEntropyOptions"),
        ((np.ones(2), np.ones((4, 2, 2)), np.array(0)), {}, ValueError, "K-dimensional loss .* needs a batched input"),
    ],
)
def test_linear_invalid_inputs_are_named(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        F.linear_cross_entropy(*args, **kwargs)


def test_linear_wrong_dout_shape_raises():
    with pytest.raises(ValueError, match="dout must be a scalar or have the loss's output shape"):
        F.linear_cross_entropy_backward(np.ones(4), X, W, T, reduction="none")


# --------------------------------------------------------------------------- the module


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bias", [False, True])
def test_module_matches_the_functions_and_stores_parameter_gradients(reduction, bias):
    rng = np.random.default_rng(7)
    loss = LinearCrossEntropyLoss(
        3, 6, bias=bias, reduction=reduction, ignore_index=2, options=CHUNKED, dtype=np.float64, rng=1
    )
    x, t = rng.normal(size=(5, 3)), np.array([0, 2, 5, 1, 2])
    out = loss(x, t)
    kw = dict(linear_bias=loss.linear_bias.data if bias else None, reduction=reduction, ignore_index=2)
    np.testing.assert_array_equal(out, F.linear_cross_entropy(x, loss.linear_weight.data, t, **kw))
    dout = np.full(np.shape(out), 0.75)
    dx = loss.backward(dout)
    expected = F.linear_cross_entropy_backward(dout, x, loss.linear_weight.data, t, **kw)
    np.testing.assert_allclose(dx, expected[0], rtol=1e-13)
    np.testing.assert_allclose(loss.linear_weight.grad, expected[1], rtol=1e-13)
    if bias:
        np.testing.assert_allclose(loss.linear_bias.grad, expected[2], rtol=1e-13)
    assert [p.name for p in loss.parameters()] == ["linear_weight"] + (["linear_bias"] if bias else [])
    np.testing.assert_allclose(loss.backward(dout), expected[0], rtol=1e-13)  # a second backward recomputes


def test_module_defaults_and_initialisation_are_torch_like():
    loss = LinearCrossEntropyLoss(16, 10, out_features=(2,), rng=3)
    assert loss.linear_weight.data.shape == (20, 16) and loss.linear_weight.data.dtype == np.float32
    assert np.abs(loss.linear_weight.data).max() <= 0.25 and loss.linear_bias is None
    assert loss.reduction == "mean" and loss.ignore_index is None and loss.options is None
    same = LinearCrossEntropyLoss(16, 10, out_features=(2,), rng=3)
    np.testing.assert_array_equal(loss.linear_weight.data, same.linear_weight.data)
    assert repr(loss).startswith("LinearCrossEntropyLoss(in_features=16, num_classes=10, out_features=(2,)")
    out = loss(np.ones((4, 16), dtype=np.float32), np.zeros((4, 2), dtype=np.int64))
    assert out.dtype == np.float32 and loss.backward().shape == (4, 16)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(in_features=0, num_classes=3), ValueError, "in_features must be a positive integer, got 0"),
        (dict(in_features=2, num_classes=3, reduction="avg"), ValueError, "reduction must be one of"),
        (dict(in_features=2, num_classes=3, weight=np.ones(2)), ValueError, "weight must be a 1-D array"),
        (dict(in_features=2, num_classes=3, label_smoothing=-0.1), ValueError, "label_smoothing must lie in"),
        (dict(in_features=2, num_classes=3, dtype=np.int32), TypeError, "dtype must be None, np.float32 or np.float64"),
        (dict(in_features=2, num_classes=3, options="chunk"), TypeError, "options must be a LinearCrossEntropyOptions"),
        (dict(in_features=2, num_classes=3, rng="seed"), TypeError, "rng must be a numpy Generator"),
    ],
)
def test_module_rejects_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        LinearCrossEntropyLoss(**kwargs)


def test_module_backward_before_forward_raises():
    with pytest.raises(ValueError, match="before forward"):
        LinearCrossEntropyLoss(2, 3).backward()
    with pytest.raises(ValueError, match="before forward"):
        AdaptiveLogSoftmaxWithLoss(4, 6, [2]).backward()


# --------------------------------------------------------------------------- adaptive softmax


def _asm(head_bias=True, dtype=np.float64):
    return AdaptiveLogSoftmaxWithLoss(12, 15, [4, 9], div_value=2.0, head_bias=head_bias, dtype=dtype, rng=4)


@pytest.mark.parametrize("head_bias", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_adaptive_gradients_match_central_differences(head_bias, batched):
    asm = _asm(head_bias)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(8, 12) if batched else 12)
    t = np.array([0, 5, 14, 9, 3, 11, 6, 2]) if batched else np.array(10)
    doutput = rng.uniform(-1, 1, np.shape(t))
    dx = asm(x, t) and asm.backward(0.6, doutput)
    params = asm.parameters()
    n_tails = len(asm.tail)

    def objective(xx, hw, *rest):
        hb = rest[0] if head_bias else None
        flat = rest[1:] if head_bias else rest
        tails = [(flat[2 * i], flat[2 * i + 1]) for i in range(n_tails)]
        out, loss = F.adaptive_log_softmax_with_loss(xx, t, hw, hb, tails, asm.cutoffs)
        return float(0.6 * loss + np.sum(doutput * out))

    result = gradcheck(objective, [x] + [p.data for p in params], [dx] + [p.grad for p in params])
    assert result.ok, str(result)


def test_adaptive_log_prob_is_a_distribution_and_predict_its_argmax():
    asm = _asm()
    x = np.random.default_rng(9).normal(size=(10, 12)) * 3
    lp = asm.log_prob(x)
    assert lp.shape == (10, 15)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(asm.predict(x), lp.argmax(axis=1))
    out, loss = asm(x, np.arange(10))
    np.testing.assert_allclose(out, lp[np.arange(10), np.arange(10)], rtol=1e-12)
    assert loss == pytest.approx(-out.mean())


def test_adaptive_float32_in_float32_out():
    asm64, asm32 = _asm(dtype=np.float64), _asm(dtype=np.float32)
    x, t = np.random.default_rng(10).normal(size=(6, 12)), np.array([0, 4, 8, 9, 14, 1])
    out64, loss64 = asm64(x, t)
    out32, loss32 = asm32(x.astype(np.float32), t)
    assert out32.dtype == np.float32 and isinstance(loss32, np.float32)
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    dx32, dx64 = asm32.backward(), asm64.backward()
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, rtol=1e-3, atol=1e-5)
    for p32, p64 in zip(asm32.parameters(), asm64.parameters(), strict=True):
        assert p32.grad.dtype == np.float32
        np.testing.assert_allclose(p32.grad, p64.grad, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((12, 15, []), ValueError, "cutoffs must be a non-empty sequence"),
        ((12, 15, [4, 4]), ValueError, "cutoffs must be a non-empty sequence of unique increasing"),
        ((12, 15, [9, 4]), ValueError, "cutoffs must be"),
        ((12, 15, [4, 15]), ValueError, r"\[1, n_classes - 1\] = \[1, 14\]"),
        ((0, 15, [4]), ValueError, "in_features must be a positive integer"),
    ],
)
def test_adaptive_rejects_bad_constructor_arguments(args, error, match):
    with pytest.raises(error, match=match):
        AdaptiveLogSoftmaxWithLoss(*args)


@pytest.mark.parametrize(
    "x, t, error, match",
    [
        (np.ones((3, 12)), np.array([0, 1]), ValueError, "input and target must have the same batch size"),
        (np.ones(12), np.array([0, 1]), ValueError, "a 1-D target needs a 2-D input"),
        (np.ones((3, 12)), np.array(1), ValueError, "a 0-D target needs a 1-D input"),
        (np.ones((3, 12)), np.ones((3, 1), dtype=int), ValueError, "target must be 0-D or 1-D class indices"),
        (np.ones((3, 12)), np.array([0, 1, 15]), IndexError, "target holds the class index 15"),
        (np.ones((3, 12)), np.array([0, -1, 2]), IndexError, "target holds the class index -1"),
        (np.ones((20, 12)), np.arange(20) - 3, IndexError, "target holds the class index -3"),
        (np.ones((20, 12)), np.arange(20), IndexError, "target holds the class index 15"),
        (np.ones((3, 11)), np.array([0, 1, 2]), ValueError, "input must have in_features = 12"),
        (np.ones((3, 12), dtype=np.float32), np.array([0, 1, 2]), TypeError, "input must have the parameters' dtype"),
        (np.ones((3, 12), dtype=int), np.array([0, 1, 2]), TypeError, "input must be a float32 or float64 array"),
    ],
)
def test_adaptive_invalid_inputs_are_named(x, t, error, match):
    with pytest.raises(error, match=match):
        _asm()(x, t)


# --------------------------------------------------------------------------- PyTorch 2.13: committed values


def _golden():
    with np.load(GOLDEN, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(str(arrays.pop("index")))


ARRAYS, INDEX = _golden()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("entry", INDEX["linear"], ids=[e["key"] for e in INDEX["linear"]])
def test_linear_matches_committed_torch_values(entry, dtype):
    key = entry["key"]
    cast = lambda a: a.astype(dtype) if a.dtype.kind == "f" else a  # noqa: E731
    ins = {name: cast(ARRAYS[f"{key}|{name}"]) for name in entry["inputs"]}
    opts = dict(entry["options"], **{k: cast(ARRAYS[f"{key}|opt|{k}"]) for k in entry["array_options"]})
    if entry["chunk"] is not None:
        opts["options"] = LinearCrossEntropyOptions(batch_chunk_size=entry["chunk"], chunking_method=None)
    args = (ins["x"], ins["w"], ins["t"])
    out = F.linear_cross_entropy(*args, linear_bias=ins.get("b"), **opts)
    grads = F.linear_cross_entropy_backward(cast(ARRAYS[f"{key}|dout"]), *args, linear_bias=ins.get("b"), **opts)
    np.testing.assert_allclose(out, ARRAYS[f"{key}|{dtype}|out"], **TOLERANCES[dtype])
    names = ["input", "linear_weight"] + (["linear_bias"] if "b" in ins else [])
    for name, g in zip(names, grads, strict=True):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, ARRAYS[f"{key}|{dtype}|grad_{name}"], **TOLERANCES[dtype], err_msg=name)


def _loaded_asm(entry, dtype):
    key = entry["key"]
    asm = AdaptiveLogSoftmaxWithLoss(
        entry["in_features"],
        entry["n_classes"],
        entry["cutoffs"],
        div_value=entry["div_value"],
        head_bias=entry["head_bias"],
        dtype=dtype,
    )
    asm.load_state_dict({name: ARRAYS[f"{key}|param|{name}"] for name in entry["params"]})
    return asm


def _torch_names(asm):
    names = ["head.weight"] + (["head.bias"] if asm.head_bias else [])
    return names + [f"tail.{i}.{j}.weight" for i in range(len(asm.tail)) for j in (0, 1)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("entry", INDEX["adaptive"], ids=[e["key"] for e in INDEX["adaptive"]])
def test_adaptive_matches_committed_torch_values(entry, dtype):
    key = entry["key"]
    asm = _loaded_asm(entry, dtype)
    x = ARRAYS[f"{key}|x"].astype(dtype)
    output, loss = asm(x, ARRAYS[f"{key}|t"])
    dx = asm.backward(entry["dloss"], ARRAYS[f"{key}|doutput"].astype(dtype))
    tol = TOLERANCES[dtype]
    np.testing.assert_allclose(output, ARRAYS[f"{key}|{dtype}|output"], **tol)
    np.testing.assert_allclose(loss, ARRAYS[f"{key}|{dtype}|loss"], **tol)
    np.testing.assert_allclose(dx, ARRAYS[f"{key}|{dtype}|grad_input"], **tol)
    for name, p in zip(_torch_names(asm), asm.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, ARRAYS[f"{key}|{dtype}|grad|{name}"], **tol, err_msg=name)
    np.testing.assert_allclose(
        asm.log_prob(x.reshape(-1, entry["in_features"])), ARRAYS[f"{key}|{dtype}|log_prob"], **tol
    )
    np.testing.assert_array_equal(asm.predict(x.reshape(-1, entry["in_features"])), ARRAYS[f"{key}|{dtype}|predict"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("entry", INDEX["adaptive"], ids=[e["key"] for e in INDEX["adaptive"]])
def test_adaptive_registry_pair_matches_committed_torch_values(entry, dtype):
    """The registry's flat-parameter pair: 'mean' is torch's loss, 'none' is -output, gradients add up."""
    key = entry["key"]
    asm = _loaded_asm(entry, dtype)
    x, t = ARRAYS[f"{key}|x"].astype(dtype), ARRAYS[f"{key}|t"]
    hb = asm.head_bias_param.data if asm.head_bias else None
    flat = np.concatenate([p.data.reshape(-1) for pair in asm.tail for p in pair])
    args = (x, t, asm.head_weight.data, hb, flat)
    kw = dict(cutoffs=asm.cutoffs, div_value=entry["div_value"])
    tol = TOLERANCES[dtype]
    np.testing.assert_allclose(F.adaptive_log_softmax_loss(*args, **kw), ARRAYS[f"{key}|{dtype}|loss"], **tol)
    none = F.adaptive_log_softmax_loss(*args, **kw, reduction="none")
    np.testing.assert_allclose(none, -ARRAYS[f"{key}|{dtype}|output"], **tol)
    doutput = ARRAYS[f"{key}|doutput"].astype(dtype)
    from_loss = F.adaptive_log_softmax_loss_backward(entry["dloss"], *args, **kw)
    from_output = F.adaptive_log_softmax_loss_backward(-doutput, *args, **kw, reduction="none")
    names = _torch_names(asm)
    expected = [
        ARRAYS[f"{key}|{dtype}|grad_input"],
        ARRAYS[f"{key}|{dtype}|grad|head.weight"],
        ARRAYS[f"{key}|{dtype}|grad|head.bias"] if asm.head_bias else None,
        np.concatenate([ARRAYS[f"{key}|{dtype}|grad|{n}"].reshape(-1) for n in names if n.startswith("tail")]),
    ]
    for a, b, e in zip(from_loss, from_output, expected, strict=True):
        if e is None:
            assert a is None and b is None
        else:
            np.testing.assert_allclose(a + b, e, **tol)


def test_adaptive_registry_pair_rejects_a_wrong_tail_weight():
    args = (np.zeros((1, 8)), np.array([0]), np.zeros((4, 8)), None)
    with pytest.raises(ValueError, match=r"tail_weight must be 1-D with 62 values"):
        F.adaptive_log_softmax_loss(*args, np.zeros(61), cutoffs=[2, 4, 7], div_value=2.0)
    with pytest.raises(ValueError, match=r"cutoffs must be unique increasing positive integers"):
        F.adaptive_log_softmax_loss(*args, np.zeros(62), cutoffs=[4, 2, 7], div_value=2.0)
    with pytest.raises(TypeError, match=r"tail_weight must have the input's dtype float64"):
        F.adaptive_log_softmax_loss(*args, np.zeros(62, dtype=np.float32), cutoffs=[2, 4, 7], div_value=2.0)


def test_golden_file_is_torch_2_13():
    assert INDEX["torch"].startswith("2.13.0")


# --------------------------------------------------------------------------- PyTorch 2.13: the live oracle


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("inputs, opts", _linear_cases())
def test_linear_matches_live_torch(inputs, opts, reduction, chunked):
    torch = pytest.importorskip("torch")
    x, w, t, b = inputs
    options = CHUNKED if chunked else None
    out = _call(F.linear_cross_entropy, inputs, opts, reduction=reduction, options=options)
    dout = np.random.default_rng(11).uniform(0.5, 1.5, np.shape(out))
    grads = _call(F.linear_cross_entropy_backward, inputs, opts, dout, reduction=reduction, options=options)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w) + (() if b is None else (b,))]
    topts = {k: torch.tensor(val) if isinstance(val, np.ndarray) else val for k, val in opts.items()}
    toptions = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=3, chunking_method=None) if chunked else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note that an option path falls back to its reference
        t_out = torch.nn.functional.linear_cross_entropy(
            tensors[0],
            tensors[1],
            torch.tensor(t),
            linear_bias=None if b is None else tensors[2],
            reduction=reduction,
            options=toptions,
            **topts,
        )
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOLERANCES["float64"])
    for g, tt in zip(grads, tensors, strict=True):
        np.testing.assert_allclose(g, tt.grad.numpy(), **TOLERANCES["float64"])


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_matches_live_torch(head_bias):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    module = torch.nn.AdaptiveLogSoftmaxWithLoss(12, 15, [4, 9], div_value=2.0, head_bias=head_bias).double()
    asm = AdaptiveLogSoftmaxWithLoss(12, 15, [4, 9], div_value=2.0, head_bias=head_bias, dtype=np.float64)
    asm.load_state_dict(module.state_dict())
    x, t = np.random.default_rng(12).normal(size=(10, 12)), np.array([0, 5, 14, 9, 3, 11, 6, 2, 13, 4])
    output, loss = asm(x, t)
    dx = asm.backward()
    tx = torch.tensor(x, requires_grad=True)
    t_output, t_loss = module(tx, torch.tensor(t))
    t_loss.backward()
    np.testing.assert_allclose(output, t_output.detach().numpy(), **TOLERANCES["float64"])
    np.testing.assert_allclose(loss, t_loss.item(), **TOLERANCES["float64"])
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOLERANCES["float64"])
    params = dict(module.named_parameters())
    for name, p in zip(_torch_names(asm), asm.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, params[name].grad.numpy(), **TOLERANCES["float64"], err_msg=name)


def test_from_inputs_without_a_bias_is_the_pure_function():
    """The registry's cases always pass a bias; here the modules built from arrays without one."""
    rng = np.random.default_rng(3)
    x, w, t = rng.normal(size=(5, 4)), rng.normal(size=(3, 2, 4)), rng.integers(0, 3, (5, 2))
    loss = LinearCrossEntropyLoss.from_inputs(w, reduction="sum", label_smoothing=0.1)
    assert loss.linear_bias is None and loss.out_features == (2,)
    out, dx = loss(x, t), loss.backward(0.5)
    np.testing.assert_array_equal(out, F.linear_cross_entropy(x, w, t, reduction="sum", label_smoothing=0.1))
    expected = F.linear_cross_entropy_backward(0.5, x, w, t, reduction="sum", label_smoothing=0.1)
    np.testing.assert_array_equal(dx, expected[0])
    np.testing.assert_array_equal(loss.linear_weight.grad.reshape(w.shape), expected[1])

    hw, tail, kw = rng.normal(size=(4, 8)), rng.normal(size=22), dict(cutoffs=[3, 6], div_value=4.0)
    x, t = rng.normal(size=(5, 8)), np.array([0, 2, 3, 5, 4])
    asm = AdaptiveLogSoftmaxWithLoss.from_inputs(hw, None, tail, **kw)
    assert asm.head_bias_param is None and [p.data.shape for p in asm.parameters()] == [(4, 8), (2, 8), (3, 2)]
    output, value = asm(x, t)
    np.testing.assert_array_equal(value, F.adaptive_log_softmax_loss(x, t, hw, None, tail, **kw))
    np.testing.assert_array_equal(-output, F.adaptive_log_softmax_loss(x, t, hw, None, tail, **kw, reduction="none"))
    dx, dhw, dhb, dtail = F.adaptive_log_softmax_loss_backward(1.0, x, t, hw, None, tail, **kw)
    assert dhb is None
    np.testing.assert_array_equal(asm.backward(), dx)
    np.testing.assert_array_equal(asm.head_weight.grad, dhw)
    np.testing.assert_array_equal(np.concatenate([p.grad.ravel() for p in asm.parameters()[1:]]), dtail)


def test_from_inputs_names_what_does_not_fit():
    with pytest.raises(ValueError, match=r"linear_weight must be of shape \(C, in_features\)"):
        LinearCrossEntropyLoss.from_inputs(np.zeros(3))
    with pytest.raises(ValueError, match="linear_bias must have 3 values"):
        LinearCrossEntropyLoss.from_inputs(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="tail_weight must be 1-D with 22 values"):
        AdaptiveLogSoftmaxWithLoss.from_inputs(np.zeros((4, 8)), None, np.zeros(21), cutoffs=[3, 6])
    with pytest.raises(ValueError, match="reduction must be one of"):
        AdaptiveLogSoftmaxWithLoss.from_inputs(np.zeros((4, 8)), None, np.zeros(22), cutoffs=[3, 6], reduction="avg")


@pytest.mark.parametrize("head_bias", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_adaptive_value_and_grad_is_the_forward_and_backward(head_bias, batched):
    asm = _asm(head_bias)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(8, 12) if batched else 12)
    t = np.array([0, 5, 14, 9, 3, 11, 6, 2]) if batched else np.array(10)
    hb = asm.head_bias_param.data if head_bias else None
    tails = [(w1.data, w2.data) for w1, w2 in asm.tail]
    (out, loss), (dx, dhw, dhb, dtails) = F.adaptive_log_softmax_with_loss_value_and_grad(
        x, t, asm.head_weight.data, hb, tails, asm.cutoffs
    )
    out_ref, loss_ref = F.adaptive_log_softmax_with_loss(x, t, asm.head_weight.data, hb, tails, asm.cutoffs)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    # the loss's gradient through the output (loss = -mean(output)), which the backward takes in a pass of its own
    dout = np.full(np.shape(t), -1.0 / np.size(t))
    ref = F.adaptive_log_softmax_with_loss_backward(0.0, dout, x, t, asm.head_weight.data, hb, tails, asm.cutoffs)
    np.testing.assert_allclose(dx, ref[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dhw, ref[1], rtol=1e-10, atol=1e-14)
    assert (dhb is None) == (not head_bias)
    if head_bias:
        np.testing.assert_allclose(dhb, ref[2], rtol=1e-10, atol=1e-14)
    for (g1, g2), (r1, r2) in zip(dtails, ref[3], strict=True):
        np.testing.assert_allclose(g1, r1, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(g2, r2, rtol=1e-10, atol=1e-14)


def test_adaptive_value_and_grad_names_a_bad_target():
    asm = _asm()
    tails = [(w1.data, w2.data) for w1, w2 in asm.tail]
    with pytest.raises(ValueError, match="input and target must have the same batch size"):
        F.adaptive_log_softmax_with_loss_value_and_grad(
            np.ones((3, 12)), np.array([0, 1]), asm.head_weight.data, None, tails, asm.cutoffs
        )


# --------------------------------------------------------------------------- fast paths against the checked passes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_small_kernel_is_the_numpy_pass(monkeypatch, head_bias, dtype):
    """A few rows take one numba call (numba installed); its values and gradients are the NumPy pass's, with the
    gradient of the loss and with a gradient per output, for targets in the head and in every cluster."""
    from losslab import _fast
    from losslab._fast import _dispatch

    asm = _asm(head_bias, dtype)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(9, 12)).astype(dtype)
    t = np.array([0, 5, 14, 9, 3, 11, 6, 2, 4])
    hb = asm.head_bias_param.data if head_bias else None
    args = (x, t, asm.head_weight.data, hb, [(w1.data, w2.data) for w1, w2 in asm.tail], asm.cutoffs)
    doutput = rng.normal(size=9).astype(dtype)
    small = _dispatch.adaptive_small(*args[:5], args[5], np.full(9, -1.0 / 9, dtype))
    assert (small is None) == (_fast.backend() != "numba")

    def both():
        value_and_grad = F.adaptive_log_softmax_with_loss_value_and_grad(*args)
        return value_and_grad, F.adaptive_log_softmax_with_loss_backward(0.5, doutput, *args)

    fast = both()
    monkeypatch.setattr(_dispatch, "ASM_SMALL", 0)  # every call to the NumPy pass
    slow = both()
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    (out, loss), grads = fast[0]
    (out_ref, loss_ref), grads_ref = slow[0]
    np.testing.assert_allclose(out, out_ref, **tol)
    np.testing.assert_allclose(loss, loss_ref, **tol)
    for got, want in ((grads, grads_ref), (fast[1], slow[1])):
        flat = [got[0], got[1], *([got[2]] if head_bias else []), *(w for pair in got[3] for w in pair)]
        flat_ref = [want[0], want[1], *([want[2]] if head_bias else []), *(w for pair in want[3] for w in pair)]
        assert (got[2] is None) == (not head_bias)
        for g, r in zip(flat, flat_ref, strict=True):
            assert g.dtype == r.dtype == dtype and g.shape == r.shape
            np.testing.assert_allclose(g, r, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_softmax_columns_kernel_is_the_numpy_pass(monkeypatch, head_bias, dtype):
    """Past the few rows, numba computes each softmax's values and logits' gradient in one call
    (``_fast.asm_cols``); they are NumPy's to rounding, with the gradient of the loss and with a gradient per
    output."""
    from losslab import _fast
    from losslab._fast import _dispatch

    asm = _asm(head_bias, dtype)
    rng = np.random.default_rng(6)
    n = 300
    x = rng.normal(0, 2, size=(n, 12)).astype(dtype)
    t = rng.integers(0, 15, n)
    hb = asm.head_bias_param.data if head_bias else None
    args = (x, t, asm.head_weight.data, hb, [(w1.data, w2.data) for w1, w2 in asm.tail], asm.cutoffs)
    doutput = rng.normal(size=n).astype(dtype)
    monkeypatch.setattr(_dispatch, "ASM_SMALL", 0)  # every call to the pass on the whole batch

    def calls():
        (out, loss), grads = F.adaptive_log_softmax_with_loss_value_and_grad(*args)
        out2, _ = F.adaptive_log_softmax_with_loss(*args)
        backward = F.adaptive_log_softmax_with_loss_backward(0.5, doutput, *args)
        flat = [out, out2, np.asarray(loss)]
        for g in (grads, backward):
            assert (g[2] is None) == (not head_bias)
            flat += [g[0], g[1], *([g[2]] if head_bias else []), *(w for pair in g[3] for w in pair)]
        return flat

    before = [np.array(a, copy=True) for a in (x, t, args[2])]
    fast = calls()
    for a, b in zip((x, t, args[2]), before, strict=True):
        np.testing.assert_array_equal(a, b)  # inputs untouched
    monkeypatch.setattr(_fast, "asm_cols", lambda *a: False)  # NumPy's calls, as without numba
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for got, want in zip(fast, calls(), strict=True):
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("inputs, opts", _linear_cases()[:6])
def test_linear_chunks_of_the_direct_path_are_the_checked_pass(monkeypatch, inputs, opts, reduction, dtype):
    """Chunked calls within the direct path's bounds take its chunks (no check per chunk), and so do calls
    without options whose narrow logits go a cache-sized block of rows at a time on one thread, or whose logits
    pass _THREADS_NARROW_BYTES (narrow rows) or _THREADS_LOGITS_BYTES on several; the values are the checked
    chunked pass's (an np.int64 ignore_index takes it): in the same chunks bit for bit without numba, else to
    rounding (the blocks add up dW in another order than one product)."""
    from losslab import _fast
    from losslab.functional import projection

    ignore = opts.get("ignore_index", -100)
    plain, checked = dict(opts, ignore_index=int(ignore)), dict(opts, ignore_index=np.int64(ignore))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    close = lambda a, e: np.testing.assert_allclose(a, e, **tol)  # noqa: E731
    dout = 0.75 if reduction != "none" else np.random.default_rng(7).uniform(0.5, 1.5, len(inputs[2]))
    x, w, t, b = (None if a is None else a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs)
    weight = None if "weight" not in opts else opts["weight"].astype(dtype)
    args = (x, w, t, b, weight, reduction, int(ignore), opts.get("label_smoothing", 0.0), CHUNKED)
    call = projection._direct(*args, chunks=True)
    assert call is not None and call[1] is None and call[0].rows == 3
    assert projection._direct(*args) is None  # the chunks are asked for
    no_options = x.dtype.itemsize * w.shape[0] * 3  # three rows a block
    for options, cache, threads in ((CHUNKED, projection._CACHE_BYTES, 1), (None, no_options, 1), (None, 0, 2)):
        monkeypatch.setattr(_fast, "get_num_threads", lambda threads=threads: threads)  # the blocks: one thread's
        monkeypatch.setattr(projection, "_CACHE_BYTES", cache)
        monkeypatch.setattr(projection, "_THREADS_LOGITS_BYTES", no_options)  # on two, chunks of three rows
        monkeypatch.setattr(projection, "_THREADS_NARROW_BYTES", no_options)
        if threads == 2:
            direct = projection._direct(*args[:-1], None, chunks=True)
            assert direct is not None and direct[1] is None and direct[0].rows == 3
        same = np.testing.assert_array_equal if options is CHUNKED and _fast.backend() == "numpy" else close
        kw = dict(reduction=reduction, dtype=dtype, options=options)
        value = _call(F.linear_cross_entropy, inputs, plain, **kw)
        same(value, _call(F.linear_cross_entropy, inputs, checked, **kw))
        got = _call(F.linear_cross_entropy_value_and_grad, inputs, plain, dout, **kw)
        ref = _call(F.linear_cross_entropy_value_and_grad, inputs, checked, dout, **kw)
        np.testing.assert_array_equal(got[0], value)  # the loss alone is the same
        same(got[0], ref[0])
        for g, r in zip(got[1], ref[1], strict=True):
            assert g.dtype == r.dtype == dtype and g.shape == r.shape
            same(g, r)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_chunks_on_several_threads_follow_the_width_of_a_row(monkeypatch, dtype):
    """Without options, on several threads: narrow rows (at most _CACHE_ROW_BYTES of logits) go
    _THREADS_NARROW_BYTES of logits at a time, wider ones _THREADS_LOGITS_BYTES; logits under the size, whole."""
    from losslab import _fast
    from losslab.functional import projection

    monkeypatch.setattr(_fast, "get_num_threads", lambda: 2)
    rng = np.random.default_rng(3)
    item = np.dtype(dtype).itemsize
    for classes, narrow, rows in ((100, True, 10), (projection._CACHE_ROW_BYTES // item + 1, False, 5)):
        row = classes * item
        monkeypatch.setattr(projection, "_THREADS_NARROW_BYTES", row * (10 if narrow else 2))
        monkeypatch.setattr(projection, "_THREADS_LOGITS_BYTES", row * (2 if narrow else 5))
        x, w = rng.normal(size=(40, 3)).astype(dtype), rng.normal(size=(classes, 3)).astype(dtype)
        t = rng.integers(0, classes, 40)
        args = (x, w, t, None, None, "mean", -100, 0.0, None)
        call, logits = projection._direct(*args, chunks=True)
        assert logits is None and call.rows == rows, (classes, call.rows)
        monkeypatch.setattr(projection, "_THREADS_NARROW_BYTES", row * 40)  # the whole logits fit: one product
        monkeypatch.setattr(projection, "_THREADS_LOGITS_BYTES", row * 40)
        call, logits = projection._direct(*args, chunks=True)
        assert logits is not None and call.rows == 40


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("inputs, opts", _linear_cases()[:6])
def test_linear_small_kernel_is_the_direct_path(monkeypatch, inputs, opts, reduction, dtype):
    """A few rows (and one or two rows of any width) take one numba call (numba installed): its values and
    gradients are the direct path's (BLAS logits, the fused rows) to rounding, with options or without, and the
    loss alone is the same bits as the loss with its gradients."""
    from losslab import _fast
    from losslab._fast import _dispatch
    from losslab.functional import projection

    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    x, w, t, b = inputs
    wide = np.random.default_rng(3).normal(0, 0.1, (700, 400))  # 1 row x 700 x 400: past LCE_SMALL, one row
    calls = [(inputs, CHUNKED), (inputs, None), ((x[:1], wide[:, : x.shape[1]], t[:1], None), None)]
    calls.append(((np.random.default_rng(4).normal(size=(1, 400)), wide, np.array([650]), None), None))
    for call_inputs, options in calls:
        cx, cw, ct, cb = (None if a is None else a.astype(dtype) if a.dtype.kind == "f" else a for a in call_inputs)
        opts_d = {k: (val.astype(dtype) if isinstance(val, np.ndarray) else val) for k, val in opts.items()}
        if ct.size == 1 and "weight" in opts_d and opts_d["weight"].shape[0] != cw.shape[0]:
            opts_d.pop("weight")
        kw = dict(opts_d, reduction=reduction, options=options, linear_bias=cb)
        dout = 0.75 if reduction != "none" else np.linspace(0.5, 1.5, len(ct)).astype(dtype)
        args = (cx, cw, ct, cb, opts_d.get("weight"), reduction, opts_d.get("ignore_index"))
        small = projection._small(*args, opts_d.get("label_smoothing", 0.0), options, dout, True)
        assert (small is None) == (_fast.backend() != "numba")
        value = F.linear_cross_entropy(cx, cw, ct, **kw)
        got = F.linear_cross_entropy_value_and_grad(dout, cx, cw, ct, **kw)
        np.testing.assert_array_equal(got[0], value)
        with monkeypatch.context() as m:
            m.setattr(_dispatch, "LCE_SMALL", 0)
            m.setattr(_dispatch, "LCE_SMALL_ROWS", 0)
            assert projection._small(*args, opts_d.get("label_smoothing", 0.0), options, dout, True) is None
            ref = F.linear_cross_entropy_value_and_grad(dout, cx, cw, ct, **kw)
        assert np.asarray(got[0]).dtype == dtype and np.shape(got[0]) == np.shape(ref[0])
        np.testing.assert_allclose(got[0], ref[0], **tol)
        for g, r in zip(got[1], ref[1], strict=True):
            assert g.dtype == r.dtype == dtype and g.shape == r.shape
            np.testing.assert_allclose(g, r, **tol)


def test_linear_small_kernel_declines_what_it_cannot_answer():
    """A label out of range, every label ignored, NaN and sums beyond float32's range go to the checked pass:
    its errors and its values."""
    from losslab.functional import projection

    x, w, t = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.array([0, 3])

    def call(x, w, t):
        return projection._small(x, w, t, None, None, "mean", None, 0.0, None, 1.0, True)

    assert call(x, w, np.array([0, 4])) is None
    assert call(x, w, np.array([-100, -100])) is None
    assert call(x * np.nan, w, t) is None
    far = np.array([[1.0], [1.0], [1.0], [-1.0]], np.float32) * w * 3e38  # class 3's logit: -9e76 beside 9e76
    assert call(x * 3e38, far, t) is None
    got = F.linear_cross_entropy_value_and_grad(1.0, x * 3e38, far, t)
    want = F.linear_cross_entropy_value_and_grad(1.0, x * 3e38, far, t, ignore_index=np.int64(-100))  # checked
    np.testing.assert_array_equal(got[0], want[0])
    for g, r in zip(got[1], want[1], strict=True):
        np.testing.assert_array_equal(g, r)
    with pytest.raises(ValueError, match="class index 4"):
        F.linear_cross_entropy_value_and_grad(1.0, x, w, np.array([0, 4]))
    value, (dx, dw) = F.linear_cross_entropy_value_and_grad(1.0, x, w, np.array([-100, -100]))
    assert np.isnan(value) and not dx.any() and not dw.any()
    with pytest.raises(ValueError, match="dout"):
        F.linear_cross_entropy_value_and_grad(np.ones(3), x, w, t, reduction="none")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("opts", [{}, dict(weight="w", ignore_index=1, label_smoothing=0.2)], ids=["plain", "all"])
def test_linear_narrow_chunks_on_several_threads_are_the_checked_pass(monkeypatch, opts, reduction, dtype):
    """On several threads, chunks small enough that BLAS runs each on one thread go on this process's threads; the
    values and gradients are the checked pass's to rounding (each thread adds up its own dW). Without options
    the products are whole (BLAS threads them)."""
    from losslab import _fast
    from losslab.functional import projection

    rng = np.random.default_rng(11)
    n, d, c = 1500, 64, 100
    x, w, b = (rng.normal(0, s, shape).astype(dtype) for s, shape in ((1, (n, d)), (0.1, (c, d)), (0.1, c)))
    t = rng.integers(0, c, n)
    kw = dict(opts, reduction=reduction)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.5, 2.0, c).astype(dtype)
    dout = 0.75 if reduction != "none" else rng.uniform(0.5, 1.5, n).astype(dtype)
    monkeypatch.setattr(_fast, "get_num_threads", lambda: 2)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    small = (projection._BLAS_ONE - 1) // (c * d)
    for options in (None, LinearCrossEntropyOptions(batch_chunk_size=small, chunking_method=None)):
        args = (x, w, t, b, kw.get("weight"), reduction, kw.get("ignore_index"), kw.get("label_smoothing", 0.0))
        call = projection._direct(*args, options, True)
        assert call is not None
        if options is None:
            assert call[1] is not None and call[1].shape == (n, c)  # whole logits
        else:
            assert call[1] is None and call[0].rows == small
        got = F.linear_cross_entropy_value_and_grad(dout, x, w, t, b, options=options, **kw)
        ref_kw = dict(kw, ignore_index=np.int64(kw.get("ignore_index", -100)))  # the checked pass
        ref = F.linear_cross_entropy_value_and_grad(dout, x, w, t, b, options=options, **ref_kw)
        np.testing.assert_allclose(got[0], ref[0], **tol)
        np.testing.assert_array_equal(F.linear_cross_entropy(x, w, t, b, options=options, **kw), got[0])
        for g, r in zip(got[1], ref[1], strict=True):  # float32 sums of 1500 rows in another order: to their scale
            assert g.dtype == r.dtype == dtype and g.shape == r.shape
            np.testing.assert_allclose(g, r, rtol=tol["rtol"], atol=tol["atol"] * max(1.0, 10 * float(np.abs(r).max())))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e30, 3e38])
def test_adaptive_log_prob_takes_the_loss_limits_at_extreme_inputs(dtype, value):
    """An infinite input (or one whose logits leave the range) gets the limits the loss takes: each row still a
    distribution, each target's entry the loss's output (to rounding), the other rows untouched, no NaN, no warning."""
    asm = _asm(dtype=dtype)
    x = (np.random.default_rng(11).normal(size=(6, 12)) * 3).astype(dtype)
    t = np.array([0, 4, 8, 9, 14, 1])
    finite = asm.log_prob(x)
    x[0, 0] = x[3, 5] = value
    lp = asm.log_prob(x)
    assert lp.dtype == dtype and not np.isnan(lp).any()
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(lp[[1, 2, 4, 5]], finite[[1, 2, 4, 5]])
    out, _ = asm(x, t)  # the same limits, another order of the finite sums
    np.testing.assert_allclose(out, lp[np.arange(6), t], rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(asm.predict(x), lp.argmax(axis=1))


def test_adaptive_log_prob_of_a_nan_input_is_nan_in_its_row_only():
    asm = _asm()
    x = np.random.default_rng(12).normal(size=(3, 12))
    x[1, 2] = np.nan
    lp = asm.log_prob(x)
    assert np.isnan(lp[1]).all() and np.isfinite(lp[[0, 2]]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_method_chunks_hold_a_cache_block_of_logits(monkeypatch, dtype):
    """A chunking method's chunks hold _CACHE_BYTES of logits at least (256 x 100 classes: one chunk, the whole
    call's values); an explicit batch_chunk_size is taken as given."""
    from losslab import _fast
    from losslab.functional import projection

    monkeypatch.setattr(_fast, "get_num_threads", lambda: 1)
    rng = np.random.default_rng(5)
    n, d, c = 256, 64, 100
    x, w, b = (rng.normal(0, s, shape).astype(dtype) for s, shape in ((1, (n, d)), (0.1, (c, d)), (0.1, c)))
    t = rng.integers(0, c, n)
    assert LinearCrossEntropyOptions().chunk_rows(n, d, c) == 64  # PyTorch's pick
    method = projection._direct(x, w, t, b, None, "mean", None, 0.0, LinearCrossEntropyOptions(), True)
    assert method is not None and method[0].rows == n and method[1] is not None  # one chunk: the logits whole
    explicit = LinearCrossEntropyOptions(batch_chunk_size=64)
    given = projection._direct(x, w, t, b, None, "mean", None, 0.0, explicit, True)
    assert given is not None and given[0].rows == 64 and given[1] is None
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    whole = F.linear_cross_entropy_value_and_grad(0.5, x, w, t, b, options=LinearCrossEntropyOptions())
    chunks = F.linear_cross_entropy_value_and_grad(0.5, x, w, t, b, options=explicit)
    np.testing.assert_allclose(whole[0], chunks[0], **tol)
    for g, r in zip(whole[1], chunks[1], strict=True):
        np.testing.assert_allclose(g, r, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_spans_are_the_largest_magnitudes(dtype):
    """The direct path's bounds in one numba call: the largest magnitudes and the label range, inf where an entry
    is inf or NaN (the call then leaves the direct path), None for arrays the kernel does not take."""
    from losslab import _fast

    rng = np.random.default_rng(6)
    x, w = rng.normal(0, 1, (9, 4)).astype(dtype), rng.normal(0, 1, (5, 4)).astype(dtype)
    b = -np.arange(5.0, dtype=dtype)
    t = rng.integers(1, 4, 9)
    spans = _fast.linear_ce_spans(x, w, b, t)
    if _fast.backend() != "numba":
        assert spans is None
        return
    assert spans == (np.abs(x).max(), np.abs(w).max(), 4.0, t.min(), t.max())
    assert _fast.linear_ce_spans(x, w, None, t)[2] == 0.0
    assert _fast.linear_ce_spans(x[:, ::2], w, b, t) is None
    assert _fast.linear_ce_spans(x, w, b, t.astype(np.int32)) is None
    big = x.copy()
    big[3, 1] = -np.finfo(dtype).max
    assert _fast.linear_ce_spans(big, w, b, t)[0] == np.finfo(dtype).max
    for bad in (np.nan, np.inf, -np.inf):
        for i in range(3):
            arrays = [x, w, b]
            arrays[i] = arrays[i].copy()
            arrays[i].flat[2] = bad
            assert _fast.linear_ce_spans(*arrays, t)[:3] == (np.inf, np.inf, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nan_x = x.copy()
        nan_x[0, 0] = np.nan
        out = F.linear_cross_entropy(nan_x, w, t)
    assert np.isnan(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_weighted_rows_are_the_general_kernel(dtype, reduction):
    """Class weights with every label kept, no smoothing: the plain rows' kernel times each row's weight gives the
    general kernel's values (label smoothing of 1e-300 takes it) to rounding."""
    from losslab import _fast

    rng = np.random.default_rng(8)
    z = rng.normal(0, 2, (300, 37)).astype(dtype)
    t = rng.integers(0, 37, 300)
    w = rng.uniform(0.5, 2.0, 37).astype(dtype)
    got = _fast.ce_weighted_rows(z, t, w, 0.0, float(w[t].sum()), reduction)
    if got is None:
        assert _fast.backend() != "numba"
        return
    ref = _fast.ce_weighted_rows(z, t, w, 1e-300, float(w[t].sum()), reduction)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got[0], ref[0], **tol)
    np.testing.assert_allclose(got[1], ref[1], **tol)
    assert got[1].dtype == dtype and np.asarray(got[0]).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_add_bias_is_numpys_sum(dtype):
    """The logits' bias added in place: NumPy's sums bit for bit, for a read-only or strided bias too."""
    from losslab import _fast

    rng = np.random.default_rng(9)
    z = rng.normal(0, 1, (37, 13)).astype(dtype)
    wide = rng.normal(0, 1, 26).astype(dtype)
    frozen = wide[:13].copy()
    frozen.flags.writeable = False
    for b in (wide[:13], wide[::2], frozen):
        got = z.copy()
        _fast.add_bias(got, b)
        np.testing.assert_array_equal(got, z + b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_direct_rows_kernel_is_the_separate_calls(bias, weighted, dtype):
    """The direct path's rows in one call (numba): the bias, the fused rows and their weights bit for bit those
    of add_bias then the cross-entropy kernels, the total their left-to-right sum, the bias gradient the
    gradient's column sums (to rounding), read-only inputs untouched."""
    from losslab import _fast

    rng = np.random.default_rng(10)
    z0 = rng.normal(0, 2, (300, 37)).astype(dtype)
    t = rng.integers(0, 37, 300)
    b = rng.normal(0, 1, 37).astype(dtype) if bias else None
    w = rng.uniform(0.5, 2.0, 37).astype(dtype)
    if not weighted:
        t[::7] = -100  # ignored rows
    for a in (t, w) if b is None else (t, w, b):
        a.flags.writeable = False
    den = float(w[t].sum()) if weighted else float((t != -100).sum())
    scale = 1.0 / den if weighted else dtype(1) / dtype(den)
    z, g, loss = z0.copy(), np.empty_like(z0), np.empty(300, np.float64)
    db = None if b is None else np.zeros(37, dtype)
    total = _fast.linear_ce_rows(z, b, t, -100, scale, w[t] if weighted else None, g, loss, db)
    if total is None:
        assert _fast.backend() != "numba"
        return
    ref = z0.copy()
    if b is not None:
        _fast.add_bias(ref, b)
    np.testing.assert_array_equal(z, ref)  # the logits with their bias
    if weighted:
        value, ref_g = _fast.ce_weighted_rows(ref, t, w, 0.0, den, "mean")
        assert dtype(total / den) == value
    else:
        ref_g, ref_loss = np.empty_like(ref), np.empty(300, np.float64)
        _fast.linear_ce_chunk(ref, t, -100, scale, ref_g, ref_loss)
        np.testing.assert_array_equal(loss, ref_loss)
        assert total == _fast.seq_sum(ref_loss)
    np.testing.assert_array_equal(g, ref_g)
    if db is not None:
        tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db, g.sum(axis=0, dtype=np.float64), **tol)
