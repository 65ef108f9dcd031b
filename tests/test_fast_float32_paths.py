"""The numba kernels' float32 paths and their edges: the vectorised ``exp`` of positive numbers, Charbonnier and
the Gaussian NLL in float32 with their fallbacks, and the cosine embedding's rows at the margin's kink."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from losslab import _fast
from losslab.functional import (
    charbonnier_loss,
    charbonnier_loss_backward,
    cosine_embedding_loss,
    cosine_embedding_loss_backward,
    gaussian_nll_loss,
    gaussian_nll_loss_backward,
)

TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


@pytest.fixture(autouse=True)
def _numba_kernels(monkeypatch):
    """numba's kernels, even in a run that disables them (``LOSSLAB_NUMBA=0``): these tests are about them."""
    monkeypatch.setitem(_fast._dispatch._state, "kernels", None)
    monkeypatch.setenv("LOSSLAB_NUMBA", "1")


@pytest.fixture(scope="module")
def apply_exp():
    if _fast.backend() != "numba":
        pytest.skip("numba disabled")
    import numba

    from losslab._fast import _vecmath

    @numba.njit(fastmath={"contract"}, error_model="numpy")
    def apply(a, out):
        for i in range(a.size):
            out[i] = _vecmath.exp(a[i])

    return apply


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorised_exp_up_to_its_bound(apply_exp, dtype):
    top = 87.0 if dtype == np.float32 else 700.0
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-top, top, 20000), rng.uniform(-2, 2, 5000), [0.0, -0.0, top, -top, 1e-30]])
    x = x.astype(dtype)
    out = np.empty_like(x)
    apply_exp(x, out)
    exact = np.exp(x.astype(np.float64 if dtype == np.float32 else np.longdouble))
    normal = exact >= np.finfo(dtype).tiny * 2
    err = np.abs(out[normal] - exact[normal]) / exact[normal]
    assert float(err.max()) <= 2 * np.finfo(dtype).eps
    assert np.all(out[~normal] <= np.finfo(dtype).tiny * 2)  # flushed below the normal range
    nan = np.array([np.nan], dtype)
    apply_exp(nan, nan)
    assert np.isnan(nan[0])


def _check(fused, backward, inputs, options, dtype):
    hit = fused.kernel(*inputs, **options)
    assert hit is not None
    want = fused.reference(*inputs, **options)
    np.testing.assert_allclose(hit[0], want, **TOL[dtype])
    dout = np.ones(np.shape(want), dtype) if np.ndim(want) else 1.0
    want_grad = backward.reference(dout, *inputs, **options)
    grads = hit[1] if isinstance(hit[1], tuple) else (hit[1],)
    for g, wg in zip(grads, want_grad if isinstance(want_grad, tuple) else (want_grad,), strict=True):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, wg, **TOL[dtype])


@pytest.mark.parametrize("eps", [1e-3, 1e-20, 1e20])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_charbonnier_float32_across_the_range_of_residuals(eps, reduction):
    """In float32 where ``d^2 + eps^2`` is safe; a chunk with ``|d| > 1e18`` (or such an eps) in float64."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(40000) * np.repeat([1e-3, 1.0, 1e10, 1e25], 10000)).astype(np.float32)
    t = rng.standard_normal(40000).astype(np.float32)
    if reduction == "none":  # (a total of inf is the definition's to give)
        x[[3, 20003]] = np.inf
        x[[5, 30005]] = -np.inf
        x[7] = np.float32(3e38)
        t[7] = np.float32(-3e38)  # d overflows to inf in float32, as the definition has it
    with np.errstate(over="ignore"):
        _check(charbonnier_loss, charbonnier_loss_backward, (x, t), dict(eps=eps, reduction=reduction), np.float32)


@pytest.mark.parametrize("var_scale", [1e-8, 1.0, 1e8])
def test_gaussian_nll_float32_variances(var_scale):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    t = rng.standard_normal((300, 16)).astype(np.float32)
    var = (rng.random((300, 16)) * var_scale).astype(np.float32)
    var[0, 0] = 0.0  # clamped at eps
    for full in (False, True):
        for reduction in ("sum", "none"):
            options = dict(full=full, eps=1e-6, reduction=reduction)
            _check(gaussian_nll_loss, gaussian_nll_loss_backward, (x, t, var), options, np.float32)


def test_gaussian_nll_float32_outside_its_domain_left_to_the_definition():
    x = np.ones((4, 8), np.float32)
    t = np.zeros((4, 8), np.float32)
    var = np.ones((4, 8), np.float32)
    x[1, 2] = 1e16  # its square over the variance: past what the float32 kernel takes
    assert gaussian_nll_loss.kernel(x, t, var, reduction="sum") is None
    x[1, 2] = 1.0
    var[2, 3] = 1e-30  # clamped to eps = 1e-6, so d / v = 1e6: in the domain
    assert gaussian_nll_loss.kernel(x, t, var, eps=1e-6, reduction="sum") is not None
    assert gaussian_nll_loss.kernel(x * np.float32(1e13), t, var, eps=1e-6, reduction="sum") is None


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [5, 64, 300])
def test_cosine_embedding_at_the_margin_kink_as_the_definition(monkeypatch, kernels, dtype, dim):
    """The margin set to a row's cosine as the definition computes it: the tie's gradient (it passes, as
    PyTorch's clamp_min) is the definition's, though the kernels' vectorised sums round otherwise."""
    if kernels == "numpy":
        monkeypatch.setitem(_fast._dispatch._state, "kernels", False)
    elif _fast.backend() != "numba":
        pytest.skip("numba disabled")
    assert _fast.backend() == kernels
    rng = np.random.default_rng(dim)
    x1 = rng.standard_normal((40, dim)).astype(dtype)
    x2 = rng.standard_normal((40, dim)).astype(dtype)
    x2[:8] = x1[:8] * dtype(0.7)  # parallel rows: cosines at 1, up to rounding
    y = -np.ones(40)
    for row in range(0, 40, 3):
        cos = 1 - cosine_embedding_loss(x1[row : row + 1], x2[row : row + 1], np.ones(1), reduction="sum")
        options = dict(margin=float(cos), reduction="sum")
        hit = cosine_embedding_loss.kernel(x1, x2, y, **options)
        assert hit is not None
        want = cosine_embedding_loss_backward.reference(1.0, x1, x2, y, **options)
        for g, wg in zip(hit[1], want, strict=True):
            # the tie row's gradient is whole or 0 as the definition's: numba's, term for term, has its zeros;
            # NumPy's products round otherwise, so only where the rows are not parallel (there the gradient is
            # rounding noise either way, within the tolerance below)
            if kernels == "numba":
                assert np.array_equal(g[row] != 0, wg[row] != 0)
            elif row >= 8:
                assert np.any(g[row] != 0) == np.any(wg[row] != 0)
            np.testing.assert_allclose(g, wg, **TOL[dtype])
