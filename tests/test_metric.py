"""Metric learning: distances, triplet with a distance, contrastive, NT-Xent (optax goldens), properties, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from losslab._fast import _dispatch
from losslab._validation import BackwardBeforeForwardError
from losslab.functional import metric as M
from losslab.gradcheck import gradcheck
from losslab.nn import metric as nn

RNG = np.random.default_rng(59)
GOLDEN = Path(__file__).parent / "golden" / "metric_golden.npz"


def reduce_ref(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def check_gradient(f, inputs, grads, wrt):
    result = gradcheck(lambda *a: float(np.sum(f(*a))), inputs, grads, wrt=wrt)
    assert result.ok, str(result)


# ----------------------------------------------------------------- distances


def test_pairwise_distance_by_hand():
    x1, x2 = np.array([[3.0, 4.0], [1.0, -2.0]]), np.array([[0.0, 0.0], [1.0, 0.0]])
    # ||(3, 4)|| = 5; ||(0, -2)|| = 2; p = 1: 7 and 2
    np.testing.assert_array_equal(M.pairwise_distance(x1, x2, eps=0.0), [5.0, 2.0])
    np.testing.assert_array_equal(M.pairwise_distance(x1, x2, p=1.0, eps=0.0), [7.0, 2.0])
    # eps is added to the difference: ||(3.5, 4.5)|| = sqrt(32.5)
    assert M.pairwise_distance(x1[0], x2[0], eps=0.5) == pytest.approx(math.sqrt(32.5), rel=1e-15)
    g1, g2 = M.pairwise_distance_backward(np.array([1.0, 2.0]), x1, x2, eps=0.0)
    np.testing.assert_allclose(g1, [[0.6, 0.8], [0.0, -2.0]], rtol=1e-15)
    np.testing.assert_array_equal(g2, -g1)


def test_cosine_distance_by_hand_and_eps_clamps_each_norm():
    # cos((3, 4), (4, 3)) = 24 / 25: distance 0.04
    np.testing.assert_allclose(M.cosine_distance(np.array([3.0, 4.0]), np.array([4.0, 3.0])), 0.04, rtol=1e-13)
    # |x1| = 1e-9 < eps = 1e-8: x1 / eps = (0.1, 0), so cos with (5, 0) is 0.1, not 1 (PyTorch's semantics)
    np.testing.assert_allclose(M.cosine_distance(np.array([1e-9, 0.0]), np.array([5.0, 0.0])), 0.9, rtol=1e-13)
    # a zero vector: similarity 0, distance 1
    assert M.cosine_distance(np.zeros(3), np.ones(3)) == 1.0


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_pairwise_distance_gradient(p):
    x1, x2 = RNG.normal(0, 1, (4, 3)), RNG.normal(0, 1, (4, 3))
    dout = RNG.uniform(0.5, 1.5, 4)
    grads = M.pairwise_distance_backward(dout, x1, x2, p=p)
    check_gradient(lambda a, b: dout * M.pairwise_distance(a, b, p=p), (x1, x2), grads, (0, 1))


@pytest.mark.parametrize("scale", [1.0, 1e-9])  # 1e-9: norms below eps, where the clamp is a constant
def test_cosine_distance_gradient_is_the_derivative_of_the_value(scale):
    x1, x2 = RNG.normal(0, 1, (4, 3)) * scale, RNG.normal(0, 1, (4, 3))
    dout = RNG.uniform(0.5, 1.5, 4)
    grads = M.cosine_distance_backward(dout, x1, x2)
    result = gradcheck(
        lambda a, b: float(np.sum(dout * M.cosine_distance(a, b))), (x1, x2), grads, wrt=(0, 1), h=1e-3 * scale
    )
    assert result.ok, str(result)


def test_cosine_distance_matches_torch_and_differs_only_below_eps():
    torch = pytest.importorskip("torch")
    for scale, same_grad in ((1.0, True), (1e-9, False)):
        x1, x2 = RNG.normal(0, 1, (3, 4)) * scale, RNG.normal(0, 1, (3, 4))
        t1, t2 = (torch.from_numpy(a).requires_grad_() for a in (x1, x2))
        out = 1 - torch.nn.functional.cosine_similarity(t1, t2, dim=-1, eps=1e-8)
        out.sum().backward()
        np.testing.assert_allclose(M.cosine_distance(x1, x2), out.detach().numpy(), rtol=1e-12)
        g1, g2 = M.cosine_distance_backward(1.0, x1, x2)
        np.testing.assert_allclose(g2, t2.grad.numpy(), rtol=1e-10)
        # below eps PyTorch keeps the norm's derivative although the clamped norm is a constant
        assert np.allclose(g1, t1.grad.numpy(), rtol=1e-10) == same_grad


def test_distance_objects_cache_forward_and_check_order():
    x1, x2 = RNG.normal(0, 1, (3, 2)), RNG.normal(0, 1, (3, 2))
    for obj, fn, bwd, opts in (
        (
            nn.PairwiseDistance(p=1.0, eps=0.0),
            M.pairwise_distance,
            M.pairwise_distance_backward,
            {"p": 1.0, "eps": 0.0},
        ),
        (nn.CosineDistance(eps=1e-3), M.cosine_distance, M.cosine_distance_backward, {"eps": 1e-3}),
    ):
        with pytest.raises(BackwardBeforeForwardError, match="before forward"):
            obj.backward()
        np.testing.assert_array_equal(obj(x1, x2), fn(x1, x2, **opts))
        for g, e in zip(obj.backward(2.0), bwd(2.0, x1, x2, **opts), strict=True):
            np.testing.assert_array_equal(g, e)
    assert repr(nn.PairwiseDistance()) == "PairwiseDistance(p=2.0, eps=1e-06)"
    assert repr(nn.CosineDistance()) == "CosineDistance(eps=1e-08)"
    with pytest.raises(ValueError, match=r"p must lie in \(0.0, inf\]"):
        nn.PairwiseDistance(p=0.0)
    with pytest.raises(ValueError, match="eps must lie in"):
        nn.CosineDistance(eps=-1.0)


# ----------------------------------------------------------------- triplet with a distance


def ref_distance(kind, u, w):
    """The distance and its gradients for u and w, row by row, from the docstrings (kind: pairwise | cosine)."""
    if kind == "pairwise":
        diff = [a - b + 1e-6 for a, b in zip(u, w)]
        d = math.sqrt(sum(x * x for x in diff))
        g = np.array(diff) / d
        return d, g, -g
    nu, nw = max(math.sqrt(sum(x * x for x in u)), 1e-8), max(math.sqrt(sum(x * x for x in w)), 1e-8)
    c = sum(a * b for a, b in zip(u, w)) / (nu * nw)
    return 1 - c, -(w / nw - c * u / nu) / nu, -(u / nu - c * w / nw) / nw


def ref_triplet(a, pos, neg, kind, margin, swap):
    n = len(a)
    loss, ga, gp, gn = np.zeros(n), np.zeros(a.shape), np.zeros(a.shape), np.zeros(a.shape)
    for i in range(n):
        d_ap, ap_a, ap_p = ref_distance(kind, a[i], pos[i])
        d_an, an_a, an_n = ref_distance(kind, a[i], neg[i])
        d_pn, pn_p, pn_n = ref_distance(kind, pos[i], neg[i])
        w = 1.0 if not swap or d_an < d_pn else (0.5 if d_an == d_pn else 0.0)
        z = margin + d_ap - (min(d_an, d_pn) if swap else d_an)
        loss[i] = max(z, 0.0)
        if z >= 0:
            ga[i] = ap_a - w * an_a
            gp[i] = ap_p - (1 - w) * pn_p
            gn[i] = -w * an_n - (1 - w) * pn_n
    return loss, ga, gp, gn


def test_triplet_with_distance_by_hand():
    a, p, n = np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[0.0, 1.0]])
    # cosine: 1 + (1 - cos 45deg) - (1 - cos 90deg) = 1 - 0.70710678 + 0 ... = 0.29289322
    out = M.triplet_margin_with_distance_loss(a, p, n, distance_function="cosine", reduction="none")
    np.testing.assert_allclose(out, [1 - math.sqrt(0.5)], rtol=1e-12)
    # Euclidean (eps aside): 1 + 1 - sqrt(2) = 0.58578644
    out = M.triplet_margin_with_distance_loss(a, p, n, distance_function=nn.PairwiseDistance(eps=0.0))
    assert out == pytest.approx(2 - math.sqrt(2), rel=1e-14)
    # inactive hinge: margin 0.1 + 1 - sqrt(2) < 0: no loss, no gradient
    ga, gp, gn = M.triplet_margin_with_distance_loss_backward(1.0, a, p, n, margin=0.1)
    assert not (ga.any() or gp.any() or gn.any())


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "kind, swap, margin",
    [("pairwise", False, 1.0), ("pairwise", True, 2.0), ("cosine", False, 0.5), ("cosine", True, 1.0)],
)
def test_triplet_with_distance_matches_reference(kind, swap, margin, reduction):
    a, p, n = (RNG.normal(0, 1, (6, 3)) for _ in range(3))
    loss, ra, rp, rn = ref_triplet(a, p, n, kind, margin, swap)
    opts = dict(distance_function=kind, margin=margin, swap=swap, reduction=reduction)
    np.testing.assert_allclose(
        M.triplet_margin_with_distance_loss(a, p, n, **opts), reduce_ref(loss, reduction), rtol=1e-12
    )
    scale = 1 / 6 if reduction == "mean" else 1.0
    for g, r in zip(M.triplet_margin_with_distance_loss_backward(1.0, a, p, n, **opts), (ra, rp, rn), strict=True):
        np.testing.assert_allclose(g, scale * r, rtol=1e-10, atol=1e-15)


def _torch_distance_cases():
    return [
        None,
        "pairwise",
        "cosine",
        nn.PairwiseDistance(p=1.0, eps=0.0),
        nn.PairwiseDistance(p=3.0),
        nn.CosineDistance(eps=1e-3),
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("distance", _torch_distance_cases(), ids=repr)
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_with_distance_matches_torch(distance, swap, dtype):
    torch = pytest.importorskip("torch")
    from _support import torch_distance

    tol = dict(rtol=1e-7, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-6)
    for shape, margin in (((7, 4), 1.0), ((5,), 0.3)):
        a, p, n = (RNG.normal(0, 1, shape).astype(dtype) for _ in range(3))
        for reduction in ("none", "mean", "sum"):
            ts = [torch.from_numpy(x).requires_grad_() for x in (a, p, n)]
            t_out = torch.nn.functional.triplet_margin_with_distance_loss(
                *ts, distance_function=torch_distance(distance), margin=margin, swap=swap, reduction=reduction
            )
            opts = dict(distance_function=distance, margin=margin, swap=swap, reduction=reduction)
            out = M.triplet_margin_with_distance_loss(a, p, n, **opts)
            assert np.asarray(out).dtype == dtype
            np.testing.assert_allclose(out, t_out.detach().numpy(), **tol)
            dout = RNG.uniform(0.5, 1.5, np.shape(out)).astype(dtype)
            t_out.backward(torch.from_numpy(np.array(dout)))
            grads = M.triplet_margin_with_distance_loss_backward(dout, a, p, n, **opts)
            for g, t in zip(grads, ts, strict=True):
                assert g.dtype == dtype
                np.testing.assert_allclose(g, t.grad.numpy(), **tol)


def test_swap_tie_splits_the_gradient_evenly_as_torch_minimum():
    a, p, n = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[1.0, 5.0]])  # d(a,n) = d(p,n) = sqrt(26)
    dist = nn.PairwiseDistance(eps=0.0)
    ga, gp, gn = M.triplet_margin_with_distance_loss_backward(
        1.0, a, p, n, distance_function=dist, margin=10.0, swap=True
    )
    u_an, u_pn = np.array([-1.0, -5.0]) / math.sqrt(26), np.array([1.0, -5.0]) / math.sqrt(26)
    np.testing.assert_allclose(ga[0], [-1.0, 0.0] - 0.5 * u_an, rtol=1e-14)  # grad d(a,p) = (a - p)/2
    np.testing.assert_allclose(gp[0], [1.0, 0.0] - 0.5 * u_pn, rtol=1e-14)
    np.testing.assert_allclose(gn[0], 0.5 * u_an + 0.5 * u_pn, rtol=1e-14)
    torch = pytest.importorskip("torch")
    ts = [torch.from_numpy(x).requires_grad_() for x in (a, p, n)]
    torch.nn.functional.triplet_margin_with_distance_loss(
        *ts, distance_function=lambda x, y: torch.nn.functional.pairwise_distance(x, y, eps=0.0), margin=10.0, swap=True
    ).backward()
    for g, t in zip((ga, gp, gn), ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-14)


class SquaredEuclidean:
    """A user's distance object: ||x1 - x2||^2 over every axis but the first, with its backward."""

    def __init__(self):
        self.calls = []

    def forward(self, x1, x2):
        self.calls.append("forward")
        self._diff = x1 - x2
        return (self._diff**2).reshape(len(x1), -1).sum(axis=1)

    def backward(self, dout):
        self.calls.append("backward")
        g = 2 * self._diff * np.reshape(dout, (-1,) + (1,) * (self._diff.ndim - 1))
        return g, -g


