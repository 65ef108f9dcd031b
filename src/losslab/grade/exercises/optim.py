"""One gradient-descent step: the book's ``SGD.update(params, grads)`` (chapter 6).

``params`` and ``grads`` are dicts of arrays keyed by parameter name; the update is
``params[key] -= lr * grads[key]``, in place, so that the layers holding those arrays
see the new values. The reference is that formula (see :class:`losslab.optim.textbook.SGD`).
"""

from __future__ import annotations

import numpy as np

from .._i18n import Msg
from ..checks import Judge, as_numbers
from ._probe import changed, snapshot

SHAPES = {"W1": (3, 4), "b1": (4,), "W2": (4, 2)}


def sgd_cases(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0, 1, s) for k, s in SHAPES.items()}
    grads = {k: rng.normal(0, 1, s) for k, s in SHAPES.items()}
    return {"lr": float(rng.choice([0.05, 0.1, 0.2, 0.5])), "params": params, "grads": grads}


def _step_probe(*, steps: int = 1, default_lr: bool = False, dtype=np.float64):
    def probe(module, cases, rec):
        cls = rec.need(module, "SGD")
        opt = rec.call("SGD()", cls) if default_lr else rec.call("SGD(lr)", cls, lr=cases["lr"])
        params = {k: v.astype(dtype) for k, v in cases["params"].items()}
        grads = {k: v.astype(dtype) for k, v in cases["grads"].items()}
        originals = dict(params)
        grads_in = {k: v.copy() for k, v in grads.items()}
        for _ in range(steps):
            rec.call("SGD.update", opt.update, params, grads_in)
        return {
            "after": {k: snapshot(params.get(k)) for k in SHAPES},
            "original": {k: snapshot(originals[k]) for k in SHAPES},
            "changed": changed(*((f"grads['{k}']", grads[k], grads_in[k]) for k in SHAPES)),
        }

    return probe


SGD_PROBES = {
    "step": _step_probe(),
    "default": _step_probe(default_lr=True),
    "twice": _step_probe(steps=2),
    "float32": _step_probe(dtype=np.float32),
}


def _expected(cases: dict, lr: float, steps: int = 1) -> dict:
    return {k: cases["params"][k] - steps * lr * cases["grads"][k] for k in SHAPES}


def _flat(arrays: dict) -> np.ndarray:
    return np.concatenate([np.asarray(arrays[k], dtype=np.float64).reshape(-1) for k in SHAPES])


def judge_sgd(cases: dict, probes) -> list:
    j = Judge("sgd-step", probes)
    lr = cases["lr"]
    p, g = _flat(cases["params"]), _flat(cases["grads"])
    target = "SGD.update"

    def step(case: Msg, probe_id: str, expected: dict, mistakes):
        values, failure = j.observed(probe_id)
        if values is None:
            return j.record(target, case, False, failure)
        after = values["after"]
        for k in SHAPES:  # every parameter still a numeric array of its shape, else say which is not
            arr, why = as_numbers(after.get(k))
            if arr is None or arr.shape != SHAPES[k]:
                return j.compare(f"{target} (params['{k}'])", case, after.get(k), expected[k])
        return j.compare(target, case, _flat(after), _flat(expected), mistakes=mistakes)

    step(Msg("case.step", {"lr": lr}), "step", _expected(cases, lr), [("sgd_sign", p + lr * g), ("sgd_no_lr", p - g)])

    def in_place(values):
        """The arrays passed in hold what params[key] holds now (whether right or wrong)."""
        for k in SHAPES:
            original, now = values["original"][k], values["after"].get(k)
            if not (
                isinstance(now, np.ndarray)
                and now.shape == original.shape
                and np.array_equal(original, now, equal_nan=True)
            ):
                return Msg("reason.not_in_place", {"key": repr(k)}), "not_in_place"
        return None

    def dtype_kept(values):
        for k in SHAPES:
            now = values["after"].get(k)
            if not (isinstance(now, np.ndarray) and now.dtype == np.float32):
                got = f"a {now.dtype} array" if isinstance(now, np.ndarray) else type(now).__name__
                return Msg("reason.param_dtype", {"key": repr(k), "got": got, "expected": "float32"}), None
        return None

    j.condition(target, Msg("case.in_place"), "step", in_place, advisory=True)
    step(Msg("case.default_lr"), "default", _expected(cases, 0.01), [("sgd_sign", p + 0.01 * g), ("sgd_no_lr", p - g)])
    step(
        Msg("case.two_steps"),
        "twice",
        _expected(cases, lr, steps=2),
        [("sgd_sign", p + 2 * lr * g), ("sgd_no_lr", p - 2 * g)],
    )
    j.condition(target, Msg("case.dtype_kept"), "float32", dtype_kept)
    j.unchanged(target, list(SGD_PROBES))
    return j.checks
