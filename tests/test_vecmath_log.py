"""The numba kernels' vectorisable ``log`` (:mod:`losslab._fast._vecmath`) against ``np.log``, both dtypes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from losslab._fast._vecmath import log_into  # after the skip: importing it imports numba


def _inputs(dtype, rng) -> np.ndarray:
    fi = np.finfo(dtype)
    top = float(np.log(fi.max))
    bits = np.int64 if dtype == np.float64 else np.int32
    parts = [
        np.exp(rng.uniform(-top, top, 100_000)),  # every binade of the normal numbers
        rng.uniform(0.5, 2.0, 100_000),  # the reduction's seams at sqrt(1/2), 1, sqrt(2)
        1.0 + rng.uniform(-1e-3, 1e-3, 100_000),  # near 1, where log x is small
        rng.integers(1, np.iinfo(bits).max, 100_000, dtype=bits).view(dtype),  # every positive bit pattern
    ]
    x = np.concatenate([p.astype(dtype) if p.dtype != dtype else p for p in parts])
    edges = [fi.tiny, fi.smallest_subnormal, fi.tiny / 3, fi.max, 1.0, np.sqrt(2.0), np.sqrt(0.5), 2.0, 0.5]
    edges += [np.nextafter(dtype(1), dtype(0)), np.nextafter(dtype(1), dtype(2)), np.nextafter(fi.tiny, dtype(0))]
    x = np.concatenate([x, np.array(edges, dtype)])
    return x[np.isfinite(x) & (x > 0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_within_one_ulp_of_the_exact_value(dtype):
    x = _inputs(dtype, np.random.default_rng(12))
    got = np.empty_like(x)
    log_into(x, got)
    assert got.dtype == dtype
    # the exact log: float64 for float32 inputs; long double (64-bit mantissa on x86) for float64 ones
    wide = np.float64 if dtype == np.float32 else np.longdouble
    exact = np.log(x.astype(wide))
    ulp = np.spacing(np.abs(exact).astype(dtype)).astype(wide)
    ulp = np.where(exact == 0, np.finfo(dtype).smallest_subnormal, ulp)
    err = np.abs(got.astype(wide) - exact) / ulp
    bound = 1.0 if np.finfo(wide).nmant > np.finfo(dtype).nmant + 8 else 1.5  # long double may be float64
    assert float(err.max()) <= bound, f"max error {float(err.max())} ulp at x = {x[np.argmax(err)]!r}"
    # and so within 2 ulp of NumPy's own log (itself within 1 ulp of the exact value)
    ref = np.log(x)
    assert float((np.abs(got - ref) / np.spacing(np.abs(ref))).max()) <= 2.0 + (dtype == np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_at_zero_infinity_nan_and_negatives_as_numpy(dtype):
    fi = np.finfo(dtype)
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -fi.tiny, -fi.smallest_subnormal, 1.0], dtype)
    got = np.empty_like(x)
    log_into(x, got)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    np.testing.assert_array_equal(got, want)  # -inf, -inf, inf, nan, nan (x 4), exactly 0 at 1
