"""Every fused kernel agrees with its loss's definitions on every sample case and option path of the registry."""

from __future__ import annotations

import numpy as np
import pytest

from losslab import _fast, registry

FUSED = [s for s in registry.LOSSES if getattr(s.function, "kernel", None) is not None]
# kernels compiled by numba only: without it (LOSSLAB_NUMBA=0) they take no call, and the definitions answer
NUMBA_ONLY = {
    "HingeEmbeddingLoss",
    "SigmoidFocalLoss",
    "FocalLoss",
    "PolyLoss",
    "SparsemaxLoss",
    "MulticlassHingeLoss",
    "GaussianNLLLoss",
    "QuantileLoss",
    "DiceLoss",
    "TverskyLoss",
    "GeneralizedDiceLoss",
}
TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _calls(spec, dtype):
    calls = [(c.id, c.inputs, c.options) for c in spec.make_cases(0)]
    calls += [(f"path {c.id} b={b}", c.inputs, c.options) for b in (1, 7, 64) for c in spec.make_paths(b, seed=1)]
    for cid, inputs, options in calls:
        inputs = tuple(a.astype(dtype) if np.issubdtype(np.asarray(a).dtype, np.floating) else a for a in inputs)
        options = {k: (val.astype(dtype) if isinstance(val, np.ndarray) else val) for k, val in options.items()}
        yield cid, inputs, options


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", FUSED, ids=[s.name for s in FUSED])
def test_kernel_matches_the_definitions(spec, dtype):
    kernel, reference, backward = spec.function.kernel, spec.function.reference, spec.backward.reference
    hits = 0
    for cid, inputs, options in _calls(spec, dtype):
        for reduction in spec.reductions:
            opts = dict(options, reduction=options.get("reduction", reduction))
            before = [np.array(a, copy=True) for a in inputs]
            hit = kernel(*inputs, **opts)
            for a, b in zip(inputs, before):
                np.testing.assert_array_equal(a, b)  # inputs untouched
            if hit is None:
                continue
            hits += 1
            out, grad = hit
            want = reference(*inputs, **opts)
            assert np.asarray(out).dtype == dtype and np.shape(out) == np.shape(want), cid
            np.testing.assert_allclose(out, want, **TOL[dtype], err_msg=f"{cid} {opts}")
            dout = np.ones(np.shape(want), dtype) if np.ndim(want) else 1.0
            if isinstance(grad, _fast.Upstream):  # dout does more than scale it: a dout of distinct entries
                dout = np.linspace(-1.5, 2.0, np.size(want)).astype(dtype).reshape(np.shape(want))
                grad = _fast.scale_by_dout(grad, dout, np.shape(out))
            want_grad = backward(dout, *inputs, **opts)
            for g, wg in zip(
                grad if isinstance(grad, tuple) else (grad,),
                want_grad if isinstance(want_grad, tuple) else (want_grad,),
            ):
                assert g.dtype == dtype and g.shape == wg.shape, cid
                np.testing.assert_allclose(g, wg, **TOL[dtype], err_msg=f"{cid} {opts} gradient")
    # numba's kernels and NumPy's (LOSSLAB_NUMBA=0) alike take some of the registry's calls
    assert hits or (_fast.backend() == "numpy" and spec.name in NUMBA_ONLY), (
        f"{spec.name}: its kernel ({_fast.backend()}) took none of the registry's calls"
    )
