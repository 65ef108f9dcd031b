"""Embedding family: hand-computed cases, references written from the docstring formulas, properties, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab.functional import embedding as E
from losslab.gradcheck import gradcheck
from losslab.nn import embedding as nn

RNG = np.random.default_rng(23)
COS_EPS = float(np.float32(1e-12))  # aten's float EPSILON, as the docstring states


# ----------------------------------------------------------------- references from the docstrings


def ref_margin_ranking(x1, x2, y, margin):
    """max(0, -y (x1 - x2) + m) and its gradients -y [z >= 0], y [z >= 0], element by element."""
    loss, g1, g2 = np.zeros(x1.shape), np.zeros(x1.shape), np.zeros(x1.shape)
    for i in np.ndindex(x1.shape):
        z = -y[i] * (x1[i] - x2[i]) + margin
        loss[i] = max(0.0, z)
        g1[i] = -y[i] if z >= 0 else 0.0
        g2[i] = y[i] if z >= 0 else 0.0
    return loss, g1, g2


def ref_cosine(x1, x2, y, margin):
    """Row by row: A, B, c, the loss and dc/dx1 = x2/sqrt(AB) - c x1/A (times dl/dc)."""
    x1, x2, y = np.atleast_2d(x1), np.atleast_2d(x2), np.atleast_1d(y)
    n, d = x1.shape
    loss, g1, g2 = np.zeros(n), np.zeros((n, d)), np.zeros((n, d))
    for i in range(n):
        a = sum(x1[i, k] ** 2 for k in range(d)) + COS_EPS
        b = sum(x2[i, k] ** 2 for k in range(d)) + COS_EPS
        c = sum(x1[i, k] * x2[i, k] for k in range(d)) / math.sqrt(a * b)
        if y[i] == 1:
            loss[i], dldc = 1 - c, -1.0
        else:
            loss[i], dldc = max(0.0, c - margin), (1.0 if c - margin >= 0 else 0.0)
        for k in range(d):
            g1[i, k] = dldc * (x2[i, k] / math.sqrt(a * b) - c * x1[i, k] / a)
            g2[i, k] = dldc * (x1[i, k] / math.sqrt(a * b) - c * x2[i, k] / b)
    return loss, g1, g2


def ref_triplet(a, pos, neg, margin, p, eps, swap):
    """Row by row from the docstring: d(u, w) = ||u - w + eps||_p, the hinge, and its gradients."""
    a, pos, neg = np.atleast_2d(a), np.atleast_2d(pos), np.atleast_2d(neg)
    n, d = a.shape

    def dist(u, w):
        diff = [u[k] - w[k] + eps for k in range(d)]
        return sum(abs(x) ** p for x in diff) ** (1 / p), diff

    def norm_grad(diff, norm):
        if norm == 0:
            return np.zeros(d)
        return np.array([math.copysign(1, x) * (abs(x) / norm) ** (p - 1) if x != 0 else 0.0 for x in diff])

    loss, ga, gp, gn = np.zeros(n), np.zeros((n, d)), np.zeros((n, d)), np.zeros((n, d))
    for i in range(n):
        d_ap, u_ap = dist(a[i], pos[i])
        d_an, u_an = dist(a[i], neg[i])
        d_pn, u_pn = dist(pos[i], neg[i])
        w = 1.0 if not swap or d_an < d_pn else (0.5 if d_an == d_pn else 0.0)
        d_neg = min(d_an, d_pn) if swap else d_an
        z = d_ap - d_neg + margin
        loss[i] = max(z, 0.0)
        if z >= 0:
            n_ap, n_an, n_pn = norm_grad(u_ap, d_ap), norm_grad(u_an, d_an), norm_grad(u_pn, d_pn)
            ga[i] = n_ap - w * n_an
            gp[i] = -n_ap - (1 - w) * n_pn
            gn[i] = w * n_an + (1 - w) * n_pn
    return loss, ga, gp, gn


def reduce_ref(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def grad_scale(loss, reduction):
    return 1.0 / loss.size if reduction == "mean" else 1.0


# ----------------------------------------------------------------- margin ranking


def test_margin_ranking_by_hand():
    x1, x2, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0]), np.array([1.0, -1.0, -1.0])
    # -y (x1 - x2) + 0.5: -(1-2)+0.5 = 1.5; (2-2)+0.5 = 0.5; (3-1)+0.5 = 2.5; mean 4.5/3 = 1.5
    np.testing.assert_array_equal(E.margin_ranking_loss(x1, x2, y, margin=0.5, reduction="none"), [1.5, 0.5, 2.5])
    assert E.margin_ranking_loss(x1, x2, y, margin=0.5) == 1.5
    # margin 0: 1, 0 (the kink), 2; at the kink the gradient is still active: -y = 1 for x1
    g1, g2 = E.margin_ranking_loss_backward(1.0, x1, x2, y, reduction="sum")
    np.testing.assert_array_equal(g1, [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(g2, [1.0, -1.0, -1.0])
    # y = 1 with x1 well above x2: z = -(3 - 1) + 0 = -2 < 0: no loss, no gradient
    g1, g2 = E.margin_ranking_loss_backward(1.0, np.array([3.0]), np.array([1.0]), np.array([1.0]))
    np.testing.assert_array_equal(g1, [0.0])
    np.testing.assert_array_equal(g2, [0.0])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("margin", [0.0, 0.7, -0.3])
def test_margin_ranking_matches_reference(reduction, margin):
    x1, x2 = RNG.normal(0, 1, (4, 5)), RNG.normal(0, 1, (4, 5))
    y = RNG.choice([-1.0, 1.0], (4, 5))
    loss, r1, r2 = ref_margin_ranking(x1, x2, y, margin)
    np.testing.assert_allclose(
        E.margin_ranking_loss(x1, x2, y, margin=margin, reduction=reduction), reduce_ref(loss, reduction), rtol=1e-14
    )
    g1, g2 = E.margin_ranking_loss_backward(1.0, x1, x2, y, margin=margin, reduction=reduction)
    s = grad_scale(loss, reduction)
    np.testing.assert_allclose(g1, s * r1, rtol=1e-15)
    np.testing.assert_allclose(g2, s * r2, rtol=1e-15)


def test_margin_ranking_gradients_are_antisymmetric_and_0d_works():
    x1, x2, y = RNG.normal(0, 1, 7), RNG.normal(0, 1, 7), RNG.choice([-1.0, 1.0], 7)
    g1, g2 = E.margin_ranking_loss_backward(RNG.uniform(0.5, 1.5, 7), x1, x2, y, margin=0.3, reduction="none")
    np.testing.assert_array_equal(g1, -g2)
    assert np.any(g1 != 0)
    out = E.margin_ranking_loss(np.array(1.0), np.array(2.0), np.array(1.0), reduction="none")
    assert out.shape == () and out == 1.0  # -(1 - 2) = 1


# ----------------------------------------------------------------- cosine embedding


def test_cosine_by_hand():
    x1, x2 = np.array([[3.0, 4.0], [3.0, 4.0]]), np.array([[4.0, 3.0], [4.0, 3.0]])
    # x1.x2 = 24, |x1|^2 = |x2|^2 = 25: c = 24 / (25 + eps) = 0.96 up to 1e-12
    out = E.cosine_embedding_loss(x1, x2, np.array([1.0, -1.0]), margin=0.5, reduction="none")
    np.testing.assert_allclose(out, [1 - 0.96, 0.96 - 0.5], rtol=1e-12)
    # dc/dx1 = x2/25 - 0.96 x1/25 = ([4, 3] - [2.88, 3.84]) / 25 = [0.0448, -0.0336]; y = 1: dl/dc = -1
    g1, g2 = E.cosine_embedding_loss_backward(1.0, x1, x2, np.array([1.0, -1.0]), margin=0.5, reduction="sum")
    np.testing.assert_allclose(g1, [[-0.0448, 0.0336], [0.0448, -0.0336]], rtol=1e-11)
    np.testing.assert_allclose(g2, [[0.0336, -0.0448], [-0.0336, 0.0448]], rtol=1e-11)
    # y = -1 below the margin (c = 0.96 < 0.97): no loss, no gradient
    g1, _ = E.cosine_embedding_loss_backward(1.0, x1, x2, np.array([-1.0, -1.0]), margin=0.97)
    np.testing.assert_array_equal(g1, np.zeros((2, 2)))


def test_cosine_epsilon_is_aten_float_epsilon():
    # two equal tiny vectors: c = 1e-14 / (1e-14 + eps), which tells eps = float32(1e-12) from 1e-12
    x = np.array([1e-7, 0.0])
    out = E.cosine_embedding_loss(x, x, np.array(1.0), reduction="none")
    # 1 - c = eps / (1e-14 + eps) = 0.990099009862 with eps = 9.99999996e-13, 0.990099009901 with 1e-12
    assert out == pytest.approx(1 - 1e-14 / (1e-14 + COS_EPS), rel=1e-13)
    assert abs(out - (1 - 1e-14 / (1e-14 + 1e-12))) > 3e-11
    # a zero vector has cosine 0 (eps keeps the denominator positive): loss 1 for y = 1, 0 for y = -1
    z, w = np.zeros((2, 3)), np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(E.cosine_embedding_loss(z, w, np.array([1.0, -1.0]), reduction="none"), [1.0, 0.0])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("margin", [0.0, 0.4, -0.5])
def test_cosine_matches_reference(reduction, margin):
    x1, x2, y = RNG.normal(0, 1, (6, 4)), RNG.normal(0, 1, (6, 4)), RNG.choice([-1.0, 1.0], 6)
    loss, r1, r2 = ref_cosine(x1, x2, y, margin)
    np.testing.assert_allclose(
        E.cosine_embedding_loss(x1, x2, y, margin=margin, reduction=reduction),
        reduce_ref(loss, reduction),
        rtol=1e-13,
        atol=1e-15,
    )
    g1, g2 = E.cosine_embedding_loss_backward(1.0, x1, x2, y, margin=margin, reduction=reduction)
    s = grad_scale(loss, reduction)
    np.testing.assert_allclose(g1, s * r1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g2, s * r2, rtol=1e-12, atol=1e-15)


def test_cosine_unbatched_matches_batch_of_one():
    x1, x2 = RNG.normal(0, 1, 5), RNG.normal(0, 1, 5)
    for y in (1.0, -1.0):
        one = E.cosine_embedding_loss(x1, x2, np.array(y), margin=-0.9, reduction="none")
        batch = E.cosine_embedding_loss(x1[None], x2[None], np.array([y]), margin=-0.9, reduction="none")
        assert one.shape == () and one == batch[0]
        g1, g2 = E.cosine_embedding_loss_backward(1.0, x1, x2, np.array(y), margin=-0.9)
        b1, b2 = E.cosine_embedding_loss_backward(1.0, x1[None], x2[None], np.array([y]), margin=-0.9)
        np.testing.assert_array_equal(g1, b1[0])
        np.testing.assert_array_equal(g2, b2[0])


@pytest.mark.parametrize("k", [0.01, 3.0, 1e5])
def test_cosine_is_scale_invariant_and_its_gradient_scales_by_one_over_k(k):
    x1, x2, y = RNG.normal(0, 1, (5, 3)), RNG.normal(0, 1, (5, 3)), RNG.choice([-1.0, 1.0], 5)
    # invariance is exact but for eps inside |x1|^2 + eps and |k x1|^2 + eps: c moves by about
    # eps / |x1|^2 or eps / (k^2 |x1|^2), whichever is larger, plus rounding
    tol = 1e-14 + 10 * COS_EPS / (min(k * k, 1.0) * float(np.min((x1 * x1).sum(axis=1))))
    base = E.cosine_embedding_loss(x1, x2, y, margin=-1.0, reduction="none")
    np.testing.assert_allclose(
        E.cosine_embedding_loss(k * x1, x2, y, margin=-1.0, reduction="none"), base, rtol=tol, atol=tol
    )
    g1, g2 = E.cosine_embedding_loss_backward(1.0, x1, x2, y, margin=-1.0)
    h1, h2 = E.cosine_embedding_loss_backward(1.0, k * x1, x2, y, margin=-1.0)
    np.testing.assert_allclose(h1 * k, g1, rtol=10 * tol, atol=10 * tol * float(np.max(np.abs(g1))))
    np.testing.assert_allclose(h2, g2, rtol=10 * tol, atol=10 * tol * float(np.max(np.abs(g2))))


def test_cosine_float32_does_not_overflow_where_sqrt_of_product_would():
    # |x|^2 = 2.5e25 per vector: the product of the squared norms (6e50) overflows float32,
    # sqrt(A) sqrt(B) does not; the loss is the float64 value 1 - 0.96 = 0.04
    x1 = np.array([[3e12, 4e12]], dtype=np.float32)
    x2 = np.array([[4e12, 3e12]], dtype=np.float32)
    out = E.cosine_embedding_loss(x1, x2, np.array([1.0]), reduction="none")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.04], rtol=1e-4)
    g1, g2 = E.cosine_embedding_loss_backward(1.0, x1, x2, np.array([1.0]))
    np.testing.assert_allclose(g1, [[-0.0448e-12, 0.0336e-12]], rtol=1e-3)
    assert np.all(np.isfinite(g2))


# ----------------------------------------------------------------- triplet margin


def test_triplet_by_hand():
    a, pos, neg = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]])
    # p = 2: d(a, p) = 5, d(a, n) = 1: 5 - 1 + 1 = 5;  p = 1: 7 - 1 + 1 = 7;  p = 3: 91^(1/3) - 1 + 1
    assert E.triplet_margin_loss(a, pos, neg, eps=0.0) == 5.0
    assert E.triplet_margin_loss(a, pos, neg, eps=0.0, p=1.0) == 7.0
    assert E.triplet_margin_loss(a, pos, neg, eps=0.0, p=3.0) == pytest.approx(91 ** (1 / 3), rel=1e-15)
    # gradients (p = 2): grad d(a,p) wrt a = (a - p)/5 = [-0.6, -0.8]; grad d(a,n) wrt a = (a - n)/1 = [0, -1]
    ga, gp, gn = E.triplet_margin_loss_backward(1.0, a, pos, neg, eps=0.0)
    np.testing.assert_allclose(ga, [[-0.6, 0.2]], rtol=1e-15)
    np.testing.assert_allclose(gp, [[0.6, 0.8]], rtol=1e-15)
    np.testing.assert_allclose(gn, [[0.0, -1.0]], rtol=1e-15)
    # margin 0.5 and d(a, n) = 9 > d(a, p) + 0.5: inactive, zero gradient
    ga, gp, gn = E.triplet_margin_loss_backward(1.0, a, pos, np.array([[9.0, 0.0]]), eps=0.0, margin=0.5)
    for g in (ga, gp, gn):
        np.testing.assert_array_equal(g, np.zeros((1, 2)))


def test_triplet_eps_is_added_to_the_difference():
    # identical anchor and positive: d(a, p) = ||(eps, eps)|| = eps sqrt(2), not 0 and not eps
    a = np.array([[1.0, 2.0]])
    neg = np.array([[1.0, 7.0]])  # d(a, n) = ||(eps, -5 + eps)||
    expected = 1e-3 * math.sqrt(2) - math.hypot(1e-3, 5 - 1e-3) + 1.0
    assert E.triplet_margin_loss(a, a, neg, eps=1e-3) == pytest.approx(max(expected, 0.0), rel=1e-14)
    expected = 1e-3 * math.sqrt(2) - math.hypot(1e-3, 5 - 1e-3) + 6.0
    assert E.triplet_margin_loss(a, a, neg, eps=1e-3, margin=6.0) == pytest.approx(expected, rel=1e-14)


def test_triplet_swap_by_hand_with_a_tie_split_evenly():
    # a = 0, p = (2, 0), n = (1, 5): d(a,p) = 2, d(a,n) = d(p,n) = sqrt(26): a tie in the min
    a, pos, neg = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[1.0, 5.0]])
    r = math.sqrt(26)
    assert E.triplet_margin_loss(a, pos, neg, margin=10.0, eps=0.0, swap=True) == pytest.approx(12 - r, rel=1e-15)
    ga, gp, gn = E.triplet_margin_loss_backward(1.0, a, pos, neg, margin=10.0, eps=0.0, swap=True)
    # grad d(a,n) wrt a = (a - n)/r = (-1, -5)/r; grad d(p,n) wrt p = (p - n)/r = (1, -5)/r; halves of each
    np.testing.assert_allclose(ga, [[-1 + 0.5 / r, 2.5 / r]], rtol=1e-14)
    np.testing.assert_allclose(gp, [[1 - 0.5 / r, 2.5 / r]], rtol=1e-14)
    np.testing.assert_allclose(gn, [[0.0, -5 / r]], atol=1e-15)


def test_triplet_swap_uses_the_closer_negative():
    # p = (1, 0), n = (1, 1): d(p, n) = 1 < d(a, n) = sqrt(2): swap uses d(p, n)
    a, pos, neg = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])
    assert E.triplet_margin_loss(a, pos, neg, eps=0.0, swap=True) == pytest.approx(1 - 1 + 1, rel=1e-15)
    assert E.triplet_margin_loss(a, pos, neg, eps=0.0) == pytest.approx(1 - math.sqrt(2) + 1, rel=1e-15)
    ga, gp, gn = E.triplet_margin_loss_backward(1.0, a, pos, neg, eps=0.0, swap=True)
    # only d(a, p) (grad wrt a: (a - p)/1 = (-1, 0)) and d(p, n) (grad wrt p: (p - n)/1 = (0, -1)) enter
    np.testing.assert_allclose(ga, [[-1.0, 0.0]])
    np.testing.assert_allclose(gp, [[1.0, 1.0]])
    np.testing.assert_allclose(gn, [[0.0, -1.0]])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, 0.5])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_matches_reference(reduction, p, swap):
    a, pos, neg = (RNG.normal(0, 1, (6, 4)) for _ in range(3))
    loss, ra, rp, rn = ref_triplet(a, pos, neg, 1.2, p, 1e-6, swap)
    assert np.any(loss > 0)
    np.testing.assert_allclose(
        E.triplet_margin_loss(a, pos, neg, margin=1.2, p=p, swap=swap, reduction=reduction),
        reduce_ref(loss, reduction),
        rtol=1e-13,
    )
    grads = E.triplet_margin_loss_backward(1.0, a, pos, neg, margin=1.2, p=p, swap=swap, reduction=reduction)
    s = grad_scale(loss, reduction)
    for g, r in zip(grads, (ra, rp, rn), strict=True):
        np.testing.assert_allclose(g, s * r, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("p", [0.5, 1.5, 2.5])
def test_triplet_gradient_check_at_other_p(p):
    # every difference a - p, a - n, p - n at least 0.5 from 0 per component, so each |u_k|^p is
    # smooth over the stencil (for p < 1 its curvature blows up near 0)
    a = RNG.normal(0, 1, (4, 3))
    sign = RNG.choice([-1.0, 1.0], (4, 3))
    pos = a + sign * RNG.uniform(0.5, 1.5, (4, 3))
    neg = a - sign * RNG.uniform(0.5, 1.5, (4, 3))
    dout = RNG.uniform(0.5, 1.5, 4)
    grads = E.triplet_margin_loss_backward(dout, a, pos, neg, margin=2.0, p=p, swap=True, reduction="none")

    def f(*args):
        return float(np.sum(dout * E.triplet_margin_loss(*args, margin=2.0, p=p, swap=True, reduction="none")))

    result = gradcheck(f, (a, pos, neg), grads)
    assert result.ok, str(result)


def test_triplet_gradients_sum_to_zero_with_and_without_swap():
    a, pos, neg = (RNG.normal(0, 1, (8, 3)) for _ in range(3))
    for swap in (False, True):
        ga, gp, gn = E.triplet_margin_loss_backward(1.0, a, pos, neg, margin=1.5, p=3.0, swap=swap)
        assert np.any(ga != 0)
        np.testing.assert_allclose(ga, -(gp + gn), rtol=1e-13, atol=1e-16)


def test_triplet_zero_distance_has_zero_norm_gradient():
    # anchor == positive and eps = 0: d(a, p) = 0 whose gradient is 0 for every p (PyTorch's choice)
    a, neg = np.array([[1.0, 2.0]]), np.array([[1.5, 2.0]])
    for p in (1.0, 1.5, 2.0, 3.0, 0.5):
        ga, gp, gn = E.triplet_margin_loss_backward(1.0, a, a, neg, margin=2.0, eps=0.0, p=p, reduction="sum")
        np.testing.assert_array_equal(gp, [[0.0, 0.0]])
        np.testing.assert_allclose(ga, [[1.0, 0.0]])  # -grad d(a, n) = -(a - n)/0.5 direction: (1, 0)
        np.testing.assert_allclose(gn, [[-1.0, 0.0]])


def test_triplet_large_inputs_stay_finite():
    # |u|^2 = 1e40 overflows float32; the scaled norm does not: d(a,p) = 1e20 sqrt(2), d(a,n) = 1e20
    a = np.array([[1e20, 0.0]], dtype=np.float32)
    pos = np.array([[0.0, 1e20]], dtype=np.float32)
    neg = np.zeros((1, 2), dtype=np.float32)
    for p, expected in ((2.0, (math.sqrt(2) - 1) * 1e20), (3.0, (2 ** (1 / 3) - 1) * 1e20)):
        out = E.triplet_margin_loss(a, pos, neg, p=p, reduction="none")
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, [expected], rtol=1e-5)
        for g in E.triplet_margin_loss_backward(1.0, a, pos, neg, p=p):
            assert np.all(np.isfinite(g))


# ----------------------------------------------------------------- shared properties

CALLS = {
    "margin_ranking": (
        E.margin_ranking_loss,
        E.margin_ranking_loss_backward,
        lambda rng, n: (rng.normal(0, 1, n), rng.normal(0, 1, n), rng.choice([-1.0, 1.0], n)),
        {"margin": 0.2},
    ),
    "cosine": (
        E.cosine_embedding_loss,
        E.cosine_embedding_loss_backward,
        lambda rng, n: (rng.normal(0, 1, (n, 3)), rng.normal(0, 1, (n, 3)), rng.choice([-1.0, 1.0], n)),
        {"margin": -0.2},
    ),
    "triplet": (
        E.triplet_margin_loss,
        E.triplet_margin_loss_backward,
        lambda rng, n: tuple(rng.normal(0, 1, (n, 3)) for _ in range(3)),
        {"margin": 2.0, "swap": True},
    ),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_sum_is_mean_times_n(name):
    fn, back, make, opts = CALLS[name]
    inputs = make(np.random.default_rng(5), 9)
    assert fn(*inputs, **opts, reduction="sum") == pytest.approx(9 * fn(*inputs, **opts, reduction="mean"), rel=1e-14)
    for gs, gm in zip(back(1.0, *inputs, **opts, reduction="sum"), back(1.0, *inputs, **opts, reduction="mean")):
        np.testing.assert_allclose(gs, 9 * gm, rtol=1e-14)


@pytest.mark.parametrize("name", list(CALLS))
def test_permuting_the_batch_permutes_none_and_the_gradients(name):
    fn, back, make, opts = CALLS[name]
    inputs = make(np.random.default_rng(6), 8)
    perm = np.random.default_rng(7).permutation(8)
    permuted = tuple(x[perm] for x in inputs)
    np.testing.assert_array_equal(fn(*permuted, **opts, reduction="none"), fn(*inputs, **opts, reduction="none")[perm])
    dout = np.random.default_rng(8).uniform(0.5, 1.5, 8)
    for gp, g in zip(
        back(dout[perm], *permuted, **opts, reduction="none"), back(dout, *inputs, **opts, reduction="none")
    ):
        np.testing.assert_array_equal(gp, g[perm])


@pytest.mark.parametrize("name", list(CALLS))
def test_mixed_precision_follows_the_first_input(name):
    fn, back, make, opts = CALLS[name]
    inputs = make(np.random.default_rng(9), 4)
    mixed = (inputs[0].astype(np.float32),) + tuple(x.astype(np.float64) for x in inputs[1:])
    assert fn(*mixed, **opts).dtype == np.float32
    for g in back(1.0, *mixed, **opts):
        assert g.dtype == np.float32


@pytest.mark.parametrize("name", list(CALLS))
def test_inputs_are_not_modified(name):
    fn, back, make, opts = CALLS[name]
    inputs = make(np.random.default_rng(10), 5)
    before = [x.copy() for x in inputs]
    fn(*inputs, **opts, reduction="none")
    back(np.ones(5), *inputs, **opts, reduction="none")
    for b, x in zip(before, inputs):
        np.testing.assert_array_equal(b, x)


def test_classes_hold_pytorch_options_positionally():
    loss = nn.TripletMarginLoss(0.5, 3.0, 1e-4, True, reduction="sum")
    assert (loss.margin, loss.p, loss.eps, loss.swap, loss.reduction) == (0.5, 3.0, 1e-4, True, "sum")
    assert loss.options() == {"margin": 0.5, "p": 3.0, "eps": 1e-4, "swap": True, "reduction": "sum"}
    assert nn.MarginRankingLoss(0.3).options() == {"margin": 0.3, "reduction": "mean"}
    assert nn.CosineEmbeddingLoss(-0.2, reduction="none").margin == -0.2
    assert repr(nn.CosineEmbeddingLoss()) == "CosineEmbeddingLoss(margin=0.0, reduction='mean')"
    with pytest.raises(TypeError):
        nn.MarginRankingLoss(0.1, "sum")  # reduction is keyword-only


# ----------------------------------------------------------------- validation


def test_margin_ranking_rejects_bad_input():
    x, y = np.zeros(3), np.ones(3)
    with pytest.raises(TypeError, match="input1 must be a float32 or float64 array"):
        E.margin_ranking_loss(np.zeros(3, dtype=int), x, y)
    with pytest.raises(TypeError, match="input2 must be a float32 or float64 array"):
        E.margin_ranking_loss(x, [1, 2, 3], y)
    with pytest.raises(ValueError, match=r"input1 and input2 must have the same shape, got \(3,\) and \(4,\)"):
        E.margin_ranking_loss(x, np.zeros(4), y)
    with pytest.raises(ValueError, match=r"target must have the shape of input1, \(3,\), got \(1,\)"):
        E.margin_ranking_loss(x, x, np.ones(1))
    with pytest.raises(ValueError, match="target must hold only the labels 1 and -1, got the value 0.5"):
        E.margin_ranking_loss(x, x, np.array([1.0, 0.5, -1.0]))
    with pytest.raises(TypeError, match="target must hold the labels 1 and -1"):
        E.margin_ranking_loss(x, x, np.array(["1", "1", "1"]))
    with pytest.raises(ValueError, match="margin must be finite"):
        E.margin_ranking_loss_backward(1.0, x, x, y, margin=float("nan"))
    with pytest.raises(TypeError, match="margin must be a real number"):
        nn.MarginRankingLoss("0.5")


def test_cosine_rejects_bad_input():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"input1 must be a 2-D \(N, D\) batch .* got an array of shape \(2, 3, 1\)"):
        E.cosine_embedding_loss(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), np.ones(2))
    with pytest.raises(ValueError, match=r"input1 must be a 2-D .*shape \(\)"):
        E.cosine_embedding_loss(np.array(1.0), np.array(1.0), np.array(1.0))
    with pytest.raises(ValueError, match=r"input1 and input2 must have the same shape, got \(2, 3\) and \(1, 3\)"):
        E.cosine_embedding_loss(x, np.zeros((1, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"target must have the shape of the batch of input1, \(2,\), got \(3,\)"):
        E.cosine_embedding_loss(x, x, np.ones(3))
    with pytest.raises(ValueError, match=r"target must have the shape of the batch of input1, \(\), got \(1,\)"):
        E.cosine_embedding_loss(np.zeros(3), np.zeros(3), np.ones(1))
    with pytest.raises(ValueError, match="target must hold only the labels 1 and -1, got the value 0"):
        E.cosine_embedding_loss_backward(1.0, x, x, np.array([1, 0]))
    with pytest.raises(ValueError, match="margin must be finite"):
        nn.CosineEmbeddingLoss(float("inf"))


def test_triplet_rejects_bad_input():
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match="anchor must be a float32 or float64 array"):
        E.triplet_margin_loss(np.zeros((2, 3), dtype=np.float16), x, x)
    with pytest.raises(ValueError, match=r"anchor must be a 2-D \(N, D\) batch .*shape \(2, 3, 4\)"):
        E.triplet_margin_loss(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"anchor and positive must have the same shape, got \(2, 3\) and \(3,\)"):
        E.triplet_margin_loss(x, np.zeros(3), x)
    with pytest.raises(ValueError, match=r"anchor and negative must have the same shape, got \(2, 3\) and \(1, 3\)"):
        E.triplet_margin_loss_backward(1.0, x, x, np.zeros((1, 3)))
    with pytest.raises(TypeError, match="negative must be a float32 or float64 array"):
        E.triplet_margin_loss(x, x, np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"margin must lie in \(0.0, inf\], got 0.0"):
        E.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match=r"margin must lie in \(0.0, inf\], got -1.0"):
        nn.TripletMarginLoss(-1.0)
    with pytest.raises(ValueError, match=r"p must lie in \(0.0, inf\], got 0"):
        E.triplet_margin_loss(x, x, x, p=0)
    with pytest.raises(ValueError, match="p must be finite"):
        nn.TripletMarginLoss(p=float("inf"))
    with pytest.raises(ValueError, match=r"eps must lie in \[0.0, inf\], got -1e-06"):
        E.triplet_margin_loss(x, x, x, eps=-1e-6)
    with pytest.raises(TypeError, match="swap must be True or False, got 1"):
        E.triplet_margin_loss(x, x, x, swap=1)
    with pytest.raises(TypeError, match="swap must be True or False"):
        nn.TripletMarginLoss(swap="yes")


# ----------------------------------------------------------------- PyTorch corners (skipped without torch)


def _torch_grads(fn, arrays, grad_positions, **kwargs):
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, requires_grad=i in grad_positions) for i, a in enumerate(arrays)]
    out = getattr(torch.nn.functional, fn)(*tensors, **kwargs)
    out.sum().backward()
    return out.detach().numpy(), [tensors[i].grad.numpy() for i in grad_positions]


def test_torch_gradient_at_the_kinks():
    pytest.importorskip("torch")
    # margin ranking: z = -y (x1 - x2) + 0 is 0 in the first two entries, -0.5 in the last
    x1, x2, y = np.array([1.0, 1.5, 0.5]), np.array([1.0, 1.5, 1.0]), np.array([1.0, -1.0, -1.0])
    out, tg = _torch_grads("margin_ranking_loss", (x1, x2, y), (0, 1), reduction="none")
    ours = E.margin_ranking_loss_backward(np.ones(3), x1, x2, y, reduction="none")
    np.testing.assert_array_equal(out, E.margin_ranking_loss(x1, x2, y, reduction="none"))
    for g, t in zip(ours, tg):
        np.testing.assert_array_equal(g, t)
    np.testing.assert_array_equal(ours[0], [-1.0, 1.0, 0.0])
    # cosine, y = -1 with the margin exactly at the cosine: c - m = 0
    x1, x2 = np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]])
    c = 24 / np.sqrt((25 + COS_EPS) * (25 + COS_EPS))  # aten's order of operations
    out, tg = _torch_grads(
        "cosine_embedding_loss", (x1, x2, np.array([-1.0])), (0, 1), margin=float(c), reduction="sum"
    )
    ours = E.cosine_embedding_loss_backward(1.0, x1, x2, np.array([-1.0]), margin=float(c), reduction="sum")
    assert E.cosine_embedding_loss(x1, x2, np.array([-1.0]), margin=float(c)) == out == 0.0
    assert np.all(ours[0] != 0)
    for g, t in zip(ours, tg):
        np.testing.assert_allclose(g, t, rtol=1e-12)
    # triplet: d(a,p) - d(a,n) + m = 1 - 3 + 2 = 0
    a, pos, neg = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[3.0, 0.0]])
    out, tg = _torch_grads("triplet_margin_loss", (a, pos, neg), (0, 1, 2), margin=2.0, eps=0.0, reduction="sum")
    ours = E.triplet_margin_loss_backward(1.0, a, pos, neg, margin=2.0, eps=0.0, reduction="sum")
    assert out == 0.0
    for g, t in zip(ours, tg):
        np.testing.assert_array_equal(g, t)
    np.testing.assert_array_equal(ours[1], [[1.0, 0.0]])


def test_torch_splits_the_swap_tie_as_we_do():
    a, pos, neg = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[1.0, 5.0]])
    out, tg = _torch_grads(
        "triplet_margin_loss", (a, pos, neg), (0, 1, 2), margin=10.0, eps=0.0, swap=True, reduction="sum"
    )
    ours = E.triplet_margin_loss_backward(1.0, a, pos, neg, margin=10.0, eps=0.0, swap=True, reduction="sum")
    assert E.triplet_margin_loss(a, pos, neg, margin=10.0, eps=0.0, swap=True, reduction="sum") == pytest.approx(
        float(out), rel=1e-15
    )
    for g, t in zip(ours, tg):
        np.testing.assert_allclose(g, t, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1e-4, 1e4])
def test_extreme_scales_are_finite_and_match_torch(dtype, scale):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(31)
    rtol = 1e-7 if dtype == np.float64 else 2e-4
    x1, x2, x3 = (
        (scale * rng.normal(0, 1, (6, 3))).astype(dtype),
        (scale * rng.normal(0, 1, (6, 3))).astype(dtype),
        (scale * rng.normal(0, 1, (6, 3))).astype(dtype),
    )
    y = rng.choice([-1.0, 1.0], 6).astype(dtype)
    cases = [
        (
            "margin_ranking_loss",
            E.margin_ranking_loss,
            E.margin_ranking_loss_backward,
            (x1[:, 0], x2[:, 0], y),
            (0, 1),
            {"margin": 0.1 * scale},
        ),
        (
            "cosine_embedding_loss",
            E.cosine_embedding_loss,
            E.cosine_embedding_loss_backward,
            (x1, x2, y),
            (0, 1),
            {"margin": -0.5},
        ),
        (
            "triplet_margin_loss",
            E.triplet_margin_loss,
            E.triplet_margin_loss_backward,
            (x1, x2, x3),
            (0, 1, 2),
            {"margin": scale, "p": 3.0, "swap": True},
        ),
    ]
    for name, fn, back, inputs, pos, opts in cases:
        ours = fn(*inputs, **opts, reduction="none")
        grads = back(np.ones(6, dtype=dtype), *inputs, **opts, reduction="none")
        assert np.all(np.isfinite(ours)) and all(np.all(np.isfinite(g)) for g in grads)
        tensors = [torch.from_numpy(a.copy()).requires_grad_(i in pos) for i, a in enumerate(inputs)]
        out = getattr(torch.nn.functional, name)(*tensors, **opts, reduction="none")
        out.sum().backward()
        scale_out = float(np.max(np.abs(out.detach().numpy())))
        np.testing.assert_allclose(ours, out.detach().numpy(), rtol=rtol, atol=rtol * scale_out, err_msg=name)
        for g, i in zip(grads, pos):
            t = tensors[i].grad.numpy()
            np.testing.assert_allclose(g, t, rtol=rtol, atol=rtol * float(np.max(np.abs(t))), err_msg=name)
