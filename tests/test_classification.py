"""Classification family: hand-computed cases, loop references from the docstrings, properties,
extreme inputs and every validation branch of losslab.functional.classification."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab._validation import ClassIndexError
from losslab.functional.classification import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    cross_entropy,
    cross_entropy_backward,
    nll_loss,
    nll_loss_backward,
)
from losslab.nn.classification import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss

REDUCTIONS = ("none", "sum", "mean")

# the tutorial's example: logits, targets
TUTORIAL_X = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 3.0]])
TUTORIAL_T = np.array([0, 1, 1])


def log1pexp(z: float) -> float:
    return math.log(1 + math.exp(z))


# ============================================================================ loop references
# Each one is written from its function's docstring formula, one position at a time. They return
# the unreduced loss, the local derivative d loss_n / d x (per position) and the 'mean' denominator.


def ref_cross_entropy(x, t, weight=None, ignore_index=-100, label_smoothing=0.0):
    x = np.asarray(x, dtype=float)
    t = np.asarray(t)
    unbatched = x.ndim == 1
    if unbatched:
        x, t = x[np.newaxis], t[np.newaxis]
    c_count = x.shape[1]
    w = np.ones(c_count) if weight is None else np.asarray(weight, dtype=float)
    ls = label_smoothing
    probs = t.shape == x.shape
    positions = (x.shape[0],) + x.shape[2:]
    loss, local, denominator = np.zeros(positions), np.zeros(x.shape), 0.0
    for pos in np.ndindex(*positions):
        n, rest = pos[0], pos[1:]
        z = [x[(n, c) + rest] for c in range(c_count)]
        m = max(z)
        lse = m + math.log(sum(math.exp(zc - m) for zc in z))
        logp = [zc - lse for zc in z]
        if probs:  # a_c = w_c (q_c (1 - ls) + ls / C); 'mean' counts positions
            a = [w[c] * (t[(n, c) + rest] * (1 - ls) + ls / c_count) for c in range(c_count)]
            denominator += 1
        else:
            k = int(t[pos])
            if k == ignore_index:  # loss 0, gradient 0, not counted
                continue
            a = [(1 - ls) * w[k] * (c == k) + ls / c_count * w[c] for c in range(c_count)]
            denominator += w[k]
        loss[pos] = -sum(a[c] * logp[c] for c in range(c_count))
        for c in range(c_count):  # (sum_k a_k) softmax_c - a_c
            local[(n, c) + rest] = sum(a) * math.exp(logp[c]) - a[c]
    if unbatched:
        return loss[0], local[0], denominator
    return loss, local, denominator


def ref_nll(x, t, weight=None, ignore_index=-100):
    x = np.asarray(x, dtype=float)
    w = np.ones(x.shape[1]) if weight is None else weight
    loss, local, denominator = np.zeros(t.shape), np.zeros(x.shape), 0.0
    for pos in np.ndindex(*t.shape):
        k = int(t[pos])
        if k == ignore_index:
            continue
        loss[pos] = -w[k] * x[(pos[0], k) + pos[1:]]
        local[(pos[0], k) + pos[1:]] = -w[k]
        denominator += w[k]
    return loss, local, denominator


def ref_bce(x, t, weight=None):
    w = np.broadcast_to(1.0 if weight is None else weight, x.shape)
    loss, local = np.zeros(x.shape), np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        log_x = max(math.log(x[i]), -100) if x[i] > 0 else -100.0
        log_1mx = max(math.log(1 - x[i]), -100) if x[i] < 1 else -100.0
        loss[i] = -w[i] * (t[i] * log_x + (1 - t[i]) * log_1mx)
        local[i] = w[i] * (x[i] - t[i]) / max(x[i] * (1 - x[i]), 1e-12)
    return loss, local, x.size


def ref_bce_logits(x, t, weight=None, pos_weight=None):
    w = np.broadcast_to(1.0 if weight is None else weight, x.shape)
    p = np.broadcast_to(1.0 if pos_weight is None else pos_weight, x.shape)
    loss, local = np.zeros(x.shape), np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        s = 1 / (1 + math.exp(-x[i]))  # |x| stays small here
        loss[i] = -w[i] * (p[i] * t[i] * math.log(s) + (1 - t[i]) * math.log(1 - s))
        local[i] = w[i] * ((1 - t[i]) - (1 + (p[i] - 1) * t[i]) * (1 - s))
    return loss, local, x.size


def ref_reduce(loss, local, denominator, reduction, dout, class_axis=None):
    """Reduce the reference loss, and turn its local derivative into the gradient of sum(dout * out)."""
    if reduction == "none":
        g = np.asarray(dout)
        if class_axis is not None:
            g = np.expand_dims(g, class_axis)
        return loss, local * g
    if reduction == "sum":
        return loss.sum(), local * dout
    return loss.sum() / denominator, local * dout / denominator


def _dout(out_shape, reduction, rng):
    return rng.uniform(0.5, 1.5, out_shape) if reduction == "none" else 1.3


# ============================================================================ hand-computed cases


def test_cross_entropy_tutorial_values():
    # log_softmax([1, 2])[0] = 1 - log(e + e^2) = -log(1 + e); for [1, 3] at class 1: -log(1 + e^-2)
    none = np.array([log1pexp(1), log1pexp(-2), log1pexp(-2)])
    np.testing.assert_allclose(cross_entropy(TUTORIAL_X, TUTORIAL_T, reduction="none"), none, rtol=1e-15)
    np.testing.assert_allclose(none, [1.3133, 0.1269, 0.1269], atol=5e-5)
    total = log1pexp(1) + 2 * log1pexp(-2)  # = 1.5671
    assert cross_entropy(TUTORIAL_X, TUTORIAL_T, reduction="sum") == pytest.approx(total, rel=1e-15)
    assert total == pytest.approx(1.5671, abs=5e-5)
    assert cross_entropy(TUTORIAL_X, TUTORIAL_T) == pytest.approx(total / 3, rel=1e-15)
    assert total / 3 == pytest.approx(0.5224, abs=5e-5)


def test_cross_entropy_tutorial_weighted_mean_divides_by_target_weights():
    w = np.array([1.0, 2.0])
    # weights of the targets 0, 1, 1: 1 + 2 + 2 = 5
    none = np.array([1 * log1pexp(1), 2 * log1pexp(-2), 2 * log1pexp(-2)])
    np.testing.assert_allclose(cross_entropy(TUTORIAL_X, TUTORIAL_T, weight=w, reduction="none"), none, rtol=1e-15)
    assert cross_entropy(TUTORIAL_X, TUTORIAL_T, weight=w) == pytest.approx(none.sum() / 5, rel=1e-15)


def test_cross_entropy_tutorial_ignore_index():
    # the middle row is ignored: mean over the 2 others
    t = np.array([0, -100, 1])
    np.testing.assert_allclose(
        cross_entropy(TUTORIAL_X, t, reduction="none"), [log1pexp(1), 0.0, log1pexp(-2)], rtol=1e-15
    )
    assert cross_entropy(TUTORIAL_X, t) == pytest.approx((log1pexp(1) + log1pexp(-2)) / 2, rel=1e-15)


def test_cross_entropy_gradient_by_hand():
    # softmax([0, 0]) = [1/2, 1/2]; minus one-hot(0) = [-1/2, 1/2]
    np.testing.assert_array_equal(
        cross_entropy_backward(1.0, np.array([[0.0, 0.0]]), np.array([0]), reduction="sum"), [[-0.5, 0.5]]
    )


def test_cross_entropy_label_smoothing_by_hand():
    # x = [0, ln 3]: softmax = [1/4, 3/4]. t = 0, ls = 1/2, C = 2:
    # a = (1 - 1/2) [1, 0] + (1/2)/2 [1, 1] = [3/4, 1/4]
    # loss = -(3/4 ln(1/4) + 1/4 ln(3/4)) = 3/4 ln 4 + 1/4 ln(4/3); grad = 1 * softmax - a = [-1/2, 1/2]
    x, t = np.array([[0.0, math.log(3)]]), np.array([0])
    expected = 0.75 * math.log(4) + 0.25 * math.log(4 / 3)
    assert cross_entropy(x, t, label_smoothing=0.5) == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(cross_entropy_backward(1.0, x, t, label_smoothing=0.5), [[-0.5, 0.5]], atol=1e-15)


def test_cross_entropy_probability_target_by_hand():
    # x = [0, ln 3], q = [1/2, 1/2]: loss = -(1/2 ln(1/4) + 1/2 ln(3/4)); grad = softmax - q = [-1/4, 1/4]
    x, q = np.array([[0.0, math.log(3)]]), np.array([[0.5, 0.5]])
    assert cross_entropy(x, q) == pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.75)), rel=1e-15)
    np.testing.assert_allclose(cross_entropy_backward(1.0, x, q), [[-0.25, 0.25]], atol=1e-15)


def test_nll_tutorial_values():
    # -w[t] x[n, t] with w = [1, 1]: -x[0, 0], -x[1, 1], -x[2, 1] = -1, -3, -3
    out = nll_loss(TUTORIAL_X, TUTORIAL_T, weight=np.array([1.0, 1.0]), reduction="none")
    np.testing.assert_array_equal(out, [-1.0, -3.0, -3.0])
    # weight [1, 2]: (-1 - 6 - 6) / (1 + 2 + 2) = -13 / 5
    assert nll_loss(TUTORIAL_X, TUTORIAL_T, weight=np.array([1.0, 2.0])) == pytest.approx(-2.6, rel=1e-15)
    # gradient: -w[t] / 5 at each target entry
    grad = nll_loss_backward(1.0, TUTORIAL_X, TUTORIAL_T, weight=np.array([1.0, 2.0]))
    np.testing.assert_allclose(grad, [[-0.2, 0.0], [0.0, -0.4], [0.0, -0.4]], rtol=1e-15)


def test_bce_tutorial_values():
    logits = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 4.0], [4.0, 5.0]])
    t = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # t = 1: -log sigmoid(z) = log(1 + e^-z); t = 0: -log(1 - sigmoid(z)) = log(1 + e^z)
    expected = np.array(
        [
            [log1pexp(-1), log1pexp(2)],
            [log1pexp(-2), log1pexp(2)],
            [log1pexp(3), log1pexp(-4)],
            [log1pexp(4), log1pexp(-5)],
        ]
    )
    np.testing.assert_allclose(
        expected, [[0.3133, 2.1269], [0.1269, 2.1269], [3.0486, 0.0181], [4.0181, 0.0067]], atol=5e-5
    )
    out = binary_cross_entropy(1 / (1 + np.exp(-logits)), t, reduction="none")
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # the logits form gives the same numbers
    np.testing.assert_allclose(binary_cross_entropy_with_logits(logits, t, reduction="none"), expected, rtol=1e-13)


def test_bce_gradient_by_hand():
    # (x - t) / (x (1 - x)): (0.5 - 1) / 0.25 = -2; (0.8 - 0) / 0.16 = 5; weight 3 on both
    grad = binary_cross_entropy_backward(1.0, np.array([0.5, 0.8]), np.array([1.0, 0.0]), weight=3.0, reduction="sum")
    np.testing.assert_allclose(grad, [-6.0, 15.0], rtol=1e-14)


def test_bce_clamps_logs_at_minus_100():
    # x = 0, t = 1 and x = 1, t = 0: the log hits its clamp, loss = 100 * weight; x = t: 0
    x, t = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    out = binary_cross_entropy(x, t, weight=np.array([2.0, 0.5, 1.0, 1.0]), reduction="none")
    np.testing.assert_array_equal(out, [200.0, 50.0, 0.0, 0.0])
    # gradient: x (1 - x) = 0 is clamped at PyTorch's float32 constant 1e-12 (9.99999996e-13 as a float64):
    # w (x - t) / eps = 2 * (0 - 1) / eps, 0.5 * (1 - 0) / eps, 0, 0
    eps = float(np.float32(1e-12))
    grad = binary_cross_entropy_backward(1.0, x, t, weight=np.array([2.0, 0.5, 1.0, 1.0]), reduction="sum")
    np.testing.assert_array_equal(grad, [-2.0 / eps, 0.5 / eps, 0.0, 0.0])
    assert grad[0] == pytest.approx(-2.0000000079916e12, rel=1e-13)  # 2 / 9.99999996e-13, not 2e12


def test_bce_with_logits_pos_weight_by_hand():
    # x = 0: softplus(0) = ln 2, sigmoid(0) = 1/2. t = 1, p = 3: loss = 3 ln 2, grad = 0 - 3/2
    # t = 0: loss = 0 + ln 2, grad = 1 - 1/2
    x, t, pw = np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([3.0, 3.0])
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none"),
        [3 * math.log(2), math.log(2)],
        rtol=1e-15,
    )
    np.testing.assert_array_equal(
        binary_cross_entropy_with_logits_backward(1.0, x, t, pos_weight=pw, reduction="sum"), [-1.5, 0.5]
    )


# ============================================================================ against the loop references

CE_OPTIONS = [
    dict(weight=w, ignore_index=ii, label_smoothing=ls) for w in (None, "w") for ii in (-100, 1) for ls in (0.0, 0.3)
]


@pytest.mark.parametrize("opts", CE_OPTIONS, ids=str)
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3, 2), (4,)], ids=["2d", "kdim", "unbatched"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_index_matches_reference(opts, shape, reduction):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, shape)
    index_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    t = rng.integers(0, 4, index_shape)
    if t.ndim:
        t.reshape(-1)[0] = opts["ignore_index"]
    opts = dict(opts, weight=rng.uniform(0.5, 2, 4) if opts["weight"] else None)
    loss, local, d = ref_cross_entropy(x, t, **opts)
    dout = _dout(loss.shape, reduction, rng)
    out_ref, grad_ref = ref_reduce(loss, local, d, reduction, dout, class_axis=1 if x.ndim > 1 else 0)
    np.testing.assert_allclose(cross_entropy(x, t, **opts, reduction=reduction), out_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        cross_entropy_backward(dout, x, t, **opts, reduction=reduction), grad_ref, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3), (4,)], ids=["2d", "kdim", "unbatched"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probs_matches_reference(weighted, ls, shape, reduction):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, shape)
    q = np.moveaxis(
        rng.dirichlet(np.ones(4), size=shape[:1] + shape[2:] if len(shape) > 1 else ()), -1, 1 if len(shape) > 1 else 0
    )
    w = rng.uniform(0.5, 2, 4) if weighted else None
    loss, local, d = ref_cross_entropy(x, q, weight=w, label_smoothing=ls)
    dout = _dout(loss.shape, reduction, rng)
    out_ref, grad_ref = ref_reduce(loss, local, d, reduction, dout, class_axis=1 if x.ndim > 1 else 0)
    np.testing.assert_allclose(
        cross_entropy(x, q, weight=w, label_smoothing=ls, reduction=reduction), out_ref, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        cross_entropy_backward(dout, x, q, weight=w, label_smoothing=ls, reduction=reduction),
        grad_ref,
        rtol=1e-12,
        atol=1e-14,
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)], ids=["2d", "kdim"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_matches_reference(weighted, ignore_index, shape, reduction):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, shape)
    t = rng.integers(0, 3, shape[:1] + shape[2:])
    t.reshape(-1)[1] = ignore_index
    w = rng.uniform(0.5, 2, 3) if weighted else None
    loss, local, d = ref_nll(x, t, w, ignore_index)
    dout = _dout(loss.shape, reduction, rng)
    out_ref, grad_ref = ref_reduce(loss, local, d, reduction, dout, class_axis=1)
    opts = dict(weight=w, ignore_index=ignore_index, reduction=reduction)
    np.testing.assert_allclose(nll_loss(x, t, **opts), out_ref, rtol=1e-13)
    np.testing.assert_allclose(nll_loss_backward(dout, x, t, **opts), grad_ref, rtol=1e-13)


@pytest.mark.parametrize("weight_shape", [None, (3,), (4, 1), (4, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_reference(weight_shape, reduction):
    rng = np.random.default_rng(4)
    x, t = rng.uniform(0.02, 0.98, (4, 3)), rng.uniform(0, 1, (4, 3))
    w = None if weight_shape is None else rng.uniform(0.5, 2, weight_shape)
    loss, local, d = ref_bce(x, t, w)
    dout = _dout(loss.shape, reduction, rng)
    out_ref, grad_ref = ref_reduce(loss, local, d, reduction, dout)
    np.testing.assert_allclose(binary_cross_entropy(x, t, weight=w, reduction=reduction), out_ref, rtol=1e-13)
    np.testing.assert_allclose(
        binary_cross_entropy_backward(dout, x, t, weight=w, reduction=reduction), grad_ref, rtol=1e-13
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weight_shape", [None, (3,), (4, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_reference(weighted, pos_weight_shape, reduction):
    rng = np.random.default_rng(5)
    x, t = rng.normal(0, 3, (4, 3)), rng.uniform(0, 1, (4, 3))
    w = rng.uniform(0.5, 2, 3) if weighted else None
    pw = None if pos_weight_shape is None else rng.uniform(0.5, 3, pos_weight_shape)
    loss, local, d = ref_bce_logits(x, t, w, pw)
    dout = _dout(loss.shape, reduction, rng)
    out_ref, grad_ref = ref_reduce(loss, local, d, reduction, dout)
    opts = dict(weight=w, pos_weight=pw, reduction=reduction)
    np.testing.assert_allclose(binary_cross_entropy_with_logits(x, t, **opts), out_ref, rtol=1e-12)
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits_backward(dout, x, t, **opts), grad_ref, rtol=1e-12, atol=1e-15
    )


# ============================================================================ properties


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize(
    "fn, bw, ls",
    [
        (cross_entropy, cross_entropy_backward, 0.0),
        (cross_entropy, cross_entropy_backward, 0.2),
        (nll_loss, nll_loss_backward, 0.0),
    ],
    ids=["cross_entropy", "cross_entropy-smoothed", "nll_loss"],
)
def test_ignore_index_equals_dropping_rows(weighted, reduction, fn, bw, ls):
    rng = np.random.default_rng(6)
    x, t = rng.normal(0, 2, (7, 4)), rng.integers(0, 4, 7)
    t[[1, 4]] = 3
    keep = t != 3
    opts = dict(weight=rng.uniform(0.5, 2, 4) if weighted else None, reduction=reduction)
    if ls:
        opts["label_smoothing"] = ls
    full = fn(x, t, ignore_index=3, **opts)
    assert full == pytest.approx(fn(x[keep], t[keep], **opts), rel=1e-13)
    grad = bw(1.0, x, t, ignore_index=3, **opts)
    np.testing.assert_allclose(grad[keep], bw(1.0, x[keep], t[keep], **opts), rtol=1e-13)
    np.testing.assert_array_equal(grad[~keep], 0.0)


def _ones_weight_cases():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 2, (5, 3))
    t = rng.integers(0, 3, 5)
    q = rng.dirichlet(np.ones(3), size=5)
    p, b = rng.uniform(0.05, 0.95, (5, 3)), rng.uniform(0, 1, (5, 3))
    return [
        ("ce-index", cross_entropy, cross_entropy_backward, (x, t), {"label_smoothing": 0.1}),
        ("ce-probs", cross_entropy, cross_entropy_backward, (x, q), {"label_smoothing": 0.1}),
        ("nll", nll_loss, nll_loss_backward, (x, t), {}),
        ("bce", binary_cross_entropy, binary_cross_entropy_backward, (p, b), {}),
        ("bce-logits", binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_backward, (x, b), {}),
    ]


@pytest.mark.parametrize(
    "name, fn, bw, inputs, opts", _ones_weight_cases(), ids=lambda c: c if isinstance(c, str) else ""
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weight_of_ones_equals_no_weight(name, fn, bw, inputs, opts, reduction):
    ones = np.ones(3)
    np.testing.assert_allclose(
        fn(*inputs, weight=ones, reduction=reduction, **opts), fn(*inputs, reduction=reduction, **opts), rtol=1e-14
    )
    np.testing.assert_allclose(
        bw(1.0, *inputs, weight=ones, reduction=reduction, **opts),
        bw(1.0, *inputs, reduction=reduction, **opts),
        rtol=1e-14,
    )


def test_bce_with_logits_pos_weight_of_ones_equals_none():
    rng = np.random.default_rng(8)
    x, t = rng.normal(0, 2, (4, 3)), rng.uniform(0, 1, (4, 3))
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(x, t, pos_weight=np.ones(3)),
        binary_cross_entropy_with_logits(x, t),
        rtol=1e-15,
    )


def test_sum_equals_mean_times_denominator():
    rng = np.random.default_rng(9)
    x, t = rng.normal(0, 2, (6, 4)), rng.integers(0, 4, 6)
    t[2] = -100
    w = rng.uniform(0.5, 2, 4)
    valid = t != -100
    for fn in (cross_entropy, nll_loss):
        # no weight: the count of non-ignored targets (5)
        assert fn(x, t, reduction="sum") == pytest.approx(5 * fn(x, t), rel=1e-14)
        # weight: the sum of the non-ignored targets' weights
        assert fn(x, t, weight=w, reduction="sum") == pytest.approx(w[t[valid]].sum() * fn(x, t, weight=w), rel=1e-14)
    assert cross_entropy(x, t, weight=w, label_smoothing=0.3, reduction="sum") == pytest.approx(
        w[t[valid]].sum() * cross_entropy(x, t, weight=w, label_smoothing=0.3), rel=1e-14
    )
    # probability targets: the number of positions N * d1 (2 * 3), even with a weight
    xk = rng.normal(0, 2, (2, 4, 3))
    q = np.moveaxis(rng.dirichlet(np.ones(4), size=(2, 3)), -1, 1)
    assert cross_entropy(xk, q, weight=w, reduction="sum") == pytest.approx(
        6 * cross_entropy(xk, q, weight=w), rel=1e-14
    )
    # BCE: the number of elements, even with a weight
    p, b = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    assert binary_cross_entropy(p, b, weight=w[:3], reduction="sum") == pytest.approx(
        12 * binary_cross_entropy(p, b, weight=w[:3]), rel=1e-14
    )
    assert binary_cross_entropy_with_logits(p, b, weight=w[:3], reduction="sum") == pytest.approx(
        12 * binary_cross_entropy_with_logits(p, b, weight=w[:3]), rel=1e-14
    )


@pytest.mark.parametrize("ls", [0.0, 0.3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_index_targets_equal_one_hot_probabilities(ls, reduction):
    rng = np.random.default_rng(10)
    x, t = rng.normal(0, 2, (6, 4)), rng.integers(0, 4, 6)
    one_hot = np.eye(4)[t]
    # label smoothing: (1 - ls) onehot + ls / C in both forms, so they agree at every ls
    np.testing.assert_allclose(
        cross_entropy(x, t, label_smoothing=ls, reduction=reduction),
        cross_entropy(x, one_hot, label_smoothing=ls, reduction=reduction),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        cross_entropy_backward(1.0, x, t, label_smoothing=ls, reduction=reduction),
        cross_entropy_backward(1.0, x, one_hot, label_smoothing=ls, reduction=reduction),
        rtol=1e-13,
        atol=1e-16,
    )


@pytest.mark.parametrize("ls", [0.0, 0.3])
def test_index_and_one_hot_differ_only_in_the_weighted_mean(ls):
    # with a weight, 'none' and 'sum' agree, but 'mean' divides by sum(w[t]) for indices and N for probabilities
    # (checked against torch 2.13 too: test_index_and_one_hot_weighted_mean_in_torch)
    rng = np.random.default_rng(11)
    x, t, w = rng.normal(0, 2, (6, 4)), rng.integers(0, 4, 6), rng.uniform(0.5, 2, 4)
    one_hot = np.eye(4)[t]
    for reduction in ("none", "sum"):
        np.testing.assert_allclose(
            cross_entropy(x, t, weight=w, label_smoothing=ls, reduction=reduction),
            cross_entropy(x, one_hot, weight=w, label_smoothing=ls, reduction=reduction),
            rtol=1e-14,
        )
    ratio = w[t].sum() / 6
    assert cross_entropy(x, t, weight=w, label_smoothing=ls) * ratio == pytest.approx(
        cross_entropy(x, one_hot, weight=w, label_smoothing=ls), rel=1e-14
    )
    assert not np.isclose(ratio, 1.0)


def test_index_and_one_hot_weighted_mean_in_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x, t, w = rng.normal(0, 2, (6, 4)), rng.integers(0, 4, 6), rng.uniform(0.5, 2, 4)
    one_hot = np.eye(4)[t]
    for ls in (0.0, 0.3):
        for target in (t, one_hot):
            expected = torch.nn.functional.cross_entropy(
                torch.from_numpy(x), torch.from_numpy(target), weight=torch.from_numpy(w), label_smoothing=ls
            )
            assert cross_entropy(x, target, weight=w, label_smoothing=ls) == pytest.approx(expected.item(), rel=1e-13)


def _permutation_cases():
    rng = np.random.default_rng(12)
    x = rng.normal(0, 2, (6, 3))
    return [
        ("ce-index", cross_entropy, cross_entropy_backward, x, rng.integers(0, 3, 6), {"label_smoothing": 0.2}),
        ("ce-probs", cross_entropy, cross_entropy_backward, x, rng.dirichlet(np.ones(3), 6), {}),
        ("nll", nll_loss, nll_loss_backward, x, rng.integers(0, 3, 6), {"weight": np.array([1.0, 2.0, 0.5])}),
        (
            "bce",
            binary_cross_entropy,
            binary_cross_entropy_backward,
            rng.uniform(0.05, 0.95, (6, 3)),
            rng.uniform(0, 1, (6, 3)),
            {},
        ),
        (
            "bce-logits",
            binary_cross_entropy_with_logits,
            binary_cross_entropy_with_logits_backward,
            x,
            rng.uniform(0, 1, (6, 3)),
            {"pos_weight": np.array([2.0, 1.0, 0.5])},
        ),
    ]


@pytest.mark.parametrize(
    "name, fn, bw, x, t, opts", _permutation_cases(), ids=lambda c: c if isinstance(c, str) else ""
)
def test_permuting_the_batch_permutes_none(name, fn, bw, x, t, opts):
    perm = np.random.default_rng(13).permutation(6)
    out = fn(x, t, reduction="none", **opts)
    np.testing.assert_array_equal(fn(x[perm], t[perm], reduction="none", **opts), out[perm])
    dout = np.random.default_rng(14).uniform(0.5, 1.5, out.shape)
    np.testing.assert_allclose(
        bw(dout[perm], x[perm], t[perm], reduction="none", **opts),
        bw(dout, x, t, reduction="none", **opts)[perm],
        rtol=1e-15,
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["ce-index", "ce-probs", "nll"])
def test_kdim_equals_flattened(weighted, ls, reduction, kind):
    rng = np.random.default_rng(15)
    n, c, d1, d2 = 2, 4, 3, 2
    x = rng.normal(0, 2, (n, c, d1, d2))
    if kind == "ce-probs":
        t = np.moveaxis(rng.dirichlet(np.ones(c), size=(n, d1, d2)), -1, 1)
        t_flat = np.moveaxis(t, 1, -1).reshape(-1, c)
    else:
        t = rng.integers(0, c, (n, d1, d2))
        t[0, 1, 1] = -100
        t_flat = t.reshape(-1)
    fn, bw = (nll_loss, nll_loss_backward) if kind == "nll" else (cross_entropy, cross_entropy_backward)
    opts = dict(weight=rng.uniform(0.5, 2, c) if weighted else None, reduction=reduction)
    if kind != "nll":
        opts["label_smoothing"] = ls
    x_flat = np.moveaxis(x, 1, -1).reshape(-1, c)
    out, out_flat = fn(x, t, **opts), fn(x_flat, t_flat, **opts)
    np.testing.assert_allclose(out, out_flat.reshape(np.shape(out)), rtol=1e-13)  # 2-D logits: a fused kernel
    dout = rng.uniform(0.5, 1.5, np.shape(out)) if reduction == "none" else 0.7
    g = bw(dout, x, t, **opts)
    g_flat = bw(np.reshape(dout, np.shape(out_flat)), x_flat, t_flat, **opts)
    np.testing.assert_allclose(g, np.moveaxis(g_flat.reshape(n, d1, d2, c), -1, 1), rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_unbatched_equals_a_batch_of_one(reduction):
    rng = np.random.default_rng(16)
    x, w = rng.normal(0, 2, 5), rng.uniform(0.5, 2, 5)
    for fn, bw, t, tb in (
        (cross_entropy, cross_entropy_backward, np.array(3), np.array([3])),
        (nll_loss, nll_loss_backward, np.array(3), np.array([3])),
        (cross_entropy, cross_entropy_backward, rng.dirichlet(np.ones(5)), None),
    ):
        tb = t[np.newaxis] if tb is None else tb
        out = fn(x, t, weight=w, reduction=reduction)
        assert np.shape(out) == ()
        np.testing.assert_allclose(
            out, np.reshape(fn(x[np.newaxis], tb, weight=w, reduction=reduction), ()), rtol=1e-15
        )
        g = bw(0.8, x, t, weight=w, reduction=reduction)
        assert g.shape == x.shape
        dout_batched = np.full((1,) if reduction == "none" else (), 0.8)
        np.testing.assert_allclose(g, bw(dout_batched, x[np.newaxis], tb, weight=w, reduction=reduction)[0], rtol=1e-15)


def test_ignore_index_inside_the_class_range():
    # ignore_index = 2 is a real class: its targets are ignored, everything else counts
    x, t = TUTORIAL_X[:, [0, 1, 1]], np.array([2, 1, 0])
    out = cross_entropy(x, t, ignore_index=2, reduction="none")
    assert out[0] == 0.0
    assert cross_entropy(x, t, ignore_index=2) == pytest.approx(out.sum() / 2, rel=1e-15)


def test_float32_in_float32_out():
    rng = np.random.default_rng(17)
    x = rng.normal(0, 2, (4, 3)).astype(np.float32)
    t = rng.integers(0, 3, 4)
    w = rng.uniform(0.5, 2, 3)  # a float64 weight does not promote the result
    out = cross_entropy(x, t, weight=w, label_smoothing=0.1)
    assert isinstance(out, np.float32)
    assert cross_entropy_backward(1.0, x, t, weight=w, label_smoothing=0.1).dtype == np.float32
    assert nll_loss_backward(1.0, x, t, weight=w).dtype == np.float32
    p = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
    assert binary_cross_entropy_backward(np.float64(1.0), p, np.zeros((4, 3)), weight=w).dtype == np.float32
    assert binary_cross_entropy_with_logits_backward(1.0, x, np.zeros((4, 3)), pos_weight=w).dtype == np.float32


# ============================================================================ all ignored, extremes, clamps


def test_mean_with_every_target_ignored_is_nan_with_zero_gradient():
    x, t = TUTORIAL_X, np.array([-100, -100, -100])
    for ls in (0.0, 0.3):
        for w in (None, np.array([1.0, 2.0])):
            assert np.isnan(cross_entropy(x, t, weight=w, label_smoothing=ls))
            assert cross_entropy(x, t, weight=w, label_smoothing=ls, reduction="sum") == 0.0
            np.testing.assert_array_equal(cross_entropy_backward(1.0, x, t, weight=w, label_smoothing=ls), 0.0)
    assert np.isnan(nll_loss(x, t))
    np.testing.assert_array_equal(nll_loss_backward(1.0, x, t), 0.0)


def test_every_target_ignored_matches_torch():
    torch = pytest.importorskip("torch")
    x, t = TUTORIAL_X, np.array([-100, -100, -100])
    tx = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.cross_entropy(tx, torch.from_numpy(t), label_smoothing=0.3)
    out.backward()
    assert np.isnan(out.item()) and np.isnan(cross_entropy(x, t, label_smoothing=0.3))
    np.testing.assert_array_equal(cross_entropy_backward(1.0, x, t, label_smoothing=0.3), tx.grad.numpy())


EXTREME_LOGITS = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [700.0, -700.0, 0.0], [-700.0, 700.0, 699.0]])


def _torch_value_and_grad(torch_fn, x, *args, **kwargs):
    import torch

    tx = torch.tensor(x, requires_grad=True)
    out = torch_fn(tx, *args, **kwargs)
    out.backward(torch.ones_like(out))
    return out.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ls", [0.0, 0.25])
@pytest.mark.parametrize("target_kind", ["index", "probs"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_extreme_logits_finite_and_equal_to_torch(dtype, ls, target_kind, reduction):
    torch = pytest.importorskip("torch")
    x = EXTREME_LOGITS.astype(dtype)
    t = (
        np.array([1, 0, 2, 0])
        if target_kind == "index"
        else np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.1, 0.0, 0.9]], dtype=dtype)
    )
    w = np.array([1.0, 2.0, 0.5], dtype=dtype)
    out = cross_entropy(x, t, weight=w, label_smoothing=ls, reduction=reduction)
    dout = np.ones(np.shape(out), dtype=dtype)
    grad = cross_entropy_backward(dout, x, t, weight=w, label_smoothing=ls, reduction=reduction)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    t_out, t_grad = _torch_value_and_grad(
        torch.nn.functional.cross_entropy,
        x,
        torch.from_numpy(t),
        weight=torch.from_numpy(w),
        label_smoothing=ls,
        reduction=reduction,
    )
    np.testing.assert_allclose(out, t_out, rtol=1e-7 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-7, atol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_extreme_logits_finite_and_equal_to_torch(dtype, reduction):
    torch = pytest.importorskip("torch")
    x = np.array([[1e4, -1e4, 700.0, -700.0], [-1e4, 1e4, -700.0, 700.0], [1e4, -1e4, 700.0, -700.0]], dtype=dtype)
    t = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.3, 0.7, 0.5, 0.9]], dtype=dtype)
    pw = np.array([2.0, 0.5, 3.0, 1.5], dtype=dtype)
    w = np.array([1.0, 2.0, 0.5, 1.0], dtype=dtype)
    out = binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction)
    dout = np.ones(np.shape(out), dtype=dtype)
    grad = binary_cross_entropy_with_logits_backward(dout, x, t, weight=w, pos_weight=pw, reduction=reduction)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    t_out, t_grad = _torch_value_and_grad(
        torch.nn.functional.binary_cross_entropy_with_logits,
        x,
        torch.from_numpy(t),
        weight=torch.from_numpy(w),
        pos_weight=torch.from_numpy(pw),
        reduction=reduction,
    )
    np.testing.assert_allclose(out, t_out, rtol=1e-7 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-7 if dtype == np.float64 else 1e-5, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_at_exact_zero_and_one_equals_torch(dtype, reduction):
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.4, 0.4], dtype=dtype)
    w = np.array([2.0, 1.0, 0.5, 1.0, 1.0, 3.0], dtype=dtype)
    out = binary_cross_entropy(x, t, weight=w, reduction=reduction)
    dout = np.ones(np.shape(out), dtype=dtype)
    grad = binary_cross_entropy_backward(dout, x, t, weight=w, reduction=reduction)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    t_out, t_grad = _torch_value_and_grad(
        torch.nn.functional.binary_cross_entropy,
        x,
        torch.from_numpy(t),
        weight=torch.from_numpy(w),
        reduction=reduction,
    )
    np.testing.assert_allclose(out, t_out, rtol=1e-7 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-7 if dtype == np.float64 else 1e-5)
    if reduction == "none":  # 100 * weight where the log hits its clamp
        np.testing.assert_allclose(out[:4], [200.0, 0.0, 50.0, 0.0])


# ============================================================================ validation

X = np.zeros((3, 4))


@pytest.mark.parametrize("fn", [cross_entropy, nll_loss])
def test_scalar_input_raises(fn):
    with pytest.raises(ValueError, match=r"input must be of shape \(C,\), \(N, C\) .*got an array of shape \(\)"):
        fn(np.float64(1.0), np.array(0))


@pytest.mark.parametrize("fn", [cross_entropy, nll_loss])
def test_zero_classes_raises(fn):
    with pytest.raises(ValueError, match=r"input must have at least one class along axis 1, got shape \(3, 0\)"):
        fn(np.zeros((3, 0)), np.zeros(3, dtype=int))


@pytest.mark.parametrize("fn", [cross_entropy, nll_loss, cross_entropy_backward, nll_loss_backward])
def test_non_integer_ignore_index_raises(fn):
    args = (1.0, X, np.zeros(3, int)) if fn.__name__.endswith("backward") else (X, np.zeros(3, int))
    with pytest.raises(TypeError, match="ignore_index must be an integer, got 1.5"):
        fn(*args, ignore_index=1.5)


def test_ignore_index_with_probability_targets_raises():
    with pytest.raises(
        ValueError, match=r"ignore_index must be negative .*class-probability targets, got ignore_index=1"
    ):
        cross_entropy(X, np.full((3, 4), 0.25), ignore_index=1)


def test_cross_entropy_target_of_wrong_shape_raises():
    with pytest.raises(
        ValueError,
        match=r"target must have shape \(3,\) \(class indices\) or the input's shape "
        r"\(3, 4\) \(class probabilities\), got \(3, 3\)",
    ):
        cross_entropy(X, np.full((3, 3), 0.25))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\) .*got \(2,\)"):
        cross_entropy(X, np.array([0, 1]))


def test_float_target_of_index_shape_raises():
    for fn in (cross_entropy, nll_loss, cross_entropy_backward):
        args = (1.0, X) if fn is cross_entropy_backward else (X,)
        with pytest.raises(TypeError, match="target must hold integer class indices"):
            fn(*args, np.array([0.0, 1.0, 2.0]))


def test_integer_target_of_input_shape_raises():
    with pytest.raises(TypeError, match="target must be a float32 or float64 array"):
        cross_entropy(X, np.zeros((3, 4), dtype=int))
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        nll_loss(X, np.full((3, 4), 0.25))


def test_nll_target_of_wrong_shape_raises():
    with pytest.raises(ValueError, match=r"target must have shape \(3,\), got \(4,\)"):
        nll_loss(X, np.zeros(4, dtype=int))


@pytest.mark.parametrize("fn", [cross_entropy, nll_loss])
@pytest.mark.parametrize("label", [4, -1, -100])
def test_out_of_range_label_raises(fn, label):
    t = np.array([0, label, 1])
    with pytest.raises(
        ClassIndexError,
        match=rf"target holds the class index {label}, out of range: expected "
        r"values in \[0, 3\] for 4 classes \(or ignore_index=5\)",
    ):
        fn(X, t, ignore_index=5)


@pytest.mark.parametrize("fn", [cross_entropy, nll_loss])
def test_weight_of_wrong_length_raises(fn):
    with pytest.raises(
        ValueError, match=r"weight must be a 1-D array with one entry per class \(4,\), got shape \(3,\)"
    ):
        fn(X, np.zeros(3, int), weight=np.ones(3))


@pytest.mark.parametrize("ls", [-0.1, 1.5])
def test_label_smoothing_outside_unit_interval_raises(ls):
    for call in (
        lambda: cross_entropy(X, np.zeros(3, int), label_smoothing=ls),
        lambda: cross_entropy_backward(1.0, X, np.zeros(3, int), label_smoothing=ls),
        lambda: CrossEntropyLoss(label_smoothing=ls),
    ):
        with pytest.raises(ValueError, match=rf"label_smoothing must lie in \[0.0, 1.0\], got {ls}"):
            call()


@pytest.mark.parametrize("fn", [binary_cross_entropy, binary_cross_entropy_backward])
@pytest.mark.parametrize("bad", [1.5, -0.5, np.nan])
def test_bce_input_outside_unit_interval_raises(fn, bad):
    x = np.array([0.5, bad])
    args = (1.0, x) if fn is binary_cross_entropy_backward else (x,)
    with pytest.raises(ValueError, match=r"input must hold probabilities in \[0, 1\], got the value"):
        fn(*args, np.array([0.5, 0.5]))


def test_bce_target_outside_unit_interval_raises():
    with pytest.raises(ValueError, match=r"target must hold probabilities in \[0, 1\], got the value 1.5"):
        binary_cross_entropy(np.array([0.5, 0.5]), np.array([0.5, 1.5]))


@pytest.mark.parametrize("fn", [binary_cross_entropy, binary_cross_entropy_with_logits])
def test_bce_target_shape_mismatch_raises(fn):
    with pytest.raises(ValueError, match=r"target must have the shape of input, \(2, 3\), got \(3,\)"):
        fn(np.full((2, 3), 0.5), np.full(3, 0.5))


@pytest.mark.parametrize("fn", [binary_cross_entropy, binary_cross_entropy_with_logits])
def test_bce_weight_not_broadcastable_raises(fn):
    with pytest.raises(ValueError, match=r"weight of shape \(2,\) does not broadcast to the input's shape \(2, 3\)"):
        fn(np.full((2, 3), 0.5), np.full((2, 3), 0.5), weight=np.ones(2))


def test_pos_weight_not_broadcastable_raises():
    with pytest.raises(
        ValueError, match=r"pos_weight of shape \(2,\) does not broadcast to the input's shape \(2, 3\)"
    ):
        binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(2))
    with pytest.raises(TypeError, match="pos_weight must hold real numbers"):
        binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.array(["a"] * 3))


def test_constructor_validates_scalar_options():
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        CrossEntropyLoss(ignore_index=-1.0)
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        NLLLoss(ignore_index="x")
    for cls in (CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss):
        with pytest.raises(ValueError, match="reduction must be one of"):
            cls(reduction="avg")


# ============================================================================ loss objects


def test_classes_keep_weight_positional_and_expose_options():
    w = np.array([1.0, 2.0])
    ce = CrossEntropyLoss(w, ignore_index=3, label_smoothing=0.1, reduction="sum")
    assert ce.options() == {"weight": w, "ignore_index": 3, "reduction": "sum", "label_smoothing": 0.1}
    assert ce(TUTORIAL_X, TUTORIAL_T) == cross_entropy(
        TUTORIAL_X, TUTORIAL_T, weight=w, ignore_index=3, label_smoothing=0.1, reduction="sum"
    )
    np.testing.assert_array_equal(
        ce.backward(),
        cross_entropy_backward(
            1.0, TUTORIAL_X, TUTORIAL_T, weight=w, ignore_index=3, label_smoothing=0.1, reduction="sum"
        ),
    )
    assert repr(ce) == "CrossEntropyLoss(ignore_index=3, reduction='sum', label_smoothing=0.1)"
    assert NLLLoss(w).weight is w and NLLLoss().ignore_index == -100
    assert BCELoss(w).options() == {"weight": w, "reduction": "mean"}
    assert BCEWithLogitsLoss(w, pos_weight=w).options() == {"weight": w, "reduction": "mean", "pos_weight": w}
    with pytest.raises(TypeError):
        CrossEntropyLoss(None, -100)  # everything after weight is keyword-only
