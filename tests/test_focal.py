"""Focal family: sigmoid focal loss, softmax focal loss and Poly-1 cross-entropy.

Reference numbers (torchvision, kornia, optax definitions) from tools/make_golden_extra.py,
hand-computed cases, loop references written from the docstring formulas, properties,
extreme logits and every validation branch of losslab.functional.focal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _support import check_golden_entry, extra_golden_cases

from losslab._validation import ClassIndexError
from losslab.functional import focal
from losslab.functional.classification import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    cross_entropy,
    cross_entropy_backward,
)
from losslab.functional.focal import (
    focal_loss,
    focal_loss_backward,
    poly1_cross_entropy,
    poly1_cross_entropy_backward,
    sigmoid_focal_loss,
    sigmoid_focal_loss_backward,
)
from losslab.nn.focal import FocalLoss, PolyLoss, SigmoidFocalLoss
from losslab.registry import get as get_spec

REDUCTIONS = ("none", "mean", "sum")


def sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


# ============================================================================ reference-library numbers

GOLDEN_CASES = extra_golden_cases({"SigmoidFocalLoss", "FocalLoss", "PolyLoss"})


def test_golden_file_covers_every_focal_loss():
    assert {p.values[0]["loss"] for p in GOLDEN_CASES} == {"SigmoidFocalLoss", "FocalLoss", "PolyLoss"}


@pytest.mark.parametrize("entry, get", GOLDEN_CASES)
def test_matches_the_reference_library(entry, get):
    """torchvision's sigmoid_focal_loss, kornia's focal_loss (+ nll_loss for 'mean'), optax's poly loss."""
    check_golden_entry(focal, entry, get)


# ============================================================================ hand-computed cases


def test_sigmoid_focal_by_hand():
    x, t = np.array([0.0, 2.0, -1.0]), np.array([1.0, 0.0, 0.5])
    out = sigmoid_focal_loss(x, t, reduction="none")
    # x = 0, t = 1: alpha_t = 0.25, CE = log 2, p_t = 0.5: 0.25 * 0.693147 * 0.5^2 = 0.0433217
    # x = 2, t = 0: alpha_t = 0.75, CE = softplus(2) = 2.126928, 1 - p_t = sigmoid(2) = 0.880797:
    #               0.75 * 2.126928 * 0.775803 = 1.237559
    # x = -1, t = 0.5: alpha_t = 0.5, CE = softplus(1) / 2 + softplus(-1) / 2 = 0.813262,
    #               1 - p_t = 0.5 (for any x): 0.5 * 0.813262 * 0.25 = 0.101658
    np.testing.assert_allclose(out, [0.0433217, 1.2375586, 0.1016578], rtol=1e-6)
    # gradient at x = 0, t = 1: 0.25 * 0.25 * ((0.5 - 1) + 2 * (-1) * log 2 * (0.25 / 0.5)) = -0.0745717
    g = sigmoid_focal_loss_backward(1.0, x, t, reduction="none")
    assert g[0] == pytest.approx(-0.0745717, rel=1e-6)


def test_focal_by_hand():
    x = np.array([[1.0, 2.0], [0.0, 0.0]])
    # row 0, target 0: p_t = sigmoid(-1) = 0.268941: -(0.731059)^2 * log(0.268941) = 0.534447 * 1.313262 = 0.701868
    # row 1, target 1: p_t = 0.5: -(0.5)^2 * log(0.5) = 0.25 * 0.6931472 = 0.1732868
    np.testing.assert_allclose(focal_loss(x, np.array([0, 1]), reduction="none"), [0.701868, 0.1732868], rtol=1e-6)
    # row 1 gradient: F = 0.25 * (1 + 2 * 0.5 * log 2 / 0.5) = 0.596574; (p - onehot) F = [0.298287, -0.298287]
    g = focal_loss_backward(1.0, x, np.array([0, 1]), reduction="none")
    np.testing.assert_allclose(g[1], [0.298287, -0.298287], rtol=1e-5)


def test_poly1_by_hand():
    # [0, 0] target 0: CE = log 2, 1 - p_t = 0.5: log 2 + 2 * 0.5 = 1.693147
    # [2, 0] target 0: p_t = sigmoid(2) = 0.880797, CE = 0.126928: 0.126928 + 2 * 0.119203 = 0.365334
    out = poly1_cross_entropy(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 0]), reduction="none")
    np.testing.assert_allclose(out, [1.693147, 0.365334], rtol=1e-6)
    # gradient of row 0: p - y + eps p (p_t - y) = [-0.5, 0.5] + 2 * 0.5 * [0.5 - 1, 0.5] = [-1, 1]
    g = poly1_cross_entropy_backward(1.0, np.array([[0.0, 0.0]]), np.array([0]), reduction="sum")
    np.testing.assert_allclose(g, [[-1.0, 1.0]], atol=1e-15)


