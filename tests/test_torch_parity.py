"""Parity with torch.nn, value and gradients, for every registered case (skipped without torch)."""

from __future__ import annotations

import numpy as np
import pytest
from _support import forward_backward, spec_case_reduction, torch_forward_backward

from losslab.registry import LOSSES

torch = pytest.importorskip("torch")

TOLERANCES = {np.float64: dict(rtol=1e-7, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-6)}
TORCH_NAMES = [s.name for s in LOSSES if s.torch_name]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("spec, case, reduction", spec_case_reduction(only=TORCH_NAMES))
def test_matches_torch(spec, case, reduction, dtype):
    out, dout, grads = forward_backward(spec, case, reduction, dtype)
    t_out, t_grads = torch_forward_backward(spec, case, reduction, dtype, dout)
    np.testing.assert_allclose(out, t_out, **TOLERANCES[dtype], err_msg="loss value")
    for i, (g, tg) in enumerate(zip(grads, t_grads, strict=True)):
        np.testing.assert_allclose(g, tg, **TOLERANCES[dtype], err_msg=f"gradient of {spec.differentiable[i]}")
