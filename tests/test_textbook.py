"""The "Deep Learning from Scratch" losses: the book's numbers, the exercise's reference as an oracle,
references from the docstring formulas, gradient checks, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab import _validation
from losslab.functional import textbook as F
from losslab.gradcheck import gradcheck
from losslab.nn.textbook import MeanSquaredError, SoftmaxWithLoss

DELTA = 1e-7

# the book's example: network outputs for the digits 0-9, the correct digit is 2
Y1 = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y2 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


# ----------------------------------------------------------------- the exercise's reference solution (the oracle)


def _oracle_softmax(x):
    shifted = x - np.max(x, axis=1, keepdims=True)
    return np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)


class OracleSoftmaxWithLoss:
    """Levels 1 and 2 of the exercise: (B, C) logits, (B,) integer labels."""

    def forward(self, x, t):
        self.y, self.t = _oracle_softmax(x), t
        b = self.y.shape[0]
        self.loss = -np.sum(np.log(self.y[np.arange(b), t] + 1e-7)) / b
        return self.loss

    def backward(self):
        b = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(b), self.t] -= 1
        return dx / b


class OracleMeanSquaredError:
    def forward(self, y, t):
        self.y, self.t = y, t
        self.loss = 0.5 * np.sum((y - t) ** 2)
        return self.loss

    def backward(self):
        return self.y - self.t


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 2, 7, 32])
def test_softmax_with_loss_agrees_with_the_exercise_reference(batch, dtype):
    rng = np.random.default_rng(100 + batch)
    x = rng.normal(0, 3, (batch, 10)).astype(dtype)
    t = rng.integers(0, 10, batch)
    ours, oracle = SoftmaxWithLoss(), OracleSoftmaxWithLoss()
    loss = ours.forward(x, t)
    assert isinstance(loss, dtype)
    assert abs(float(loss) - float(oracle.forward(x, t))) <= 1e-5
    dx = ours.backward()
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, oracle.backward(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.y, oracle.y, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours.t, t)
    assert ours.loss == loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 2, 7, 32])
def test_mean_squared_error_agrees_with_the_exercise_reference(batch, dtype):
    rng = np.random.default_rng(200 + batch)
    y, t = rng.normal(0, 1, (batch, 5)).astype(dtype), rng.normal(0, 1, (batch, 5)).astype(dtype)
    ours, oracle = MeanSquaredError(), OracleMeanSquaredError()
    loss = ours.forward(y, t)
    assert isinstance(loss, dtype)
    assert abs(float(loss) - float(oracle.forward(y, t))) <= 1e-5 * max(1.0, abs(float(loss)))
    dy = ours.backward()
    assert dy.dtype == dtype
    np.testing.assert_allclose(dy, oracle.backward(), rtol=0, atol=1e-5)
    assert ours.loss == loss
    np.testing.assert_array_equal(ours.y, y)
    np.testing.assert_array_equal(ours.t, t)


# ----------------------------------------------------------------- the book's printed numbers


def test_book_mean_squared_error_numbers():
    assert F.mean_squared_error(np.array(Y1), np.array(T)) == 0.09750000000000003
    assert F.mean_squared_error(np.array(Y2), np.array(T)) == 0.5975
    assert F.mean_squared_error(Y1, T) == 0.09750000000000003  # plain lists too


def test_book_cross_entropy_error_numbers():
    assert F.cross_entropy_error(np.array(Y1), np.array(T)) == 0.510825457099338
    assert F.cross_entropy_error(np.array(Y2), np.array(T)) == 2.302584092994546
    assert F.cross_entropy_error(Y1, T) == 0.510825457099338
    # the class index 2 instead of the one-hot row: the same number
    assert F.cross_entropy_error(np.array(Y1), 2) == 0.510825457099338
    assert F.cross_entropy_error(np.array(Y2), np.array(2)) == 2.302584092994546
    # the mini-batch version: the mean of the two
    both = F.cross_entropy_error(np.array([Y1, Y2]), np.array([2, 2]))
    assert both == pytest.approx((0.510825457099338 + 2.302584092994546) / 2, rel=1e-15)


# ----------------------------------------------------------------- hand-computed cases


def test_mean_squared_error_by_hand():
    y, t = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 1.0], [1.0, 1.0]])
    # 0.5 * (0 + 1 + 4 + 9) = 7: a sum over the batch, not a mean; gradient y - t
    assert F.mean_squared_error(y, t) == 7.0
    np.testing.assert_array_equal(F.mean_squared_error_backward(1.0, y, t), [[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(F.mean_squared_error_backward(2.0, y, t), [[0.0, 2.0], [4.0, 6.0]])


def test_cross_entropy_error_by_hand():
    y = np.array([[0.25, 0.75], [0.5, 0.5]])
    # -(log(0.75 + 1e-7) + log(0.5 + 1e-7)) / 2
    expected = -(math.log(0.75 + 1e-7) + math.log(0.5 + 1e-7)) / 2
    assert F.cross_entropy_error(y, np.array([1, 0])) == pytest.approx(expected, rel=1e-15)
    # gradient -t / (y + 1e-7) / B: -1 / (0.75 + 1e-7) / 2 and -1 / (0.5 + 1e-7) / 2 at the labels
    np.testing.assert_allclose(
        F.cross_entropy_error_backward(1.0, y, np.array([1, 0])),
        [[0.0, -0.5 / (0.75 + 1e-7)], [-0.5 / (0.5 + 1e-7), 0.0]],
        rtol=1e-15,
    )


def test_softmax_with_loss_by_hand():
    # logits (0, log 3): softmax (1/4, 3/4); label 1: loss -log(3/4 + 1e-7), gradient (1/4, 3/4 - 1)
    layer = SoftmaxWithLoss()
    loss = layer(np.array([[0.0, math.log(3)]]), np.array([1]))
    assert loss == pytest.approx(-math.log(0.75 + 1e-7), rel=1e-14)
    np.testing.assert_allclose(layer.y, [[0.25, 0.75]], rtol=1e-15)
    np.testing.assert_allclose(layer.backward(), [[0.25, -0.25]], rtol=1e-14)
    np.testing.assert_allclose(layer.backward(4.0), [[1.0, -1.0]], rtol=1e-14)


def ref_cross_entropy(y, t):
    """The docstring formula with loops: -(1/B) sum_n sum_k t_nk log(y_nk + delta)."""
    b, c = y.shape
    total = 0.0
    for n in range(b):
        for k in range(c):
            total += t[n, k] * math.log(y[n, k] + DELTA)
    grad = [[-t[n, k] / (b * (y[n, k] + DELTA)) for k in range(c)] for n in range(b)]
    return -total / b, np.array(grad)


def test_cross_entropy_error_matches_reference_on_soft_targets():
    rng = np.random.default_rng(3)
    y = rng.dirichlet(np.ones(6), size=5)
    t = rng.dirichlet(np.ones(6), size=5)
    loss, grad = ref_cross_entropy(y, t)
    assert F.cross_entropy_error(y, t) == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(F.cross_entropy_error_backward(1.0, y, t), grad, rtol=1e-14)
    np.testing.assert_allclose(F.cross_entropy_error_backward(-0.5, y, t), -0.5 * grad, rtol=1e-14)


# ----------------------------------------------------------------- properties


def test_one_hot_and_index_labels_agree():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 2, (6, 4))
    idx = rng.integers(0, 4, 6)
    onehot = np.eye(4, dtype=np.int64)[idx]
    y = _oracle_softmax(x)
    assert F.cross_entropy_error(y, onehot) == pytest.approx(F.cross_entropy_error(y, idx), rel=1e-15)
    np.testing.assert_array_equal(
        F.cross_entropy_error_backward(1.0, y, onehot), F.cross_entropy_error_backward(1.0, y, idx)
    )
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert a(x, idx) == pytest.approx(b(x, onehot.astype(float)), rel=1e-15)
    np.testing.assert_array_equal(a.backward(), b.backward())


def test_one_sample_equals_a_batch_of_one():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 2, 5)
    y = _oracle_softmax(x[None])[0]
    assert F.cross_entropy_error(y, 3) == F.cross_entropy_error(y[None], np.array([3]))
    grad = F.cross_entropy_error_backward(1.0, y, 3)
    assert grad.shape == (5,)
    np.testing.assert_array_equal(grad, F.cross_entropy_error_backward(1.0, y[None], np.array([3]))[0])
    one, batch = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert one(x, 3) == batch(x[None], np.array([3]))
    assert one.y.shape == (5,) and one.backward().shape == (5,)
    np.testing.assert_array_equal(one.backward(), batch.backward()[0])


def test_probability_targets_give_the_exercise_gradient():
    rng = np.random.default_rng(6)
    x, p = rng.normal(0, 1, (4, 3)), rng.dirichlet(np.ones(3), size=4)
    layer = SoftmaxWithLoss()
    loss = layer(x, p)
    y = _oracle_softmax(x)
    assert loss == pytest.approx(-np.sum(p * np.log(y + DELTA)) / 4, rel=1e-14)
    np.testing.assert_allclose(layer.backward(), (y - p) / 4, rtol=1e-14)


@pytest.mark.parametrize(
    "cls, args",
    [
        (SoftmaxWithLoss, (np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([2, 0]))),
        (MeanSquaredError, (np.array([[1.0, 2.0]]), np.array([[0.0, 1.0]]))),
    ],
)
def test_layers_leave_their_inputs_alone(cls, args):
    before = [a.copy() for a in args]
    layer = cls()
    layer(*args)
    layer.backward()
    layer.backward(3.0)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


def test_functions_leave_their_inputs_alone():
    y, t = np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([1, 0])
    y0, t0 = y.copy(), t.copy()
    F.cross_entropy_error(y, t)
    F.cross_entropy_error_backward(1.0, y, t)
    F.mean_squared_error_backward(1.0, y, np.eye(2))
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(t, t0)


def test_float32_in_float32_out():
    y32 = np.array(Y1, dtype=np.float32)
    for out in (F.mean_squared_error(y32, T), F.cross_entropy_error(y32, T), F.cross_entropy_error(y32, 2)):
        assert isinstance(out, np.float32)
    assert F.cross_entropy_error(y32, T) == pytest.approx(0.510825457099338, rel=1e-6)
    for g in (F.mean_squared_error_backward(1.0, y32, T), F.cross_entropy_error_backward(1.0, y32, T)):
        assert g.dtype == np.float32


# ----------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_with_loss_at_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype=dtype)
    t = np.array([1, 1, 0])
    ours, oracle = SoftmaxWithLoss(), OracleSoftmaxWithLoss()
    loss = ours(x, t)
    # row 0: y_1 = 0 exactly, loss -log(1e-7); row 1: y_1 = 1/2; row 2: y_0 = 1/2
    expected = (-math.log(1e-7) - 2 * math.log(0.5 + 1e-7)) / 3
    assert np.isfinite(loss) and loss == pytest.approx(expected, rel=1e-6)
    assert abs(float(loss) - float(oracle.forward(x, t))) <= 1e-5
    dx = ours.backward()
    assert np.all(np.isfinite(dx))
    np.testing.assert_allclose(dx, oracle.backward(), rtol=0, atol=1e-7)


def test_cross_entropy_error_of_a_zero_probability_is_finite():
    # y = 0 at the label: -log(1e-7) = 16.118..., the book's reason for delta; gradient -1 / 1e-7
    assert F.cross_entropy_error(np.array([1.0, 0.0]), 1) == pytest.approx(-math.log(1e-7), rel=1e-15)
    np.testing.assert_allclose(F.cross_entropy_error_backward(1.0, np.array([1.0, 0.0]), 1), [0.0, -1e7])


# ----------------------------------------------------------------- gradient checks


def test_mean_squared_error_gradient_check():
    rng = np.random.default_rng(7)
    y, t = rng.normal(0, 1, (3, 4)), rng.normal(0, 1, (3, 4))
    result = gradcheck(lambda a: 1.7 * F.mean_squared_error(a, t), (y,), (F.mean_squared_error_backward(1.7, y, t),))
    assert result.ok, str(result)


@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_error_gradient_check(soft):
    rng = np.random.default_rng(8)
    y = rng.uniform(0.05, 0.95, (4, 3))  # the stencil moves y by 2e-3: it stays in [0, 1]
    t = rng.dirichlet(np.ones(3), size=4) if soft else rng.integers(0, 3, 4)
    grad = F.cross_entropy_error_backward(0.8, y, t)
    result = gradcheck(lambda a: 0.8 * F.cross_entropy_error(a, t), (y,), (grad,))
    assert result.ok, str(result)


def _loss_without_delta(x, t):
    """-(1/B) sum log softmax(x)[n, t_n], exactly the loss whose gradient the exercise's backward is."""
    shifted = x - x.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(t)), t].sum() / len(t)


