"""Sparse family: sparsemax and its vector-Jacobian product, the sparsemax loss, the multi-class hinge.

Reference numbers (optax's projection_simplex, multiclass_sparsemax_loss and
multiclass_hinge_loss) from tools/make_golden_extra.py, closed-form sparsemax cases,
properties, extreme scores and every validation branch of losslab.functional.sparse.
"""

from __future__ import annotations

import numpy as np
import pytest
from _support import check_golden_entry, extra_golden_cases

from losslab._validation import ClassIndexError
from losslab.functional import sparse
from losslab.functional.sparse import (
    multiclass_hinge_loss,
    multiclass_hinge_loss_backward,
    sparsemax,
    sparsemax_backward,
    sparsemax_loss,
    sparsemax_loss_backward,
)
from losslab.gradcheck import gradcheck
from losslab.nn.sparse import MulticlassHingeLoss, SparsemaxLoss

REDUCTIONS = ("none", "mean", "sum")


# ============================================================================ reference-library numbers

GOLDEN_CASES = extra_golden_cases({"SparsemaxLoss", "MulticlassHingeLoss", "sparsemax"})


def test_golden_file_covers_sparsemax_and_both_losses():
    assert {p.values[0]["loss"] for p in GOLDEN_CASES} == {"SparsemaxLoss", "MulticlassHingeLoss", "sparsemax"}


@pytest.mark.parametrize("entry, get", GOLDEN_CASES)
def test_matches_the_reference_library(entry, get):
    check_golden_entry(sparse, entry, get)


# ============================================================================ sparsemax


def test_sparsemax_closed_forms():
    # two classes: p_1 = (1 + z_1 - z_2) / 2 while |z_1 - z_2| < 1, one-hot beyond
    z = np.array([[0.3, 0.0], [-0.4, 0.0], [1.0, 0.0], [2.0, 0.0], [-7.0, 0.0]])
    np.testing.assert_allclose(sparsemax(z), [[0.65, 0.35], [0.3, 0.7], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], rtol=1e-15)
    # equal scores: uniform; docstring row: tau = (0.5 + 0.2 - 1) / 2 = -0.15 -> [0.65, 0.35, 0]
    np.testing.assert_allclose(sparsemax(np.full(5, 3.7)), np.full(5, 0.2), rtol=1e-15)
    np.testing.assert_allclose(sparsemax(np.array([0.5, 0.2, -1.0])), [0.65, 0.35, 0.0], rtol=1e-15)
    # three in the support: tau = (1 + 0.8 + 0.6 - 1) / 3 = 0.4667 -> [0.5333, 0.3333, 0.1333, 0]
    np.testing.assert_allclose(sparsemax(np.array([1.0, 0.8, 0.6, -2.0])), [8 / 15, 5 / 15, 2 / 15, 0.0], rtol=1e-14)


def test_sparsemax_is_a_distribution_and_the_closest_one():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, (200, 6))
    p = sparsemax(z)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    assert np.mean(p == 0) > 0.2  # actually sparse
    # projection: no other point of the simplex is closer (random Dirichlet candidates)
    candidates = rng.dirichlet(np.ones(6), size=(200, 50))
    best = np.sum((p - z) ** 2, axis=1)
    assert np.all(np.sum((candidates - z[:, None]) ** 2, axis=2).min(axis=1) >= best - 1e-12)
    # optimality: z - p is the same constant tau on the support and <= tau off it
    tau = (z - p)[np.arange(200), np.argmax(p, axis=1)]
    support = p > 0
    np.testing.assert_allclose(
        np.where(support, z - p, tau[:, None]), np.broadcast_to(tau[:, None], z.shape), atol=1e-14
    )
    assert np.all(np.where(support, True, z <= tau[:, None] + 1e-14))


def test_sparsemax_shift_invariance_permutation_and_axis():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 1, (4, 5))
    np.testing.assert_allclose(sparsemax(z + 1e4), sparsemax(z), atol=1e-11)
    perm = rng.permutation(5)
    np.testing.assert_array_equal(sparsemax(z[:, perm]), sparsemax(z)[:, perm])
    np.testing.assert_array_equal(sparsemax(z.T, axis=0), sparsemax(z).T)
    cube = rng.normal(0, 1, (2, 3, 4))
    np.testing.assert_array_equal(sparsemax(cube, axis=1), np.moveaxis(sparsemax(np.moveaxis(cube, 1, -1)), -1, 1))
    assert sparsemax(z.astype(np.float32)).dtype == np.float32


