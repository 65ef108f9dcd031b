"""Regression family: hand-computed cases, references written from the docstring formulas, properties, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losslab.functional as F
from losslab import nn

RNG = np.random.default_rng(11)


# ----------------------------------------------------------------- hand-computed cases


def test_mse_by_hand():
    x, t = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])
    # squared errors 0, 4, 9: sum 13, mean 13/3; gradient 2(x - t) / 3 = [0, 4/3, 2]
    assert F.mse_loss(x, t, reduction="sum") == 13.0
    assert F.mse_loss(x, t) == pytest.approx(13 / 3, rel=1e-15)
    np.testing.assert_allclose(F.mse_loss_backward(1.0, x, t), [0.0, 4 / 3, 2.0], rtol=1e-15)


def test_l1_by_hand_with_zero_subgradient_at_ties():
    x, t = np.array([1.0, 2.5, -1.0]), np.array([1.0, 0.5, 1.0])
    # |d| = 0, 2, 2 -> mean 4/3; sign(d) = 0, 1, -1
    assert F.l1_loss(x, t) == pytest.approx(4 / 3, rel=1e-15)
    np.testing.assert_array_equal(F.l1_loss_backward(1.0, x, t, reduction="sum"), [0.0, 1.0, -1.0])


def test_smooth_l1_and_huber_by_hand():
    x, t = np.array([0.5, -0.2, 3.0]), np.zeros(3)
    # beta = 1: 0.5*0.25 = 0.125, 0.5*0.04 = 0.02, 3 - 0.5 = 2.5
    np.testing.assert_allclose(F.smooth_l1_loss(x, t, reduction="none"), [0.125, 0.02, 2.5], rtol=1e-15)
    # delta = 2: 0.125, 0.02, 2 * (3 - 1) = 4; gradient clip(d, -2, 2) = 0.5, -0.2, 2
    np.testing.assert_allclose(F.huber_loss(x, t, reduction="none", delta=2.0), [0.125, 0.02, 4.0], rtol=1e-15)
    np.testing.assert_allclose(F.huber_loss_backward(1.0, x, t, reduction="sum", delta=2.0), [0.5, -0.2, 2.0])


def test_kl_div_by_hand():
    p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    # 0.5 log(0.5/0.25) + 0.5 log(0.5/0.75) = 0.5 (log 2 + log 2/3)
    expected = 0.5 * (math.log(2) + math.log(2 / 3))
    assert F.kl_div(np.log(q), p, reduction="batchmean") == pytest.approx(expected, rel=1e-14)
    assert F.kl_div(np.log(q), p, reduction="mean") == pytest.approx(expected / 2, rel=1e-14)


def test_poisson_nll_by_hand():
    x, t = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    # log_input: e^0 - 1*0 = 1; e^1 - 2*1 = e - 2
    np.testing.assert_allclose(F.poisson_nll_loss(x, t, reduction="none"), [1.0, math.e - 2], rtol=1e-15)
    # full adds Stirling only where t > 1: 2 log 2 - 2 + 0.5 log(4 pi)
    stirling = 2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi)
    np.testing.assert_allclose(
        F.poisson_nll_loss(x, t, full=True, reduction="none"), [1.0, math.e - 2 + stirling], rtol=1e-15
    )
    # not log_input: x - t log(x + eps), gradient 1 - t / (x + eps)
    xp = np.array([2.0])
    assert F.poisson_nll_loss(xp, np.array([4.0]), log_input=False, eps=0.0) == pytest.approx(2 - 4 * math.log(2))
    np.testing.assert_allclose(F.poisson_nll_loss_backward(1.0, xp, np.array([4.0]), log_input=False, eps=0.0), [-1.0])


def test_gaussian_nll_by_hand():
    x, t, var = np.array([1.0, 2.0]), np.zeros(2), np.array([1.0, 4.0])
    # 0.5 (log 1 + 1/1) = 0.5; 0.5 (log 4 + 4/4) = 0.5 + log 2
    np.testing.assert_allclose(F.gaussian_nll_loss(x, t, var, reduction="none"), [0.5, 0.5 + math.log(2)])
    full = F.gaussian_nll_loss(x, t, var, reduction="sum", full=True)
    assert full == pytest.approx(1.0 + math.log(2) + math.log(2 * math.pi), rel=1e-14)
    # d/dvar = 0.5 (1/v - d^2/v^2): 0.5 (1 - 1) = 0; 0.5 (1/4 - 4/16) = 0
    gx, gv = F.gaussian_nll_loss_backward(1.0, x, t, var, reduction="sum")
    np.testing.assert_allclose(gx, [1.0, 0.5])
    np.testing.assert_allclose(gv, [0.0, 0.0], atol=1e-15)


# ----------------------------------------------------------------- references from the docstrings


def _ref_elementwise(fn, x, t):
    return np.array([fn(a, b) for a, b in zip(x.ravel(), t.ravel())]).reshape(x.shape)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_smooth_l1_matches_docstring_formula(beta):
    x, t = RNG.normal(0, 2, (5, 4)), RNG.normal(0, 2, (5, 4))

    def ref(a, b):
        d = a - b
        return 0.5 * d * d / beta if abs(d) < beta else abs(d) - 0.5 * beta

    np.testing.assert_allclose(F.smooth_l1_loss(x, t, beta=beta, reduction="none"), _ref_elementwise(ref, x, t))


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_matches_docstring_formula_and_scaled_smooth_l1(delta):
    x, t = RNG.normal(0, 2, (5, 4)), RNG.normal(0, 2, (5, 4))

    def ref(a, b):
        d = abs(a - b)
        return 0.5 * d * d if d <= delta else delta * (d - 0.5 * delta)

    huber = F.huber_loss(x, t, delta=delta, reduction="none")
    np.testing.assert_allclose(huber, _ref_elementwise(ref, x, t))
    np.testing.assert_allclose(huber, delta * F.smooth_l1_loss(x, t, beta=delta, reduction="none"), rtol=1e-14)


def test_kl_div_matches_docstring_formula_with_zero_probabilities():
    x = np.log(RNG.dirichlet(np.ones(5), size=4))
    p = RNG.dirichlet(np.ones(5), size=4)
    p[1, 2] = 0.0
    ref = np.array([[pi * (math.log(pi) - xi) if pi > 0 else 0.0 for pi, xi in zip(pr, xr)] for pr, xr in zip(p, x)])
    np.testing.assert_allclose(F.kl_div(x, p, reduction="none"), ref, rtol=1e-14)
    # log_target=True: the same values from log-probabilities (PyTorch gives NaN at log 0 = -inf, so skip row 1)
    keep = [0, 2, 3]
    np.testing.assert_allclose(
        F.kl_div(x[keep], np.log(p[keep]), log_target=True, reduction="none"), ref[keep], rtol=1e-13
    )


def test_gaussian_nll_matches_docstring_formula_with_clamp():
    x, t = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    var = RNG.uniform(0, 0.3, (3, 4))
    eps = 0.1

    def ref(a, b, v):
        v = max(v, eps)
        return 0.5 * (math.log(v) + (a - b) ** 2 / v)

    expected = np.vectorize(ref)(x, t, var)
    np.testing.assert_allclose(F.gaussian_nll_loss(x, t, var, eps=eps, reduction="none"), expected, rtol=1e-14)


# ----------------------------------------------------------------- properties

ELEMENTWISE = [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.poisson_nll_loss]


@pytest.mark.parametrize("fn", ELEMENTWISE, ids=lambda f: f.__name__)
def test_sum_is_mean_times_count(fn):
    x, t = RNG.normal(size=(3, 5)), RNG.uniform(0, 3, (3, 5))
    assert fn(x, t, reduction="sum") == pytest.approx(15 * fn(x, t, reduction="mean"), rel=1e-14)
    np.testing.assert_allclose(fn(x, t, reduction="none").sum(), fn(x, t, reduction="sum"), rtol=1e-14)


def test_smooth_l1_with_beta_zero_is_l1_value_and_gradient():
    x = np.array([1.0, -2.0, 0.5, 0.5])
    t = np.array([0.0, 0.0, 0.5, 1.0])  # includes an exact tie: subgradient 0, as L1
    assert F.smooth_l1_loss(x, t, beta=0.0) == F.l1_loss(x, t)
    np.testing.assert_array_equal(F.smooth_l1_loss_backward(1.0, x, t, beta=0.0), F.l1_loss_backward(1.0, x, t))


def test_kl_div_batchmean_is_sum_over_batch_and_zero_for_equal_distributions():
    p = RNG.dirichlet(np.ones(4), size=6)
    assert F.kl_div(np.log(p), p, reduction="sum") == pytest.approx(0.0, abs=1e-14)
    q = RNG.dirichlet(np.ones(4), size=6)
    assert F.kl_div(np.log(q), p, reduction="batchmean") == pytest.approx(F.kl_div(np.log(q), p, reduction="sum") / 6)


def test_gaussian_nll_homoscedastic_shapes_agree():
    x, t = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    var = RNG.uniform(0.5, 2.0, 4)
    full_var = np.repeat(var[:, None], 3, axis=1)
    expected = F.gaussian_nll_loss(x, t, full_var)
    for v in (var, var[:, None]):
        assert F.gaussian_nll_loss(x, t, v) == pytest.approx(expected, rel=1e-14)
        gx, gv = F.gaussian_nll_loss_backward(1.0, x, t, v)
        gx_full, gv_full = F.gaussian_nll_loss_backward(1.0, x, t, full_var)
        np.testing.assert_allclose(gx, gx_full, rtol=1e-14)
        assert gv.shape == v.shape
        np.testing.assert_allclose(gv.reshape(-1), gv_full.sum(axis=1), rtol=1e-13)
    # a Python float is one variance shared by every element
    assert F.gaussian_nll_loss(x, t, 1.5) == pytest.approx(F.gaussian_nll_loss(x, t, np.full((4, 3), 1.5)))
    gv_scalar = F.gaussian_nll_loss_backward(1.0, x, t, 1.5)[1]
    assert gv_scalar.shape == ()
    assert gv_scalar == pytest.approx(F.gaussian_nll_loss_backward(1.0, x, t, np.full((4, 3), 1.5))[1].sum())


def test_gaussian_nll_clamped_variance_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    x, t = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    var = np.array([[0.0, 0.05], [0.3, 1e-9], [0.2, 0.01]])
    tx, tv = torch.tensor(x, requires_grad=True), torch.tensor(var, requires_grad=True)
    out = torch.nn.functional.gaussian_nll_loss(tx, torch.tensor(t), tv, eps=0.1)
    out.backward()
    assert F.gaussian_nll_loss(x, t, var, eps=0.1) == pytest.approx(out.item(), rel=1e-14)
    gx, gv = F.gaussian_nll_loss_backward(1.0, x, t, var, eps=0.1)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(gv, tv.grad.numpy(), rtol=1e-13)


def test_poisson_log_input_is_finite_for_large_negative_logits():
    x, t = np.array([-700.0, -1e4]), np.array([0.0, 2.0])
    assert np.all(np.isfinite(F.poisson_nll_loss(x, t, reduction="none")))
    assert np.all(np.isfinite(F.poisson_nll_loss_backward(1.0, x, t, reduction="none")))


# ----------------------------------------------------------------- errors


def test_target_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match=r"target must have the shape of input, \(2, 3\), got \(3, 2\)"):
        F.mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="target must have the shape of input"):
        nn.L1Loss()(np.zeros(3), np.zeros(4))


def test_complex_target_is_a_type_error():
    with pytest.raises(TypeError, match="target must hold real numbers"):
        F.mse_loss(np.zeros(2), np.zeros(2, dtype=complex))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nn.SmoothL1Loss(beta=-1.0), r"beta must lie in \[0.0, inf\], got -1.0"),
        (lambda: nn.HuberLoss(delta=0.0), r"delta must lie in \(0.0, inf\], got 0.0"),
        (lambda: nn.KLDivLoss(log_target="yes"), "log_target must be True or False"),
        (lambda: nn.PoissonNLLLoss(eps=-1e-8), r"eps must lie in \[0.0, inf\]"),
        (lambda: nn.GaussianNLLLoss(full=1), "full must be True or False"),
        (lambda: nn.HuberLoss(delta=float("nan")), "delta must be finite"),
        (lambda: nn.SmoothL1Loss(beta="1"), "beta must be a real number"),
    ],
)
def test_bad_options_raise(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_kl_div_rejects_negative_probabilities():
    with pytest.raises(ValueError, match="target must hold probabilities >= 0"):
        F.kl_div(np.zeros(3), np.array([0.5, -0.1, 0.6]))


def test_kl_div_batchmean_only_where_defined():
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(np.zeros(2), np.zeros(2), reduction="batchmean")
    assert F.kl_div(np.zeros((2, 2)), np.full((2, 2), 0.5), reduction="batchmean") == pytest.approx(
        2 * 0.5 * math.log(0.5)
    )


@pytest.mark.parametrize(
    "var, match",
    [
        (np.ones((4, 2)), r"var must have the input's shape \(4, 3\)"),
        (np.ones((2, 1)), "var must have the input's shape"),
        (-np.ones((4, 3)), "var must be non-negative"),
        (np.array(["a"] * 12).reshape(4, 3), "var must hold real numbers"),
    ],
)
def test_gaussian_nll_bad_var(var, match):
    with pytest.raises((ValueError, TypeError), match=match):
        F.gaussian_nll_loss(np.zeros((4, 3)), np.zeros((4, 3)), var)
