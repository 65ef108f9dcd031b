"""Margin family: hand-computed cases, references written from the docstring formulas, properties, kinks, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab import _validation
from losslab.functional import margin as F
from losslab.nn import margin as nn


def _pm1(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


def _label_lists(rng, n, c):
    """Rows of distinct class indices padded with -1, with junk after the first -1 in some rows."""
    t = np.full((n, c), -1, dtype=np.int64)
    for row in range(n):
        k = rng.integers(0, c + 1)
        t[row, :k] = rng.permutation(c)[:k]
        if k + 1 < c:
            t[row, k + 1 :] = rng.integers(-1, c, c - k - 1)  # ignored: after the first -1
    return t


# ----------------------------------------------------------------- hand-computed cases


def test_hinge_embedding_by_hand():
    x, y = np.array([0.3, 0.3, 1.5, -2.0]), np.array([1.0, -1.0, -1.0, -1.0])
    # y = 1: x = 0.3; y = -1: max(0, 1 - x) = 0.7, 0, 3.0 -> sum 4.0, mean 1.0
    np.testing.assert_allclose(F.hinge_embedding_loss(x, y, reduction="none"), [0.3, 0.7, 0.0, 3.0], rtol=1e-15)
    assert F.hinge_embedding_loss(x, y, reduction="sum") == pytest.approx(4.0, rel=1e-15)
    assert F.hinge_embedding_loss(x, y) == pytest.approx(1.0, rel=1e-15)
    # margin 2: 0.3, 1.7, 0.5, 4.0
    np.testing.assert_allclose(
        F.hinge_embedding_loss(x, y, margin=2.0, reduction="none"), [0.3, 1.7, 0.5, 4.0], rtol=1e-15
    )
    # gradient: 1 for y = 1; -1 where 1 - x > 0; 0 where 1 - x < 0
    np.testing.assert_array_equal(F.hinge_embedding_loss_backward(1.0, x, y, reduction="sum"), [1.0, -1.0, 0.0, -1.0])
    np.testing.assert_allclose(F.hinge_embedding_loss_backward(1.0, x, y), [0.25, -0.25, 0.0, -0.25], rtol=1e-15)


def test_soft_margin_by_hand():
    x, y = np.array([0.0, 2.0, 2.0]), np.array([1.0, 1.0, -1.0])
    # log(1 + e^0) = log 2; log(1 + e^-2); log(1 + e^2)
    expected = [math.log(2), math.log1p(math.exp(-2)), math.log1p(math.exp(2))]
    np.testing.assert_allclose(F.soft_margin_loss(x, y, reduction="none"), expected, rtol=1e-15)
    assert F.soft_margin_loss(x, y) == pytest.approx(sum(expected) / 3, rel=1e-15)
    # -y sigmoid(-y x): -1/2, -1/(1 + e^2), +1/(1 + e^-2)
    np.testing.assert_allclose(
        F.soft_margin_loss_backward(1.0, x, y, reduction="sum"),
        [-0.5, -1 / (1 + math.exp(2)), 1 / (1 + math.exp(-2))],
        rtol=1e-15,
    )


def test_multilabel_soft_margin_by_hand():
    x, y = np.array([[0.0, 2.0]]), np.array([[1.0, 0.0]])
    # -(log sigmoid(0) + log sigmoid(-2)) / 2 = (log 2 + log(1 + e^2)) / 2
    plain = (math.log(2) + math.log1p(math.exp(2))) / 2
    np.testing.assert_allclose(F.multilabel_soft_margin_loss(x, y, reduction="none"), [plain], rtol=1e-15)
    # weight (2, 1): (2 log 2 + log(1 + e^2)) / 2
    w = np.array([2.0, 1.0])
    weighted = (2 * math.log(2) + math.log1p(math.exp(2))) / 2
    assert F.multilabel_soft_margin_loss(x, y, weight=w) == pytest.approx(weighted, rel=1e-15)
    # gradient w (sigmoid(x) - y) / C: 2 (1/2 - 1) / 2 = -0.5; 1 (sigmoid(2) - 0) / 2
    np.testing.assert_allclose(
        F.multilabel_soft_margin_loss_backward(1.0, x, y, weight=w), [[-0.5, 0.5 / (1 + math.exp(-2))]], rtol=1e-15
    )


def test_multi_margin_by_hand():
    x, y = np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3])
    # z_i = 1 - 0.8 + x_i = 0.3, 0.4, 0.6 (all > 0): p=1 sum 1.3 / 4; p=2 (0.09 + 0.16 + 0.36) / 4
    assert F.multi_margin_loss(x, y) == pytest.approx(0.325, rel=1e-14)
    assert F.multi_margin_loss(x, y, p=2) == pytest.approx(0.1525, rel=1e-14)
    # p=1 gradient 1/4 per active hinge, -3/4 on the target; p=2: 2 z / 4 = 0.15, 0.2, 0.3 and -0.65
    np.testing.assert_allclose(F.multi_margin_loss_backward(1.0, x, y), [[0.25, 0.25, 0.25, -0.75]], rtol=1e-14)
    np.testing.assert_allclose(F.multi_margin_loss_backward(1.0, x, y, p=2), [[0.15, 0.2, 0.3, -0.65]], rtol=1e-14)
    # the weight is the target class's: w[3] = 3 triples the loss; the other entries play no part
    assert F.multi_margin_loss(x, y, weight=np.array([1.0, 1.0, 1.0, 3.0])) == pytest.approx(0.975, rel=1e-14)
    assert F.multi_margin_loss(x, y, weight=np.array([5.0, 5.0, 5.0, 1.0])) == pytest.approx(0.325, rel=1e-14)


def test_multi_margin_inactive_hinges_by_hand():
    x, y = np.array([[2.0, 0.5, 0.0], [2.0, 0.5, 0.0]]), np.array([0, 1])
    # row 0, y=0: z = 1 - 2 + 0.5 = -0.5, 1 - 2 + 0 = -1 -> 0
    # row 1, y=1: z = 1 - 0.5 + 2 = 2.5, 1 - 0.5 + 0 = 0.5 -> 3 / 3 = 1; margin 0.25: 1.75 + 0 -> 1.75 / 3
    np.testing.assert_allclose(F.multi_margin_loss(x, y, reduction="none"), [0.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(F.multi_margin_loss(x, y, margin=0.25, reduction="none"), [0.0, 1.75 / 3], rtol=1e-15)
    np.testing.assert_allclose(
        F.multi_margin_loss_backward(1.0, x, y, reduction="sum"), [[0, 0, 0], [1 / 3, -2 / 3, 1 / 3]], rtol=1e-15
    )


def test_multilabel_margin_by_hand():
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    # J = {3, 0} (stop at -1), others {1, 2}:
    # j=3: 1 - 0.8 + 0.2 = 0.4, 1 - 0.8 + 0.4 = 0.6; j=0: 1.1, 1.3 -> 3.4 / 4 = 0.85
    assert F.multilabel_margin_loss(x, np.array([[3, 0, -1, 1]])) == pytest.approx(0.85, rel=1e-14)
    # every hinge active: x1, x2 get +2/4; x3, x0 get -2/4
    np.testing.assert_allclose(
        F.multilabel_margin_loss_backward(1.0, x, np.array([[3, 0, -1, 1]])), [[-0.5, 0.5, 0.5, -0.5]], rtol=1e-14
    )
    # a -1 first: no targets, loss 0
    assert F.multilabel_margin_loss(x, np.array([[-1, 0, 1, 2]])) == 0.0


def test_multilabel_margin_counts_repeated_targets_like_torch():
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    t = np.array([[3, 3, -1, 1]])
    # J listed as [3, 3]; others {0, 1, 2}: z = 0.3, 0.4, 0.6 -> 1.3, counted twice -> 2.6 / 4 = 0.65
    assert F.multilabel_margin_loss(x, t) == pytest.approx(0.65, rel=1e-14)
    # x0, x1, x2: two active hinges each, +2/4; x3: six, -6/4
    np.testing.assert_allclose(F.multilabel_margin_loss_backward(1.0, x, t), [[0.5, 0.5, 0.5, -1.5]], rtol=1e-14)


# ----------------------------------------------------------------- references from the docstrings


def _sig(a):
    return 1 / (1 + math.exp(-a))


def _ref_hinge(x, y, margin):
    loss, grad = np.zeros(x.shape), np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        if y[i] == 1:
            loss[i], grad[i] = x[i], 1.0
        else:
            loss[i] = max(0.0, margin - x[i])
            grad[i] = -1.0 if margin - x[i] >= 0 else 0.0
    return loss, grad


def _ref_soft_margin(x, y):
    loss, grad = np.zeros(x.shape), np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        loss[i] = math.log(1 + math.exp(-y[i] * x[i]))
        grad[i] = -y[i] * _sig(-y[i] * x[i])
    return loss, grad


def _ref_multilabel_soft(x, y, w):
    n, c = x.shape
    w = np.ones(c) if w is None else w
    loss, grad = np.zeros(n), np.zeros((n, c))
    for a in range(n):
        for k in range(c):
            loss[a] -= w[k] * (y[a, k] * math.log(_sig(x[a, k])) + (1 - y[a, k]) * math.log(_sig(-x[a, k]))) / c
            grad[a, k] = w[k] * (_sig(x[a, k]) - y[a, k]) / c
    return loss, grad


def _ref_multi_margin(x, y, p, margin, w):
    n, c = x.shape
    w = np.ones(c) if w is None else w
    loss, grad = np.zeros(n), np.zeros((n, c))
    for a in range(n):
        t = y[a]
        for i in range(c):
            z = margin - x[a, t] + x[a, i]
            if i == t or z <= 0:
                continue
            loss[a] += w[t] * z**p / c
            d = w[t] * (1 if p == 1 else 2 * z) / c
            grad[a, i] += d
            grad[a, t] -= d
    return loss, grad


def _ref_multilabel_margin(x, t):
    n, c = x.shape
    loss, grad = np.zeros(n), np.zeros((n, c))
    for a in range(n):
        listed = []
        for k in t[a]:
            if k == -1:
                break
            listed.append(k)
        for j in listed:
            for i in range(c):
                if i in listed:
                    continue
                z = 1 - (x[a, j] - x[a, i])
                if z > 0:
                    loss[a] += z / c
                    grad[a, i] += 1 / c
                    grad[a, j] -= 1 / c
    return loss, grad


@pytest.mark.parametrize("margin", [1.0, 0.5, -0.3])
def test_hinge_embedding_matches_reference(margin):
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.5, 1.5, (6, 5)), _pm1(rng, (6, 5))
    loss, grad = _ref_hinge(x, y, margin)
    np.testing.assert_allclose(F.hinge_embedding_loss(x, y, margin=margin, reduction="none"), loss, rtol=1e-14)
    np.testing.assert_allclose(F.hinge_embedding_loss_backward(1.0, x, y, margin=margin, reduction="sum"), grad)


def test_soft_margin_matches_reference():
    rng = np.random.default_rng(2)
    x, y = rng.normal(0, 3, (6, 5)), _pm1(rng, (6, 5))
    loss, grad = _ref_soft_margin(x, y)
    np.testing.assert_allclose(F.soft_margin_loss(x, y, reduction="none"), loss, rtol=1e-13)
    np.testing.assert_allclose(F.soft_margin_loss_backward(1.0, x, y, reduction="sum"), grad, rtol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("soft", [False, True])
def test_multilabel_soft_margin_matches_reference(weighted, soft):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 3, (6, 5))
    y = rng.uniform(0, 1, (6, 5)) if soft else rng.integers(0, 2, (6, 5)).astype(float)
    w = rng.uniform(0.2, 3.0, 5) if weighted else None
    loss, grad = _ref_multilabel_soft(x, y, w)
    np.testing.assert_allclose(F.multilabel_soft_margin_loss(x, y, weight=w, reduction="none"), loss, rtol=1e-13)
    np.testing.assert_allclose(
        F.multilabel_soft_margin_loss_backward(1.0, x, y, weight=w, reduction="sum"), grad, rtol=1e-13
    )


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_matches_reference(p, margin, weighted):
    rng = np.random.default_rng(4)
    x, y = rng.normal(0, 1, (8, 5)), rng.integers(0, 5, 8)
    w = rng.uniform(0.2, 3.0, 5) if weighted else None
    loss, grad = _ref_multi_margin(x, y, p, margin, w)
    assert loss.min() == 0 and loss.max() > 0  # some rows with no active hinge, some with
    out = F.multi_margin_loss(x, y, p=p, margin=margin, weight=w, reduction="none")
    np.testing.assert_allclose(out, loss, rtol=1e-14, atol=1e-16)
    gx = F.multi_margin_loss_backward(1.0, x, y, p=p, margin=margin, weight=w, reduction="sum")
    np.testing.assert_allclose(gx, grad, rtol=1e-14, atol=1e-16)


def test_multilabel_margin_matches_reference():
    rng = np.random.default_rng(5)
    x, t = rng.normal(0, 1, (10, 5)), _label_lists(rng, 10, 5)
    loss, grad = _ref_multilabel_margin(x, t)
    np.testing.assert_allclose(F.multilabel_margin_loss(x, t, reduction="none"), loss, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(
        F.multilabel_margin_loss_backward(1.0, x, t, reduction="sum"), grad, rtol=1e-14, atol=1e-16
    )


# ----------------------------------------------------------------- properties


def _calls(rng):
    """(function, backward, inputs, options, count of 'none' elements) for every margin loss."""
    x = rng.normal(0, 1.5, (6, 4))
    return [
        (F.hinge_embedding_loss, F.hinge_embedding_loss_backward, (x, _pm1(rng, (6, 4))), {"margin": 0.7}),
        (F.soft_margin_loss, F.soft_margin_loss_backward, (x, _pm1(rng, (6, 4))), {}),
        (
            F.multilabel_soft_margin_loss,
            F.multilabel_soft_margin_loss_backward,
            (x, rng.integers(0, 2, (6, 4)).astype(float)),
            {"weight": rng.uniform(0.5, 2, 4)},
        ),
        (
            F.multi_margin_loss,
            F.multi_margin_loss_backward,
            (x, rng.integers(0, 4, 6)),
            {"p": 2, "weight": rng.uniform(0.5, 2, 4)},
        ),
        (F.multilabel_margin_loss, F.multilabel_margin_loss_backward, (x, _label_lists(rng, 6, 4)), {}),
    ]


@pytest.mark.parametrize("index", range(5))
def test_sum_is_mean_times_count(index):
    fn, back, inputs, opts = _calls(np.random.default_rng(6))[index]
    count = fn(*inputs, **opts, reduction="none").size  # elements for elementwise losses, N for per-sample
    assert fn(*inputs, **opts, reduction="sum") == pytest.approx(
        count * fn(*inputs, **opts, reduction="mean"), rel=1e-14
    )
    np.testing.assert_allclose(
        back(1.0, *inputs, **opts, reduction="sum"), count * back(1.0, *inputs, **opts, reduction="mean"), rtol=1e-14
    )


@pytest.mark.parametrize("index", range(5))
def test_permuting_the_batch_permutes_none(index):
    fn, back, (x, t), opts = _calls(np.random.default_rng(7))[index]
    perm = np.random.default_rng(8).permutation(x.shape[0])
    out = fn(x, t, **opts, reduction="none")
    np.testing.assert_allclose(fn(x[perm], t[perm], **opts, reduction="none"), out[perm], rtol=1e-15)
    dout = np.random.default_rng(9).uniform(0.5, 1.5, out.shape)
    grad = back(dout, x, t, **opts, reduction="none")
    np.testing.assert_allclose(back(dout[perm], x[perm], t[perm], **opts, reduction="none"), grad[perm], rtol=1e-15)


def test_weight_of_ones_is_no_weight():
    rng = np.random.default_rng(10)
    x = rng.normal(0, 1, (5, 4))
    y = rng.integers(0, 2, (5, 4)).astype(float)
    ones = np.ones(4)
    np.testing.assert_array_equal(
        F.multilabel_soft_margin_loss(x, y, weight=ones, reduction="none"),
        F.multilabel_soft_margin_loss(x, y, reduction="none"),
    )
    np.testing.assert_array_equal(
        F.multilabel_soft_margin_loss_backward(1.0, x, y, weight=ones),
        F.multilabel_soft_margin_loss_backward(1.0, x, y),
    )
    t = rng.integers(0, 4, 5)
    for p in (1, 2):
        np.testing.assert_array_equal(
            F.multi_margin_loss(x, t, p=p, weight=ones, reduction="none"),
            F.multi_margin_loss(x, t, p=p, reduction="none"),
        )
        np.testing.assert_array_equal(
            F.multi_margin_loss_backward(1.0, x, t, p=p, weight=ones), F.multi_margin_loss_backward(1.0, x, t, p=p)
        )


def test_multi_margin_weight_scales_each_row_by_its_target_class():
    rng = np.random.default_rng(11)
    x, t, w = rng.normal(0, 1, (6, 4)), rng.integers(0, 4, 6), rng.uniform(0.5, 2.0, 4)
    np.testing.assert_allclose(
        F.multi_margin_loss(x, t, weight=w, reduction="none"),
        w[t] * F.multi_margin_loss(x, t, reduction="none"),
        rtol=1e-14,
    )


def test_multilabel_margin_ignores_entries_after_the_first_padding():
    rng = np.random.default_rng(12)
    x = rng.normal(0, 1, (1, 5))
    a, b = np.array([[4, 1, -1, 0, 2]]), np.array([[4, 1, -1, -1, 3]])
    assert F.multilabel_margin_loss(x, a) == F.multilabel_margin_loss(x, b)
    np.testing.assert_array_equal(
        F.multilabel_margin_loss_backward(1.0, x, a), F.multilabel_margin_loss_backward(1.0, x, b)
    )


def test_unbatched_shapes():
    rng = np.random.default_rng(13)
    x = rng.normal(0, 1, 4)
    assert F.multi_margin_loss(x, np.array(2), reduction="none").shape == ()
    assert F.multi_margin_loss(x, np.array([2]), reduction="none").shape == (1,)  # PyTorch keeps a (1,) target's shape
    assert F.multi_margin_loss_backward(1.0, x, np.array([2])).shape == (4,)
    assert F.multilabel_margin_loss(x, np.array([2, 0, -1, 1]), reduction="none").shape == ()
    assert F.multilabel_soft_margin_loss(x, np.array([1.0, 0, 0, 1]), reduction="none").shape == ()
    x3 = rng.normal(0, 1, (2, 5, 3))
    assert F.multilabel_soft_margin_loss(x3, np.ones((2, 5, 3)), reduction="none").shape == (2, 5)
    assert F.multilabel_soft_margin_loss_backward(np.ones((2, 5)), x3, np.ones((2, 5, 3)), reduction="none").shape == (
        2,
        5,
        3,
    )


def test_unbatched_equals_one_row_batch():
    rng = np.random.default_rng(14)
    x = rng.normal(0, 1, 4)
    assert F.multi_margin_loss(x, np.array(1), p=2) == F.multi_margin_loss(x[None], np.array([1]), p=2)
    assert F.multilabel_margin_loss(x, np.array([1, 3, -1, 0])) == F.multilabel_margin_loss(
        x[None], np.array([[1, 3, -1, 0]])
    )
    np.testing.assert_array_equal(
        F.multilabel_margin_loss_backward(1.0, x, np.array([1, 3, -1, 0])),
        F.multilabel_margin_loss_backward(1.0, x[None], np.array([[1, 3, -1, 0]]))[0],
    )


def test_empty_batch_sums_to_zero():
    x = np.zeros((0, 3))
    assert F.multi_margin_loss(x, np.zeros(0, dtype=np.int64), reduction="sum") == 0.0
    assert F.multilabel_margin_loss(x, np.zeros((0, 3), dtype=np.int64), reduction="none").shape == (0,)
    assert F.multilabel_soft_margin_loss(x, x, reduction="sum") == 0.0


def test_nn_classes_keep_torch_positional_options():
    w = np.array([1.0, 2.0, 3.0])
    loss = nn.MultiMarginLoss(2, 0.5, w, reduction="sum")
    assert (loss.p, loss.margin, loss.reduction) == (2, 0.5, "sum") and loss.weight is w
    assert nn.HingeEmbeddingLoss(2.0).margin == 2.0
    assert nn.MultiLabelSoftMarginLoss(w).options() == {"weight": w, "reduction": "mean"}
    assert repr(nn.MultiMarginLoss()) == "MultiMarginLoss(p=1, margin=1.0, weight=None, reduction='mean')"
    with pytest.raises(TypeError):
        nn.MultiMarginLoss(1, 1.0, None, "sum")  # reduction is keyword-only
    x, t = np.array([[0.1, 0.2, 0.4]]), np.array([2])
    np.testing.assert_array_equal(loss(x, t), F.multi_margin_loss(x, t, p=2, margin=0.5, weight=w, reduction="sum"))


# ----------------------------------------------------------------- kinks: PyTorch's choice, by hand


def test_hinge_embedding_kink_gradient_is_minus_one():
    # margin - x == 0 exactly: value 0, gradient -1 (clamp_min passes the gradient at equality)
    x, y = np.array([1.0, 0.5]), np.array([-1.0, -1.0])
    np.testing.assert_array_equal(F.hinge_embedding_loss(x, y, reduction="none"), [0.0, 0.5])
    np.testing.assert_array_equal(F.hinge_embedding_loss_backward(1.0, x, y, reduction="sum"), [-1.0, -1.0])
    np.testing.assert_array_equal(F.hinge_embedding_loss_backward(1.0, x, y, margin=0.5, reduction="sum"), [0.0, -1.0])


def test_multi_margin_and_multilabel_margin_kinks_are_inactive():
    x = np.array([[1.0, 0.0, 0.5]])
    # y = 0: z_1 = 1 - 1 + 0 = 0 (inactive), z_2 = 0.5 -> 0.5 / 3; gradient only through class 2
    for p, value, g2 in ((1, 0.5 / 3, 1 / 3), (2, 0.25 / 3, 1 / 3)):
        assert F.multi_margin_loss(x, np.array([0]), p=p) == pytest.approx(value, rel=1e-15)
        np.testing.assert_allclose(
            F.multi_margin_loss_backward(1.0, x, np.array([0]), p=p), [[-g2, 0.0, g2]], rtol=1e-15
        )
    # multilabel J = {0}: z(0 -> 1) = 0 (inactive), z(0 -> 2) = 0.5
    t = np.array([[0, -1, 0]])
    assert F.multilabel_margin_loss(x, t) == pytest.approx(0.5 / 3, rel=1e-15)
    np.testing.assert_allclose(F.multilabel_margin_loss_backward(1.0, x, t), [[-1 / 3, 0.0, 1 / 3]], rtol=1e-15)


# ----------------------------------------------------------------- stability


def test_soft_margin_is_exact_where_exp_overflows():
    x, y = np.array([1e4, -1e4, 700.0, -700.0]), np.ones(4)
    out = F.soft_margin_loss(x, y, reduction="none")
    grad = F.soft_margin_loss_backward(1.0, x, y, reduction="sum")
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    # log(1 + e^-1e4) underflows to 0; log(1 + e^1e4) = 1e4 to double precision
    np.testing.assert_allclose(out, [0.0, 1e4, math.exp(-700), 700.0], rtol=1e-15)
    np.testing.assert_allclose(grad, [-0.0, -1.0, -math.exp(-700), -1.0], rtol=1e-15)
    out32 = F.soft_margin_loss(x.astype(np.float32), y.astype(np.float32), reduction="none")
    assert out32.dtype == np.float32 and np.all(np.isfinite(out32))
    np.testing.assert_allclose(out32, [0.0, 1e4, 0.0, 700.0], rtol=1e-7)


def test_multilabel_soft_margin_finite_at_huge_logits():
    x = np.array([[1e4, -1e4, 1e4, -1e4]])
    y = np.array([[1.0, 0.0, 0.0, 1.0]])
    # right: 0, 0; wrong: 1e4 each -> 2e4 / 4
    assert F.multilabel_soft_margin_loss(x, y) == pytest.approx(5e3, rel=1e-15)
    np.testing.assert_allclose(F.multilabel_soft_margin_loss_backward(1.0, x, y), [[0.0, 0.0, 0.25, -0.25]])


# ----------------------------------------------------------------- PyTorch: kinks, extremes, shapes


def _torch_pair(name, x, t, dtype, reduction, **opts):
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, dtype=dtype, requires_grad=True)
    tt = torch.tensor(t) if np.asarray(t).dtype.kind in "iu" else torch.tensor(t, dtype=dtype)
    topts = {k: torch.tensor(val, dtype=dtype) if isinstance(val, np.ndarray) else val for k, val in opts.items()}
    out = getattr(torch.nn.functional, name)(tx, tt, **topts, reduction=reduction)
    out.sum().backward()
    return out.detach().numpy(), tx.grad.numpy()


_KINKS = [
    ("hinge_embedding_loss", np.array([1.0, 0.5, 2.0, 1.0]), np.array([-1.0, -1.0, -1.0, 1.0]), {}),
    ("hinge_embedding_loss", np.array([0.5, 0.25]), np.array([-1.0, -1.0]), {"margin": 0.5}),
    ("multi_margin_loss", np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]), np.array([0, 2]), {}),
    (
        "multi_margin_loss",
        np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]),
        np.array([0, 2]),
        {"p": 2, "weight": np.array([2.0, 1.0, 3.0])},
    ),
    ("multi_margin_loss", np.array([[1.0, 0.5, 0.0]]), np.array([0]), {"margin": 0.5}),
    ("multilabel_margin_loss", np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]), np.array([[0, -1, 0], [2, -1, 1]]), {}),
]


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
@pytest.mark.parametrize("name, x, t, opts", _KINKS)
def test_kinks_match_torch(name, x, t, opts, dtype_name):
    torch = pytest.importorskip("torch")
    dtype = np.dtype(dtype_name)
    xd = x.astype(dtype)
    od = {k: val.astype(dtype) if isinstance(val, np.ndarray) else val for k, val in opts.items()}
    t_in = t.astype(dtype) if t.dtype.kind == "f" else t
    for reduction in ("none", "sum", "mean"):
        t_out, t_grad = _torch_pair(name, xd, t_in, getattr(torch, dtype_name), reduction, **od)
        out = getattr(F, name)(xd, t_in, **od, reduction=reduction)
        grad = getattr(F, f"{name}_backward")(np.ones(np.shape(out), dtype), xd, t_in, **od, reduction=reduction)
        np.testing.assert_allclose(out, t_out, rtol=1e-6, atol=0)
        np.testing.assert_allclose(grad, t_grad, rtol=1e-6, atol=0)
        assert grad.dtype == dtype


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_soft_margin_at_extremes_matches_torch_where_torch_is_finite(dtype_name):
    torch = pytest.importorskip("torch")
    dtype = np.dtype(dtype_name)
    x = np.array([1e4, -1e4, 700.0, -700.0, 80.0, -80.0], dtype=dtype)
    y = np.array([1.0, 1.0, 1.0, -1.0, -1.0, 1.0], dtype=dtype)
    t_out, t_grad = _torch_pair("soft_margin_loss", x, y, getattr(torch, dtype_name), "none")
    out = F.soft_margin_loss(x, y, reduction="none")
    grad = F.soft_margin_loss_backward(1.0, x, y, reduction="sum")
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    # torch evaluates log1p(exp(-y x)) literally: inf / NaN once exp overflows; compare where it does not
    ok = np.isfinite(t_out) & np.isfinite(t_grad)
    assert ok.sum() >= 3
    np.testing.assert_allclose(out[ok], t_out[ok], rtol=1e-6)
    np.testing.assert_allclose(grad[ok], t_grad[ok], rtol=1e-6)
    np.testing.assert_allclose(out[~ok], (-y * x)[~ok], rtol=1e-7)  # the exact value there


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_multilabel_soft_margin_at_extremes_matches_torch(dtype_name):
    torch = pytest.importorskip("torch")
    dtype = np.dtype(dtype_name)
    x = np.array([[1e4, -1e4, 700.0, -700.0], [-1e4, 1e4, 88.0, -88.0]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]], dtype=dtype)
    t_out, t_grad = _torch_pair("multilabel_soft_margin_loss", x, y, getattr(torch, dtype_name), "none")
    out = F.multilabel_soft_margin_loss(x, y, reduction="none")
    np.testing.assert_allclose(out, t_out, rtol=1e-6)
    np.testing.assert_allclose(
        F.multilabel_soft_margin_loss_backward(1.0, x, y, reduction="none"), t_grad, rtol=1e-6, atol=1e-30
    )


_SHAPES = [
    ("multi_margin_loss", np.array([0.3, -0.2, 0.9, 0.1]), np.array(2), {"p": 2}),
    ("multi_margin_loss", np.array([0.3, -0.2, 0.9, 0.1]), np.array([0]), {}),
    ("multilabel_margin_loss", np.array([0.3, -0.2, 0.9, 0.1]), np.array([1, 1, -1, 0]), {}),
    ("multilabel_margin_loss", np.array([[0.3, -0.2, 0.9], [0.1, 0.5, 0.2]]), np.array([[0, 0, 0], [2, 1, 0]]), {}),
    ("multilabel_soft_margin_loss", np.array([0.3, -0.2, 0.9]), np.array([1.0, 0.0, 0.5]), {}),
    (
        "multilabel_soft_margin_loss",
        np.linspace(-2, 2, 30).reshape(2, 5, 3),
        np.full((2, 5, 3), 0.25),
        {"weight": np.array([0.5, 1.0, 2.0])},
    ),
]


@pytest.mark.parametrize("name, x, t, opts", _SHAPES)
def test_unbatched_and_repeated_cases_match_torch(name, x, t, opts):
    torch = pytest.importorskip("torch")
    for reduction in ("none", "sum", "mean"):
        t_out, t_grad = _torch_pair(name, x, t, torch.float64, reduction, **opts)
        out = getattr(F, name)(x, t, **opts, reduction=reduction)
        assert np.shape(out) == t_out.shape
        np.testing.assert_allclose(out, t_out, rtol=1e-12)
        grad = getattr(F, f"{name}_backward")(np.ones(np.shape(out)), x, t, **opts, reduction=reduction)
        np.testing.assert_allclose(grad, t_grad, rtol=1e-12)


# ----------------------------------------------------------------- validation


def test_pm1_losses_reject_other_labels():
    x = np.zeros(3)
    for fn in (F.hinge_embedding_loss, F.soft_margin_loss, F.hinge_embedding_loss_backward):
        args = (1.0, x) if fn is F.hinge_embedding_loss_backward else (x,)
        with pytest.raises(ValueError, match=r"target must hold only the labels 1 and -1, got the value .*0\.0"):
            fn(*args, np.array([1.0, 0.0, -1.0]))
    with pytest.raises(ValueError, match=r"target must have the shape of input, \(3,\), got \(2,\)"):
        F.soft_margin_loss(x, np.array([1.0, -1.0]))
    with pytest.raises(TypeError, match="target must hold real numbers"):
        F.soft_margin_loss_backward(1.0, x, np.array(["a", "b", "c"]))


def test_margin_option_is_checked():
    with pytest.raises(ValueError, match="margin must be finite"):
        F.hinge_embedding_loss(np.zeros(2), np.ones(2), margin=float("nan"))
    with pytest.raises(TypeError, match="margin must be a real number"):
        nn.HingeEmbeddingLoss("1")
    with pytest.raises(ValueError, match="margin must be finite"):
        F.multi_margin_loss_backward(1.0, np.zeros((1, 2)), np.array([0]), margin=float("inf"))
    with pytest.raises(TypeError, match="margin must be a real number"):
        nn.MultiMarginLoss(1, None)


@pytest.mark.parametrize("p", [0, 3, 1.5])
def test_multi_margin_p_must_be_one_or_two(p):
    with pytest.raises(ValueError, match=rf"p must be 1 or 2 .*got {p!r}"):
        F.multi_margin_loss(np.zeros((2, 3)), np.array([0, 1]), p=p)
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        F.multi_margin_loss_backward(1.0, np.zeros((2, 3)), np.array([0, 1]), p=p)
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        nn.MultiMarginLoss(p)
    with pytest.raises(TypeError, match="p must be a real number"):
        nn.MultiMarginLoss("2")


def test_class_score_inputs_must_be_vectors_or_matrices():
    with pytest.raises(ValueError, match=r"input must be a \(C,\) or \(N, C\) array of class .*\(2, 2, 2\)"):
        F.multi_margin_loss(np.zeros((2, 2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"input must be a \(C,\) or \(N, C\) array of class scores, got .*\(\)"):
        F.multilabel_margin_loss(np.array(0.5), np.array(0))
    with pytest.raises(ValueError, match="input must be an array of class scores, classes on the last axis"):
        F.multilabel_soft_margin_loss(np.array(0.5), np.array(1.0))
    for fn, t in (
        (F.multi_margin_loss, np.zeros(2, dtype=np.int64)),
        (F.multilabel_margin_loss, np.zeros((2, 0), dtype=np.int64)),
        (F.multilabel_soft_margin_loss, np.zeros((2, 0))),
    ):
        with pytest.raises(ValueError, match=r"input must have at least one class .*got shape \(2, 0\)"):
            fn(np.zeros((2, 0)), t)


def test_multi_margin_target_checks():
    x = np.zeros((3, 4))
    with pytest.raises(_validation.ClassIndexError, match=r"class index 4, out of range: expected values in \[0, 3\]"):
        F.multi_margin_loss(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="class index -1, out of range"):
        F.multi_margin_loss_backward(1.0, x, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        F.multi_margin_loss(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\), got \(3, 1\)"):
        F.multi_margin_loss(x, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"target must have shape \(\), got \(2,\)"):
        F.multi_margin_loss(np.zeros(4), np.array([0, 1]))


def test_weight_checks():
    x, y = np.zeros((2, 3)), np.zeros((2, 3))
    expected = r"weight must be a 1-D array with one entry per class \(3,\), got shape \(2,\)"
    with pytest.raises(ValueError, match=expected):
        F.multilabel_soft_margin_loss(x, y, weight=np.ones(2))
    with pytest.raises(ValueError, match=r"weight must be a 1-D array .*\(3,\), got shape \(1, 3\)"):
        F.multi_margin_loss(x, np.array([0, 1]), weight=np.ones((1, 3)))
    with pytest.raises(TypeError, match="weight must be a 1-D array of real numbers"):
        F.multi_margin_loss_backward(1.0, x, np.array([0, 1]), weight=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"weight must be a 1-D array .*got shape \(2, 2\)"):
        nn.MultiMarginLoss(weight=np.ones((2, 2)))
    with pytest.raises(TypeError, match="weight must be a 1-D array of real numbers"):
        nn.MultiLabelSoftMarginLoss(np.array(["a"]))


def test_multilabel_soft_margin_target_shape():
    with pytest.raises(ValueError, match=r"target must have the shape of input, \(2, 3\), got \(3,\)"):
        F.multilabel_soft_margin_loss_backward(1.0, np.zeros((2, 3)), np.zeros(3))


def test_multilabel_margin_target_checks():
    x = np.zeros((2, 4))
    with pytest.raises(TypeError, match="target must hold integer class indices padded with -1, got .*float64"):
        F.multilabel_margin_loss(x, np.zeros((2, 4)))
    with pytest.raises(TypeError, match="target must hold integer class indices padded with -1"):
        F.multilabel_margin_loss_backward(1.0, x, np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"target must have the shape of input, \(2, 4\), got \(2, 3\)"):
        F.multilabel_margin_loss(x, np.zeros((2, 3), dtype=np.int64))
    for bad in (-2, 4):
        t = np.array([[0, 1, -1, -1], [bad, -1, 0, 0]])
        with pytest.raises(
            _validation.ClassIndexError,
            match=rf"target holds the value {bad}, out of range: expected class indices in \[0, 3\]",
        ):
            F.multilabel_margin_loss(x, t)
        with pytest.raises(ValueError, match="or -1 to end a row's list"):
            F.multilabel_margin_loss_backward(1.0, x, t)


@pytest.mark.parametrize("numba", ["1", "0"], ids=["numba", "numpy"])
def test_multilabel_margin_float32_hinges_beyond_the_range_are_quiet_and_agree(monkeypatch, numba):
    """float32 hinges whose sum leaves float32's range still give the row's loss where it fits (the sums are in
    float64 on every path), and a hinge itself beyond the range is inf: no warning, the definition's values."""
    import warnings

    from losslab._fast import _dispatch

    monkeypatch.setenv("LOSSLAB_NUMBA", numba)
    monkeypatch.setitem(_dispatch._state, "kernels", None if numba == "1" else False)
    x = np.array([[-1e38, 1e38, 1e38, 1e38], [3e38, -3e38, -3e38, 2e38], [1.0, 2.0, 3.0, 4.0]], np.float32)
    t = np.array([[0, -1, 0, 0], [1, -1, 0, 0], [0, -1, 0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.multilabel_margin_loss(x, t, reduction="none")
        ref = F.multilabel_margin_loss.reference(x, t, reduction="none")
        total = F.multilabel_margin_loss(x[[0, 2]], t[[0, 2]], reduction="sum")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], 3 * (1 + 2e38) / 4, rtol=1e-6)  # 6e38 / 4: over float32 before the mean
    assert out[1] == np.inf  # its hinge 1 + 6e38 is inf in float32, as in PyTorch
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_allclose(total, out[0] + out[2], rtol=1e-6)