def test_sparsemax_at_huge_scores():
    z = np.array([[1e4, -1e4, 0.0], [1e4, 1e4 - 0.5, 1e4 - 3.0], [-1e300, 0.0, 1e300]])
    np.testing.assert_array_equal(sparsemax(z), [[1.0, 0.0, 0.0], [0.75, 0.25, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(sparsemax(z[:2].astype(np.float32)), [[1, 0, 0], [0.75, 0.25, 0]])


def test_sparsemax_backward_is_dout_minus_its_support_mean():
    z = np.array([1.0, 0.8, 0.6, -2.0])  # support {0, 1, 2}
    dout = np.array([3.0, 0.0, 0.0, 7.0])
    np.testing.assert_allclose(sparsemax_backward(dout, z), [2.0, -1.0, -1.0, 0.0], rtol=1e-15)
    # a scalar dout is the gradient of dout * sum(sparsemax) = dout: zero
    np.testing.assert_array_equal(sparsemax_backward(2.0, z), np.zeros(4))


def test_sparsemax_backward_matches_central_differences():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (4, 5))
    tau = (x - sparsemax(x))[np.arange(4), np.argmax(sparsemax(x), axis=1)]
    assert np.min(np.abs(x - tau[:, None])) > 5e-3  # every entry off the support's edge
    for axis in (1, 0):
        dout = rng.normal(0, 1, x.shape)
        grad = sparsemax_backward(dout, x, axis=axis)
        assert gradcheck(lambda a, dout=dout, axis=axis: float(np.sum(dout * sparsemax(a, axis=axis))), [x], [grad]).ok


# ============================================================================ sparsemax loss


def ref_sparsemax_loss(z, y):
    """Martins & Astudillo's form: 1/2 sum_{j in S} (z_j^2 - tau^2) + 1/2 ||y||^2 - y . z, with its gradient."""
    loss, local = np.zeros(z.shape[0]), np.zeros(z.shape)
    for n in range(z.shape[0]):
        p = sparsemax(z[n])
        support = p > 0
        tau = (z[n] - p)[support][0]
        loss[n] = 0.5 * np.sum(z[n][support] ** 2 - tau**2) + 0.5 * y[n] @ y[n] - y[n] @ z[n]
        local[n] = p - y[n]
    return loss, local


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sparsemax_loss_matches_the_papers_formula(reduction):
    rng = np.random.default_rng(4)
    z = rng.normal(0, 1.5, (6, 4))
    for y in (np.eye(4)[rng.integers(0, 4, 6)], rng.dirichlet(np.ones(4), size=6)):
        loss, local = ref_sparsemax_loss(z, y)
        dout = rng.uniform(0.5, 1.5, 6) if reduction == "none" else 1.7
        scale = {"none": 1.0, "sum": 1.0, "mean": 1 / 6}[reduction]
        np.testing.assert_allclose(
            sparsemax_loss(z, y, reduction=reduction), loss if reduction == "none" else loss.sum() * scale, rtol=1e-12
        )
        np.testing.assert_allclose(
            sparsemax_loss_backward(dout, z, y, reduction=reduction),
            local * np.reshape(dout, (-1, 1)) * scale,
            rtol=1e-14,
            atol=1e-16,
        )


def test_sparsemax_loss_by_hand():
    # z = [0.5, 0.2, -1], label 1: p = [0.65, 0.35, 0]; p.z - |p|^2/2 + 1/2 - z_1
    # = 0.395 - 0.2725 + 0.5 - 0.2 = 0.4225; gradient p - e_1 = [0.65, -0.65, 0]
    z = np.array([[0.5, 0.2, -1.0]])
    assert sparsemax_loss(z, np.array([1])) == pytest.approx(0.4225, rel=1e-14)
    np.testing.assert_allclose(sparsemax_loss_backward(1.0, z, np.array([1])), [[0.65, -0.65, 0.0]], rtol=1e-14)


def test_sparsemax_loss_is_zero_exactly_when_sparsemax_hits_the_target():
    z = np.array([[3.0, 0.0, 0.0], [0.3, 0.0, -5.0], [1.0, 1.0, 1.0]])
    y = sparsemax(z)
    np.testing.assert_allclose(sparsemax_loss(z, y, reduction="none"), 0.0, atol=1e-15)
    rng = np.random.default_rng(5)
    z, labels = rng.normal(0, 1, (50, 4)), rng.integers(0, 4, 50)
    hit = np.all(sparsemax(z) == np.eye(4)[labels], axis=1)
    out = sparsemax_loss(z, labels, reduction="none")
    assert 0 < hit.sum() < 50
    assert np.all(out[hit] == 0) and np.all(out[~hit] > 0)


def test_sparsemax_loss_index_targets_equal_one_hot_and_huge_scores_are_exact():
    rng = np.random.default_rng(6)
    z, labels = rng.normal(0, 1, (5, 3)), rng.integers(0, 3, 5)
    np.testing.assert_array_equal(
        sparsemax_loss(z, labels, reduction="none"), sparsemax_loss(z, np.eye(3)[labels], reduction="none")
    )
    big = np.array([[1e4, -1e4, 0.0], [1e4, 0.0, 0.0]])
    for dtype in (np.float64, np.float32):
        out = sparsemax_loss(big.astype(dtype), np.array([1, 0]), reduction="none")
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, [2e4, 0.0])  # p = e_0: (p - e_1).(z - max) = 2e4
        np.testing.assert_array_equal(
            sparsemax_loss_backward(1.0, big.astype(dtype), np.array([1, 0]), reduction="none"), [[1, -1, 0], [0, 0, 0]]
        )


# ============================================================================ multi-class hinge


def ref_hinge(s, labels):
    loss, local = np.zeros(s.shape[0]), np.zeros(s.shape)
    for n, k in enumerate(labels):
        others = [s[n, j] + 1 - s[n, k] for j in range(s.shape[1]) if j != k]
        loss[n] = max(0.0, max(others))
        if loss[n] > 0:
            j_star = [j for j in range(s.shape[1]) if j != k][int(np.argmax(others))]
            local[n, j_star], local[n, k] = 1.0, -1.0
    return loss, local


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_matches_the_crammer_singer_form(reduction):
    rng = np.random.default_rng(7)
    s, labels = rng.normal(0, 1, (8, 4)), rng.integers(0, 4, 8)
    s[0] = [3.0, 0.5, 0.0, 1.0]  # margin met: loss 0
    labels[0] = 0
    loss, local = ref_hinge(s, labels)
    dout = rng.uniform(0.5, 1.5, 8) if reduction == "none" else 0.9
    scale = {"none": 1.0, "sum": 1.0, "mean": 1 / 8}[reduction]
    np.testing.assert_allclose(
        multiclass_hinge_loss(s, labels, reduction=reduction),
        loss if reduction == "none" else loss.sum() * scale,
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        multiclass_hinge_loss_backward(dout, s, labels, reduction=reduction),
        local * np.reshape(dout, (-1, 1)) * scale,
        rtol=1e-14,
    )


def test_hinge_by_hand_and_tied_maxima_share_the_gradient():
    s = np.array([[2.0, 1.5, 0.0], [0.5, 0.5, -0.5], [1.0, 0.0, 0.0]])
    labels = np.array([0, 2, 0])
    # row 0: max(2, 2.5, 1) - 2 = 0.5; row 1: max(1.5, 1.5, -0.5) + 0.5 = 2 (classes 0 and 1 tie);
    # row 2: max(1, 1, 1) - 1 = 0: three-way tie, the label's share included
    np.testing.assert_allclose(multiclass_hinge_loss(s, labels, reduction="none"), [0.5, 2.0, 0.0], rtol=1e-15)
    grad = multiclass_hinge_loss_backward(1.0, s, labels, reduction="sum")
    np.testing.assert_allclose(grad, [[-1, 1, 0], [0.5, 0.5, -1], [-2 / 3, 1 / 3, 1 / 3]], rtol=1e-15)


def test_hinge_at_huge_scores():
    s = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]])
    for dtype in (np.float64, np.float32):
        out = multiclass_hinge_loss(s.astype(dtype), np.array([1, 1]), reduction="none")
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, [2e4 + 1, 0.0])


