"""Exact at the extremes: infinite, overflowing and masked inputs give the mathematical limit.

Each test feeds one loss an input at the edge of the float range (inf, 1e308, float32's 3e38,
a -inf logit masking a class) and checks the value and gradient against the limit, written out
by hand. The suite turns RuntimeWarnings into errors, so each test also asserts that the call
is quiet.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losslab.functional as F
from losslab import nn

INF = math.inf
DTYPES = (np.float64, np.float32)


def big(dtype) -> float:
    """A finite value whose square (and double) overflows the dtype: 1e308 or 3e38."""
    return 1e308 if dtype == np.float64 else 3e38


def arr(values, dtype=np.float64) -> np.ndarray:
    return np.array(values, dtype=dtype)


def check(actual, expected, dtype, *, atol=0.0) -> None:
    actual = np.asarray(actual)
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=np.float64), rtol=1e-6, atol=atol)


# ============================================================================ 1. no warning escapes


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_label_smoothing_at_an_infinite_logit(dtype):
    # log p = (0, -inf): the target term is 0, the smoothing term (eps / C) * inf
    x, t = arr([[INF, 0.0]], dtype), np.array([0])
    check(F.cross_entropy(x, t, label_smoothing=0.1), INF, dtype)
    # gradient (sum a) softmax - a with softmax = (1, 0), a = (0.95, 0.05)
    check(F.cross_entropy_backward(1.0, x, t, label_smoothing=0.1), [[0.05, -0.05]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_at_an_infinite_logit_is_its_limit(dtype):
    x, t = arr([[INF, 0.0], [0.0, INF]], dtype), np.array([0, 0])
    check(F.cross_entropy(x, t, reduction="none"), [0.0, INF], dtype)
    check(F.cross_entropy_backward(1.0, x, t, reduction="none"), [[0.0, 0.0], [-1.0, 1.0]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_nll_loss_with_log_input_overflowing(dtype):
    # e^1e4 - 1e4 and its gradient e^1e4 - 1: beyond the float range
    x, t = arr([1e4], dtype), arr([1.0], dtype)
    check(F.poisson_nll_loss(x, t), INF, dtype)
    check(F.poisson_nll_loss_backward(1.0, x, t), [INF], dtype)
    # at x = +inf e^x outgrows t x: inf, not inf - inf
    check(F.poisson_nll_loss(arr([INF], dtype), arr([2.0], dtype)), INF, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_cosh_loss_at_the_largest_residuals(dtype):
    b = big(dtype)
    x, t = arr([b, -b, INF], dtype), arr([0.0, 0.0, 0.0], dtype)
    # log cosh d = |d| - log 2 + log(1 + e^{-2|d|}): |d| itself at this size
    check(F.log_cosh_loss(x, t, reduction="none"), [b, b, INF], dtype)
    check(F.log_cosh_loss_backward(1.0, x, t, reduction="none"), [1.0, -1.0, 1.0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_squared_error_overflows_to_inf(dtype):
    b = big(dtype)
    y, t = arr([b, 0.5], dtype), arr([0.0, 0.5], dtype)
    check(F.mean_squared_error(y, t), INF, dtype)
    check(F.mean_squared_error_backward(1.0, y, t), [b, 0.0], dtype)
    # y - t itself beyond the range: the gradient y - t is +-inf
    check(F.mean_squared_error_backward(1.0, arr([b], dtype), arr([-b], dtype)), [INF], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("logits", [[1.0, -1.0], [INF, -INF], [INF, 0.0]], ids=["big", "inf-inf", "inf-0"])
def test_softmax_with_loss_at_huge_logits(dtype, logits):
    scale = big(dtype) if logits == [1.0, -1.0] else 1.0
    x = arr([logits], dtype) * dtype(scale)
    loss = nn.SoftmaxWithLoss()
    # softmax = (1, 0) exactly; the book's loss is -log(1 + 1e-7) (in float32, 1 + 1e-7 rounds
    # to 1 + 2^-23), its gradient y - t = 0
    delta = 1e-7 if dtype == np.float64 else 2.0**-23
    check(loss.forward(x, np.array([0])), -math.log(1 + delta), dtype)
    check(loss.backward(), [[0.0, 0.0]], dtype)
    # against the other class: -log(0 + 1e-7), gradient (1, -1)
    check(loss.forward(x, np.array([1])), -math.log(1e-7), dtype)
    check(loss.backward(), [[1.0, -1.0]], dtype)


# ============================================================================ 2. no silently wrong number


def test_cosine_embedding_loss_of_parallel_vectors_beyond_the_square_range():
    x1, x2, y = arr([[1e200, 1e200]]), arr([[1.0, 1.0]]), arr([1.0])
    # parallel vectors: cos = 1 (up to aten's eps 1e-12 in |x2|^2, 2.5e-13), loss 0, gradient 0
    check(F.cosine_embedding_loss(x1, x2, y), 0.0, np.float64, atol=1e-12)
    g1, g2 = F.cosine_embedding_loss_backward(1.0, x1, x2, y)
    check(g1, [[0.0, 0.0]], np.float64, atol=1e-12)
    check(g2, [[0.0, 0.0]], np.float64, atol=1e-12)
    # and the opposite label: max(0, cos - 0) = 1, gradient 0 as well (cos is at its maximum)
    check(F.cosine_embedding_loss(x1, x2, -y), 1.0, np.float64)


@pytest.mark.parametrize("scale", [4e16, 3e21])
def test_cosine_embedding_loss_float32_large_entries(scale):
    x1, x2, y = arr([[scale, scale]], np.float32), arr([[1.0, 1.0]], np.float32), arr([1.0])
    check(F.cosine_embedding_loss(x1, x2, y), 0.0, np.float32, atol=1e-6)
    g1, g2 = F.cosine_embedding_loss_backward(1.0, x1, x2, y)
    check(g1, [[0.0, 0.0]], np.float32, atol=1e-6)
    check(g2, [[0.0, 0.0]], np.float32, atol=1e-6)
    # orthogonal vectors at that size: cos = 0, loss 1, d loss / d x2 = -x1 / (|x1| |x2|) = -(1, 0)
    x1, x2 = arr([[scale, 0.0]], np.float32), arr([[0.0, 1.0]], np.float32)
    check(F.cosine_embedding_loss(x1, x2, y), 1.0, np.float32)
    check(F.cosine_embedding_loss_backward(1.0, x1, x2, y)[1], [[-1.0, 0.0]], np.float32, atol=1e-6)


# ============================================================================ 3. no NaN where the limit exists


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["triplet_margin_loss", "triplet_margin_with_distance_loss"])
def test_triplet_losses_with_an_infinitely_far_negative_or_positive(dtype, name):
    f, fb = getattr(F, name), getattr(F, name + "_backward")
    a, near, far = arr([[0.0, 0.0]], dtype), arr([[0.0, 1.0]], dtype), arr([[INF, 0.0]], dtype)
    # negative at infinity: the hinge max(d_ap - inf + m, 0) is 0, and so are the gradients
    check(f(a, near, far), 0.0, dtype)
    for g in fb(1.0, a, near, far):
        check(g, [[0.0, 0.0]], dtype)
    # positive at infinity: the loss is inf; d d(a, p) / d a is the unit vector a - p -> (-1, 0)
    check(f(a, far, near), INF, dtype)
    ga, gp, gn = fb(1.0, a, far, near)
    # d(a, n) has u = a - n + 1e-6 = (1e-6, -1 + 1e-6): its gradient is u / |u|, about (0, -1)
    check(ga, [[-1.0, 1.0]], dtype, atol=1e-5)
    check(gp, [[1.0, 0.0]], dtype, atol=1e-5)
    check(gn, [[0.0, -1.0]], dtype, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name", ["poly1_cross_entropy", "sparsemax_loss", "multiclass_hinge_loss", "cross_entropy", "focal_loss"]
)
def test_a_masked_class_gives_the_value_at_minus_1e300(dtype, name):
    f, fb = getattr(F, name), getattr(F, name + "_backward")
    t = np.array([0, 1])
    masked = arr([[1.0, 2.0, -INF], [0.5, -INF, 3.0]], dtype)
    # the same rows with -1e300 (float32: its lowest finite value) in place of -inf
    far = arr([[1.0, 2.0, 0.0], [0.5, 0.0, 3.0]], dtype)
    far[masked == -INF] = -1e300 if dtype == np.float64 else np.finfo(np.float32).min
    expected = f(far, t, reduction="none")
    value = f(masked, t, reduction="none")
    assert value.dtype == dtype
    assert np.isfinite(value[0]) and value[0] == pytest.approx(float(expected[0]), rel=1e-6)
    # the second row masks its own target: its score is infinitely behind, the loss inf
    assert value[1] == INF
    grad = fb(1.0, masked, t, reduction="none")
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad[0], fb(1.0, far, t, reduction="none")[0], rtol=1e-6, atol=1e-7)
    assert np.isfinite(grad[0]).all()


def test_masked_class_values_written_out():
    x, t = arr([[0.0, 0.0, -INF]]), np.array([0])
    # two live classes of equal score: p = (1/2, 1/2, 0)
    assert float(F.cross_entropy(x, t)) == pytest.approx(math.log(2))
    assert float(F.poly1_cross_entropy(x, t)) == pytest.approx(math.log(2) + 2.0 * 0.5)  # CE + eps (1 - p_t)
    assert float(F.sparsemax_loss(x, t)) == pytest.approx(0.25)  # sparsemax = (1/2, 1/2, 0): |p - y|^2 / 2
    assert float(F.multiclass_hinge_loss(x, t)) == pytest.approx(1.0)  # max(0, 0 + 1, -inf + 1) - 0
    np.testing.assert_allclose(F.multiclass_hinge_loss_backward(1.0, x, t), [[-1.0, 1.0, 0.0]])
    np.testing.assert_allclose(F.sparsemax_loss_backward(1.0, x, t), [[-0.5, 0.5, 0.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_focal_loss_gradient_at_a_hugely_wrong_logit(dtype):
    # label 1, x -> -inf: p -> 0, q = 1; the gradient tends to alpha (p - 1) = -0.25
    x = arr([-big(dtype), -INF], dtype)
    t = arr([1.0, 1.0], dtype)
    check(F.sigmoid_focal_loss_backward(1.0, x, t, reduction="none"), [-0.25, -0.25], dtype)
    # the value: alpha * |x| (the cross-entropy -log sigmoid(x) = |x| there), and inf at -inf
    check(F.sigmoid_focal_loss(x, t, reduction="none"), [0.25 * big(dtype), INF], dtype)
    # label 0 at x -> -inf: a perfect prediction, loss 0
    check(F.sigmoid_focal_loss(arr([-INF], dtype), arr([0.0], dtype), reduction="none"), [0.0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_contrastive_loss_at_an_infinite_distance(dtype):
    x1, x2 = arr([[INF, 0.0]], dtype), arr([[0.0, 0.0]], dtype)
    # dissimilar: max(0, m - inf)^2 / 2 = 0, and no pull
    check(F.contrastive_loss(x1, x2, np.array([0])), 0.0, dtype)
    for g in F.contrastive_loss_backward(1.0, x1, x2, np.array([0])):
        check(g, [[0.0, 0.0]], dtype)
    # similar: d^2 / 2 = inf, gradient x1 - x2
    check(F.contrastive_loss(x1, x2, np.array([1])), INF, dtype)
    g1, g2 = F.contrastive_loss_backward(1.0, x1, x2, np.array([1]))
    check(g1, [[INF, 0.0]], dtype)
    check(g2, [[-INF, 0.0]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_charbonnier_gradient_at_an_infinite_or_overflowing_residual(dtype):
    b = big(dtype)
    x = arr([INF, -INF, b, 1e-3], dtype)
    t = arr([0.0, 0.0, -b, 0.0], dtype)
    # d / sqrt(d^2 + eps^2) -> sign(d), as L1, Huber and log-cosh; at d = eps it is 1 / sqrt 2
    check(F.charbonnier_loss_backward(1.0, x, t, reduction="none"), [1.0, -1.0, 1.0, 1 / math.sqrt(2)], dtype)
    check(F.charbonnier_loss(x[:2], t[:2], reduction="none"), [INF, INF], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_focal_loss_gradient_with_a_minus_inf_target_logit(dtype):
    x, t = arr([[-INF, 0.0, 0.0]], dtype), np.array([0])
    # p_t = 0: the loss is inf; q = 1 and p_t log p_t -> 0, so the gradient is softmax - onehot
    check(F.focal_loss(x, t), INF, dtype)
    check(F.focal_loss_backward(1.0, x, t), [[-1.0, 0.5, 0.5]], dtype)


# ============================================================================ every registered loss

EXTREMES = {
    np.float64: (INF, -INF, 1e308, -1e308, 5e-324, -5e-324),
    np.float32: (INF, -INF, float(np.finfo(np.float32).max), -float(np.finfo(np.float32).max), 1e-45, -1e-45),
}

# (loss, input) pairs where an extreme input makes the loss mathematically undefined, so NaN is
# the right value there (the gradient too):
UNDEFINED = {
    # an infinite anchor is infinitely far from both others: d(a, p) - d(a, n) is inf - inf
    ("TripletMarginLoss", "anchor"),
    ("TripletMarginWithDistanceLoss", "anchor"),
}

# (loss, input) pairs whose limit is defined but not yet reached, each with its reason (marked
# xfail, strict, so that a fix shows)
KNOWN: dict[tuple[str, str], str] = {}


def _extreme_params():
    from losslab.registry import LOSSES

    for spec in LOSSES:
        for name in spec.differentiable:
            for dtype in DTYPES:
                marks = ()
                if (spec.name, name) in KNOWN:
                    marks = pytest.mark.xfail(strict=True, reason=KNOWN[(spec.name, name)])
                yield pytest.param(spec, name, dtype, marks=marks, id=f"{spec.name}-{name}-{np.dtype(dtype).name}")


@pytest.mark.parametrize(("spec", "name", "dtype"), list(_extreme_params()))
def test_every_loss_is_quiet_and_not_nan_at_extreme_inputs(spec, name, dtype):
    """Each extreme value in one entry of one differentiable input, every reduction: no warning
    (the suite makes them errors), no NaN unless the limit is undefined; a value outside the
    input's domain (a probability of 1e308) may instead raise a ValueError naming the input."""
    case = spec.make_cases()[0]
    pos = spec.inputs.index(name)
    nan_ok = (spec.name, name) in UNDEFINED
    for value in EXTREMES[dtype]:
        inputs = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in case.inputs]
        x = inputs[pos].copy()
        x.flat[0] = value
        inputs[pos] = x
        for reduction in spec.reductions:
            options = dict(case.options)
            if "reduction" in spec.options:
                options["reduction"] = reduction
            try:
                out = spec.function(*inputs, **options)
            except ValueError as err:
                assert str(err).startswith(name), f"{value!r}: {err}"
                continue
            grads = spec.backward(np.ones_like(out), *inputs, **options)
            grads = grads if isinstance(grads, tuple) else (grads,)
            where = f"{name}[0] = {value!r}, reduction={reduction!r}"
            assert np.asarray(out).dtype == dtype, where
            if not nan_ok:
                assert not np.isnan(out).any(), f"NaN value at {where}"
                assert not any(np.isnan(g).any() for g in grads), f"NaN gradient at {where}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_at_infinite_logits(dtype):
    x = arr([-INF, -INF, INF, INF, -INF], dtype)
    t = arr([0.0, 0.5, 1.0, 0.5, 1.0], dtype)
    # a perfect prediction costs 0; any weight on the wrong side costs inf
    check(F.binary_cross_entropy_with_logits(x, t, reduction="none"), [0.0, INF, 0.0, INF, INF], dtype)
    check(F.binary_cross_entropy_with_logits(x, t, reduction="sum"), INF, dtype)
    # sigmoid(x) - t
    check(F.binary_cross_entropy_with_logits_backward(1.0, x, t, reduction="none"), [0.0, -0.5, 0.0, 0.5, -1.0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparsemax_loss_at_infinite_and_overflowing_scores(dtype):
    b = big(dtype)
    x, t = arr([[INF, 0.0, 1.0], [b, -b, 0.0]], dtype), np.array([0, 0])
    # all the mass on the top score: sparsemax = (1, 0, 0) = the target, loss 0, gradient 0
    check(F.sparsemax_loss(x, t, reduction="none"), [0.0, 0.0], dtype)
    check(F.sparsemax_loss_backward(1.0, x, t, reduction="none"), np.zeros((2, 3)), dtype)
    # against another class: the loss grows with the gap to the top score, here without bound
    check(F.sparsemax_loss(x, np.array([1, 1]), reduction="none"), [INF, INF], dtype)
    check(
        F.sparsemax_loss_backward(1.0, x, np.array([1, 1]), reduction="none"),
        [[1.0, -1.0, 0.0], [1.0, -1.0, 0.0]],
        dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_focal_loss_soft_label_and_gamma_zero_at_infinite_logits(dtype):
    x, t = arr([-INF, INF, -INF], dtype), arr([0.5, 0.5, 0.0], dtype)
    # a soft label: half the weight is on the wrong side, infinitely so
    check(F.sigmoid_focal_loss(x, t, reduction="none"), [INF, INF, 0.0], dtype)
    # gradient alpha_t q^gamma (sigmoid(x) - t) with q = 1 - p_t = 1/2 at a soft label: 0.25 * (-/+ 1/2)
    check(F.sigmoid_focal_loss_backward(1.0, x, t, alpha=-1.0, reduction="none"), [-0.125, 0.125, 0.0], dtype)
    # gamma = 0 is the (alpha-weighted) cross-entropy: q^0 = 1 even at q = 0
    check(F.sigmoid_focal_loss(x[2:], t[2:], gamma=0.0, reduction="none"), [0.0], dtype)
    check(F.sigmoid_focal_loss_backward(1.0, x[2:], t[2:], gamma=0.0, reduction="none"), [0.0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cosine_embedding_loss_with_an_infinite_entry(dtype):
    # x1 -> inf along the first axis: its direction is (1, 0), so cos = 3 / 5 against (3, 4)
    x1, x2, y = arr([[INF, 7.0]], dtype), arr([[3.0, 4.0]], dtype), arr([1.0])
    check(F.cosine_embedding_loss(x1, x2, y), 1 - 0.6, dtype)
    g1, g2 = F.cosine_embedding_loss_backward(1.0, x1, x2, y)
    check(g1, [[0.0, 0.0]], dtype)  # moving an infinitely long vector does not turn it
    # d(1 - cos) / d x2 = -(u1 / |x2| - cos x2 / |x2|^2) with u1 = (1, 0)
    check(g2, [[-(1 - 0.6 * 3 / 5) / 5, -(0 - 0.6 * 4 / 5) / 5]], dtype, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nt_xent_loss_with_an_infinite_entry_is_the_loss_of_its_direction(dtype):
    view1 = arr([[INF, 5.0], [0.0, 1.0]], dtype)
    view2 = arr([[2.0, 0.5], [1.0, 1.0]], dtype)
    unit = view1.copy()
    unit[0] = [1.0, 0.0]  # the direction of (inf, 5)
    expected = F.nt_xent_loss(unit, view2, temperature=0.5, reduction="none")
    check(F.nt_xent_loss(view1, view2, temperature=0.5, reduction="none"), expected, dtype)
    g1, g2 = F.nt_xent_loss_backward(1.0, view1, view2, temperature=0.5)
    check(g1[0], [0.0, 0.0], dtype)  # an infinitely long embedding does not turn
    check(g2, F.nt_xent_loss_backward(1.0, unit, view2, temperature=0.5)[1], dtype, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["log_cosh_loss", "charbonnier_loss", "mse_loss", "l1_loss"])
def test_a_sum_beyond_the_float_range_is_inf(dtype, name):
    f = getattr(F, name)
    x, t = arr([big(dtype), big(dtype), 0.0], dtype), arr([0.0, 0.0, 0.0], dtype)
    # each loss term fits, their sum does not: 'sum' is inf
    check(f(x, t, reduction="sum"), INF, dtype)
    # the mean of the terms, big * 2 / 3, fits again (squared: inf)
    check(f(x, t, reduction="mean"), INF if name == "mse_loss" else big(dtype) / 3 * 2, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["smooth_l1_loss", "huber_loss"])
def test_smooth_l1_and_huber_far_out_are_linear(dtype, name):
    f, fb = getattr(F, name), getattr(F, name + "_backward")
    b = big(dtype)
    x, t = arr([-b, b, INF], dtype), arr([0.0, 0.0, 0.0], dtype)
    # beta = delta = 1: |d| - 1/2, gradient sign(d); the quadratic piece is not reached
    check(f(x, t, reduction="none"), [b, b, INF], dtype)
    check(fb(1.0, x, t, reduction="none"), [-1.0, 1.0, 1.0], dtype)


# ============================================================================ every loss, the whole input at an extreme


def _whole_extremes(dtype) -> dict[str, float]:
    big_ = float(np.finfo(dtype).max) if dtype == np.float32 else 1e308
    tiny = float(np.finfo(dtype).smallest_subnormal)
    return {"inf": INF, "-inf": -INF, "big": big_, "-big": -big_, "denormal": tiny, "-denormal": -tiny, "nan": math.nan}


_MASKED = "every class masked (a row of -inf scores only): no class is left to score"
# (loss, input, extreme) -> (the reductions where the loss is undefined, None for all; why); NaN is
# the right value there, quietly
UNDEFINED_WHOLE: dict[tuple[str, str, str], tuple[tuple[str, ...] | None, str]] = {
    ("CrossEntropyLoss", "input", "-inf"): (None, _MASKED + ": softmax is 0 / 0"),
    ("FocalLoss", "input", "-inf"): (None, _MASKED + ": softmax is 0 / 0"),
    ("PolyLoss", "input", "-inf"): (None, _MASKED + ": softmax is 0 / 0"),
    ("SparsemaxLoss", "input", "-inf"): (None, _MASKED + ": the simplex has no nearest point to it"),
    ("MulticlassHingeLoss", "input", "-inf"): (None, _MASKED + ": max_j s_j - s_y is -inf + inf"),
    ("MultiMarginLoss", "input", "-inf"): (None, _MASKED + ": m - x_y + x_i is m + inf - inf"),
    ("MultiLabelMarginLoss", "input", "-inf"): (None, _MASKED + ": 1 - x_j + x_i is 1 + inf - inf"),
    ("TripletMarginLoss", "anchor", "inf"): (None, "an anchor at infinity: d(a, p) - d(a, n) is inf - inf"),
    ("TripletMarginLoss", "anchor", "-inf"): (None, "an anchor at infinity: d(a, p) - d(a, n) is inf - inf"),
    ("TripletMarginWithDistanceLoss", "anchor", "inf"): (None, "an anchor at infinity: inf - inf"),
    ("TripletMarginWithDistanceLoss", "anchor", "-inf"): (None, "an anchor at infinity: inf - inf"),
    # x -> -inf: similar pairs give x -> -inf, dissimilar ones m - x -> +inf; each term has its limit
    ("HingeEmbeddingLoss", "input", "-inf"): (("mean", "sum"), "their sum is -inf + inf"),
}


# The 'none' value of the first sample case with the whole input at an extreme, written out from the
# formula's limit: (loss, input, extreme) -> f(case inputs, dtype). Every entry is checked.
def _expected_whole():
    def const(c):  # one value per vector of an (N, D) batch
        return lambda ins, dt: np.full(len(ins[0]), c)

    def same(c):  # elementwise losses: every entry
        return lambda ins, dt: np.full(np.shape(ins[0]), c)

    def by_sign(pos_value, neg_value, column=1):  # +-1 labels: the value on label +1, on label -1
        return lambda ins, dt: np.where(np.asarray(ins[column]) == 1, pos_value, neg_value)

    table = {}
    for ext in ("inf", "big"):
        # equal scores at any height: the value at a row of zeros (shift invariance)
        table[("CrossEntropyLoss", "input", ext)] = lambda ins, dt: np.full(len(ins[1]), math.log(ins[0].shape[1]))
        table[("FocalLoss", "input", ext)] = lambda ins, dt: np.full(len(ins[1]), math.log(ins[0].shape[1]))
        # max_{j != y} s_j + 1 - s_y
        table[("MulticlassHingeLoss", "input", ext)] = lambda ins, dt: np.ones(len(ins[1]))
        # sparsemax of equal scores is uniform: |p - y|^2 / 2 = ((1 - 1/C)^2 + (C - 1) / C^2) / 2
        table[("SparsemaxLoss", "input", ext)] = lambda ins, dt: np.full(
            len(ins[1]), ((1 - 1 / ins[0].shape[1]) ** 2 + (ins[0].shape[1] - 1) / ins[0].shape[1] ** 2) / 2
        )
    for ext in ("inf", "-inf"):
        for name in (
            "MSELoss",
            "L1Loss",
            "SmoothL1Loss",
            "HuberLoss",
            "LogCoshLoss",
            "CharbonnierLoss",
            "GaussianNLLLoss",
        ):
            table[(name, "input", ext)] = same(INF)
        # the far side of a distance: d(a, p) -> inf gives inf, d(a, n) -> inf gives max(-inf, 0) = 0
        for name in ("TripletMarginLoss", "TripletMarginWithDistanceLoss"):
            table[(name, "positive", ext)] = const(INF)
            table[(name, "negative", ext)] = const(0.0)
        for name in ("input1", "input2"):  # similar pairs d^2 / 2 = inf; dissimilar max(0, m - inf)^2 / 2 = 0
            table[("ContrastiveLoss", name, ext)] = lambda ins, dt: np.where(np.asarray(ins[2]) == 1, INF, 0.0)
        table[("MultiLabelSoftMarginLoss", "input", ext)] = lambda ins, dt: np.full(len(ins[0]), INF)
    # log-probabilities at +-inf: p (log p - x) is -+inf where p > 0 and 0 where p = 0 (0 log 0 = 0)
    table[("KLDivLoss", "input", "inf")] = lambda ins, dt: np.where(np.asarray(ins[1]) > 0, -INF, 0.0)
    table[("KLDivLoss", "input", "-inf")] = lambda ins, dt: np.where(np.asarray(ins[1]) > 0, INF, 0.0)
    # x on label 1, max(0, m - x) on label -1
    table[("HingeEmbeddingLoss", "input", "inf")] = by_sign(INF, 0.0)
    table[("HingeEmbeddingLoss", "input", "-inf")] = by_sign(-INF, INF)
    table[("SoftMarginLoss", "input", "inf")] = by_sign(0.0, INF)  # softplus(-y x)
    table[("SoftMarginLoss", "input", "-inf")] = by_sign(INF, 0.0)
    table[("BCEWithLogitsLoss", "input", "-inf")] = lambda ins, dt: np.where(np.asarray(ins[1]) > 0, INF, 0.0)
    table[("BCEWithLogitsLoss", "input", "inf")] = lambda ins, dt: np.where(np.asarray(ins[1]) < 1, INF, 0.0)
    # equal scores: every hinge is at the margin, m^p w_y (C - 1) / C
    for ext in ("inf", "big"):
        table[("MultiMarginLoss", "input", ext)] = lambda ins, dt: np.full(
            len(ins[1]), (ins[0].shape[1] - 1) / ins[0].shape[1]
        )
    # a far anchor along (1, ..., 1): d(a, p) - d(a, n) -> (n - p) . a / |a|, finite
    for ext, sign in (("big", 1.0), ("-big", -1.0)):
        for name in ("TripletMarginLoss", "TripletMarginWithDistanceLoss"):
            table[(name, "anchor", ext)] = lambda ins, dt, s=sign: np.maximum(
                1.0
                + s
                * (np.asarray(ins[2], np.float64) - np.asarray(ins[1], np.float64)).sum(axis=1)
                / math.sqrt(np.shape(ins[0])[1]),
                0.0,
            )

    # output layers: every entry of one input at +-inf is +-s, one rate (see docs/derivations); the slopes decide
    def wide(a):
        return np.asarray(a, np.float64)

    def lce(ins, bias=True):
        x, w, t, b = (wide(a) if np.asarray(a).dtype.kind == "f" else a for a in ins)
        return F.linear_cross_entropy(x, w, t, b if bias else None, reduction="none")

    def lead(ins, sign):  # x = sign s (1, ..., 1): the class of the largest slope sign * sum_d W_cd takes all
        w, t = wide(ins[1]), np.asarray(ins[2])
        return np.where(t == np.argmax(sign * w.sum(axis=1)), 0.0, INF)

    for ext, sign in (("inf", 1.0), ("-inf", -1.0)):
        table[("LinearCrossEntropyLoss", "input", ext)] = lambda ins, dt, s=sign: lead(ins, s)
        # every logit has the slope sign * sum_d x_nd: a tie, and the bias alone decides
        table[("LinearCrossEntropyLoss", "linear_weight", ext)] = lambda ins, dt: lce(
            [np.zeros_like(wide(ins[0])), np.zeros_like(wide(ins[1])), ins[2], ins[3]]
        )
        # every bias at the same +-s: a shift of every logit, which the softmax ignores
        table[("LinearCrossEntropyLoss", "linear_bias", ext)] = lambda ins, dt: lce(ins, bias=False)

        def adaptive_without_bias(ins, dt):
            options = _case_options("AdaptiveLogSoftmaxWithLoss")
            x, t, hw, _, tail = ins
            return F.adaptive_log_softmax_loss(wide(x), t, wide(hw), None, wide(tail), **options, reduction="none")

        table[("AdaptiveLogSoftmaxWithLoss", "head_bias", ext)] = adaptive_without_bias
    return table


def _case_options(name: str) -> dict:
    from losslab.registry import LOSSES

    return dict(next(s for s in LOSSES if s.name == name).make_cases()[0].options)


EXPECTED_WHOLE = _expected_whole()


def _whole_params():
    from losslab.registry import LOSSES

    for spec in LOSSES:
        for name in spec.differentiable:
            for dtype in DTYPES:
                # the pairs whose single extreme entry is not yet at its limit (KNOWN) are not at a whole input either
                known = (spec.name, name) in KNOWN
                marks = pytest.mark.xfail(strict=True, reason=KNOWN[(spec.name, name)]) if known else ()
                yield pytest.param(spec, name, dtype, marks=marks, id=f"{spec.name}-{name}-{np.dtype(dtype).name}")


@pytest.mark.parametrize(("spec", "name", "dtype"), list(_whole_params()))
def test_every_loss_at_a_whole_input_of_extremes(spec, name, dtype):
    """Every entry of one differentiable input at each extreme (+-inf, +-the largest finite value,
    +-the smallest denormal, NaN), every reduction: quiet (the suite makes warnings errors), of the
    input's dtype, the limit written out in EXPECTED_WHOLE where it is listed, no NaN unless a NaN came
    in or the limit is undefined (UNDEFINED_WHOLE); a value outside the input's domain may instead
    raise a ValueError naming the input."""
    case = spec.make_cases()[0]
    pos = spec.inputs.index(name)
    for ext, value in _whole_extremes(dtype).items():
        inputs = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in case.inputs]
        inputs[pos] = np.full_like(inputs[pos], value)
        undefined, _ = UNDEFINED_WHOLE.get((spec.name, name, ext), ((), ""))
        for reduction in spec.reductions:
            options = dict(case.options)
            if "reduction" in spec.options:
                options["reduction"] = reduction
            where = f"{name} all {ext} ({value!r}), reduction={reduction!r}"
            try:
                out = spec.function(*inputs, **options)
            except ValueError as err:
                assert str(err).startswith(name), f"{where}: {err}"
                continue
            try:
                grads = spec.backward(np.ones_like(out), *inputs, **options)
            except ValueError as err:  # CTC: an infinite loss has no gradient, and says so
                assert spec.name == "CTCLoss" and "infinite" in str(err) and np.isinf(out).any(), f"{where}: {err}"
                continue
            grads = grads if isinstance(grads, tuple) else (grads,)
            assert np.asarray(out).dtype == dtype, where
            assert all(np.asarray(g).dtype == dtype for g in grads), where
            if ext == "nan":
                assert np.isnan(out).any(), f"a NaN input gave no NaN at {where}"
                continue
            if undefined is None or reduction in undefined:
                continue
            assert not np.isnan(out).any(), f"NaN value at {where}"
            assert not any(np.isnan(g).any() for g in grads), f"NaN gradient at {where}"
            expected = EXPECTED_WHOLE.get((spec.name, name, ext))
            if expected is not None and reduction == "none":
                np.testing.assert_allclose(
                    np.asarray(out, np.float64).reshape(-1),
                    np.asarray(expected(inputs, dtype), np.float64).reshape(-1),
                    rtol=1e-5,
                    atol=1e-6,
                    err_msg=where,
                )


# ============================================================================ whole inputs: values written out


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_div_a_zero_probability_class_adds_nothing_at_an_infinite_log_probability(dtype):
    x, t = arr([[INF, INF], [-INF, -INF]], dtype), arr([[0.0, 1.0], [0.0, 1.0]], dtype)
    # p (log p - x): 0 where p = 0 (0 log 0 = 0, and 0 * x drops out), -x where p = 1
    check(F.kl_div(x, t, reduction="none"), [[0.0, -INF], [0.0, INF]], dtype)
    check(F.kl_div_backward(1.0, x, t, reduction="none"), [[0.0, -1.0], [0.0, -1.0]], dtype)
    # log_target: log p = -inf is p = 0
    lt = arr([[-INF, 0.0], [-INF, 0.0]], dtype)
    check(F.kl_div(x, lt, reduction="none", log_target=True), [[0.0, -INF], [0.0, INF]], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("height", ["big", "inf"])
def test_margin_losses_of_equal_scores_at_any_height_are_the_tie(dtype, height):
    s = big(dtype) if height == "big" else INF
    x, y = arr([[s, s, s, s]], dtype), np.array([1])
    # every hinge at the margin: (C - 1) / C * margin
    check(F.multi_margin_loss(x, y, reduction="none"), [0.75], dtype)
    check(F.multi_margin_loss_backward(1.0, x, y, reduction="none"), [[0.25, -0.75, 0.25, 0.25]], dtype)
    check(F.multi_margin_loss(x, y, margin=2.0, p=2, reduction="none"), [3.0], dtype)
    # max_{j != y} s_j + 1 - s_y = 1, the gradient shared among the tied others
    check(F.multiclass_hinge_loss(x, y, reduction="none"), [1.0], dtype)
    check(F.multiclass_hinge_loss_backward(1.0, x, y, reduction="none"), [[1 / 3, -1.0, 1 / 3, 1 / 3]], dtype)
    # listed {1}: three hinges 1 - x_1 + x_i = 1, over C = 4
    check(F.multilabel_margin_loss(x, np.array([[1, -1, 0, 0]]), reduction="none"), [0.75], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_margin_losses_pass_a_nan_score_on(dtype):
    x, y = arr([[0.0, np.nan, 1.0]], dtype), np.array([0])
    assert np.isnan(F.multi_margin_loss(x, y))
    assert np.isnan(F.multiclass_hinge_loss(x, y))
    assert np.isnan(F.multilabel_margin_loss(x, np.array([[0, -1, 0]])))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["triplet_margin_loss", "triplet_margin_with_distance_loss"])
def test_a_far_anchor_gets_the_exact_difference_of_its_distances(dtype, name):
    f, fb = getattr(F, name), getattr(F, name + "_backward")
    a = np.full((2, 3), big(dtype), dtype)
    p, n = arr([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype), arr([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]], dtype)
    # d(a, p) - d(a, n) -> (n - p) . a / |a| = sum(n - p) / sqrt(3): 0 and 2 / sqrt 3
    check(f(a, p, n, reduction="none"), [1.0, 1.0 + 2 / math.sqrt(3)], dtype)
    check(f(-a, p, n, reduction="none"), [1.0, max(0.0, 1.0 - 2 / math.sqrt(3))], dtype)
    ga, gp, gn = fb(1.0, a, p, n, reduction="none")
    u = 1 / math.sqrt(3)  # the unit direction of the anchor: d(a, p) pulls p along it, d(a, n) pushes n
    check(ga, np.zeros((2, 3)), dtype, atol=1e-6)
    check(gp, np.full((2, 3), -u), dtype)
    check(gn, np.full((2, 3), u), dtype)


def test_nt_xent_float32_embeddings_beyond_the_norm_range_are_their_direction():
    far = np.full((2, 3), 3e38, np.float32)
    far[1] = [-3e38, 3e38, 3e38]
    view2 = arr([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    unit = far / np.float32(3e38)  # the same directions
    check(F.nt_xent_loss(far, view2, reduction="none"), F.nt_xent_loss(unit, view2, reduction="none"), np.float32)
    g1, g2 = F.nt_xent_loss_backward(1.0, far, view2)
    check(g1, np.zeros((2, 3)), np.float32)  # an infinitely long embedding does not turn
    check(g2, F.nt_xent_loss_backward(1.0, unit, view2)[1], np.float32, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel_soft_margin_class_mean_is_exact_where_the_row_sum_overflows(dtype):
    b = big(dtype)
    x, t = arr([[b, b, -b, -b]], dtype), arr([[0.0, 0.0, 1.0, 1.0]], dtype)
    # each class costs |x| = b (softplus of b), their mean is b
    check(F.multilabel_soft_margin_loss(x, t, reduction="none"), [b], dtype)


# ============================================================================ Dask: as quiet as NumPy, the same limits


def _dask_params():
    from losslab.registry import LOSSES

    for spec in LOSSES:
        if spec.array_api:
            for name in spec.differentiable:
                yield pytest.param(spec, name, id=f"{spec.name}-{name}")


@pytest.mark.parametrize(("spec", "name"), list(_dask_params()))
def test_dask_graphs_compute_the_whole_input_extremes_quietly(spec, name):
    """NumPy's error state does not reach the threads that compute a Dask graph: the losses' Dask
    results (functional and class alike) compute without a warning, to NumPy's values."""
    da = pytest.importorskip("dask.array")
    import losslab.functional as functional

    function = getattr(functional, spec.function_name)
    backward = getattr(functional, spec.function_name + "_backward")
    case = spec.make_cases()[0]
    pos = spec.inputs.index(name)
    for dtype in DTYPES:
        for ext, value in _whole_extremes(dtype).items():
            if ext in ("denormal", "-denormal"):
                continue
            inputs = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in case.inputs]
            inputs[pos] = np.full_like(inputs[pos], value)
            lazy = [
                da.from_array(a, chunks=(max(1, a.shape[0] // 2),) + a.shape[1:])
                if isinstance(a, np.ndarray) and a.ndim
                else a
                for a in inputs
            ]
            options = {k: v for k, v in case.options.items() if k != "reduction"}
            for reduction in ("none", "sum"):
                try:
                    out = function(*inputs, **options, reduction=reduction)
                    grads = backward(np.ones_like(out), *inputs, **options, reduction=reduction)
                except ValueError:
                    continue
                grads = grads if isinstance(grads, tuple) else (grads,)
                lazy_out = function(*lazy, **options, reduction=reduction)
                lazy_grads = backward(da.ones_like(lazy_out), *lazy, **options, reduction=reduction)
                lazy_grads = lazy_grads if isinstance(lazy_grads, tuple) else (lazy_grads,)
                loss = spec.cls(**options, reduction=reduction)
                class_out = loss.forward(*lazy)
                class_grads = loss.backward(da.ones_like(class_out))
                class_grads = class_grads if isinstance(class_grads, tuple) else (class_grads,)
                computed = da.compute(lazy_out, class_out, *lazy_grads, *class_grads)  # warnings are errors
                where = f"{name} all {ext}, {np.dtype(dtype).name}, reduction={reduction!r}"
                k = len(grads)
                for got, want in zip(computed, (out, out, *grads, *grads), strict=True):
                    np.testing.assert_allclose(
                        np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=1e-6, atol=1e-300, err_msg=where
                    )
                assert len(computed) == 2 + 2 * k


# ============================================================================ the losses of an output layer


def _projection_specs():
    from losslab.registry import LOSSES

    return [spec for spec in LOSSES if spec.name in ("LinearCrossEntropyLoss", "AdaptiveLogSoftmaxWithLoss")]


def _projection_params():
    for spec in _projection_specs():
        for case in spec.make_cases():
            for name in spec.differentiable:
                yield pytest.param(spec, case, name, id=f"{spec.name}-{case.id}-{name}")


def _value_and_grads(spec, inputs, options):
    out = spec.function(*inputs, **options, reduction="none")
    grads = spec.backward(np.ones_like(out), *inputs, **options, reduction="none")
    return [np.asarray(out, np.float64)] + [np.asarray(g, np.float64) for g in grads if g is not None]


@pytest.mark.parametrize(("spec", "case", "name"), list(_projection_params()))
def test_output_layer_losses_at_infinity_are_the_limit_of_huge_finite_entries(spec, case, name):
    """An infinite entry is the limit s -> inf of the entry +-s (every infinite entry at one rate): the
    value and every gradient at +-inf equal those at +-2e4 where these converge (they do exponentially
    fast), and are +-inf exactly where those diverge (growing from 1e4 to 2e4 in that direction)."""
    pos = spec.inputs.index(name)
    for where in ("one entry", "whole input"):
        for sign in (1.0, -1.0):

            def at(value, where=where):
                inputs = list(case.inputs)
                x = np.array(inputs[pos], dtype=np.float64, copy=True)
                if where == "one entry":
                    x.flat[0] = value
                else:
                    x[...] = value
                inputs[pos] = x
                return _value_and_grads(spec, inputs, case.options)

            limit, near, far = at(sign * INF), at(sign * 1e4), at(sign * 2e4)
            for k, (got, a, b) in enumerate(zip(limit, near, far, strict=True)):
                label = f"{where} at {sign * INF}, {'value' if k == 0 else f'gradient {k}'}"
                grows = np.abs(b - a) > 1.0
                assert not np.isnan(got).any(), label
                np.testing.assert_array_equal(np.isinf(got), grows, err_msg=label)
                np.testing.assert_array_equal(np.sign(got[grows]), np.sign((b - a)[grows]), err_msg=label)
                np.testing.assert_allclose(got[~grows], b[~grows], rtol=1e-6, atol=1e-6, err_msg=label)


@pytest.mark.parametrize(("spec", "case", "name"), list(_projection_params()))
def test_output_layer_losses_in_float32_beyond_its_range_are_the_float64_values(spec, case, name):
    """An entry of 3e38 (float32's largest is 3.4e38) makes float32 logits overflow; the exact values,
    computed in float64 where they fit, rounded to float32 (inf beyond its range), come out instead."""
    pos = spec.inputs.index(name)
    for value in (3e38, -3e38):
        inputs64 = list(case.inputs)
        inputs64[pos] = np.array(inputs64[pos], dtype=np.float64, copy=True)
        inputs64[pos].flat[0] = value
        inputs64[pos].flat[-1] = value
        inputs32 = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in inputs64]
        with np.errstate(over="ignore"):  # beyond float32's range: inf
            exact = [e.astype(np.float32) for e in _value_and_grads(spec, inputs64, case.options)]
        for got, want in zip(_value_and_grads(spec, inputs32, case.options), exact, strict=True):
            np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
            np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("chunks", [None, 1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_cross_entropy_an_infinite_weight_row(dtype, chunks):
    options = None if chunks is None else F.LinearCrossEntropyOptions(batch_chunk_size=chunks)
    x, w = arr([[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]], dtype), arr([[INF, 0.0], [0.0, 0.0], [0.0, 0.0]], dtype)
    t = np.array([0, 1, 2])
    # logit 0 is x_0 s: +inf (all the mass), -inf (none: classes 1 and 2 share it), 0 s = 0 (three equal logits)
    check(F.linear_cross_entropy(x, w, t, reduction="none", options=options), [0.0, math.log(2), math.log(3)], dtype)
    dx, dw = F.linear_cross_entropy_backward(np.ones(3, dtype), x, w, t, reduction="none", options=options)
    # dlogits = softmax - onehot: 0, (0, -1/2, 1/2), (1/3, 1/3, -2/3); dx = dlogits W (1/3 of s: inf), dW = dlogits^T x
    check(dx, [[0.0, 0.0], [0.0, 0.0], [INF, 0.0]], dtype)
    check(dw, [[0.0, 5 / 3], [0.5, 5 / 3], [-0.5, -10 / 3]], dtype, atol=1e-6)
    # against class 1 in the first row: class 0 takes all the mass, the loss is inf, its gradient finite
    t = np.array([1, 1, 2])
    check(F.linear_cross_entropy(x, w, t, reduction="none", options=options), [INF, math.log(2), math.log(3)], dtype)
    dx, dw = F.linear_cross_entropy_backward(np.ones(3, dtype), x, w, t, reduction="none", options=options)
    check(dx, [[INF, 0.0], [0.0, 0.0], [INF, 0.0]], dtype)  # dlogits (1, -1, 0): the first row pulls on s
    check(dw, [[1.0, 5 / 3], [-0.5, 5 / 3], [-0.5, -10 / 3]], dtype, atol=1e-6)
    # dout = 0: the gradient of 0 L is 0, also where that of L is infinite
    for g in F.linear_cross_entropy_backward(0.0, x, w, t, options=options):
        check(g, np.zeros_like(g), dtype)


@pytest.mark.parametrize("chunks", [None, 1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_cross_entropy_an_infinite_bias_on_the_target_or_another_class(dtype, chunks):
    options = None if chunks is None else F.LinearCrossEntropyOptions(batch_chunk_size=chunks)
    x, w = arr([[1.0, 1.0], [2.0, -1.0]], dtype), arr([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.0]], dtype)
    b, t = arr([INF, 0.0, 0.0], dtype), np.array([0, 1])
    # class 0 takes all the mass: 0 on its own target, inf against class 1
    check(F.linear_cross_entropy(x, w, t, b, reduction="none", options=options), [0.0, INF], dtype)
    dx, dw, db = F.linear_cross_entropy_backward(np.ones(2, dtype), x, w, t, b, reduction="none", options=options)
    # dlogits 0 and (1, -1, 0)
    check(dx, [[0.0, 0.0], [1.0, 1.0]], dtype)
    check(dw, [[2.0, -1.0], [-2.0, 1.0], [0.0, 0.0]], dtype)
    check(db, [1.0, -1.0, 0.0], dtype)
    # -inf on class 0 masks it: its own target costs inf, the others are the softmax over classes 1 and 2
    b = arr([-INF, 0.0, 0.0], dtype)
    check(F.linear_cross_entropy(x, w, t, b, reduction="none", options=options), [INF, math.log1p(math.exp(-1))], dtype)
    db = F.linear_cross_entropy_backward(np.ones(2, dtype), x, w, t, b, reduction="none", options=options)[2]
    p = 1 / (1 + math.e)  # row 1: logits (-1, -2) on classes 1, 2; row 0: (1, -1) against target 0 (dlogits softmax)
    check(db, [-1.0, 1 / (1 + math.exp(-2)) - p, 1 / (1 + math.exp(2)) + p], dtype, atol=1e-6)


@pytest.mark.parametrize("chunks", [None, 1])
def test_linear_cross_entropy_float32_input_whose_product_overflows(chunks):
    options = None if chunks is None else F.LinearCrossEntropyOptions(batch_chunk_size=chunks)
    x, w = arr([[3e38, 3e38], [3e38, 3e38]], np.float32), arr([[1.0, 1.0], [1.0, 0.5]], np.float32)
    t = np.array([0, 1])
    # logits 6e38 and 4.5e38, both beyond float32: their difference 1.5e38 is the loss against class 1
    check(F.linear_cross_entropy(x, w, t, reduction="none", options=options), [0.0, 1.5e38], np.float32)
    dx, dw = F.linear_cross_entropy_backward(np.ones(2, np.float32), x, w, t, reduction="none", options=options)
    check(dx, [[0.0, 0.0], [0.0, 0.5]], np.float32)  # dlogits 0 and (1, -1)
    check(dw, [[3e38, 3e38], [-3e38, -3e38]], np.float32)
    # 'sum' adds 0 and 1.5e38; 'mean' halves it
    check(F.linear_cross_entropy(x, w, t, reduction="mean", options=options), 0.75e38, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_cross_entropy_nan_in_gives_nan_where_it_reaches(dtype):
    rng = np.random.default_rng(3)
    x, w, b, t = (rng.normal(size=s).astype(dtype) for s in ((4, 3), (5, 3), (5,), ()))
    t = np.array([0, 1, 2, 3])
    xn = x.copy()
    xn[1, 2] = np.nan
    # a NaN feature: its row's loss and input gradient, and every weight gradient (a sum over the rows)
    out = F.linear_cross_entropy(xn, w, t, b, reduction="none")
    assert np.isnan(out[1]) and not np.isnan(out[[0, 2, 3]]).any()
    dx, dw, db = F.linear_cross_entropy_backward(np.ones(4, dtype), xn, w, t, b, reduction="none")
    assert np.isnan(dx[1]).all() and not np.isnan(dx[[0, 2, 3]]).any() and np.isnan(dw).all() and np.isnan(db).all()
    # a NaN weight or bias enters every row's softmax
    for wn, bn in (
        (np.where(np.arange(15).reshape(5, 3) == 4, np.nan, w), b),
        (w, np.where(np.arange(5) == 2, np.nan, b)),
    ):
        out = F.linear_cross_entropy(x, wn, t, bn, reduction="none")
        assert np.isnan(out).all()
        assert all(
            np.isnan(g).all()
            for g in F.linear_cross_entropy_backward(np.ones(4, dtype), x, wn, t, bn, reduction="none")
        )


def test_linear_cross_entropy_chunks_agree_at_the_extremes():
    from losslab.registry import LOSSES

    spec = next(s for s in LOSSES if s.name == "LinearCrossEntropyLoss")
    for case in spec.make_cases():
        if "options" in case.options or np.ndim(case.inputs[0]) == 1:
            continue
        for name in spec.differentiable:
            pos = spec.inputs.index(name)
            for value in (INF, -INF, 1e308, -1e308, np.nan):
                inputs = list(case.inputs)
                inputs[pos] = np.array(inputs[pos], copy=True)
                inputs[pos].flat[:: max(1, inputs[pos].size // 3)] = value  # an extreme in several chunks
                whole = _value_and_grads(spec, inputs, case.options)
                # the chunks' products round differently: by eps times the largest finite entry, at most
                size = max(
                    1.0, *(float(np.abs(a[np.isfinite(a)]).max(initial=0)) for a in inputs if a.dtype.kind == "f")
                )
                for rows in (1, 2):
                    opts = {**case.options, "options": F.LinearCrossEntropyOptions(batch_chunk_size=rows)}
                    for got, want in zip(_value_and_grads(spec, inputs, opts), whole, strict=True):
                        np.testing.assert_allclose(
                            got, want, rtol=1e-9, atol=1e-12 * size, err_msg=f"{case.id} {name}={value}"
                        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_softmax_an_infinite_head_bias_on_a_cluster(dtype):
    x, head = arr([[1.0, 2.0], [0.5, -1.0]], dtype), arr([[1.0, 0.0], [0.0, 1.0]], dtype)
    tails = [(arr([[1.0, 1.0]], dtype), arr([[1.0], [-1.0]], dtype))]  # cluster of classes 1, 2: logits (h, -h)
    t = np.array([0, 2])
    # the cluster takes all the head's mass: the shortlist class 0 costs inf, class 2 its tail's log-softmax alone
    out, loss = F.adaptive_log_softmax_with_loss(x, t, head, arr([0.0, INF], dtype), tails, [1, 3])
    h = 0.5 - 1.0
    check(out, [-INF, -math.log1p(math.exp(2 * h))], dtype)  # log softmax(h, -h)_2 = -log(1 + e^{2h})
    check(loss, INF, dtype)
    dx, dhw, dhb, ((dw1, dw2),) = F.adaptive_log_softmax_with_loss_backward(
        0.0, np.ones(2, dtype), x, t, head, arr([0.0, INF], dtype), tails, [1, 3]
    )
    # d out / d head logits = onehot - softmax = (1, -1) and 0; the tail's: onehot - softmax(h, -h)
    q = 1 / (1 + math.exp(-2 * h))  # softmax(h, -h)_1
    check(dhb, [1.0, -1.0], dtype)
    check(dhw, [[1.0, 2.0], [-1.0, -2.0]], dtype)
    check(dw2, [[-q * h], [(1 - (1 - q)) * h]], dtype, atol=1e-6)
    assert np.isfinite(dx).all() and np.isfinite(dw1).all()
    # a NaN in: the rows it reaches
    xn = x.copy()
    xn[0, 0] = np.nan
    out, _ = F.adaptive_log_softmax_with_loss(xn, t, head, None, tails, [1, 3])
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_linear_cross_entropy_is_pytorchs_value_wherever_pytorch_is_finite():
    """PyTorch computes the logits in IEEE arithmetic (0 inf and inf - inf are NaN there); where its value and
    gradients are finite, they are the limit, and losslab's equal them."""
    torch = pytest.importorskip("torch")
    from losslab.registry import LOSSES

    spec = next(s for s in LOSSES if s.name == "LinearCrossEntropyLoss")
    case = spec.make_cases()[0]
    compared = 0
    for name in spec.differentiable:
        pos = spec.inputs.index(name)
        for value in (INF, -INF, 1e308, -1e308, 5e-324):
            for index in (0, -1):
                inputs = [np.array(a, copy=True) for a in case.inputs]
                inputs[pos].flat[index] = value
                x, w, t, b = inputs
                ours = _value_and_grads(spec, inputs, case.options)
                tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
                out = torch.nn.functional.cross_entropy(tx @ tw.T + tb, torch.tensor(t), reduction="none")
                out.sum().backward()
                theirs = [out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]
                for got, want in zip(ours, theirs, strict=True):
                    finite = np.isfinite(want)
                    compared += int(finite.sum())
                    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-9, atol=1e-12)
    assert compared > 0
