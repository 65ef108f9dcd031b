"""BCE-with-logits' gradient keeps its relative precision where it is near 0, on every path: ``sigmoid(x) - t``
for x < 0 and ``(1 - t) - sigmoid(-x)`` otherwise (with ``pos_weight``: ``lw sigmoid(x) - p t`` and
``(1 - t) - lw sigmoid(-x)``), against values computed exactly with mpmath."""

from __future__ import annotations

import numpy as np
import pytest

import losslab.functional as F
from losslab._fast import _dispatch

mpmath = pytest.importorskip("mpmath")


def _have_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(params=["numpy", pytest.param("numba", marks=pytest.mark.skipif(not _have_numba(), reason="numba"))])
def backend(request, monkeypatch):
    monkeypatch.setitem(_dispatch._state, "kernels", None if request.param == "numba" else False)
    monkeypatch.setenv("LOSSLAB_NUMBA", "1")
    return request.param


X = [-30.0, -20.0, -17.0, 17.0, 20.0, 30.0]  # far out: the gradient is e^-|x| small, its sign set by t
T = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def _exact(weight, pos_weight) -> np.ndarray:
    """w (lw sigmoid(x) - p t) for every entry, lw = 1 + (p - 1) t, to 30 digits."""
    mpmath.mp.dps = 30
    out = []
    for i, (x, t) in enumerate(zip(X, T, strict=True)):
        p = 1.0 if pos_weight is None else float(pos_weight[i])
        w = 1.0 if weight is None else float(weight[i])
        sig = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        lw = 1 + (p - 1) * t
        out.append(float(w * (lw * sig - p * t)))
    return np.array(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", ["plain", "weight", "pos_weight", "both"])
def test_gradient_far_from_zero_logits_is_relatively_exact(backend, dtype, weighted):
    x, t = np.array(X, dtype), np.array(T, dtype)
    w = np.linspace(0.5, 2.0, len(X)).astype(dtype) if weighted in ("weight", "both") else None
    pw = np.linspace(3.0, 0.5, len(X)).astype(dtype) if weighted in ("pos_weight", "both") else None
    want = _exact(w, pw)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for grad in (
        F.binary_cross_entropy_with_logits_backward(1.0, x, t, weight=w, pos_weight=pw, reduction="none"),
        F.binary_cross_entropy_with_logits_backward.reference(1.0, x, t, weight=w, pos_weight=pw, reduction="none"),
    ):
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, want, rtol=rtol, atol=0)
    # the fused path (where a kernel takes the call) gives the same, scaled by 1/n for 'mean'
    hit = F.binary_cross_entropy_with_logits.kernel(x, t, weight=w, pos_weight=pw, reduction="mean")
    if hit is not None:
        np.testing.assert_allclose(hit[1], want / len(X), rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_gradient_is_relatively_exact(backend, dtype, weighted):
    """MultiLabelSoftMarginLoss's gradient ``w (sigmoid(x) - y) / C`` is BCE-with-logits' per class: the same
    relative precision far from 0, in the definition and the fused path."""
    x, t = np.array([X], dtype), np.array([T], dtype)
    w = np.linspace(0.5, 2.0, len(X)).astype(dtype) if weighted else None
    want = _exact(w, None) / len(X)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for grad in (
        F.multilabel_soft_margin_loss_backward(1.0, x, t, weight=w, reduction="sum"),
        F.multilabel_soft_margin_loss_backward.reference(1.0, x, t, weight=w, reduction="sum"),
    ):
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad[0], want, rtol=rtol, atol=0)
    hit = F.multilabel_soft_margin_loss.kernel(x, t, weight=w, reduction="sum")
    if hit is not None:
        np.testing.assert_allclose(hit[1][0], want, rtol=rtol, atol=0)
