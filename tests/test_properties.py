"""Property tests with hypothesis: invariants that must hold for any input, not only the registry's cases."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import losslab.functional as F

SETTINGS = settings(max_examples=60, deadline=None)
finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def logits_and_labels(draw, max_n=6, max_c=5):
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(1, max_c))
    x = draw(hnp.arrays(np.float64, (n, c), elements=finite))
    t = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return x, t


@SETTINGS
@given(logits_and_labels())
def test_cross_entropy_is_finite_and_nonnegative_at_any_logits(xt):
    x, t = xt
    loss = F.cross_entropy(x, t, reduction="none")
    grad = F.cross_entropy_backward(np.ones(len(t)), x, t, reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(loss >= 0)
    assert np.all(np.isfinite(grad))
    # softmax - onehot: every row of the gradient sums to zero, entries in [-1, 1]
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)
    assert np.all(np.abs(grad) <= 1 + 1e-12)


@SETTINGS
@given(logits_and_labels(), st.data())
def test_cross_entropy_permuting_the_batch_permutes_none(xt, data):
    x, t = xt
    perm = data.draw(st.permutations(range(len(t))))
    perm = np.array(perm, dtype=np.int64)
    np.testing.assert_array_equal(
        F.cross_entropy(x[perm], t[perm], reduction="none"), F.cross_entropy(x, t, reduction="none")[perm]
    )


@SETTINGS
@given(logits_and_labels(), st.data())
def test_cross_entropy_ignore_index_equals_dropping_those_rows(xt, data):
    x, t = xt
    drop = np.array(data.draw(st.lists(st.booleans(), min_size=len(t), max_size=len(t))))
    if drop.all():
        drop[0] = False
    marked = np.where(drop, -100, t)
    for reduction in ("sum", "mean"):
        np.testing.assert_allclose(
            F.cross_entropy(x, marked, reduction=reduction),
            F.cross_entropy(x[~drop], t[~drop], reduction=reduction),
            rtol=1e-12,
        )


@SETTINGS
@given(logits_and_labels(), st.floats(0.0, 1.0))
def test_cross_entropy_index_targets_equal_one_hot_targets(xt, ls):
    x, t = xt
    onehot = np.eye(x.shape[1])[t]
    for reduction in ("none", "sum", "mean"):
        np.testing.assert_allclose(
            F.cross_entropy(x, t, reduction=reduction, label_smoothing=ls),
            F.cross_entropy(x, onehot, reduction=reduction, label_smoothing=ls),
            rtol=1e-10,
            atol=1e-10,
        )


@st.composite
def pairs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-100, 100, width=64)))
    t = draw(hnp.arrays(np.float64, shape, elements=st.floats(-100, 100, width=64)))
    return x, t


ELEMENTWISE = [
    (F.mse_loss, F.mse_loss_backward),
    (F.l1_loss, F.l1_loss_backward),
    (F.huber_loss, F.huber_loss_backward),
    (F.smooth_l1_loss, F.smooth_l1_loss_backward),
]


@SETTINGS
@given(pairs())
def test_elementwise_reductions_agree(xt):
    x, t = xt
    for fn, bw in ELEMENTWISE:
        none = fn(x, t, reduction="none")
        assert none.shape == x.shape and np.all(none >= 0)
        np.testing.assert_allclose(fn(x, t, reduction="sum"), none.sum(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fn(x, t, reduction="mean") * x.size, none.sum(), rtol=1e-12, atol=1e-12)
        # the 'mean' gradient is the 'none' gradient divided by the count
        np.testing.assert_allclose(
            bw(1.0, x, t, reduction="mean") * x.size,
            bw(np.ones(x.shape), x, t, reduction="none"),
            rtol=1e-12,
            atol=1e-12,
        )


@SETTINGS
@given(pairs())
def test_huber_is_delta_times_smooth_l1_with_beta_delta(xt):
    x, t = xt
    for delta in (0.5, 1.0, 3.0):
        np.testing.assert_allclose(
            F.huber_loss(x, t, delta=delta, reduction="none"),
            delta * F.smooth_l1_loss(x, t, beta=delta, reduction="none"),
            rtol=1e-12,
            atol=1e-12,
        )


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6), elements=finite))
def test_bce_with_logits_is_finite_and_its_gradient_bounded(x):
    t = (x > 0).astype(np.float64)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    grad = F.binary_cross_entropy_with_logits_backward(np.ones(x.shape), x, t, reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(loss >= 0)
    assert np.all(np.abs(grad) <= 1)
