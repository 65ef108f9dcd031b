"""Function exercises from the same chapters: cross_entropy_error, numerical_gradient, BCE with logits.

References: :func:`losslab.functional.cross_entropy_error` (the book's mini-batch
version, ``1e-7`` inside the log), exact derivatives of two test functions for
``numerical_gradient``, and :func:`losslab.functional.binary_cross_entropy_with_logits`
(mean over every element) with its backward.
"""

from __future__ import annotations

import numpy as np

from ...functional import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    cross_entropy_error,
)
from ...functional.activation import softmax
from .._i18n import Msg
from ..checks import Judge
from ._probe import changed, numeric_grad, scalar, snapshot

BOOK_Y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
BOOK_T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
H = 1e-4  # the book's step for numerical differentiation


# =========================================================================== cross_entropy_error


def cee_cases(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    B = int(rng.integers(3, 9))
    C = int(rng.integers(3, 11))
    C += C == B
    p = softmax(rng.normal(0, 1.5, (B, C)))
    idx = rng.integers(0, C, B)
    zero = p.copy()
    zero[0, idx[0]] = 0.0  # the labelled class gets probability 0; the rest of the row is renormalised
    zero[0] /= zero[0].sum()
    return {
        "B": B,
        "C": C,
        "p": p,
        "idx": idx,
        "onehot": np.eye(C, dtype=np.int64)[idx],
        "p1": softmax(rng.normal(0, 1.5, (1, C))),
        "idx1": rng.integers(0, C, 1),
        "p32": softmax(rng.normal(0, 1.5, (B, C))).astype(np.float32),
        "idx32": rng.integers(0, C, B),
        "pz": zero,
        "y1": BOOK_Y1,
        "t1": BOOK_T,
    }


def _cee_probe(y_key: str, t_key: str):
    def probe(module, cases, rec):
        fn = rec.need(module, "cross_entropy_error")
        y, t = cases[y_key].copy(), cases[t_key].copy()
        loss = snapshot(rec.call("cross_entropy_error", fn, y, t))
        return {"loss": loss, "changed": changed(("y", cases[y_key], y), ("t", cases[t_key], t))}

    return probe


CEE_PROBES = {
    "single": _cee_probe("y1", "t1"),
    "onehot": _cee_probe("p", "onehot"),
    "index": _cee_probe("p", "idx"),
    "batch1": _cee_probe("p1", "idx1"),
    "float32": _cee_probe("p32", "idx32"),
    "zero": _cee_probe("pz", "idx"),
}


def _cee_refs(p, t, delta: float = 1e-7) -> tuple[float, float]:
    """The book's value (``delta`` inside the log) and the exact one (no delta)."""
    p = np.asarray(p, dtype=np.float64)
    t = np.asarray(t)
    rows = p.reshape(-1, p.shape[-1])
    labels = t.reshape(-1, t.shape[-1]).argmax(axis=1) if t.shape == p.shape else t.reshape(-1)
    picked = rows[np.arange(len(labels)), labels]
    book = float(cross_entropy_error(p, t)) if delta == 1e-7 else float(-np.mean(np.log(picked + delta)))
    with np.errstate(divide="ignore"):
        exact = float(-np.mean(np.log(picked)))
    return book, exact


def _cee_options(p, t, B: int, C: int) -> tuple[float, dict]:
    book, exact = _cee_refs(p, t)
    mistakes = [
        ("no_batch_mean", book * B),
        ("no_batch_mean", exact * B),
        ("mean_over_all", book / C),
        ("loss_sign", -book),
    ]
    p, t = np.asarray(p, dtype=np.float64), np.asarray(t)
    if p.ndim == 2 and t.ndim == 1 and B > 1:  # class indices written as y[:, t]
        slip = float(-np.sum(np.log(p[:, t] + 1e-7)) / B)
        mistakes += [("index_slip", slip), ("index_slip", slip * B), ("index_slip", slip / B)]
    return book, {"also": (exact,), "mistakes": mistakes}


def judge_cee(cases: dict, probes) -> list:
    j = Judge("cross-entropy-error", probes)
    B, C = cases["B"], cases["C"]
    target = "cross_entropy_error"
    book, opts = _cee_options(cases["y1"], cases["t1"], 1, 10)
    single = j.value(target, Msg("case.single"), "single", "loss", book, **opts)
    book, opts = _cee_options(cases["p"], cases["onehot"], B, C)
    onehot = j.value(target, Msg("case.onehot", {"shape": (B, C)}), "onehot", "loss", book, **opts)
    book, opts = _cee_options(cases["p"], cases["idx"], B, C)
    index = j.value(target, Msg("case.index", {"shape": (B,)}), "index", "loss", book, **opts)
    book, opts = _cee_options(cases["p1"], cases["idx1"], 1, C)
    batch1 = j.value(target, Msg("case.batch1", {"shape": (1, C)}), "batch1", "loss", book, **opts)
    book, opts = _cee_options(cases["p32"], cases["idx32"], B, C)
    float32 = j.value(target, Msg("case.float32"), "float32", "loss", book, float32=True, **opts)
    book, _ = _cee_refs(cases["pz"], cases["idx"])
    other_delta, _ = _cee_refs(cases["pz"], cases["idx"], delta=1e-10)  # another common choice of delta
    j.value(
        target,
        Msg("case.zero_prob"),
        "zero",
        "loss",
        book,
        also=(other_delta,),
        nonfinite="no_delta",
        mistakes=[("no_batch_mean", book * B), ("no_batch_mean", other_delta * B)],
    )
    j.unchanged(target, list(CEE_PROBES))
    if onehot.passed:  # these three use class-index labels
        for check in (index, batch1, float32):
            j.amend(check, "index_labels")
        j.amend(single, "single_sample")
    if index.passed:
        j.amend(onehot, "onehot_labels")
    return j.checks


# =========================================================================== numerical_gradient


def ng_cases(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 8))
    return {
        "x": rng.uniform(-2, 2, n),
        "W": rng.uniform(-2, 2, (2, 3)),
        "A": rng.normal(0, 1, (2, 3)),
        "Cw": rng.normal(0, 1, (2, 3)),
    }