@pytest.mark.parametrize("fn", [sparsemax_loss, multiclass_hinge_loss])
def test_sum_is_mean_times_count_and_permuting_the_batch_permutes_none(fn):
    rng = np.random.default_rng(8)
    z, labels = rng.normal(0, 1, (7, 4)), rng.integers(0, 4, 7)
    none = fn(z, labels, reduction="none")
    assert fn(z, labels, reduction="sum") == pytest.approx(7 * fn(z, labels), rel=1e-14)
    perm = rng.permutation(7)
    np.testing.assert_array_equal(fn(z[perm], labels[perm], reduction="none"), none[perm])


# ============================================================================ validation


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: sparsemax(np.array([1, 2, 3])), TypeError, "x must be a float32 or float64 array"),
        (lambda: sparsemax(np.float64(1.0)), ValueError, "x must have at least one dimension"),
        (
            lambda: sparsemax(np.zeros((2, 3)), axis=2),
            ValueError,
            "axis 2 is out of range for an array with 2 dimensions",
        ),
        (lambda: sparsemax(np.zeros((2, 3)), axis=1.0), TypeError, "axis must be an integer"),
        (lambda: sparsemax(np.zeros((2, 0))), ValueError, r"at least one entry along axis 1, got shape \(2, 0\)"),
        (
            lambda: sparsemax_backward(np.zeros(4), np.zeros(3)),
            ValueError,
            r"dout must be a scalar or have the shape of x \(3,\), got shape \(4,\)",
        ),
        (lambda: sparsemax_backward(np.array(["a"]), np.zeros(1)), TypeError, "dout must hold real numbers"),
        (lambda: sparsemax_loss(np.zeros(3), np.array(1)), ValueError, r"input must be a 2-D array of logits"),
        (
            lambda: sparsemax_loss(np.zeros((2, 3)), np.array([0, 1, 2])),
            ValueError,
            r"target must have shape \(2,\) \(class indices\) or the input's shape \(2, 3\)",
        ),
        (lambda: sparsemax_loss(np.zeros((2, 3)), np.array([0, 3])), ClassIndexError, "class index 3"),
        (
            lambda: sparsemax_loss(np.zeros((1, 3)), np.array([[1.2, -0.2, 0.0]])),
            ValueError,
            "target must hold class probabilities >= 0, got the value -0.2",
        ),
        (
            lambda: multiclass_hinge_loss(np.zeros((2, 3)), np.array([0.0, 1.0])),
            TypeError,
            "target must hold integer class indices",
        ),
        (
            lambda: multiclass_hinge_loss(np.zeros((2, 3)), np.array([0, 1, 1])),
            ValueError,
            r"target must have shape \(2,\), got \(3,\)",
        ),
        (lambda: multiclass_hinge_loss(np.zeros((2, 3)), np.array([0, -1])), ClassIndexError, "class index -1"),
        (lambda: multiclass_hinge_loss(np.zeros((2, 3, 1)), np.array([0, 1])), ValueError, "input must be a 2-D array"),
    ],
)
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_classes_reject_unknown_reductions():
    for cls in (SparsemaxLoss, MulticlassHingeLoss):
        with pytest.raises(ValueError, match="reduction must be one of"):
            cls(reduction="batchmean")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multiclass_hinge_fused_ties_are_the_definitions(dtype):
    """Scores on a grid of halves tie often: the fused path shares the gradient among the same entries."""
    rng = np.random.default_rng(12)
    x = (np.round(rng.normal(0, 2, (300, 7)) * 2) / 2).astype(dtype)
    t = rng.integers(0, 7, 300)
    np.testing.assert_array_equal(
        sparse.multiclass_hinge_loss_backward(1.0, x, t), sparse.multiclass_hinge_loss_backward.reference(1.0, x, t)
    )
    np.testing.assert_array_equal(
        sparse.multiclass_hinge_loss(x, t, reduction="none"),
        sparse.multiclass_hinge_loss.reference(x, t, reduction="none"),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spread", [0.01, 1.0, 30.0])
def test_sparsemax_loss_fused_threshold_is_the_definitions(dtype, spread):
    """The fused path finds the threshold by iteration, the definition by sorting: the same support and values,
    also with scores on a grid (ties) and masked classes."""
    rng = np.random.default_rng(13)
    x = (np.round(rng.normal(0, spread, (400, 9)) * 4) / 4).astype(dtype)
    x[::7, 3] = -np.inf
    t = rng.integers(0, 9, 400)
    t[::7] = 0
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for target in (t, np.eye(9, dtype=dtype)[t]):
        np.testing.assert_allclose(
            sparse.sparsemax_loss(x, target, reduction="none"),
            sparse.sparsemax_loss.reference(x, target, reduction="none"),
            **tol,
        )
        np.testing.assert_allclose(
            sparse.sparsemax_loss_backward(1.0, x, target),
            sparse.sparsemax_loss_backward.reference(1.0, x, target),
            **tol,
        )
