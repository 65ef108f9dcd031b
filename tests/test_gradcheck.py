"""Numerical differentiation as in the textbook, and the gradient checker's verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from losslab.gradcheck import gradcheck, gradient_descent, numerical_diff, numerical_gradient


def f1(x):
    return 0.01 * x**2 + 0.1 * x


def f2(x):
    return x[0] ** 2 + x[1] ** 2


def test_textbook_derivatives():
    # d/dx (0.01 x^2 + 0.1 x) = 0.02 x + 0.1: 0.2 at 5, 0.3 at 10
    # (the book prints 0.1999999999990898, 0.2999999999986347)
    assert numerical_diff(f1, 5.0) == pytest.approx(0.2, abs=1e-9)
    assert numerical_diff(f1, 10.0) == pytest.approx(0.3, abs=1e-9)


@pytest.mark.parametrize(
    "point, expected", [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)), ((3.0, 0.0), (6.0, 0.0))]
)
def test_textbook_gradients(point, expected):
    np.testing.assert_allclose(numerical_gradient(f2, np.array(point)), expected, atol=1e-7)


def test_gradient_descent_reaches_the_minimum_and_keeps_history():
    init = np.array([-3.0, 4.0])
    x, history = gradient_descent(f2, init, lr=0.1, step_num=100)
    assert np.all(np.abs(x) < 1e-8)
    np.testing.assert_array_equal(init, [-3.0, 4.0])  # the start point is not modified
    np.testing.assert_array_equal(history[0], init)
    assert history.shape == (101, 2)
    # each step multiplies x by (1 - 2 lr) = 0.8 on this function
    np.testing.assert_allclose(history[1], 0.8 * init, rtol=1e-7)


def test_gradient_descent_with_too_large_a_rate_diverges_as_in_the_book():
    x, _ = gradient_descent(f2, np.array([-3.0, 4.0]), lr=10.0, step_num=100)
    assert np.max(np.abs(x)) > 1e10


def test_numerical_gradient_leaves_x_untouched_even_when_f_raises():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    before = x.copy()
    g = numerical_gradient(lambda a: float(np.sum(a**3)), x)
    assert g.shape == x.shape and g.dtype == np.float32
    np.testing.assert_allclose(g, 3 * before**2, rtol=1e-4)
    np.testing.assert_array_equal(x, before)

    def boom(a):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradient(boom, x)
    np.testing.assert_array_equal(x, before)


def test_gradcheck_accepts_a_right_gradient_and_rejects_a_wrong_one():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=4)

    def f(a, b):
        return float(np.sum(np.tanh(a) * b))

    right = (1 - np.tanh(a) ** 2) * b, np.tanh(a).sum(axis=0)
    ok = gradcheck(f, [a, b], right)
    assert ok.ok and ok.max_rel_error < 1e-9
    wrong = (right[0], right[1].copy())
    wrong[1][2] *= 1.001
    bad = gradcheck(f, [a, b], wrong)
    assert not bad.ok
    assert (bad.worst_input, bad.worst_index) == (1, (2,))
    assert bad.max_rel_error == pytest.approx(1e-3, rel=0.01)
    assert "FAILED" in str(bad) and "input 1, index (2,)" in str(bad)


def test_gradcheck_wrt_selects_inputs_and_checks_shapes():
    a, t = np.array([1.0, 2.0]), np.array([0, 1])
    res = gradcheck(lambda a, t: float(np.sum(a**2)), [a, t], [2 * a], wrt=[0])
    assert res.ok
    with pytest.raises(ValueError, match="analytic holds 2 gradients for 1 inputs"):
        gradcheck(lambda a, t: 0.0, [a, t], [a, a], wrt=[0])
    with pytest.raises(ValueError, match=r"has shape \(3,\), expected \(2,\)"):
        gradcheck(lambda a, t: 0.0, [a, t], [np.zeros(3)], wrt=[0])


@pytest.mark.parametrize("bad_h", [0.0, -1e-4])
def test_non_positive_step_is_rejected(bad_h):
    with pytest.raises(ValueError, match="h must lie in"):
        numerical_gradient(f2, np.array([1.0, 2.0]), h=bad_h)
    with pytest.raises(ValueError, match="h must lie in"):
        numerical_diff(f1, 1.0, h=bad_h)


def test_integer_arrays_are_rejected():
    with pytest.raises(TypeError, match="x must be a floating-point array"):
        numerical_gradient(f2, np.array([3, 4]))