# ============================================================================ loop references from the docstrings


def ref_sigmoid_focal(x, t, alpha=0.25, gamma=2.0):
    loss, local = np.zeros(x.shape), np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        p = sig(x[i])
        p_t = p * t[i] + (1 - p) * (1 - t[i])
        a_t = alpha * t[i] + (1 - alpha) * (1 - t[i]) if alpha >= 0 else 1.0
        ce = -(t[i] * math.log(p) + (1 - t[i]) * math.log(1 - p))
        q = 1 - p_t
        loss[i] = a_t * ce * q**gamma
        local[i] = a_t * q**gamma * ((p - t[i]) + gamma * (1 - 2 * t[i]) * ce * p * (1 - p) / q)
    return loss, local, x.size


def ref_focal(x, t, gamma=2.0, weight=None, ignore_index=-100):
    c_count = x.shape[1]
    w = np.ones(c_count) if weight is None else weight
    positions = (x.shape[0],) + x.shape[2:]
    loss, local, denominator = np.zeros(positions), np.zeros(x.shape), 0.0
    for pos in np.ndindex(*positions):
        n, rest = pos[0], pos[1:]
        k = int(t[pos])
        if k == ignore_index:
            continue
        z = [x[(n, c) + rest] for c in range(c_count)]
        total = sum(math.exp(zc) for zc in z)
        p = [math.exp(zc) / total for zc in z]
        q = 1 - p[k]
        loss[pos] = -w[k] * q**gamma * math.log(p[k])
        factor = q**gamma - gamma * p[k] * q ** (gamma - 1) * math.log(p[k]) if gamma else 1.0
        for c in range(c_count):
            local[(n, c) + rest] = w[k] * factor * (p[c] - (c == k))
        denominator += w[k]
    return loss, local, denominator


def ref_poly(x, y, epsilon=2.0):
    loss, local = np.zeros(x.shape[0]), np.zeros(x.shape)
    for n in range(x.shape[0]):
        total = sum(math.exp(z) for z in x[n])
        p = [math.exp(z) / total for z in x[n]]
        p_t = sum(y[n, c] * p[c] for c in range(x.shape[1]))
        loss[n] = -sum(y[n, c] * math.log(p[c]) for c in range(x.shape[1])) + epsilon * sum(
            y[n, c] * (1 - p[c]) for c in range(x.shape[1])
        )
        for c in range(x.shape[1]):
            local[n, c] = sum(y[n]) * p[c] - y[n, c] + epsilon * p[c] * (p_t - y[n, c])
    return loss, local, x.shape[0]


def _reduced(loss, local, denominator, reduction, dout, class_axis=None):
    if reduction == "none":
        g = np.asarray(dout) if class_axis is None else np.expand_dims(dout, class_axis)
        return loss, local * g
    scale = 1.0 if reduction == "sum" else 1.0 / denominator
    return loss.sum() * scale, local * dout * scale


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1.0, 1.0), (0.7, 0.5), (0.25, 0.0), (0.4, 3.0)])
def test_sigmoid_focal_matches_docstring_formula(alpha, gamma, reduction):
    rng = np.random.default_rng(1)
    x, t = rng.normal(0, 2, (4, 3)), rng.uniform(0, 1, (4, 3))
    t[0] = [0.0, 1.0, 1.0]
    dout = rng.uniform(0.5, 1.5, (4, 3)) if reduction == "none" else 1.3
    want, want_grad = _reduced(*ref_sigmoid_focal(x, t, alpha, gamma), reduction, dout)
    np.testing.assert_allclose(
        sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction=reduction), want, rtol=1e-12
    )
    np.testing.assert_allclose(
        sigmoid_focal_loss_backward(dout, x, t, alpha=alpha, gamma=gamma, reduction=reduction),
        want_grad,
        rtol=1e-10,
        atol=1e-15,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [2.0, 1.0, 0.5, 0.0])
