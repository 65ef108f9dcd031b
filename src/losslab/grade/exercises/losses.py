"""Levels 1 and 2 of the platform's exercise: SoftmaxWithLoss and MeanSquaredError, forward then backward.

References: :class:`losslab.nn.SoftmaxWithLoss` (softmax, then the book's cross-entropy
with its ``1e-7`` inside the log) and :func:`losslab.functional.mean_squared_error`
(``0.5 * sum((y - t)**2)`` over every element). A cross-entropy computed exactly
(log-softmax, no ``1e-7``) is accepted as well: it differs from the book's by
``log(1 + 1e-7 / y_t)`` per sample, which the platform's tolerance does not always absorb.
"""

from __future__ import annotations

import numpy as np

from ...functional import mean_squared_error
from ...functional.activation import log_softmax, softmax
from ...nn import SoftmaxWithLoss
from .._i18n import Msg
from ..checks import Judge
from ._probe import changed, numeric_grad, scalar, snapshot

SM, MSE = "SoftmaxWithLoss", "MeanSquaredError"


def make_cases(seed: int) -> dict:
    """Random batches (sizes drawn from the seed) for both classes, plus the special cases.

    B, C and N are at least 3 and B differs from C and N, so that "times B", "divided
    by C" and "divided by B*N" are different numbers and each names one mistake.
    """
    rng = np.random.default_rng(seed)
    B = int(rng.integers(3, 9))
    C = int(rng.integers(3, 11))
    N = int(rng.integers(3, 11))
    C += C == B
    N += N == B
    offsets = np.where(rng.random(B) < 0.5, 1000.0, -1000.0)
    offsets[:2] = (1000.0, -1000.0)  # both directions: exp overflows (+) and 0/0 (-) without the shift
    return {
        "B": B,
        "C": C,
        "N": N,
        "x": rng.normal(0, 2, (B, C)),
        "t": rng.integers(0, C, B),
        "x1": rng.normal(0, 2, (1, C)),
        "t1": rng.integers(0, C, 1),
        "xl": rng.normal(0, 2, (B, C)) + offsets[:, None],
        "tl": rng.integers(0, C, B),
        "x32": rng.normal(0, 2, (B, C)).astype(np.float32),
        "t32": rng.integers(0, C, B),
        "xg": rng.normal(0, 1, (3, 4)),
        "tg": rng.integers(0, 4, 3),
        "y": rng.normal(0, 1, (B, N)),
        "ty": rng.normal(0, 1, (B, N)),
        "y1": rng.normal(0, 1, (1, N)),
        "ty1": rng.normal(0, 1, (1, N)),
        "y32": rng.normal(0, 1, (B, N)).astype(np.float32),
        "ty32": rng.normal(0, 1, (B, N)).astype(np.float32),
        "yg": rng.normal(0, 1, (3, 4)),
        "tyg": rng.normal(0, 1, (3, 4)),
    }


# --------------------------------------------------------------------------- probes (sandbox side)


def _forward(rec, module, name: str, a: np.ndarray, b: np.ndarray, *, backward: bool = False) -> dict:
    cls = rec.need(module, name)
    obj = rec.call(f"{name}()", cls)
    a_in, b_in = a.copy(), b.copy()
    loss = snapshot(rec.call(f"{name}.forward", obj.forward, a_in, b_in))
    rec.label(f"{name}.loss")
    out = {"loss": loss, "self_loss": snapshot(rec.attr(obj, "loss"))}
    if backward:
        out["dx"] = snapshot(rec.call(f"{name}.backward", obj.backward))
        out["dx2"] = snapshot(rec.call(f"{name}.backward", obj.backward))
    first, second = ("x", "t") if name == SM else ("y", "t")
    out["changed"] = changed((first, a, a_in), (second, b, b_in))
    return out


