"""Segmentation family: Dice, Tversky and generalized Dice.

Reference numbers (optax's dice_loss, MONAI's DiceLoss / TverskyLoss / GeneralizedDiceLoss)
from tools/make_golden_extra.py, hand-computed cases, loop references written from the
docstring formulas, properties, extreme logits and every validation branch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _support import check_golden_entry, extra_golden_cases

from losslab._validation import ClassIndexError
from losslab.functional import segmentation
from losslab.functional.activation import sigmoid, softmax
from losslab.functional.segmentation import (
    dice_loss,
    dice_loss_backward,
    generalized_dice_loss,
    generalized_dice_loss_backward,
    tversky_loss,
    tversky_loss_backward,
)
from losslab.nn.segmentation import DiceLoss, GeneralizedDiceLoss, TverskyLoss

REDUCTIONS = ("none", "mean", "sum")
LOSSES = [
    (dice_loss, dice_loss_backward),
    (tversky_loss, tversky_loss_backward),
    (generalized_dice_loss, generalized_dice_loss_backward),
]


# ============================================================================ reference-library numbers

GOLDEN_CASES = extra_golden_cases({"DiceLoss", "TverskyLoss", "GeneralizedDiceLoss"})


def test_golden_file_covers_every_segmentation_loss():
    assert {p.values[0]["loss"] for p in GOLDEN_CASES} == {"DiceLoss", "TverskyLoss", "GeneralizedDiceLoss"}


@pytest.mark.parametrize("entry, get", GOLDEN_CASES)
def test_matches_the_reference_library(entry, get):
    check_golden_entry(segmentation, entry, get)


# ============================================================================ hand-computed cases

P1 = np.array([[[0.9, 0.2, 0.6, 0.1]]])  # N = 1, C = 1, four pixels
T1 = np.array([[[1.0, 0.0, 1.0, 0.0]]])


def test_dice_by_hand():
    # sum p t = 1.5, sum p = 1.8, sum t = 2: 1 - (2 * 1.5 + 1) / (1.8 + 2 + 1) = 1 - 4 / 4.8
    assert dice_loss(P1, T1) == pytest.approx(1 - 4 / 4.8, rel=1e-14)
    # gradient: -(2 t - D) / 4.8 with D = 5/6: pixels with t = 1 -> -(7/6) / 4.8, t = 0 -> (5/6) / 4.8
    np.testing.assert_allclose(
        dice_loss_backward(1.0, P1, T1), [[[-7 / 28.8, 5 / 28.8, -7 / 28.8, 5 / 28.8]]], rtol=1e-14
    )


def test_two_class_dice_by_hand():
    p = np.array([[[0.8, 0.3], [0.2, 0.7]]])  # N = 1, C = 2, two pixels
    t = np.array([[0, 1]])  # pixel 0 is class 0, pixel 1 class 1
    # class 0: (2 * 0.8 + 1) / (1.1 + 1 + 1) = 2.6 / 3.1; class 1: (2 * 0.7 + 1) / (0.9 + 1 + 1) = 2.4 / 2.9
    want = 1 - (2.6 / 3.1 + 2.4 / 2.9) / 2
    assert dice_loss(p, t) == pytest.approx(want, rel=1e-14)


def test_tversky_by_hand():
    # TP = 1.5, FP = 0.2 + 0.1 = 0.3, FN = 0.1 + 0.4 = 0.5: 1 - 2.5 / (1.5 + 0.3 * 0.3 + 0.7 * 0.5 + 1)
    assert tversky_loss(P1, T1, alpha=0.3, beta=0.7) == pytest.approx(1 - 2.5 / 2.94, rel=1e-14)


def test_generalized_dice_by_hand_with_an_absent_class():
    p = np.array([[[0.9, 0.2, 0.6], [0.1, 0.8, 0.4]]])  # N = 1, C = 2, three pixels
    t = np.array([[0, 0, 0]])  # class 1 absent from the target
    # class 0: volume 3, w = 1/9; class 1: absent -> takes the largest present weight, 1/9
    # A = 2 (1/9 * 1.7 + 1/9 * 0) + s, B = 1/9 (1.7 + 3) + 1/9 (1.3 + 0) + s
    s = 1e-5
    want = 1 - (2 * 1.7 / 9 + s) / ((4.7 + 1.3) / 9 + s)
    assert generalized_dice_loss(p, t) == pytest.approx(want, rel=1e-14)
    assert generalized_dice_loss(p, t, smooth=0.0) == pytest.approx(1 - 3.4 / 6, rel=1e-14)


def test_generalized_dice_with_no_class_present_is_zero():
    p = np.array([[[0.9, 0.2]], [[0.3, 0.4]]])  # C = 1
    t = np.array([[[0.0, 0.0]], [[1.0, 0.0]]])
    out = generalized_dice_loss(p, t, reduction="none")
    # sample 0: every weight 0 -> 1 - s / s = 0; sample 1: w = 1: 1 - (0.6 + s) / (0.7 + 1 + s)
    np.testing.assert_allclose(out, [0.0, 1 - (0.6 + 1e-5) / (1.7 + 1e-5)], rtol=1e-14)
    np.testing.assert_array_equal(generalized_dice_loss_backward(1.0, p, t, reduction="none")[0], 0.0)


# ============================================================================ loop references from the docstrings


def _sums(p, t):
    n, c = p.shape[:2]
    flat_p, flat_t = p.reshape(n, c, -1), t.reshape(n, c, -1)
    return flat_p, flat_t


def ref_dice(p, t, smooth):
    fp, ft = _sums(p, t)
    n, c, m = fp.shape
    loss, local = np.zeros(n), np.zeros(fp.shape)
    for i in range(n):
        dice = []
        for k in range(c):
            inter = sum(fp[i, k, j] * ft[i, k, j] for j in range(m))
            den = sum(fp[i, k]) + sum(ft[i, k]) + smooth
            d = (2 * inter + smooth) / den
            dice.append(d)
            for j in range(m):
                local[i, k, j] = -(2 * ft[i, k, j] - d) / (c * den)
        loss[i] = 1 - sum(dice) / c
    return loss, local.reshape(p.shape)


def ref_tversky(p, t, alpha, beta, smooth):
    fp, ft = _sums(p, t)
    n, c, m = fp.shape
    loss, local = np.zeros(n), np.zeros(fp.shape)
    for i in range(n):
        total = 0.0
        for k in range(c):
            tp = sum(fp[i, k, j] * ft[i, k, j] for j in range(m))
            fpos = sum(fp[i, k, j] * (1 - ft[i, k, j]) for j in range(m))
            fneg = sum((1 - fp[i, k, j]) * ft[i, k, j] for j in range(m))
            den = tp + alpha * fpos + beta * fneg + smooth
            index = (tp + smooth) / den
            total += index
            for j in range(m):
                tj = ft[i, k, j]
                local[i, k, j] = -(tj - index * (tj + alpha * (1 - tj) - beta * tj)) / (c * den)
        loss[i] = 1 - total / c
    return loss, local.reshape(p.shape)


def ref_generalized(p, t, smooth):
    fp, ft = _sums(p, t)
    n, c, m = fp.shape
    loss, local = np.zeros(n), np.zeros(fp.shape)
    for i in range(n):
        volumes = [sum(ft[i, k]) for k in range(c)]
        present = [1 / v**2 for v in volumes if v > 0]
        w = [1 / v**2 if v > 0 else max(present, default=0.0) for v in volumes]
        a = 2 * sum(w[k] * sum(fp[i, k, j] * ft[i, k, j] for j in range(m)) for k in range(c)) + smooth
        b = sum(w[k] * (sum(fp[i, k]) + volumes[k]) for k in range(c)) + smooth
        loss[i] = 1 - a / b
        for k in range(c):
            for j in range(m):
                local[i, k, j] = w[k] / b * (a / b - 2 * ft[i, k, j])
    return loss, local.reshape(p.shape)


def _reduce(loss, local, reduction, dout):
    if reduction == "none":
        return loss, local * np.reshape(dout, (-1,) + (1,) * (local.ndim - 1))
    scale = 1.0 if reduction == "sum" else 1.0 / loss.size
    return loss.sum() * scale, local * dout * scale


def _inputs(rng, classes, shape=(3, 2, 3)):
    p = rng.uniform(0.02, 0.98, (shape[0], classes) + shape[1:])
    t = rng.uniform(0, 1, p.shape)
    t[0] = np.round(t[0])
    return p, t


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("classes, smooth", [(1, 1.0), (3, 1.0), (3, 0.0), (2, 1e-5)])
def test_dice_matches_docstring_formula(classes, smooth, reduction):
    rng = np.random.default_rng(classes)
    p, t = _inputs(rng, classes)
    dout = rng.uniform(0.5, 1.5, 3) if reduction == "none" else 1.2
    want, want_grad = _reduce(*ref_dice(p, t, smooth), reduction, dout)
    np.testing.assert_allclose(dice_loss(p, t, smooth=smooth, reduction=reduction), want, rtol=1e-12)
    np.testing.assert_allclose(
        dice_loss_backward(dout, p, t, smooth=smooth, reduction=reduction), want_grad, rtol=1e-10, atol=1e-15
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("alpha, beta, smooth", [(0.5, 0.5, 1.0), (0.3, 0.7, 1e-5), (0.0, 1.0, 0.5), (2.0, 0.1, 1.0)])
def test_tversky_matches_docstring_formula(alpha, beta, smooth, reduction):
    rng = np.random.default_rng(11)
    p, t = _inputs(rng, 3)
    dout = rng.uniform(0.5, 1.5, 3) if reduction == "none" else 0.6
    want, want_grad = _reduce(*ref_tversky(p, t, alpha, beta, smooth), reduction, dout)
    kw = dict(alpha=alpha, beta=beta, smooth=smooth, reduction=reduction)
    np.testing.assert_allclose(tversky_loss(p, t, **kw), want, rtol=1e-12)
    np.testing.assert_allclose(tversky_loss_backward(dout, p, t, **kw), want_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smooth", [1e-5, 1.0, 0.0])
def test_generalized_dice_matches_docstring_formula(smooth, reduction):
    rng = np.random.default_rng(12)
    p = rng.uniform(0.02, 0.98, (3, 3, 2, 3))
    t = rng.integers(0, 3, (3, 2, 3))
    t[1] = np.where(t[1] == 2, 0, t[1])  # class 2 absent from sample 1
    onehot = np.moveaxis(np.eye(3)[t], -1, 1)
    dout = rng.uniform(0.5, 1.5, 3) if reduction == "none" else 1.1
    want, want_grad = _reduce(*ref_generalized(p, onehot, smooth), reduction, dout)
    np.testing.assert_allclose(generalized_dice_loss(p, t, smooth=smooth, reduction=reduction), want, rtol=1e-12)
    np.testing.assert_allclose(
        generalized_dice_loss_backward(dout, p, t, smooth=smooth, reduction=reduction),
        want_grad,
        rtol=1e-10,
        atol=1e-15,
    )


# ============================================================================ special cases and properties


@pytest.mark.parametrize("smooth", [0.0, 1e-5, 1.0])
def test_tversky_with_alpha_beta_one_half_is_dice(smooth):
    """TP + FP/2 + FN/2 = (sum p + sum t) / 2: Tversky(smooth = s) is Dice(smooth = 2 s); equal at s = 0."""
    rng = np.random.default_rng(13)
    for classes, logits in ((1, False), (3, False), (3, True)):
        x = rng.normal(0, 2, (2, classes, 3, 3)) if logits else rng.uniform(0.02, 0.98, (2, classes, 3, 3))
        t = rng.integers(0, max(classes, 2), (2, 3, 3))
        kw = dict(logits=logits, reduction="none")
        np.testing.assert_allclose(
            tversky_loss(x, t, smooth=smooth, **kw), dice_loss(x, t, smooth=2 * smooth, **kw), rtol=1e-13, atol=1e-16
        )
        np.testing.assert_allclose(
            tversky_loss_backward(1.0, x, t, smooth=smooth, **kw),
            dice_loss_backward(1.0, x, t, smooth=2 * smooth, **kw),
            rtol=1e-12,
            atol=1e-16,
        )


@pytest.mark.parametrize("fn, backward", LOSSES)
def test_index_targets_equal_one_hot_masks(fn, backward):
    rng = np.random.default_rng(14)
    x = rng.normal(0, 2, (2, 3, 2, 4))
    labels = rng.integers(0, 3, (2, 2, 4))
    onehot = np.moveaxis(np.eye(3)[labels], -1, 1)
    np.testing.assert_array_equal(
        fn(x, labels, logits=True, reduction="none"), fn(x, onehot, logits=True, reduction="none")
    )
    np.testing.assert_array_equal(backward(1.0, x, labels, logits=True), backward(1.0, x, onehot, logits=True))
    # C = 1: labels 0 / 1 are the foreground mask
    x1, mask = rng.normal(0, 2, (2, 1, 5)), rng.integers(0, 2, (2, 5))
    np.testing.assert_array_equal(
        fn(x1, mask, logits=True, reduction="none"), fn(x1, mask[:, None].astype(float), logits=True, reduction="none")
    )


@pytest.mark.parametrize("fn, backward", LOSSES)
def test_logits_equal_their_probabilities_and_the_gradient_chains(fn, backward):
    rng = np.random.default_rng(15)
    for classes in (1, 3):
        x = rng.normal(0, 2, (2, classes, 4))
        t = rng.integers(0, max(classes, 2), (2, 4))
        p = sigmoid(x) if classes == 1 else softmax(x, axis=1)
        np.testing.assert_allclose(fn(x, t, logits=True, reduction="none"), fn(p, t, reduction="none"), rtol=1e-14)
        grad_p = backward(1.0, p, t)
        if classes == 1:
            want = grad_p * p * (1 - p)
        else:  # J^T g with J = diag(p) - p p^T at each pixel
            want = p * (grad_p - (p * grad_p).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(backward(1.0, x, t, logits=True), want, rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("fn, backward", LOSSES)
def test_perfect_masks_give_zero_and_losses_lie_in_0_1(fn, backward):
    rng = np.random.default_rng(16)
    labels = rng.integers(0, 3, (2, 3, 3))
    onehot = np.moveaxis(np.eye(3)[labels], -1, 1)
    np.testing.assert_allclose(fn(onehot, labels, reduction="none"), 0.0, atol=1e-15)
    p = rng.uniform(0, 1, (4, 3, 3, 3))
    out = fn(p, rng.integers(0, 3, (4, 3, 3)), reduction="none")
    assert np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("fn, backward", LOSSES)
def test_sum_mean_and_batch_permutation(fn, backward):
    rng = np.random.default_rng(17)
    x, t = rng.normal(0, 2, (5, 3, 4)), rng.integers(0, 3, (5, 4))
    none = fn(x, t, logits=True, reduction="none")
    assert none.shape == (5,)
    assert fn(x, t, logits=True, reduction="sum") == pytest.approx(5 * fn(x, t, logits=True), rel=1e-14)
    perm = rng.permutation(5)
    np.testing.assert_array_equal(fn(x[perm], t[perm], logits=True, reduction="none"), none[perm])


@pytest.mark.parametrize("fn, backward", LOSSES)
def test_permuting_the_classes_changes_nothing(fn, backward):
    rng = np.random.default_rng(18)
    x, t = rng.normal(0, 2, (2, 3, 4)), rng.integers(0, 3, (2, 4))
    perm = np.array([2, 0, 1])
    inverse = np.argsort(perm)
    np.testing.assert_allclose(
        fn(x[:, perm], inverse[t], logits=True, reduction="none"), fn(x, t, logits=True, reduction="none"), rtol=1e-14
    )


@pytest.mark.parametrize("fn, backward", LOSSES)
def test_finite_at_huge_logits(fn, backward):
    x = np.array([[[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]]])
    t = np.array([[0, 0, 1]])
    for dtype in (np.float64, np.float32):
        out = fn(x.astype(dtype), t, logits=True, reduction="none")
        grad = backward(1.0, x.astype(dtype), t, logits=True)
        assert out.dtype == dtype and grad.dtype == dtype
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    single = np.array([[[1e4, -1e4]]])  # C = 1: confident and right
    np.testing.assert_allclose(fn(single, np.array([[1, 0]]), logits=True), 0.0, atol=1e-15)


# ============================================================================ validation


@pytest.mark.parametrize("fn", [dice_loss, tversky_loss, generalized_dice_loss])
@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (
            (np.full((1, 2, 3), 1.5), np.zeros((1, 3), dtype=int)),
            {},
            ValueError,
            r"input must hold values in \[0, 1\] \(probabilities; pass logits=True for logits\), got the value 1.5",
        ),
        (
            (np.full((1, 2, 3), 0.5), np.full((1, 2, 3), -0.5)),
            {},
            ValueError,
            r"target must hold values in \[0, 1\].*got the value -0.5",
        ),
        (
            (np.full((1, 2, 3), 0.5), np.zeros((1, 4), dtype=int)),
            {},
            ValueError,
            r"target must have the input's shape \(1, 2, 3\) .* or \(1, 3\) \(class indices\), got \(1, 4\)",
        ),
        ((np.full((1, 2, 3), 0.5), np.zeros((1, 3))), {}, TypeError, "target must hold integer class indices"),
        ((np.full((1, 2, 3), 0.5), np.array([[0, 1, 2]])), {}, ClassIndexError, "class index 2, out of range"),
        ((np.full((1, 1, 3), 0.5), np.array([[0, 1, 2]])), {}, ClassIndexError, r"expected values in \[0, 1\]"),
        ((np.full(3, 0.5), np.zeros(3)), {}, ValueError, r"input must be of shape \(N, C\) or \(N, C, d1, ..., dK\)"),
        ((np.zeros((1, 0, 3)), np.zeros((1, 3), dtype=int)), {}, ValueError, "at least one class"),
        ((np.full((1, 2, 3), 0.5), np.zeros((1, 3), dtype=int)), {"smooth": -1.0}, ValueError, "smooth must lie in"),
        (
            (np.full((1, 2, 3), 0.5), np.zeros((1, 3), dtype=int)),
            {"logits": 1},
            TypeError,
            "logits must be True or False",
        ),
        (
            (np.array([[[0.0, 0.0]], [[0.5, 0.5]]]), np.zeros((2, 1, 2))),
            {"smooth": 0.0},
            ValueError,
            r"denominator is 0 for sample 0(, class 0)?: nothing is predicted or present there; pass smooth > 0",
        ),
    ],
)
def test_bad_input_raises(fn, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(*args, **kwargs)


@pytest.mark.parametrize("option", ["alpha", "beta"])
def test_tversky_rejects_negative_weights(option):
    with pytest.raises(ValueError, match=f"{option} must lie in"):
        tversky_loss(np.full((1, 1, 2), 0.5), np.zeros((1, 1, 2)), **{option: -0.1})
    with pytest.raises(ValueError, match=f"{option} must lie in"):
        TverskyLoss(**{option: -0.1})


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: DiceLoss(smooth=-1.0), ValueError, "smooth must lie in"),
        (lambda: DiceLoss(logits="yes"), TypeError, "logits must be True or False"),
        (lambda: GeneralizedDiceLoss(smooth=math.inf), ValueError, "smooth must be finite"),
    ],
)
def test_bad_constructor_options_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ============================================================================ the fused kernel

KERNEL_OPTIONS = [
    {"logits": True},
    {"sigmoid": True},
    {"softmax": True},
    {},
    {"smooth": 0.0, "logits": True},
    {"ignore_index": 1, "logits": True},
]
GENERALIZED_OPTIONS = [{"w_type": "simple"}, {"w_type": "uniform", "logits": True}]


def _kernel_inputs(rng, classes, options, dense, dtype, shape=(5, 4, 6)):
    activation = any(options.get(k) for k in ("logits", "sigmoid", "softmax"))
    x = (
        rng.normal(0, 3, (shape[0], classes) + shape[1:])
        if activation
        else rng.uniform(0, 1, (shape[0], classes) + shape[1:])
    )
    labels = rng.integers(0, max(classes, 2), (shape[0],) + shape[1:])
    if not dense:
        labels[0, 0, :2] = options.get("ignore_index", -100)  # a few ignored pixels
        return x.astype(dtype), labels
    t = rng.uniform(0, 1, x.shape) if classes == 1 else np.moveaxis(np.eye(classes)[labels], -1, 1)
    return x.astype(dtype), t.astype(dtype)


def _kernel_calls():
    for fn, backward in LOSSES:
        extra = (
            GENERALIZED_OPTIONS if fn is generalized_dice_loss else [{"alpha": 0.2, "beta": 0.9}] * (fn is tversky_loss)
        )
        for options in KERNEL_OPTIONS + extra:
            for classes in (1, 3):
                if options.get("softmax") and classes == 1:
                    continue
                for dense in (True, False):
                    if dense and "ignore_index" in options:
                        continue
                    yield pytest.param(
                        fn,
                        backward,
                        options,
                        classes,
                        dense,
                        id=f"{fn.__name__}-{options}-C={classes}-{'mask' if dense else 'index'}",
                    )


@pytest.mark.parametrize(("fn", "backward", "options", "classes", "dense"), list(_kernel_calls()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_kernel_takes_the_plain_options_and_agrees_with_the_definitions(
    fn, backward, options, classes, dense, dtype
):
    pytest.importorskip("numba")
    from losslab import _fast

    if _fast.backend() != "numba":
        pytest.skip("the overlap kernel is numba's")
    x, t = _kernel_inputs(np.random.default_rng(classes), classes, options, dense, dtype)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for reduction in REDUCTIONS:
        hit = fn.kernel(x, t, reduction=reduction, **options)
        assert hit is not None, reduction
        out, grad = hit
        want = fn.reference(x, t, reduction=reduction, **options)
        assert np.asarray(out).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
        np.testing.assert_allclose(out, want, **tol)
        np.testing.assert_allclose(
            grad, backward.reference(np.ones_like(want), x, t, reduction=reduction, **options), **tol
        )


@pytest.mark.parametrize(("fn", "backward"), LOSSES)
def test_the_fused_kernel_gives_the_same_bits_on_any_number_of_threads(fn, backward, monkeypatch):
    pytest.importorskip("numba")
    from losslab import _fast
    from losslab._fast import _dispatch

    monkeypatch.setattr(_dispatch, "PARALLEL_MIN", 16)
    x, t = _kernel_inputs(np.random.default_rng(3), 3, {"logits": True}, False, np.float32, shape=(37, 5, 7))
    old = _fast.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _fast.set_num_threads(n)
            results.append((fn(x, t, logits=True), backward(1.0, x, t, logits=True)))
    finally:
        _fast.set_num_threads(old)
    for r in results[1:]:
        for a, b in zip(r, results[0], strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("fn", "backward"), LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_what_the_fused_kernel_declines_the_definitions_answer(fn, backward, dtype):
    rng = np.random.default_rng(5)
    x, t = _kernel_inputs(rng, 3, {"logits": True}, False, dtype)
    x[1, 2, 0, 0] = np.inf  # a sample with an infinite logit: the definitions' limit, not a NaN
    out = fn(x, t, logits=True, reduction="none")
    np.testing.assert_array_equal(out, fn.reference(x, t, logits=True, reduction="none"))
    assert np.isfinite(out).all() and np.isfinite(backward(1.0, x, t, logits=True)).all()
    p, _ = _kernel_inputs(rng, 3, {}, False, dtype)
    p[0, 0, 0, 0] = 1.5  # a probability outside [0, 1]: the definitions' error
    with pytest.raises(ValueError, match="input"):
        fn(p, t)
    t[0, 0, 0] = 7  # a label out of range
    with pytest.raises(ClassIndexError):
        fn(x, t, logits=True)
    empty = np.zeros((2, 1, 3), dtype)  # nothing predicted or present and no smoothing: a zero denominator
    with pytest.raises(ValueError, match="denominator"):
        fn(empty, np.zeros_like(empty), smooth=0.0)