@pytest.mark.parametrize("weighted, ignore_index", [(False, -100), (True, 1)])
def test_focal_matches_docstring_formula(gamma, weighted, ignore_index, reduction):
    rng = np.random.default_rng(2)
    x, t = rng.normal(0, 2, (2, 4, 3)), rng.integers(0, 4, (2, 3))
    t[0, 0] = 1
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None
    dout = rng.uniform(0.5, 1.5, (2, 3)) if reduction == "none" else 0.7
    want, want_grad = _reduced(*ref_focal(x, t, gamma, weight, ignore_index), reduction, dout, class_axis=1)
    kw = dict(gamma=gamma, weight=weight, ignore_index=ignore_index, reduction=reduction)
    np.testing.assert_allclose(focal_loss(x, t, **kw), want, rtol=1e-12)
    np.testing.assert_allclose(focal_loss_backward(dout, x, t, **kw), want_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("epsilon", [2.0, -1.0, 0.5])
def test_poly1_matches_docstring_formula(epsilon, reduction):
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 2, (5, 4)), rng.dirichlet(np.ones(4), size=5)
    dout = rng.uniform(0.5, 1.5, 5) if reduction == "none" else 0.9
    want, want_grad = _reduced(*ref_poly(x, y, epsilon), reduction, dout, class_axis=1)
    np.testing.assert_allclose(poly1_cross_entropy(x, y, epsilon=epsilon, reduction=reduction), want, rtol=1e-12)
    np.testing.assert_allclose(
        poly1_cross_entropy_backward(dout, x, y, epsilon=epsilon, reduction=reduction),
        want_grad,
        rtol=1e-10,
        atol=1e-15,
    )


# ============================================================================ special cases and properties


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_with_gamma_zero_is_cross_entropy_exactly(reduction):
    """Equal to rounding: cross_entropy may take a fused fast path that sums in another order."""
    for case in get_spec("CrossEntropyLoss").make_cases():
        x, t = case.inputs
        if t.dtype.kind != "i" or case.options.get("label_smoothing", 0.0):
            continue
        opts = {k: case.options[k] for k in ("weight", "ignore_index") if k in case.options}
        out = focal_loss(x, t, gamma=0.0, **opts, reduction=reduction)
        np.testing.assert_allclose(out, cross_entropy(x, t, **opts, reduction=reduction), rtol=1e-14, atol=0)
        dout = np.full(np.shape(out), 0.8)
        np.testing.assert_allclose(
            focal_loss_backward(dout, x, t, gamma=0.0, **opts, reduction=reduction),
            cross_entropy_backward(dout, x, t, **opts, reduction=reduction),
            rtol=1e-14,
            atol=1e-17,
        )


def test_sigmoid_focal_without_alpha_and_gamma_is_bce_with_logits():
    rng = np.random.default_rng(4)
    x, t = rng.normal(0, 3, (5, 3)), rng.uniform(0, 1, (5, 3))
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(
            sigmoid_focal_loss(x, t, alpha=-1, gamma=0, reduction=reduction),
            binary_cross_entropy_with_logits(x, t, reduction=reduction),
            rtol=1e-14,
        )
    np.testing.assert_allclose(
        sigmoid_focal_loss_backward(1.0, x, t, alpha=-1, gamma=0),
        binary_cross_entropy_with_logits_backward(1.0, x, t),
        rtol=1e-13,
        atol=1e-16,
    )


def test_poly1_with_epsilon_zero_is_cross_entropy_and_index_targets_equal_one_hot():
    rng = np.random.default_rng(5)
    x, labels = rng.normal(0, 2, (6, 4)), rng.integers(0, 4, 6)
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(
        poly1_cross_entropy(x, labels, epsilon=0.0, reduction="none"),
        cross_entropy(x, labels, reduction="none"),
        rtol=1e-13,
    )
    # the fused kernel takes index and probability targets by two formulas: equal to an ulp or two
    np.testing.assert_allclose(
        poly1_cross_entropy(x, labels, reduction="none"), poly1_cross_entropy(x, onehot, reduction="none"), rtol=1e-14
    )
    np.testing.assert_allclose(
        poly1_cross_entropy_backward(1.0, x, labels), poly1_cross_entropy_backward(1.0, x, onehot), rtol=1e-14
    )


def test_focal_is_below_cross_entropy_and_decreases_with_gamma():
    rng = np.random.default_rng(6)
    x, t = rng.normal(0, 2, (8, 5)), rng.integers(0, 5, 8)
    ce = cross_entropy(x, t, reduction="none")
    previous = ce
    for gamma in (0.5, 1.0, 2.0, 5.0):
        out = focal_loss(x, t, gamma=gamma, reduction="none")
        assert np.all(out <= previous) and np.all(out >= 0)
        previous = out