def _gradcheck_probe(rec, module, name: str, a: np.ndarray, b: np.ndarray) -> dict:
    cls = rec.need(module, name)

    def f(z):
        return scalar(cls().forward(z, b.copy()), f"{name}.forward")

    numeric = numeric_grad(rec, f"{name}.forward", f, a)
    obj = rec.call(f"{name}()", cls)
    rec.call(f"{name}.forward", obj.forward, a.copy(), b.copy())
    return {"numeric": numeric, "dx": snapshot(rec.call(f"{name}.backward", obj.backward))}


def _probes(backward: bool) -> dict:
    def run(name, a, b):
        return lambda m, c, rec: _forward(rec, m, name, c[a], c[b], backward=backward)

    probes = {
        "sm.random": run(SM, "x", "t"),
        "sm.batch1": run(SM, "x1", "t1"),
        "sm.large": run(SM, "xl", "tl"),
        "sm.float32": run(SM, "x32", "t32"),
        "mse.random": run(MSE, "y", "ty"),
        "mse.batch1": run(MSE, "y1", "ty1"),
        "mse.float32": run(MSE, "y32", "ty32"),
    }
    if backward:
        probes["sm.numgrad"] = lambda m, c, rec: _gradcheck_probe(rec, m, SM, c["xg"], c["tg"])
        probes["mse.numgrad"] = lambda m, c, rec: _gradcheck_probe(rec, m, MSE, c["yg"], c["tyg"])
    return probes


FORWARD_PROBES = _probes(backward=False)
BACKWARD_PROBES = _probes(backward=True)


# --------------------------------------------------------------------------- references (judge side)


