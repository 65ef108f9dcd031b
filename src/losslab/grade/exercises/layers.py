"""Layer exercises (the book's chapter 5): the backward passes of Relu, Sigmoid and Affine.

In each template the forward pass is given, as in the book; the learner writes
``backward(dout)``. References: :class:`losslab.layers.Relu`, :class:`losslab.layers.Sigmoid`
and :class:`losslab.layers.Affine`, which never modify ``dout``.
"""

from __future__ import annotations

import numpy as np

from ...layers import Affine, Relu, Sigmoid
from .._i18n import Msg
from ..checks import Judge
from ._probe import changed, numeric_grad, scalar, snapshot


def _away_from_zero(rng, shape, dtype=np.float64) -> np.ndarray:
    """Normal values at least 0.1 from 0, so that ReLU's kink is never within a difference step."""
    z = rng.normal(0, 1, shape)
    return (np.sign(z) * (0.1 + np.abs(z))).astype(dtype)


def _sizes(rng) -> tuple[int, int]:
    B = int(rng.integers(2, 6))
    n = int(rng.integers(3, 7))
    return B, n + (n == B)


# =========================================================================== Relu and Sigmoid


def activation_cases(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    B, n = _sizes(rng)
    xl = np.where(rng.random((B, n)) < 0.5, 1000.0, -1000.0)
    return {
        "B": B,
        "n": n,
        "x": _away_from_zero(rng, (B, n)),
        "dout": rng.normal(0, 1, (B, n)),
        "x1": _away_from_zero(rng, (1, n)),
        "dout1": rng.normal(0, 1, (1, n)),
        "x32": _away_from_zero(rng, (B, n), np.float32),
        "dout32": rng.normal(0, 1, (B, n)).astype(np.float32),
        "xl": xl,
        "doutl": rng.normal(0, 1, (B, n)),
        "xg": _away_from_zero(rng, (2, 3)),
        "doutg": rng.normal(0, 1, (2, 3)),
    }


def _activation_probe(name: str, s: str):
    def probe(module, cases, rec):
        cls = rec.need(module, name)
        layer = rec.call(f"{name}()", cls)
        x, x0 = cases[f"x{s}"].copy(), cases[f"x{s}"]
        d, d0 = cases[f"dout{s}"].copy(), cases[f"dout{s}"]
        rec.call(f"{name}.forward", layer.forward, x)
        dx = snapshot(rec.call(f"{name}.backward", layer.backward, d))
        dx2 = snapshot(rec.call(f"{name}.backward", layer.backward, d0.copy()))
        return {"dx": dx, "dx2": dx2, "changed": changed(("x", x0, x), ("dout", d0, d))}

    return probe


def _activation_numgrad(name: str):
    def probe(module, cases, rec):
        cls = rec.need(module, name)
        dg = cases["doutg"]

        def f(z):
            return scalar(np.sum(np.asarray(cls().forward(z), dtype=np.float64) * dg), f"{name}.forward")

        numeric = numeric_grad(rec, f"{name}.forward", f, cases["xg"])
        layer = rec.call(f"{name}()", cls)
        rec.call(f"{name}.forward", layer.forward, cases["xg"].copy())
        return {"numeric": numeric, "dx": snapshot(rec.call(f"{name}.backward", layer.backward, dg.copy()))}

    return probe


def _activation_probes(name: str, large: bool) -> dict:
    probes = {
        "random": _activation_probe(name, ""),
        "batch1": _activation_probe(name, "1"),
        "float32": _activation_probe(name, "32"),
    }
    if large:
        probes["large"] = _activation_probe(name, "l")
    probes["numgrad"] = _activation_numgrad(name)
    return probes


RELU_PROBES = _activation_probes("Relu", large=False)
SIGMOID_PROBES = _activation_probes("Sigmoid", large=True)


def _relu_options(x, dout) -> tuple[np.ndarray, dict]:
    x, dout = np.asarray(x, dtype=np.float64), np.asarray(dout, dtype=np.float64)
    layer = Relu()
    layer.forward(x)
    ref = layer.backward(dout)
    return ref, {
        "mistakes": [
            ("grad_sign", -ref),
            ("relu_no_mask", dout),
            ("relu_inverted_mask", dout * (x <= 0)),
            ("forgot_dout", (x > 0).astype(np.float64)),
        ]
    }


def _sigmoid_options(x, dout) -> tuple[np.ndarray, dict]:
    x, dout = np.asarray(x, dtype=np.float64), np.asarray(dout, dtype=np.float64)
    layer = Sigmoid()
    y = layer.forward(x)
    ref = layer.backward(dout)
    return ref, {
        "mistakes": [("grad_sign", -ref), ("forgot_dout", (1 - y) * y), ("sigmoid_used_x", dout * (1 - x) * x)]
    }


def _judge_activation(exercise: str, name: str, options, cases: dict, probes, large: bool) -> list:
    j = Judge(exercise, probes)
    B, n = cases["B"], cases["n"]
    target = f"{name}.backward"
    runs = [
        ("random", "", Msg("case.platform", {"shape": (B, n)})),
        ("batch1", "1", Msg("case.batch1", {"shape": (1, n)})),
        ("float32", "32", Msg("case.float32")),
    ]
    if large:
        runs.append(("large", "l", Msg("case.large_x")))
    for key, s, case in runs:
        ref, opts = options(cases[f"x{s}"], cases[f"dout{s}"])
        j.value(
            target,
            case,
            key,
            "dx",
            ref,
            float32=key == "float32",
            nonfinite="nonfinite_grad" if key == "large" else None,
            **opts,
        )
    j.shape_dtype(
        target, Msg("case.shape_dtype", {"shape": (B, n), "dtype": "float32"}), "float32", ["dx"], [(B, n)], np.float32
    )
    j.twice(target, "random")
    j.unchanged(target, [key for key, _, _ in runs], mistakes={"dout": "dout_in_place"})
    j.gradcheck(target, "numgrad", [("dx", "numeric")], factors=[("grad_sign", -1.0)])
    return j.checks


def judge_relu(cases: dict, probes) -> list:
    return _judge_activation("relu-backward", "Relu", _relu_options, cases, probes, large=False)


def judge_sigmoid(cases: dict, probes) -> list:
    return _judge_activation("sigmoid-backward", "Sigmoid", _sigmoid_options, cases, probes, large=True)


# =========================================================================== Affine


def affine_cases(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    N = int(rng.integers(2, 6))
    D = int(rng.integers(4, 8))
    M = int(rng.integers(2, 4))
    D += D == N  # N, D and M all differ: a transposed dW or an unsummed db shows in its shape
    N += N == M

    def setup(n, d, m, dtype=np.float64, shape=None):
        x = rng.normal(0, 1, (n, d) if shape is None else shape)
        return (
            x.astype(dtype),
            rng.normal(0, 0.5, (d, m)).astype(dtype),
            rng.normal(0, 0.5, m).astype(dtype),
            rng.normal(0, 1, (n, m)).astype(dtype),
        )

    cases = {"N": N, "D": D, "M": M}
    for s, args in (
        ("", (N, D, M)),
        ("1", (1, D, M)),
        ("32", (N, D, M, np.float32)),
        ("4d", (N, 6, M, np.float64, (N, 1, 2, 3))),
        ("g", (2, 3, 2)),
    ):
        cases[f"x{s}"], cases[f"W{s}"], cases[f"b{s}"], cases[f"dout{s}"] = setup(*args)
    return cases


def _affine_probe(s: str):
    def probe(module, cases, rec):
        cls = rec.need(module, "Affine")
        x, W, b, d = (cases[f"{k}{s}"].copy() for k in ("x", "W", "b", "dout"))
        layer = rec.call("Affine(W, b)", cls, W, b)
        rec.call("Affine.forward", layer.forward, x)
        dx = snapshot(rec.call("Affine.backward", layer.backward, d))
        rec.label("Affine.dW")
        dW, db = snapshot(rec.attr(layer, "dW")), snapshot(rec.attr(layer, "db"))
        return {
            "dx": dx,
            "dW": dW,
            "db": db,
            "changed": changed(*((k, cases[f"{k}{s}"], v) for k, v in (("x", x), ("W", W), ("b", b), ("dout", d)))),
        }

    return probe


def _affine_numgrad(module, cases, rec):
    cls = rec.need(module, "Affine")
    x, W, b, dg = cases["xg"], cases["Wg"], cases["bg"], cases["doutg"]

    def loss(xv, Wv, bv):
        out = cls(Wv.copy(), bv.copy()).forward(xv.copy())
        return scalar(np.sum(np.asarray(out, dtype=np.float64) * dg), "Affine.forward")

    out = {
        "nx": numeric_grad(rec, "Affine.forward", lambda z: loss(z, W, b), x),
        "nW": numeric_grad(rec, "Affine.forward", lambda z: loss(x, z, b), W),
        "nb": numeric_grad(rec, "Affine.forward", lambda z: loss(x, W, z), b),
    }
    layer = rec.call("Affine(W, b)", cls, W.copy(), b.copy())
    rec.call("Affine.forward", layer.forward, x.copy())
    out["dx"] = snapshot(rec.call("Affine.backward", layer.backward, dg.copy()))
    rec.label("Affine.dW")
    out["dW"], out["db"] = snapshot(rec.attr(layer, "dW")), snapshot(rec.attr(layer, "db"))
    return out


AFFINE_PROBES = {
    "random": _affine_probe(""),
    "tensor": _affine_probe("4d"),
    "float32": _affine_probe("32"),
    "batch1": _affine_probe("1"),
    "numgrad": _affine_numgrad,
}


def _affine_refs(cases: dict, s: str) -> dict:
    x, W, b, dout = (np.asarray(cases[f"{k}{s}"], dtype=np.float64) for k in ("x", "W", "b", "dout"))
    layer = Affine(W, b)
    layer.forward(x)
    dx = layer.backward(dout)
    dW, db = layer.W.grad, layer.b.grad
    n = x.shape[0]
    attr_none = {k: Msg("reason.attr_none", {"attr": f"self.{k}"}) for k in ("dW", "db")}
    return {
        "dx": (
            dx,
            {
                "mistakes": [("grad_sign", -dx)],
                "shape_mistakes": [("no_reshape", (n, int(np.prod(x.shape[1:]))))] if x.ndim > 2 else [],
            },
        ),
        "dW": (
            dW,
            {
                "mistakes": [("grad_sign", -dW), ("dW_transposed", dW.T), ("param_batch_mean", dW / n)],
                "none_reason": attr_none["dW"],
            },
        ),
        "db": (
            db,
            {
                "mistakes": [("grad_sign", -db), ("param_batch_mean", db / n)],
                "shape_mistakes": [("db_not_summed", dout.shape)],
                "none_reason": attr_none["db"],
            },
        ),
    }


def judge_affine(cases: dict, probes) -> list:
    j = Judge("affine-backward", probes)
    N, D, M = cases["N"], cases["D"], cases["M"]
    refs = _affine_refs(cases, "")
    platform = Msg("case.platform", {"shape": (N, D)})
    for key, label in (("dx", "dx"), ("dW", "self.dW"), ("db", "self.db")):
        expected, opts = refs[key]
        j.value(f"Affine.backward ({label})", platform, "random", key, expected, **opts)
    expected, opts = _affine_refs(cases, "4d")["dx"]
    j.value("Affine.backward (dx)", Msg("case.tensor", {"shape": cases["x4d"].shape}), "tensor", "dx", expected, **opts)
    refs = _affine_refs(cases, "1")
    j.values(
        "Affine.backward",
        Msg("case.batch1", {"shape": (1, D)}),
        "batch1",
        [(k, refs[k][0], refs[k][1]) for k in ("dx", "dW", "db")],
    )
    refs = _affine_refs(cases, "32")
    j.values(
        "Affine.backward",
        Msg("case.float32"),
        "float32",
        [(k, refs[k][0], {**refs[k][1], "float32": True}) for k in ("dx", "dW", "db")],
    )
    j.shape_dtype(
        "Affine.backward", Msg("case.grad_dtypes"), "float32", ["dx", "dW", "db"], [(N, D), (D, M), (M,)], np.float32
    )
    j.unchanged("Affine.backward", list(AFFINE_PROBES)[:-1])
    j.gradcheck(
        "Affine.backward",
        "numgrad",
        [("dx", "nx"), ("dW", "nW"), ("db", "nb")],
        factors=[("grad_sign", -1.0), ("param_batch_mean", 0.5)],
    )
    return j.checks