def test_focal_weight_of_ones_equals_no_weight_and_ignored_rows_equal_dropped_rows():
    rng = np.random.default_rng(7)
    x, t = rng.normal(0, 2, (6, 3)), rng.integers(0, 3, 6)
    np.testing.assert_allclose(focal_loss(x, t, weight=np.ones(3)), focal_loss(x, t), rtol=1e-15)
    t_ignored = t.copy()
    t_ignored[[1, 4]] = -1
    keep = [0, 2, 3, 5]
    for reduction in ("mean", "sum"):
        np.testing.assert_allclose(
            focal_loss(x, t_ignored, ignore_index=-1, reduction=reduction),
            focal_loss(x[keep], t[keep], reduction=reduction),
            rtol=1e-14,
        )
    grad = focal_loss_backward(1.0, x, t_ignored, ignore_index=-1)
    np.testing.assert_allclose(grad[keep], focal_loss_backward(1.0, x[keep], t[keep]), rtol=1e-14)
    assert np.all(grad[[1, 4]] == 0)


def test_focal_mean_divides_by_the_target_weights():
    rng = np.random.default_rng(8)
    x, t, w = rng.normal(0, 2, (5, 3)), rng.integers(0, 3, 5), rng.uniform(0.5, 2, 3)
    total = focal_loss(x, t, weight=w, reduction="sum")
    assert focal_loss(x, t, weight=w) == pytest.approx(total / w[t].sum(), rel=1e-14)


@pytest.mark.parametrize(
    "fn, make",
    [
        (sigmoid_focal_loss, lambda rng: (rng.normal(0, 2, (6, 3)), rng.integers(0, 2, (6, 3)).astype(float))),
        (focal_loss, lambda rng: (rng.normal(0, 2, (6, 3)), rng.integers(0, 3, 6))),
        (poly1_cross_entropy, lambda rng: (rng.normal(0, 2, (6, 3)), rng.integers(0, 3, 6))),
    ],
)
def test_sum_is_mean_times_count_and_permuting_the_batch_permutes_none(fn, make):
    rng = np.random.default_rng(9)
    x, t = make(rng)
    none = fn(x, t, reduction="none")
    assert fn(x, t, reduction="sum") == pytest.approx(fn(x, t, reduction="mean") * none.size, rel=1e-14)
    perm = rng.permutation(6)
    np.testing.assert_array_equal(fn(x[perm], t[perm], reduction="none"), none[perm])


def test_all_ignored_focal_is_nan_with_zero_gradient_as_cross_entropy():
    x, t = np.zeros((2, 3)), np.array([-100, -100])
    assert np.isnan(focal_loss(x, t))
    np.testing.assert_array_equal(focal_loss_backward(1.0, x, t), np.zeros((2, 3)))


# ============================================================================ extreme logits


def test_sigmoid_focal_is_finite_and_exact_at_huge_logits():
    x = np.array([1e4, -1e4, 1e4, -1e4, 50.0])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    for gamma in (0.0, 0.5, 1.0, 2.0):
        out = sigmoid_focal_loss(x, t, gamma=gamma, reduction="none")
        grad = sigmoid_focal_loss_backward(1.0, x, t, gamma=gamma, reduction="none")
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
        # confident and wrong: CE = 1e4, 1 - p_t = 1; gradient alpha_t (sigmoid(x) - t) = +-alpha_t
        np.testing.assert_allclose(out[2:4], [0.75 * 1e4, 0.25 * 1e4], rtol=1e-15)
        np.testing.assert_allclose(grad[2:4], [0.75, -0.25], rtol=1e-15)
        # confident and right: 0, with a vanishing gradient even for gamma < 1
        assert out[0] == 0 and out[1] == 0 and abs(grad[4]) < 1e-21
    out32 = sigmoid_focal_loss(x.astype(np.float32), t.astype(np.float32), reduction="none")
    assert out32.dtype == np.float32 and np.all(np.isfinite(out32))


