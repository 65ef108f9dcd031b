"""Robust regression family: log-cosh, quantile (pinball) and Charbonnier.

Reference numbers (optax's log_cosh, pytorch-forecasting's QuantileLoss, BasicSR's
charbonnier_loss) from tools/make_golden_extra.py, hand-computed cases, references from the
docstring formulas, properties, extreme inputs and every validation branch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _support import check_golden_entry, extra_golden_cases

from losslab.functional import robust
from losslab.functional.regression import l1_loss
from losslab.functional.robust import (
    charbonnier_loss,
    charbonnier_loss_backward,
    log_cosh_loss,
    log_cosh_loss_backward,
    quantile_loss,
    quantile_loss_backward,
)
from losslab.nn.robust import CharbonnierLoss, LogCoshLoss, QuantileLoss

REDUCTIONS = ("none", "mean", "sum")


# ============================================================================ reference-library numbers

GOLDEN_CASES = extra_golden_cases({"LogCoshLoss", "QuantileLoss", "CharbonnierLoss"})


def test_golden_file_covers_every_robust_loss():
    assert {p.values[0]["loss"] for p in GOLDEN_CASES} == {"LogCoshLoss", "QuantileLoss", "CharbonnierLoss"}


@pytest.mark.parametrize("entry, get", GOLDEN_CASES)
def test_matches_the_reference_library(entry, get):
    check_golden_entry(robust, entry, get)


# ============================================================================ hand-computed cases


def test_log_cosh_by_hand():
    # log cosh 1 = log((e + 1/e) / 2) = log(1.5430806) = 0.4337808; gradient tanh 1 = 0.7615942
    assert log_cosh_loss(np.array([3.0]), np.array([2.0])) == pytest.approx(0.4337808305, rel=1e-9)
    assert log_cosh_loss_backward(1.0, np.array([3.0]), np.array([2.0]))[0] == pytest.approx(0.7615941560, rel=1e-9)


def test_quantile_by_hand():
    x = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    t = np.array([2.0, 2.0])
    out = quantile_loss(x, t, quantiles=[0.1, 0.5, 0.9], reduction="none")
    # under-prediction (u = t - x = 1): q u = [0.1, 0.5, 0.9]; over (u = -1): (q - 1) u = [0.9, 0.5, 0.1]
    np.testing.assert_allclose(out, [[0.1, 0.5, 0.9], [0.9, 0.5, 0.1]], rtol=1e-15)
    np.testing.assert_allclose(
        quantile_loss_backward(1.0, x, t, quantiles=[0.1, 0.5, 0.9], reduction="none"),
        [[-0.1, -0.5, -0.9], [0.9, 0.5, 0.1]],
        rtol=1e-15,
    )
    assert quantile_loss(x, t, quantiles=[0.1, 0.5, 0.9]) == pytest.approx(3.0 / 6, rel=1e-15)


def test_charbonnier_by_hand():
    # sqrt(3^2 + 4^2) = 5 and sqrt(0 + 4^2) = 4; gradients 3/5 and 0
    np.testing.assert_array_equal(
        charbonnier_loss(np.array([3.0, 0.0]), np.zeros(2), eps=4.0, reduction="none"), [5.0, 4.0]
    )
    np.testing.assert_array_equal(
        charbonnier_loss_backward(1.0, np.array([-3.0, 0.0]), np.zeros(2), eps=4.0, reduction="none"), [-0.6, 0.0]
    )
    assert charbonnier_loss(np.array([0.0]), np.array([0.0])) == pytest.approx(1e-3, rel=1e-15)  # eps at d = 0


# ============================================================================ references from the docstrings


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_log_cosh_matches_docstring_formula(reduction):
    rng = np.random.default_rng(1)
    x, t = rng.normal(0, 3, (5, 4)), rng.normal(0, 3, (5, 4))
    x[0, 0] = t[0, 0]  # d = 0
    dout = rng.uniform(0.5, 1.5, (5, 4)) if reduction == "none" else 1.4
    want = np.vectorize(lambda d: math.log(math.cosh(d)))(x - t)
    local = np.tanh(x - t)
    scale = {"none": 1.0, "sum": 1.0, "mean": 1 / 20}[reduction]
    got = log_cosh_loss(x, t, reduction=reduction)
    np.testing.assert_allclose(got, want if reduction == "none" else want.sum() * scale, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(
        log_cosh_loss_backward(dout, x, t, reduction=reduction), local * dout * scale, rtol=1e-14
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_quantile_matches_docstring_formula_including_the_kink(reduction):
    rng = np.random.default_rng(2)
    levels = [0.05, 0.3, 0.5, 0.8]
    t = rng.normal(0, 2, 6)
    x = t[:, None] + rng.normal(0, 2, (6, 4))
    x[2, 1] = t[2]  # u = 0: gradient 1/2 - q
    dout = rng.uniform(0.5, 1.5, (6, 4)) if reduction == "none" else 0.8
    loss, local = np.zeros((6, 4)), np.zeros((6, 4))
    for n in range(6):
        for j, q in enumerate(levels):
            u = t[n] - x[n, j]
            loss[n, j] = max(q * u, (q - 1) * u)
            local[n, j] = -q if u > 0 else (1 - q if u < 0 else 0.5 - q)
    scale = {"none": 1.0, "sum": 1.0, "mean": 1 / 24}[reduction]
    got = quantile_loss(x, t, quantiles=levels, reduction=reduction)
    np.testing.assert_allclose(got, loss if reduction == "none" else loss.sum() * scale, rtol=1e-14)
    grad = quantile_loss_backward(dout, x, t, quantiles=levels, reduction=reduction)
    np.testing.assert_allclose(grad, local * dout * scale, rtol=1e-14)
    assert grad[2, 1] == pytest.approx((0.5 - 0.3) * (dout[2, 1] if reduction == "none" else dout * scale))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [1e-3, 0.1, 2.0])
def test_charbonnier_matches_docstring_formula(eps, reduction):
    rng = np.random.default_rng(3)
    x, t = rng.normal(0, 2, (3, 4)), rng.normal(0, 2, (3, 4))
    d = x - t
    dout = rng.uniform(0.5, 1.5, (3, 4)) if reduction == "none" else 1.1
    want, local = np.sqrt(d**2 + eps**2), d / np.sqrt(d**2 + eps**2)
    scale = {"none": 1.0, "sum": 1.0, "mean": 1 / 12}[reduction]
    np.testing.assert_allclose(
        charbonnier_loss(x, t, eps=eps, reduction=reduction),
        want if reduction == "none" else want.sum() * scale,
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        charbonnier_loss_backward(dout, x, t, eps=eps, reduction=reduction), local * dout * scale, rtol=1e-14
    )


# ============================================================================ properties and extremes


def test_log_cosh_is_symmetric_quadratic_near_zero_and_linear_far_away():
    d = np.array([1e-150, 1e-8, 1e-4, 0.3, 0.999999, 1.0, 1.000001, 5.0, 40.0, 1e4, 1e300])
    out = log_cosh_loss(d, np.zeros_like(d), reduction="none")
    np.testing.assert_array_equal(out, log_cosh_loss(-d, np.zeros_like(d), reduction="none"))
    np.testing.assert_allclose(out[:3], d[:3] ** 2 / 2, rtol=1e-8)  # d^2/2 - d^4/12: exact to 1e-8 here
    np.testing.assert_allclose(out[-3:], d[-3:] - math.log(2), rtol=1e-15)  # |d| - log 2 (+ e^{-2|d|})
    # the two evaluation forms meet at |d| = 1 without a visible seam
    assert np.all(np.diff(out) > 0)
    assert out[5] == pytest.approx(math.log(math.cosh(1.0)), rel=1e-15)
    grad = log_cosh_loss_backward(1.0, d, np.zeros_like(d), reduction="none")
    assert np.all(np.isfinite(grad)) and grad[-1] == 1.0


def test_log_cosh_float32_is_finite_at_huge_differences():
    d = np.array([1e4, -1e4, 30.0], dtype=np.float32)
    out = log_cosh_loss(d, np.zeros(3, np.float32), reduction="none")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [1e4 - math.log(2), 1e4 - math.log(2), 30 - math.log(2)], rtol=1e-7)


def test_quantile_at_one_half_is_half_the_absolute_error():
    rng = np.random.default_rng(4)
    x, t = rng.normal(0, 2, (7, 1)), rng.normal(0, 2, 7)
    np.testing.assert_allclose(
        quantile_loss(x, t, quantiles=[0.5], reduction="none")[:, 0], 0.5 * np.abs(x[:, 0] - t), rtol=1e-15
    )
    assert quantile_loss(x, t, quantiles=(0.5,)) == pytest.approx(0.5 * l1_loss(x[:, 0], t), rel=1e-14)


def test_quantile_minimiser_is_the_empirical_quantile():
    # sum_n pinball(c, t_n) over a grid of constants c is smallest at the q-th sample quantile
    t = np.arange(1.0, 11.0)  # 1, 2, ..., 10
    grid = np.linspace(0, 11, 1101)
    totals = [quantile_loss(np.full((10, 1), c), t, quantiles=[0.25], reduction="sum") for c in grid]
    # the minimisers are the c with #{t < c} <= 2.5 <= #{t <= c}: only c = 3
    assert grid[int(np.argmin(totals))] == pytest.approx(3.0)


def test_charbonnier_tends_to_l1_and_never_overflows():
    rng = np.random.default_rng(5)
    x, t = rng.normal(0, 2, 20), rng.normal(0, 2, 20)
    np.testing.assert_allclose(charbonnier_loss(x, t, eps=1e-9, reduction="none"), np.abs(x - t), rtol=1e-12)
    huge = np.array([1e200, -1e300])
    np.testing.assert_array_equal(charbonnier_loss(huge, np.zeros(2), reduction="none"), np.abs(huge))
    np.testing.assert_array_equal(charbonnier_loss_backward(1.0, huge, np.zeros(2), reduction="none"), [1.0, -1.0])


@pytest.mark.parametrize(
    "fn, kw, shape",
    [
        (log_cosh_loss, {}, (6, 3)),
        (charbonnier_loss, {"eps": 0.2}, (6, 3)),
        (quantile_loss, {"quantiles": [0.2, 0.5, 0.7]}, (6, 3)),
    ],
)
def test_sum_is_mean_times_count_and_permuting_the_batch_permutes_none(fn, kw, shape):
    rng = np.random.default_rng(6)
    x = rng.normal(0, 2, shape)
    t = rng.normal(0, 2, 6) if fn is quantile_loss else rng.normal(0, 2, shape)
    none = fn(x, t, **kw, reduction="none")
    assert none.shape == shape
    assert fn(x, t, **kw, reduction="sum") == pytest.approx(fn(x, t, **kw) * none.size, rel=1e-14)
    perm = rng.permutation(6)
    np.testing.assert_array_equal(fn(x[perm], t[perm], **kw, reduction="none"), none[perm])


def test_quantile_loss_class_defaults_to_pytorch_forecastings_seven_levels():
    rng = np.random.default_rng(7)
    x, t = rng.normal(0, 1, (3, 7)), rng.normal(0, 1, 3)
    loss = QuantileLoss()
    levels = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)
    assert loss.quantiles == levels
    assert loss(x, t) == quantile_loss(x, t, quantiles=levels)
    with pytest.raises(ValueError, match=r"quantiles must hold one level per column of input \(3,\), got shape \(7,\)"):
        loss(x[:, :3], t)


# ============================================================================ validation


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: log_cosh_loss(np.zeros(3), np.zeros(2)), ValueError, r"target must have the shape of input, \(3,\)"),
        (lambda: log_cosh_loss(np.zeros(3), np.array(["a", "b", "c"])), TypeError, "target must hold real numbers"),
        (lambda: charbonnier_loss(np.zeros(3), np.zeros(3), eps=0.0), ValueError, r"eps must lie in \(0.0, inf\]"),
        (lambda: charbonnier_loss(np.zeros(3), np.zeros(3), eps="1"), TypeError, "eps must be a real number"),
        (lambda: charbonnier_loss(np.zeros(3), np.zeros((3, 1))), ValueError, "target must have the shape of input"),
        (
            lambda: quantile_loss(np.zeros(3), np.zeros(3), quantiles=[0.5]),
            ValueError,
            r"input must be a 2-D array of shape \(N, Q\)",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 2)), np.zeros((3, 2)), quantiles=[0.1, 0.9]),
            ValueError,
            r"target must have shape \(3,\), one value per row of input \(3, 2\), got \(3, 2\)",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 2)), np.array(["a", "b", "c"]), quantiles=[0.1, 0.9]),
            TypeError,
            "target must hold real numbers",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 2)), np.zeros(3), quantiles=[0.5]),
            ValueError,
            r"quantiles must hold one level per column of input \(2,\), got shape \(1,\)",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 2)), np.zeros(3), quantiles=[0.5, 1.0]),
            ValueError,
            r"quantiles must lie strictly in \(0, 1\), got 1.0",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 2)), np.zeros(3), quantiles=[0.0, 0.5]),
            ValueError,
            r"quantiles must lie strictly in \(0, 1\), got 0.0",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 2)), np.zeros(3), quantiles=[float("nan"), 0.5]),
            ValueError,
            r"quantiles must lie strictly in \(0, 1\), got nan",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 2)), np.zeros(3), quantiles=["low", "high"]),
            TypeError,
            "quantiles must be a sequence of real numbers",
        ),
        (
            lambda: quantile_loss(np.zeros((3, 1)), np.zeros(3), quantiles=[True]),
            TypeError,
            "quantiles must be a sequence of real numbers",
        ),
    ],
)
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: CharbonnierLoss(eps=-1.0), ValueError, "eps must lie in"),
        (lambda: CharbonnierLoss(eps=math.nan), ValueError, "eps must be finite"),
        (lambda: LogCoshLoss(reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: QuantileLoss([0.5], reduction="batchmean"), ValueError, "reduction must be one of"),
        (lambda: QuantileLoss([0.5, 1.5]), ValueError, r"quantiles must lie strictly in \(0, 1\), got 1.5"),
        (
            lambda: QuantileLoss([[0.1, 0.9]]),
            ValueError,
            r"quantiles must be a 1-D sequence of levels, got shape \(1, 2\)",
        ),
        (lambda: QuantileLoss(None), TypeError, "quantiles must be a sequence of real numbers, got None"),
    ],
)
def test_bad_constructor_options_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()