def test_softmax_with_loss_gradient_check():
    rng = np.random.default_rng(9)
    x, t = rng.normal(0, 2, (5, 4)), rng.integers(0, 4, 5)
    layer = SoftmaxWithLoss()
    layer(x, t)
    dx = layer.backward(1.3)
    # the exercise's gradient is exact for the loss without the 1e-7 guard ...
    result = gradcheck(lambda a: 1.3 * _loss_without_delta(a, t), (x,), (dx,))
    assert result.ok, str(result)
    # ... and for the guarded loss it is off by the factor y_t / (y_t + 1e-7) per row, as documented
    y_t = layer.y[np.arange(5), t][:, None]
    result = gradcheck(lambda a: 1.3 * SoftmaxWithLoss()(a, t), (x,), (dx * y_t / (y_t + DELTA),))
    assert result.ok, str(result)
    assert not np.allclose(dx * y_t / (y_t + DELTA), dx, rtol=1e-12, atol=0)


# ----------------------------------------------------------------- bad input


def test_mean_squared_error_rejects_bad_input():
    with pytest.raises(TypeError, match="y must be a float32 or float64 array"):
        F.mean_squared_error(np.array([1, 2]), np.array([1, 2]))
    with pytest.raises(ValueError, match=r"t must have the shape of y, \(2,\), got \(3,\)"):
        F.mean_squared_error(np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="t must hold real numbers"):
        F.mean_squared_error_backward(1.0, np.zeros(2), np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"dout must be a scalar or have the loss's output shape \(\)"):
        F.mean_squared_error_backward(np.ones(2), np.zeros(2), np.zeros(2))
    layer = MeanSquaredError()
    with pytest.raises(_validation.BackwardBeforeForwardError, match="MeanSquaredError.backward.* before forward"):
        layer.backward()
    with pytest.raises(ValueError, match=r"t must have the shape of y, \(2, 2\), got \(2,\)"):
        layer(np.zeros((2, 2)), np.zeros(2))