def test_focal_and_poly1_are_finite_and_exact_at_huge_logits():
    x = np.array([[1e4, -1e4, 0.0], [1e4, 0.0, 0.0]])
    t = np.array([1, 0])
    for gamma in (0.5, 2.0):
        out = focal_loss(x, t, gamma=gamma, reduction="none")
        np.testing.assert_array_equal(out, [2e4, 0.0])  # -(1 - 0)^gamma * (-2e4); p_t = 1 exactly
        np.testing.assert_array_equal(
            focal_loss_backward(1.0, x, t, gamma=gamma, reduction="none"), [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]
        )
    np.testing.assert_array_equal(poly1_cross_entropy(x, t, reduction="none"), [2e4 + 2.0, 0.0])
    np.testing.assert_array_equal(
        poly1_cross_entropy_backward(1.0, x, t, reduction="none"), [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]
    )


def test_focal_gradient_is_finite_for_gamma_below_one_as_p_t_approaches_one():
    # (1 - p_t)^(gamma - 1) alone would overflow; the factor used is
    # (1 - p_t)^gamma (1 + gamma p_t (-log p_t) / (1 - p_t))
    for gap in (10.0, 30.0, 36.0, 40.0, 800.0):
        x = np.array([[gap, 0.0]])
        grad = focal_loss_backward(1.0, x, np.array([0]), gamma=0.5)
        assert np.all(np.isfinite(grad)) and abs(grad[0, 0]) < 1e-2


# ============================================================================ validation


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: sigmoid_focal_loss(np.zeros(3), np.array([0.0, 1.5, 1.0])),
            ValueError,
            r"target must hold values in \[0, 1\].*got the value 1.5",
        ),
        (
            lambda: sigmoid_focal_loss(np.zeros(3), np.zeros(4)),
            ValueError,
            r"target must have the shape of input, \(3,\)",
        ),
        (
            lambda: sigmoid_focal_loss(np.zeros(3), np.zeros(3), alpha=1.5),
            ValueError,
            r"alpha must lie in \[-inf, 1.0\]",
        ),
        (
            lambda: sigmoid_focal_loss(np.zeros(3), np.zeros(3), gamma=-1.0),
            ValueError,
            r"gamma must lie in \[0.0, inf\]",
        ),
        (lambda: sigmoid_focal_loss(np.zeros(3), np.zeros(3), gamma="2"), TypeError, "gamma must be a real number"),
        (
            lambda: sigmoid_focal_loss(np.zeros(3), np.array(["a", "b", "c"])),
            TypeError,
            "target must hold real numbers",
        ),
        (lambda: focal_loss(np.zeros((2, 3)), np.array([0, 3])), ClassIndexError, "class index 3, out of range"),
        (
            lambda: focal_loss(np.zeros((2, 3)), np.array([0.0, 1.0])),
            TypeError,
            "target must hold integer class indices",
        ),
        (
            lambda: focal_loss(np.zeros((2, 3)), np.zeros((2, 3), dtype=int)),
            ValueError,
            r"target must have shape \(2,\)",
        ),
        (lambda: focal_loss(np.zeros((2, 3)), np.array([0, 1]), gamma=-0.5), ValueError, "gamma must lie in"),
        (
            lambda: focal_loss(np.zeros((2, 3)), np.array([0, 1]), weight=np.ones(2)),
            ValueError,
            r"weight must be a 1-D array with one entry per class \(3,\)",
        ),
        (lambda: focal_loss(np.zeros((2, 0)), np.array([0, 1])), ValueError, "at least one class"),
        (
            lambda: focal_loss(np.zeros((2, 3)), np.array([0, 1]), ignore_index=1.5),
            TypeError,
            "ignore_index must be an integer",
        ),
        (lambda: poly1_cross_entropy(np.zeros(3), np.array(0)), ValueError, r"input must be a 2-D array of logits"),
        (lambda: poly1_cross_entropy(np.zeros((2, 0)), np.zeros((2, 0))), ValueError, "at least one class"),
        (
            lambda: poly1_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])),
            ValueError,
            r"target must have shape \(2,\) \(class indices\) or the input's shape \(2, 3\)",
        ),
        (
            lambda: poly1_cross_entropy(np.zeros((2, 3)), np.array([[0.5, 0.7, -0.2]] * 2)),
            ValueError,
            "target must hold class probabilities >= 0, got the value -0.2",
        ),
        (lambda: poly1_cross_entropy(np.zeros((2, 3)), np.array([0, 5])), ClassIndexError, "class index 5"),
        (lambda: poly1_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError, "integer class indices"),
        (
            lambda: poly1_cross_entropy(np.zeros((2, 3)), np.ones((2, 3), dtype=int)),
            TypeError,
            "target must be a float32 or float64 array",
        ),
        (
            lambda: poly1_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), epsilon=float("inf")),
            ValueError,
            "epsilon must be finite",
        ),
    ],
)
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SigmoidFocalLoss(alpha=2.0), ValueError, "alpha must lie in"),
        (lambda: SigmoidFocalLoss(gamma=-1.0), ValueError, "gamma must lie in"),
        (lambda: FocalLoss(gamma=True), TypeError, "gamma must be a real number"),
        (lambda: FocalLoss(ignore_index=0.5), TypeError, "ignore_index must be an integer"),
        (lambda: PolyLoss(epsilon=float("nan")), ValueError, "epsilon must be finite"),
    ],
)
def test_bad_constructor_options_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_classes_hold_their_options_and_weight_stays_positional():
    w = np.array([1.0, 2.0, 3.0])
    loss = FocalLoss(w, gamma=1.0, ignore_index=2)
    assert loss.options()["weight"] is w and loss.options()["gamma"] == 1.0
    assert repr(SigmoidFocalLoss(0.5, 1.0)) == (
        "SigmoidFocalLoss(alpha=0.5, gamma=1.0, reduction='mean', weight=None, "
        "pos_weight=None, ignore_index=None, include_background=True)"
    )
    assert repr(PolyLoss(1.0)) == "PolyLoss(epsilon=1.0, reduction='mean', where=None, axis=-1)"