def test_custom_distance_object_protocol():
    a, p, n = (RNG.normal(0, 1, (4, 2, 3)) for _ in range(3))  # (N, ...) inputs: the distance decides
    dist = SquaredEuclidean()
    out = M.triplet_margin_with_distance_loss(a, p, n, distance_function=dist, margin=2.0, reduction="none")
    d_ap, d_an = ((a - p) ** 2).sum(axis=(1, 2)), ((a - n) ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(out, np.maximum(2.0 + d_ap - d_an, 0), rtol=1e-14)
    dist.calls.clear()
    grads = M.triplet_margin_with_distance_loss_backward(1.0, a, p, n, distance_function=dist, margin=2.0, swap=True)
    assert dist.calls[-6:] == ["forward", "backward"] * 3  # each distance: forward, then its backward
    check_gradient(
        lambda *x: M.triplet_margin_with_distance_loss(*x, distance_function=dist, margin=2.0, swap=True),
        (a, p, n),
        grads,
        (0, 1, 2),
    )
    loss = nn.TripletMarginWithDistanceLoss(distance_function=dist, margin=2.0, reduction="sum")
    assert loss(a, p, n) == pytest.approx(out.sum(), rel=1e-14)
    assert "SquaredEuclidean" in repr(loss)


class _BadForward:
    def __init__(self, out):
        self.out = out

    def forward(self, x1, x2):
        return self.out

    def backward(self, dout):
        return np.zeros(3), np.zeros(3)


def test_bad_distance_functions_are_refused():
    a, p, n = (RNG.normal(0, 1, (3, 2)) for _ in range(3))
    with pytest.raises(TypeError, match="a plain function has no backward pass"):
        M.triplet_margin_with_distance_loss(a, p, n, distance_function=lambda x, y: x.sum(-1))
    with pytest.raises(TypeError, match="object with forward"):
        nn.TripletMarginWithDistanceLoss(distance_function=3)
    with pytest.raises(ValueError, match="distance_function must be None, 'pairwise', 'cosine'.*got 'manhattan'"):
        M.triplet_margin_with_distance_loss(a, p, n, distance_function="manhattan")
    with pytest.raises(
        ValueError, match=r"one float distance per triplet, shape \(3,\), got an array of shape \(3, 1\)"
    ):
        M.triplet_margin_with_distance_loss(a, p, n, distance_function=_BadForward(np.zeros((3, 1))))
    with pytest.raises(ValueError, match=r"one float distance per triplet.*dtype int64"):
        M.triplet_margin_with_distance_loss(a, p, n, distance_function=_BadForward(np.zeros(3, dtype=np.int64)))
    with pytest.raises(
        ValueError, match=r"backward\(dout\) must return a pair \(dx1, dx2\) of arrays of shape \(3, 2\)"
    ):
        M.triplet_margin_with_distance_loss_backward(1.0, a, p, n, distance_function=_BadForward(np.zeros(3)))


def test_triplet_with_distance_rejects_bad_input():
    a, p, n = (RNG.normal(0, 1, (3, 2)) for _ in range(3))
    f = M.triplet_margin_with_distance_loss
    with pytest.raises(ValueError, match=r"margin must lie in \(0.0, inf\], got 0.0"):
        f(a, p, n, margin=0.0)
    with pytest.raises(TypeError, match="swap must be True or False"):
        f(a, p, n, swap=1)
    with pytest.raises(ValueError, match=r"anchor and positive must have the same shape, got \(3, 2\) and \(3, 3\)"):
        f(a, np.zeros((3, 3)), n)
    with pytest.raises(ValueError, match=r"anchor must be a 2-D \(N, D\) batch.*got an array of shape \(3, 2, 1\)"):
        f(a[..., None], p[..., None], n[..., None])
    with pytest.raises(ValueError, match=r"anchor must be a batch \(N, ...\) or a single vector"):
        f(np.array(1.0), np.array(2.0), np.array(3.0), distance_function=SquaredEuclidean())
    with pytest.raises(TypeError, match="negative must be a float32 or float64 array"):
        f(a, p, np.ones((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="reduction must be one of"):
        f(a, p, n, reduction="batchmean")


def test_triplet_with_distance_properties():
    a, p, n = (RNG.normal(0, 1, (6, 3)) for _ in range(3))
    f, b = M.triplet_margin_with_distance_loss, M.triplet_margin_with_distance_loss_backward
    for kind in (None, "cosine"):
        none = f(a, p, n, distance_function=kind, swap=True, reduction="none")
        assert f(a, p, n, distance_function=kind, swap=True, reduction="sum") == pytest.approx(
            6 * f(a, p, n, distance_function=kind, swap=True), rel=1e-14
        )
        perm = RNG.permutation(6)
        np.testing.assert_array_equal(
            f(a[perm], p[perm], n[perm], distance_function=kind, swap=True, reduction="none"), none[perm]
        )
    ga, gp, gn = b(1.0, a, p, n, swap=True)  # Euclidean: moving all three together changes nothing
    np.testing.assert_allclose(ga + gp + gn, 0.0, atol=1e-15)


# ----------------------------------------------------------------- contrastive (Hadsell, Chopra, LeCun 2006)


def ref_contrastive(x1, x2, y, margin):
    """Row by row from the docstring: d, the two branches, and d l / d x1."""
    loss, g = np.zeros(len(x1)), np.zeros(x1.shape)
    for i in range(len(x1)):
        diff = x1[i] - x2[i]
        d = math.sqrt(sum(v * v for v in diff))
        if y[i] == 1:
            loss[i], g[i] = 0.5 * d * d, diff
        else:
            loss[i] = 0.5 * max(0.0, margin - d) ** 2
            g[i] = -max(0.0, margin - d) * diff / d if d > 0 else 0.0
    return loss, g


def test_contrastive_by_hand():
    x1 = np.array([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0], [0.0, 0.0]])
    x2 = np.zeros((4, 2))
    y = np.array([1, 0, 0, 0])
    # d = 5, 0.5, 5, 0: similar 25/2 = 12.5; dissimilar (1 - 0.5)^2/2 = 0.125, max(0, 1 - 5) = 0, (1 - 0)^2/2 = 0.5
    np.testing.assert_allclose(M.contrastive_loss(x1, x2, y, reduction="none"), [12.5, 0.125, 0.0, 0.5], rtol=1e-15)
    assert M.contrastive_loss(x1, x2, y) == pytest.approx(13.125 / 4, rel=1e-15)
    # d/dx1: (3, 4); -(1 - 0.5) (0.3, 0.4) / 0.5 = (-0.3, -0.4); 0 beyond the margin; 0 at d = 0 (the cone's tip)
    g1, g2 = M.contrastive_loss_backward(1.0, x1, x2, y, reduction="sum")
    np.testing.assert_allclose(g1, [[3.0, 4.0], [-0.3, -0.4], [0.0, 0.0], [0.0, 0.0]], rtol=1e-15)
    np.testing.assert_array_equal(g2, -g1)
    # margin 6: the third pair is now inside it: (6 - 5)^2 / 2 = 0.5
    assert M.contrastive_loss(x1[2], x2[2], np.array(0), margin=6.0, reduction="none") == pytest.approx(0.5)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("margin", [0.5, 1.0, 3.0])
def test_contrastive_matches_reference(margin, reduction):
    x1, x2, y = RNG.normal(0, 1, (8, 3)), RNG.normal(0, 1, (8, 3)), RNG.integers(0, 2, 8)
    loss, g = ref_contrastive(x1, x2, y, margin)
    np.testing.assert_allclose(
        M.contrastive_loss(x1, x2, y, margin=margin, reduction=reduction), reduce_ref(loss, reduction), rtol=1e-13
    )
    g1, g2 = M.contrastive_loss_backward(1.0, x1, x2, y, margin=margin, reduction=reduction)
    scale = 1 / 8 if reduction == "mean" else 1.0
    np.testing.assert_allclose(g1, scale * g, rtol=1e-13, atol=1e-16)
    np.testing.assert_array_equal(g2, -g1)


def test_contrastive_properties():
    x1, x2, y = RNG.normal(0, 1, (6, 4)), RNG.normal(0, 1, (6, 4)), np.array([1, 0, 1, 0, 0, 1])
    none = M.contrastive_loss(x1, x2, y, reduction="none")
    assert M.contrastive_loss(x1, x2, y, reduction="sum") == pytest.approx(6 * M.contrastive_loss(x1, x2, y))
    perm = RNG.permutation(6)
    np.testing.assert_array_equal(M.contrastive_loss(x1[perm], x2[perm], y[perm], reduction="none"), none[perm])
    np.testing.assert_allclose(M.contrastive_loss(x2, x1, y, reduction="none"), none, rtol=1e-15)  # symmetric
    for labels in (y.astype(float), y.astype(bool), y.astype(np.int8)):  # any real dtype holding 0 / 1
        np.testing.assert_array_equal(M.contrastive_loss(x1, x2, labels, reduction="none"), none)
    one = M.contrastive_loss(x1[1], x2[1], np.array(0), reduction="none")
    assert one.shape == () and one == none[1]
    x32 = x1.astype(np.float32)
    out = M.contrastive_loss(x32, x2, y)
    assert isinstance(out, np.float32)
    assert all(g.dtype == np.float32 for g in M.contrastive_loss_backward(1.0, x32, x2, y))


def test_contrastive_extreme_distances():
    big = np.array([[3e30, 4e30]], dtype=np.float32)  # |x|^2 overflows float32; the scaled norm does not
    assert M.contrastive_loss(big, np.zeros((1, 2), np.float32), np.array([0])) == 0
    g1, _ = M.contrastive_loss_backward(1.0, big, np.zeros((1, 2), np.float32), np.array([0]))
    assert np.all(g1 == 0)
    # a similar pair 5e30 apart: d^2 / 2 exceeds float32, the loss is inf; its gradient x1 - x2 is finite
    assert M.contrastive_loss(big, np.zeros((1, 2), np.float32), np.array([1])) == np.inf
    g1, _ = M.contrastive_loss_backward(1.0, big, np.zeros((1, 2), np.float32), np.array([1]))
    np.testing.assert_array_equal(g1, big)


def test_contrastive_rejects_bad_input():
    x1, x2 = RNG.normal(0, 1, (3, 2)), RNG.normal(0, 1, (3, 2))
    f = M.contrastive_loss
    with pytest.raises(ValueError, match=r"only the labels 1 \(similar\) and 0 \(dissimilar\), got the value -1"):
        f(x1, x2, np.array([1, 0, -1]))
    with pytest.raises(ValueError, match=r"got the value 0.5"):
        f(x1, x2, np.array([1.0, 0.5, 0.0]))
    with pytest.raises(TypeError, match="target must hold the labels 1"):
        f(x1, x2, np.array(["1", "0", "1"]))
    with pytest.raises(ValueError, match=r"target must have one label per pair, shape \(3,\), got \(2,\)"):
        f(x1, x2, np.array([1, 0]))
    with pytest.raises(ValueError, match=r"margin must lie in \(0.0, inf\]"):
        f(x1, x2, np.array([1, 0, 1]), margin=-1.0)
    with pytest.raises(ValueError, match=r"input1 and input2 must have the same shape"):
        f(x1, x2[:2], np.array([1, 0, 1]))
    with pytest.raises(ValueError, match=r"input1 must be a 2-D \(N, D\) batch"):
        f(x1[None], x2[None], np.array([[1, 0, 1]]))
    with pytest.raises(TypeError, match="input2 must be a float32 or float64 array"):
        f(x1, np.ones((3, 2), dtype=int), np.array([1, 0, 1]))
    with pytest.raises(ValueError, match=r"margin must lie in"):
        nn.ContrastiveLoss(margin=0.0)


# ----------------------------------------------------------------- NT-Xent (optax.losses.ntxent)


def _golden():
    with np.load(GOLDEN, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(str(arrays.pop("index")))


ARRAYS, INDEX = _golden()


@pytest.mark.parametrize("entry", INDEX["cases"], ids=[e["key"] for e in INDEX["cases"]])
def test_ntxent_matches_optax_golden(entry):
    key, t = entry["key"], entry["temperature"]
    g = {
        name: ARRAYS[f"{key}|{name}"]
        for name in (
            "view1",
            "view2",
            "mean",
            "none",
            "dout",
            "grad_mean_view1",
            "grad_mean_view2",
            "grad_none_view1",
            "grad_none_view2",
        )
    }
    rtol = 1e-9 if key.endswith("float64") else 1e-4

    def close(actual, expected):
        assert np.asarray(actual).dtype == expected.dtype
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(float(np.abs(expected).max()), 1e-2))

    v1, v2 = g["view1"], g["view2"]
    close(M.nt_xent_loss(v1, v2, temperature=t), g["mean"])
    close(M.nt_xent_loss(v1, v2, temperature=t, reduction="none"), g["none"])
    for mine, name in zip(M.nt_xent_loss_backward(1.0, v1, v2, temperature=t), ("view1", "view2")):
        close(mine, g[f"grad_mean_{name}"])
    for mine, name in zip(
        M.nt_xent_loss_backward(g["dout"], v1, v2, temperature=t, reduction="none"), ("view1", "view2")
    ):
        close(mine, g[f"grad_none_{name}"])


def test_golden_file_describes_its_reference():
    assert INDEX["reference"].startswith("optax.losses.ntxent")
    assert {e["key"].split("|")[1] for e in INDEX["cases"]} == {"float64", "float32"}


def ref_ntxent(v1, v2, t):
    """Anchor by anchor from the docstring: u = e / max(|e|, sqrt(eps)), l_i = -log softmax_{k != i}(s_ik)[p(i)]."""
    e = np.concatenate([v1, v2])
    m, floor = len(e), math.sqrt(np.finfo(e.dtype).eps)
    u = [row / max(math.sqrt(sum(x * x for x in row)), floor) for row in e]
    loss = np.zeros(m)
    for i in range(m):
        s = {k: sum(a * b for a, b in zip(u[i], u[k])) / t for k in range(m) if k != i}
        top = max(s.values())
        loss[i] = -(s[(i + m // 2) % m] - top - math.log(sum(math.exp(x - top) for x in s.values())))
    return loss


def test_ntxent_by_hand():
    v1, v2 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 3.0]])
    # every anchor: its positive has cosine 1, its two negatives cosine 0: -log(e / (e + 1 + 1)) = log(e + 2) - 1
    np.testing.assert_allclose(
        M.nt_xent_loss(v1, v2, temperature=1.0, reduction="none"), np.full(4, math.log(math.e + 2) - 1), rtol=1e-15
    )
    # temperature 0.5 doubles the logits: log(e^2 + 2) - 2
    assert M.nt_xent_loss(v1, v2, temperature=0.5) == pytest.approx(math.log(math.e**2 + 2) - 2, rel=1e-15)


@pytest.mark.parametrize("t", [0.07, 0.3, 2.0])
def test_ntxent_matches_reference_and_gradient(t):
    v1, v2 = RNG.normal(0, 1, (5, 3)), RNG.normal(0, 1, (5, 3))
    none = M.nt_xent_loss(v1, v2, temperature=t, reduction="none")
    np.testing.assert_allclose(none, ref_ntxent(v1, v2, t), rtol=1e-12)
    assert M.nt_xent_loss(v1, v2, temperature=t) == pytest.approx(none.mean(), rel=1e-14)
    assert M.nt_xent_loss(v1, v2, temperature=t, reduction="sum") == pytest.approx(none.sum(), rel=1e-14)
    dout = RNG.uniform(0.5, 1.5, 10)
    grads = M.nt_xent_loss_backward(dout, v1, v2, temperature=t, reduction="none")
    check_gradient(lambda a, b: dout * M.nt_xent_loss(a, b, temperature=t, reduction="none"), (v1, v2), grads, (0, 1))


def test_ntxent_properties():
    v1, v2 = RNG.normal(0, 1, (6, 4)), RNG.normal(0, 1, (6, 4))
    none = M.nt_xent_loss(v1, v2, reduction="none")
    assert none.shape == (12,)
    # swapping the views swaps the halves; permuting the samples permutes each half
    np.testing.assert_allclose(
        M.nt_xent_loss(v2, v1, reduction="none"), np.concatenate([none[6:], none[:6]]), rtol=1e-14
    )
    perm = RNG.permutation(6)
    np.testing.assert_allclose(
        M.nt_xent_loss(v1[perm], v2[perm], reduction="none"),
        np.concatenate([none[:6][perm], none[6:][perm]]),
        rtol=1e-14,
    )
    # the cosine ignores lengths: scaling a row by k leaves the loss and divides its gradient by k
    scaled = v1.copy()
    scaled[2] *= 7.0
    np.testing.assert_allclose(M.nt_xent_loss(scaled, v2, reduction="none"), none, rtol=1e-13)
    g1, g2 = M.nt_xent_loss_backward(1.0, v1, v2)
    h1, _ = M.nt_xent_loss_backward(1.0, scaled, v2)
    np.testing.assert_allclose(h1[2] * 7.0, g1[2], rtol=1e-12)
    # and only the component orthogonal to each embedding matters
    np.testing.assert_allclose((g1 * v1).sum(axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose((g2 * v2).sum(axis=1), 0.0, atol=1e-14)
    # a single pair has no negatives: loss 0, no gradient
    assert M.nt_xent_loss(v1[:1], v2[:1]) == 0
    assert not any(g.any() for g in M.nt_xent_loss_backward(1.0, v1[:1], v2[:1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ntxent_is_stable_at_tiny_temperatures(dtype):
    # logits up to 2 / 1e-3 = 2000; at 0.01 already optax's float32 gradient is NaN (every negative's exp
    # underflows to 0 and log(0) is differentiated); losslab's log-sum-exp stays finite
    v1 = RNG.normal(0, 1, (5, 4)).astype(dtype)
    v2 = (v1 + RNG.normal(0, 0.05, (5, 4))).astype(dtype)
    for t in (1e-2, 1e-3):
        out = M.nt_xent_loss(v1, -v2, temperature=t, reduction="none")  # positives opposite: a huge loss
        grads = M.nt_xent_loss_backward(1.0, v1, v2, temperature=t)
        assert out.dtype == dtype and np.all(np.isfinite(out)) and np.all(out > 100)
        assert all(np.all(np.isfinite(g)) for g in grads)
        assert M.nt_xent_loss(v1, v2, temperature=t) >= 0


def test_ntxent_clip_is_per_dtype_machine_epsilon():
    # optax clips the squared norm at finfo(dtype).eps: a row of norm 1e-9 is scaled by 1 / sqrt(eps)
    v1 = np.array([[1e-9, 0.0], [0.0, 1.0]])
    v2 = np.array([[1.0, 0.0], [0.0, 1.0]])
    e = M.nt_xent_loss(v1, v2, temperature=1.0, reduction="none")
    c = 1e-9 / math.sqrt(np.finfo(np.float64).eps)  # cos(v1[0], v2[0]) after the clip: 0.067
    # anchor 0: positive v2[0] (cos c), negatives v1[1], v2[1] (cos 0): log(e^c + 2) - c
    assert e[0] == pytest.approx(math.log(math.exp(c) + 2) - c, rel=1e-12)


def test_ntxent_rejects_bad_input():
    v = RNG.normal(0, 1, (3, 2))
    f = M.nt_xent_loss
    with pytest.raises(
        ValueError, match=r"view1 must be a 2-D \(N, D\) batch of embeddings, got an array of shape \(2,\)"
    ):
        f(v[0], v[1])
    with pytest.raises(ValueError, match=r"view1 and view2 must have the same shape, got \(3, 2\) and \(2, 2\)"):
        f(v, v[:2])
    with pytest.raises(ValueError, match="view1 must hold at least one embedding"):
        f(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(TypeError, match="view1 must be a float32 or float64 array"):
        f(np.ones((3, 2), dtype=int), v)
    with pytest.raises(ValueError, match=r"temperature must lie in \(0.0, inf\], got 0.0"):
        f(v, v, temperature=0.0)
    with pytest.raises(TypeError, match="temperature must be a real number"):
        f(v, v, temperature="0.1")
    with pytest.raises(ValueError, match="reduction must be one of"):
        f(v, v, reduction="batchmean")
    with pytest.raises(ValueError, match=r"temperature must lie in"):
        nn.NTXentLoss(-1.0)
    assert repr(nn.NTXentLoss()) == "NTXentLoss(temperature=0.07, reduction='mean')"


# --------------------------------------------------------------------------- NT-Xent, blockwise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nt_xent_blocks_of_rows_give_the_definitions_results(monkeypatch, dtype, reduction):
    """Blocks of 3 rows (several per call, the last one short): the same loss and gradients as the whole matrix
    ('none': for an upstream of distinct entries, each weighing its anchor's row)."""
    monkeypatch.setattr(M, "_NTXENT_BLOCK", 3 * 26)
    monkeypatch.setattr(_dispatch, "NTXENT_SMALL", 0)  # not numba's direct kernel for small batches
    rng = np.random.default_rng(7)
    v1, v2 = rng.standard_normal((13, 5)).astype(dtype), rng.standard_normal((13, 5)).astype(dtype)
    v1[2] = 1e-12  # below the norm's clip
    dout = np.linspace(-1.0, 2.0, 26).astype(dtype) if reduction == "none" else 1.5
    assert M.nt_xent_loss.kernel(v1, v2, temperature=0.3, reduction=reduction) is not None
    out = M.nt_xent_loss(v1, v2, temperature=0.3, reduction=reduction)
    g1, g2 = M.nt_xent_loss_backward(dout, v1, v2, temperature=0.3, reduction=reduction)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out, M.nt_xent_loss.reference(v1, v2, temperature=0.3, reduction=reduction), **tol)
    w1, w2 = M.nt_xent_loss_backward.reference(dout, v1, v2, temperature=0.3, reduction=reduction)
    assert g1.dtype == g2.dtype == dtype
    np.testing.assert_allclose(g1, w1, **tol)
    np.testing.assert_allclose(g2, w2, **tol)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_nt_xent_memory_is_linear_in_the_batch(reduction):
    """2048 pairs: the (4096, 4096) similarity matrix alone would take 64 MiB in float32; one call stays far below."""
    import tracemalloc

    rng = np.random.default_rng(0)
    v1, v2 = rng.standard_normal((2048, 64), np.float32), rng.standard_normal((2048, 64), np.float32)
    loss = nn.NTXentLoss(reduction=reduction)
    dout = np.ones(4096, np.float32) if reduction == "none" else 1.0
    tracemalloc.start()
    try:
        loss(v1, v2)
        loss.backward(dout)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# --------------------------------------------------------------------------- NT-Xent with group labels, blockwise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nt_xent_group_blocks_of_rows_give_the_definitions_results(monkeypatch, dtype, reduction):
    """Blocks of 3 rows (several per call, the last one short), groups of one to four, a row below the norm's
    clip: the same loss and gradient as the whole matrix."""
    monkeypatch.setattr(M, "_NTXENT_GROUP_BLOCK", 3 * 13)
    monkeypatch.setattr(_dispatch, "NTXENT_SMALL", 0)
    rng = np.random.default_rng(8)
    e = rng.standard_normal((13, 5)).astype(dtype)
    e[4] = 1e-12
    labels = np.array([5, 1, 5, 2, 2, 9, 5, 1, 3, 3, 3, 3, 0])
    dout = np.linspace(-1.0, 2.0, 13).astype(dtype) if reduction == "none" else 1.5
    out = M.nt_xent_group_loss(e, labels, temperature=0.3, reduction=reduction)
    g = M.nt_xent_group_loss_backward(dout, e, labels, temperature=0.3, reduction=reduction)
    assert M.nt_xent_group_loss.kernel(e, labels, temperature=0.3, reduction=reduction) is not None
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    want = M.nt_xent_group_loss.reference(e, labels, temperature=0.3, reduction=reduction)
    np.testing.assert_allclose(out, want, **tol)
    assert g.dtype == dtype
    np.testing.assert_allclose(
        g, M.nt_xent_group_loss_backward.reference(dout, e, labels, temperature=0.3, reduction=reduction), **tol
    )


def test_nt_xent_group_without_negatives_or_positives():
    """One group (no negatives) and all singletons (no positives, 'sum'): the definitions' values."""
    e = np.random.default_rng(9).standard_normal((5, 3))
    for labels, reduction in ((np.zeros(5, dtype=np.int64), "mean"), (np.arange(5), "sum")):
        np.testing.assert_allclose(
            M.nt_xent_group_loss(e, labels, reduction=reduction),
            M.nt_xent_group_loss.reference(e, labels, reduction=reduction),
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            M.nt_xent_group_loss_backward(1.0, e, labels, reduction=reduction),
            M.nt_xent_group_loss_backward.reference(1.0, e, labels, reduction=reduction),
            rtol=1e-12,
            atol=1e-15,
        )
    with pytest.raises(ValueError, match="labels give no positive pair"):
        M.nt_xent_group_loss(e, np.arange(5))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_nt_xent_group_memory_is_linear_in_the_batch(reduction):
    """4096 embeddings in groups of four: the (4096, 4096) similarity matrix alone would take 64 MiB in float32;
    one call stays far below."""
    import tracemalloc

    rng = np.random.default_rng(0)
    e, labels = rng.standard_normal((4096, 64), np.float32), np.arange(4096) // 4
    loss = nn.NTXentGroupLoss(reduction=reduction)
    dout = np.ones(4096, np.float32) if reduction == "none" else 1.0
    tracemalloc.start()
    try:
        loss(e, labels)
        loss.backward(dout)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nt_xent_small_batches_and_blocks_agree(monkeypatch, dtype):
    """numba's direct kernel for a few embeddings and the blocks of BLAS products give the same results."""
    rng = np.random.default_rng(10)
    e = rng.standard_normal((10, 4)).astype(dtype)
    labels = np.array([0, 0, 1, 1, 1, 2, 3, 3, 0, 4])
    calls = [
        (M.nt_xent_group_loss, M.nt_xent_group_loss_backward, (e, labels)),
        (M.nt_xent_loss, M.nt_xent_loss_backward, (e[:5], e[5:])),
    ]
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for reduction in ("mean", "sum"):
        small = [(f(*args, reduction=reduction), b(1.0, *args, reduction=reduction)) for f, b, args in calls]
        monkeypatch.setattr(_dispatch, "NTXENT_SMALL", 0)
        blocks = [(f(*args, reduction=reduction), b(1.0, *args, reduction=reduction)) for f, b, args in calls]
        monkeypatch.undo()
        for (out, grad), (want, want_grad) in zip(small, blocks):
            np.testing.assert_allclose(out, want, **tol)
            grads = (grad, want_grad) if isinstance(grad, tuple) else ((grad,), (want_grad,))
            for g, w in zip(*grads):
                assert g.dtype == dtype
                np.testing.assert_allclose(g, w, **tol)