def f_1d(x):
    """The 1-D test function ``sum(x**3)/3 + sum(sin x)``; its gradient is ``x**2 + cos x``."""
    return np.sum(x**3) / 3 + np.sum(np.sin(x))


def f_2d(cases: dict):
    """The 2-D test function ``sum(A * W**3)/3 + sum(C * W)``; its gradient is ``A * W**2 + C``."""
    A, Cw = cases["A"], cases["Cw"]
    return lambda W: np.sum(A * W**3) / 3 + np.sum(Cw * W)


def _ng_probe(x_key: str):
    def probe(module, cases, rec):
        fn = rec.need(module, "numerical_gradient")
        f = f_1d if x_key == "x" else f_2d(cases)
        x = cases[x_key].copy()
        grad = snapshot(rec.call("numerical_gradient", fn, f, x))
        return {"grad": grad, "changed": changed(("x", cases[x_key], x))}

    return probe


NG_PROBES = {"1d": _ng_probe("x"), "2d": _ng_probe("W")}


def _one_sided(f, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward differences with the book's h: what a one-sided formula returns."""
    fwd, bwd = np.zeros_like(x), np.zeros_like(x)
    fx = f(x)
    for i in np.ndindex(x.shape):
        z = x.copy()
        z[i] += H
        fwd[i] = (f(z) - fx) / H
        z[i] = x[i] - H
        bwd[i] = (fx - f(z)) / H
    return fwd, bwd


def _ng_options(f, x: np.ndarray, exact: np.ndarray) -> dict:
    fwd, bwd = _one_sided(f, x)
    return {"mistakes": [("one_sided", fwd), ("one_sided", bwd), ("h_not_2h", 2 * exact)]}


def judge_ng(cases: dict, probes) -> list:
    j = Judge("numerical-gradient", probes)
    target = "numerical_gradient"
    x, W = cases["x"], cases["W"]
    exact = x**2 + np.cos(x)
    one = j.value(target, Msg("case.ng_1d", {"n": x.size}), "1d", "grad", exact, **_ng_options(f_1d, x, exact))
    exact = cases["A"] * W**2 + cases["Cw"]
    two = j.value(
        target, Msg("case.ng_2d", {"shape": W.shape}), "2d", "grad", exact, **_ng_options(f_2d(cases), W, exact)
    )
    j.shape_dtype(
        target, Msg("case.ng_shape", {"shape": W.shape, "dtype": "float64"}), "2d", ["grad"], [W.shape], np.float64
    )
    restored = j.unchanged(target, list(NG_PROBES), mistakes={"x": "not_restored"}, case=Msg("case.restored"))
    if one.passed:  # a failure on 2-D only: the loop does not reach every element
        two = j.amend(two, "only_1d")
    if restored.mistake == "not_restored":
        j.amend(one, "not_restored")
        j.amend(two, "not_restored")
    return j.checks


# =========================================================================== BCE with logits

FWD, BWD = "bce_with_logits", "bce_with_logits_backward"


def bce_cases(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    B = int(rng.integers(2, 7))
    K = int(rng.integers(3, 7))
    K += K == B
    large = np.where(rng.random((B, K)) < 0.5, 1000.0, -1000.0)
    tl = rng.integers(0, 2, (B, K)).astype(np.float64)
    large[0, 0], tl[0, 0] = 1000.0, 0.0  # at least one confident wrong answer: its loss is 1000
    return {
        "B": B,
        "K": K,
        "x": rng.normal(0, 2, (B, K)),
        "t": rng.integers(0, 2, (B, K)).astype(np.float64),
        "x1": rng.normal(0, 2, (1, K)),
        "t1": rng.integers(0, 2, (1, K)).astype(np.float64),
        "xl": large,
        "tl": tl,
        "x32": rng.normal(0, 2, (B, K)).astype(np.float32),
        "t32": rng.integers(0, 2, (B, K)).astype(np.float32),
        "xg": rng.normal(0, 1.5, (2, 3)),
        "tg": rng.integers(0, 2, (2, 3)).astype(np.float64),
    }


def _bce_probe(name: str, x_key: str, t_key: str):
    def probe(module, cases, rec):
        fn = rec.need(module, name)
        x, t = cases[x_key].copy(), cases[t_key].copy()
        out = snapshot(rec.call(name, fn, x, t))
        return {"out": out, "changed": changed(("x", cases[x_key], x), ("t", cases[t_key], t))}

    return probe


def _bce_numgrad(module, cases, rec):
    fwd, bwd = rec.need(module, FWD), rec.need(module, BWD)
    t = cases["tg"]
    numeric = numeric_grad(rec, FWD, lambda z: scalar(fwd(z, t.copy()), FWD), cases["xg"])
    return {"numeric": numeric, "grad": snapshot(rec.call(BWD, bwd, cases["xg"].copy(), t.copy()))}


BCE_PROBES = {
    **{
        f"fwd.{k}": _bce_probe(FWD, f"x{s}", f"t{s}")
        for k, s in (("random", ""), ("batch1", "1"), ("large", "l"), ("float32", "32"))
    },
    **{
        f"bwd.{k}": _bce_probe(BWD, f"x{s}", f"t{s}")
        for k, s in (("random", ""), ("batch1", "1"), ("large", "l"), ("float32", "32"))
    },
    "bwd.numgrad": _bce_numgrad,
}


def _bce_ref(x, t) -> tuple[float, np.ndarray]:
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return (float(binary_cross_entropy_with_logits(x, t)), binary_cross_entropy_with_logits_backward(1.0, x, t))


def _bce_options(x, t) -> tuple[float, dict, np.ndarray, dict]:
    loss, grad = _bce_ref(x, t)
    rows, cols = np.shape(x)
    loss_opts = {"mistakes": [("bce_sum", loss * rows * cols), ("bce_row_mean", loss * cols), ("loss_sign", -loss)]}
    grad_opts = {"mistakes": [("grad_sign", -grad), ("bce_grad_count", grad * rows * cols)]}
    return loss, loss_opts, grad, grad_opts


def judge_bce(cases: dict, probes) -> list:
    j = Judge("bce-with-logits", probes)
    B, K = cases["B"], cases["K"]
    results = {}
    for key, s, case in (
        ("random", "", Msg("case.platform", {"shape": (B, K)})),
        ("batch1", "1", Msg("case.batch1", {"shape": (1, K)})),
        ("large", "l", Msg("case.large_x")),
        ("float32", "32", Msg("case.float32")),
    ):
        loss, loss_opts, grad, grad_opts = _bce_options(cases[f"x{s}"], cases[f"t{s}"])
        f32 = key == "float32"
        results[key] = (
            j.value(
                FWD,
                case,
                f"fwd.{key}",
                "out",
                loss,
                float32=f32,
                nonfinite="unstable_bce" if key == "large" else None,
                **loss_opts,
            ),
            j.value(
                BWD,
                case,
                f"bwd.{key}",
                "out",
                grad,
                float32=f32,
                nonfinite="nonfinite_grad" if key == "large" else None,
                **grad_opts,
            ),
        )
    if results["random"][0].passed:
        j.amend(results["large"][0], "unstable_bce")
    j.shape_dtype(
        BWD,
        Msg("case.shape_dtype", {"shape": (B, K), "dtype": "float32"}),
        "bwd.float32",
        ["out"],
        [(B, K)],
        np.float32,
    )
    j.unchanged(FWD, [p for p in BCE_PROBES if p.startswith("fwd.")])
    j.unchanged(BWD, [p for p in BCE_PROBES if p.startswith("bwd.") and p != "bwd.numgrad"])
    j.gradcheck(
        BWD,
        "bwd.numgrad",
        [("grad", "numeric")],
        case=Msg("case.gradcheck_fn"),
        factors=[("grad_sign", -1.0), ("bce_grad_count", float(cases["xg"].size))],
    )
    return j.checks


def detect_bce(d) -> bool:
    """Either of the two functions is enough to tell the exercise."""
    return bool({FWD, BWD} & d.functions)