def _ce(x: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """The book's softmax cross-entropy (with 1e-7) and the exact one, in float64."""
    x = np.asarray(x, dtype=np.float64)
    book = float(SoftmaxWithLoss().forward(x, t))
    exact = float(-np.mean(log_softmax(x)[np.arange(len(t)), t]))
    return book, exact


def _ce_grad(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(softmax(x) - onehot(t)) / B`` and ``softmax(x)``."""
    y = softmax(np.asarray(x, dtype=np.float64))
    d = y.copy()
    d[np.arange(len(t)), t] -= 1
    return d / len(t), y


def _mse(y: np.ndarray, t: np.ndarray) -> float:
    return float(mean_squared_error(np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)))


def _index_slip(x: np.ndarray, t: np.ndarray) -> float:
    """The book's loss written with ``y[:, t]``: every row's probabilities of every label (a B x B block)."""
    y = softmax(np.asarray(x, dtype=np.float64))
    return float(-np.sum(np.log(y[:, t] + 1e-7)) / len(t))


def _loss_options(book: float, exact: float, B: int, C: int, slip: float | None = None) -> dict:
    mistakes = [
        ("no_batch_mean", book * B),
        ("no_batch_mean", exact * B),
        ("mean_over_all", book / C),
        ("loss_sign", -book),
    ]
    if slip is not None and B > 1:
        mistakes += [("index_slip", slip), ("index_slip", slip * B), ("index_slip", slip / B)]
    return {"also": (exact,), "mistakes": mistakes}


def _mse_options(ref: float, B: int, N: int) -> dict:
    return {
        "mistakes": [
            ("mse_mean", ref / (B * N)),
            ("mse_mean", 2 * ref / (B * N)),
            ("mse_batch_mean", ref / B),
            ("mse_no_half", 2 * ref),
            ("half_twice", ref / 2),
        ]
    }


def _self_loss(values) -> tuple[Msg, str | None] | None:
    stored, returned = values.get("self_loss"), values.get("loss")
    if stored is None:
        return Msg("reason.attr_none", {"attr": "self.loss"}), "loss_not_set"
    try:
        a = np.asarray(stored, dtype=np.float64)
        b = np.asarray(returned, dtype=np.float64)
        same = (
            a.size == 1
            and b.size == 1
            and bool(np.isclose(a.reshape(()), b.reshape(()), rtol=1e-5, atol=1e-8, equal_nan=True))
        )
    except (TypeError, ValueError):
        same = False
    if same:
        return None
    return Msg("reason.loss_differs", {"got": repr(stored), "returned": repr(returned)}), None


def judge_forward(cases: dict, probes) -> list:
    """Level 1: the values of both forwards, at batch size 1, large logits, float32; self.loss; inputs intact."""
    j = Judge("loss-forward", probes)
    B, C, N = cases["B"], cases["C"], cases["N"]
    target = f"{SM}.forward"
    book, exact = _ce(cases["x"], cases["t"])
    j.value(
        target,
        Msg("case.platform", {"shape": (B, C)}),
        "sm.random",
        "loss",
        book,
        **_loss_options(book, exact, B, C, _index_slip(cases["x"], cases["t"])),
    )
    book, exact = _ce(cases["x1"], cases["t1"])
    j.value(
        target, Msg("case.batch1", {"shape": (1, C)}), "sm.batch1", "loss", book, **_loss_options(book, exact, 1, C)
    )
    book, exact = _ce(cases["xl"], cases["tl"])
    j.value(
        target,
        Msg("case.large_logits"),
        "sm.large",
        "loss",
        book,
        nonfinite="no_max_subtraction",
        **_loss_options(book, exact, B, C, _index_slip(cases["xl"], cases["tl"])),
    )
    book, exact = _ce(cases["x32"], cases["t32"])
    j.value(
        target,
        Msg("case.float32"),
        "sm.float32",
        "loss",
        book,
        float32=True,
        **_loss_options(book, exact, B, C, _index_slip(cases["x32"], cases["t32"])),
    )
    j.condition(target, Msg("case.self_loss"), "sm.random", _self_loss)
    j.unchanged(target, ["sm.random", "sm.batch1", "sm.large", "sm.float32"])

    target = f"{MSE}.forward"
    ref = _mse(cases["y"], cases["ty"])
    j.value(target, Msg("case.platform", {"shape": (B, N)}), "mse.random", "loss", ref, **_mse_options(ref, B, N))
    ref = _mse(cases["y1"], cases["ty1"])
    j.value(target, Msg("case.batch1", {"shape": (1, N)}), "mse.batch1", "loss", ref, **_mse_options(ref, 1, N))
    ref = _mse(cases["y32"], cases["ty32"])
    j.value(target, Msg("case.float32"), "mse.float32", "loss", ref, float32=True, **_mse_options(ref, B, N))
    j.condition(target, Msg("case.self_loss"), "mse.random", _self_loss)
    j.unchanged(target, ["mse.random", "mse.batch1", "mse.float32"])
    return j.checks


def _sm_grad_options(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, dict]:
    ref, y = _ce_grad(x, t)
    B = len(t)
    slip = y.copy()
    slip[:, t] -= 1  # dx[:, t] -= 1: every row loses 1 at every label's column
    mistakes = [
        ("grad_sign", -ref),
        ("grad_no_batch", ref * B),
        ("grad_batch_twice", ref / B),
        ("grad_no_onehot", y / B),
        ("grad_no_onehot", y),
    ]
    if B > 1:
        mistakes += [("grad_index_slip", slip / B), ("grad_index_slip", slip)]
    return ref, {"mistakes": mistakes}


def _in_self_y(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """What a second backward returns when the first wrote ``dx[arange(B), t] -= 1`` into ``self.y`` itself."""
    ref, y = _ce_grad(x, t)
    onehot = np.zeros_like(y)
    onehot[np.arange(len(t)), t] = 1
    return ref - onehot / len(t)


def _mse_grad_options(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, dict]:
    ref = np.asarray(y, dtype=np.float64) - np.asarray(t, dtype=np.float64)
    B = y.shape[0]
    return ref, {
        "mistakes": [
            ("grad_sign", -ref),
            ("mse_grad_batch", ref / B),
            ("mse_grad_count", ref / y.size),
            ("mse_grad_two", 2 * ref),
        ]
    }


def judge_backward(cases: dict, probes) -> list:
    """Level 2: both backwards on every case, their shape and dtype, repeatability and a gradient check."""
    j = Judge("loss-backward", probes)
    B, C, N = cases["B"], cases["C"], cases["N"]

    book, exact = _ce(cases["x"], cases["t"])
    j.value(f"{SM}.forward", Msg("case.given_forward"), "sm.random", "loss", book, **_loss_options(book, exact, B, C))
    target = f"{SM}.backward"
    ref, opts = _sm_grad_options(cases["x"], cases["t"])
    j.value(target, Msg("case.platform", {"shape": (B, C)}), "sm.random", "dx", ref, **opts)
    ref, opts = _sm_grad_options(cases["x1"], cases["t1"])
    j.value(target, Msg("case.batch1", {"shape": (1, C)}), "sm.batch1", "dx", ref, **opts)
    ref, opts = _sm_grad_options(cases["xl"], cases["tl"])
    j.value(target, Msg("case.large_logits"), "sm.large", "dx", ref, nonfinite="no_max_subtraction", **opts)
    ref, opts = _sm_grad_options(cases["x32"], cases["t32"])
    j.value(target, Msg("case.float32"), "sm.float32", "dx", ref, float32=True, **opts)
    j.shape_dtype(
        target,
        Msg("case.shape_dtype", {"shape": (B, C), "dtype": "float32"}),
        "sm.float32",
        ["dx"],
        [(B, C)],
        np.float32,
    )
    j.twice(target, "sm.random", mistakes=[("grad_in_self_y", _in_self_y(cases["x"], cases["t"]))])
    j.unchanged(target, ["sm.random", "sm.batch1", "sm.large", "sm.float32"])
    j.gradcheck(
        target,
        "sm.numgrad",
        [("dx", "numeric")],
        factors=[("grad_sign", -1.0), ("grad_no_batch", float(len(cases["tg"])))],
    )

    ref_loss = _mse(cases["y"], cases["ty"])
    j.value(f"{MSE}.forward", Msg("case.given_forward"), "mse.random", "loss", ref_loss, **_mse_options(ref_loss, B, N))
    target = f"{MSE}.backward"
    ref, opts = _mse_grad_options(cases["y"], cases["ty"])
    j.value(target, Msg("case.platform", {"shape": (B, N)}), "mse.random", "dx", ref, **opts)
    ref, opts = _mse_grad_options(cases["y1"], cases["ty1"])
    j.value(target, Msg("case.batch1", {"shape": (1, N)}), "mse.batch1", "dx", ref, **opts)
    ref, opts = _mse_grad_options(cases["y32"], cases["ty32"])
    j.value(target, Msg("case.float32"), "mse.float32", "dx", ref, float32=True, **opts)
    j.shape_dtype(
        target,
        Msg("case.shape_dtype", {"shape": (B, N), "dtype": "float32"}),
        "mse.float32",
        ["dx"],
        [(B, N)],
        np.float32,
    )
    j.twice(target, "mse.random")
    j.unchanged(target, ["mse.random", "mse.batch1", "mse.float32"])
    j.gradcheck(
        target,
        "mse.numgrad",
        [("dx", "numeric")],
        factors=[("grad_sign", -1.0), ("mse_grad_two", 2.0), ("mse_grad_batch", 1 / 3)],
    )
    return j.checks


# --------------------------------------------------------------------------- detection


def _has_losses(d, backward: bool) -> bool:
    present = [d.classes[c] for c in (SM, MSE) if c in d.classes]
    return bool(present) and any("backward" in methods for methods in present) == backward


def detect_forward(d) -> bool:
    """Level 1: SoftmaxWithLoss or MeanSquaredError, without a backward method."""
    return _has_losses(d, backward=False)


def detect_backward(d) -> bool:
    """Level 2: SoftmaxWithLoss or MeanSquaredError with a backward method."""
    return _has_losses(d, backward=True)