def test_cross_entropy_error_rejects_bad_input():
    y = np.full((2, 3), 1 / 3)
    with pytest.raises(TypeError, match="y must be a float32 or float64 array"):
        F.cross_entropy_error(np.array([0, 1]), 1)
    with pytest.raises(ValueError, match=r"y must be a 1-D \(C,\) vector or a 2-D \(B, C\) batch .*\(1, 2, 3\)"):
        F.cross_entropy_error(y[None], np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"y must hold at least one sample and one class, got shape \(0, 3\)"):
        F.cross_entropy_error(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"y must hold probabilities .* in \[0, 1\], got the value -0.5"):
        F.cross_entropy_error(np.array([0.5, -0.5]), 0)
    with pytest.raises(ValueError, match=r"y must hold probabilities .* in \[0, 1\], got the value nan"):
        F.cross_entropy_error_backward(1.0, np.array([np.nan, 0.5]), 0)
    with pytest.raises(
        ValueError,
        match=r"t must be one-hot rows of y's shape \(2, 3\) or class indices of "
        r"shape \(2,\), got an array of shape \(3,\)",
    ):
        F.cross_entropy_error(y, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="t must hold integer class indices"):
        F.cross_entropy_error(y, np.array([0.0, 1.0]))
    with pytest.raises(_validation.ClassIndexError, match=r"t holds the class index 3, out of range: .*\[0, 2\]"):
        F.cross_entropy_error(y, np.array([0, 3]))
    with pytest.raises(
        ValueError,
        match=r"t must hold one-hot rows or class probabilities in \[0, 1\], got the "
        r"value 2.0",
    ):
        F.cross_entropy_error(y, np.array([[0, 2, 0], [1, 0, 0]]))
    with pytest.raises(ValueError, match=r"dout must be a scalar"):
        F.cross_entropy_error_backward(np.ones(2), y, np.array([0, 1]))


def test_softmax_with_loss_rejects_bad_input():
    layer = SoftmaxWithLoss()
    with pytest.raises(_validation.BackwardBeforeForwardError, match="SoftmaxWithLoss.backward.* before forward"):
        layer.backward()
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        layer(np.array([[1, 2]]), np.array([0]))
    with pytest.raises(ValueError, match=r"x must be a 2-D \(B, C\) batch of logits .*\(1, 1, 2\)"):
        layer(np.zeros((1, 1, 2)), np.array([0]))
    with pytest.raises(ValueError, match=r"x must hold at least one sample and one class"):
        layer(np.zeros((0, 2)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"t must be one-hot rows of x's shape \(2, 3\) or class indices"):
        layer(np.zeros((2, 3)), np.array([[0], [1]]))
    with pytest.raises(_validation.ClassIndexError, match="t holds the class index -1"):
        layer(np.zeros((2, 3)), np.array([0, -1]))
    with pytest.raises(ValueError, match=r"t's rows must sum to 1 .* got a row summing to 2.0"):
        layer(np.zeros((2, 3)), np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert layer.y is None  # failed calls leave no state behind
    layer(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"dout must be a scalar"):
        layer.backward(np.ones((2, 3)))