@pytest.mark.parametrize("gamma", [2.0, 2.5])
def test_sigmoid_focal_quiet_at_float32_logits_near_its_maximum(gamma):
    """gamma * log q below float32's range (log q = -3e38): q^gamma is 0, without an overflow warning."""
    x = np.array([3e38, -3e38, 3e38, -3e38], np.float32)
    t = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    out = focal.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none")
    g = focal.sigmoid_focal_loss_backward(1.0, x, t, gamma=gamma, reduction="none")
    np.testing.assert_array_equal(out, np.array([0.0, 0.0, 0.75 * 3e38, 0.25 * 3e38], np.float32))
    np.testing.assert_array_equal(g, np.array([0.0, 0.0, 0.75, -0.25], np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3, 4.0])
def test_sigmoid_focal_kernel_keeps_the_small_gradients_exact(dtype, gamma):
    """t = 1 and a large logit: sigma(x) - 1 is -sigma(-x), not the 0 or the rounding noise of 1 - sigma(-x)."""
    x = np.array([20.0, 30.0, 40.0, -20.0], dtype)
    t = np.array([1.0, 1.0, 1.0, 0.0], dtype)
    g = focal.sigmoid_focal_loss_backward(1.0, x, t, gamma=gamma, alpha=-1.0, reduction="none")
    s = 1 / (1 + np.exp(np.abs(x.astype(np.float64))))  # sigma(-|x|)
    # q = sigma(-|x|) on the label's side; d/dx = q^gamma (-+sigma(-|x|) -+ gamma CE sigma(|x|)), CE = softplus(-|x|)
    ce = np.log1p(np.exp(-np.abs(x.astype(np.float64))))
    want = np.sign(-x) * s**gamma * (s + gamma * ce * (1 - s))
    np.testing.assert_allclose(g, want.astype(dtype), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_focal_kernel_leaves_a_weight_not_finite_to_the_definitions(dtype):
    """A NaN or infinite class weight sends the call to the definitions (the kernel declines every row), on one
    row and on several, and the fused answer of finite weights is the definitions' (the 'mean' denominator of
    one row: its weight)."""
    from losslab import _fast

    rng = np.random.default_rng(3)
    for n in (1, 5):
        x, t = rng.normal(size=(n, 4)).astype(dtype), rng.integers(0, 3, n)
        for bad in (np.nan, np.inf):
            w = np.array([1.0, 0.5, 2.0, bad], dtype)
            assert _fast.focal(x, t, 2.0, w, -100, "mean") is None
            np.testing.assert_array_equal(focal_loss(x, t, weight=w), focal_loss.reference(x, t, weight=w))
        w = np.array([1.0, 0.5, 2.0, 0.25], dtype)
        hit = _fast.focal(x, t, 2.0, w, -100, "mean")
        assert (hit is None) == (_fast.backend() != "numba")
        if hit is not None:
            tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(hit[0], focal_loss.reference(x, t, weight=w), **tol)
            np.testing.assert_allclose(hit[1], focal_loss_backward.reference(1.0, x, t, weight=w), **tol)
