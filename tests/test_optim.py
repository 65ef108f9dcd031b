"""Optimizers: trajectories against torch.optim (live and from committed golden values),
hand-computed steps, the textbook variants, dtype, in-place and validation checks.

The trajectory problem is a tiny least-squares fit, ``f(W, b) = 0.5/n * ||X W + b - Y||^2``,
whose gradient is computed analytically in NumPy at each side's own current parameters;
``tools/make_golden_optim.py`` imports ``CASES``, ``make_problem`` and ``run_torch`` from here.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from losslab import optim
from losslab.optim import Parameter, textbook

GOLDEN = Path(__file__).parent / "golden" / "optim_golden.npz"
STEPS = 30
CHECKPOINTS = (1, 2, 10, 30)  # steps whose parameters the golden file stores
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class OptCase:
    """One optimizer configuration: losslab's class and options, torch's class and options."""

    id: str
    cls: str
    options: dict
    torch_cls: str
    torch_options: dict = field(default_factory=dict)

    @property
    def sign(self) -> float:
        """Maximizing cases are fed the gradient of ``-f``, so that they too converge."""
        return -1.0 if self.options.get("maximize") else 1.0


def _case(id_: str, cls: str, torch_cls: str | None = None, torch_extra: dict | None = None, **options) -> OptCase:
    return OptCase(id_, cls, options, torch_cls or cls, {**options, **(torch_extra or {})})


_MOMENTUM = {"momentum": 0.9}
_NESTEROV = {"momentum": 0.9, "nesterov": True}
CASES: list[OptCase] = [
    _case("SGD", "SGD", lr=0.1),
    _case("SGD-weight_decay", "SGD", lr=0.1, weight_decay=0.1),
    _case("SGD-maximize", "SGD", lr=0.1, maximize=True),
    _case("SGD-momentum-dampening", "SGD", lr=0.05, momentum=0.5, dampening=0.3),
    _case("SGD-momentum-weight_decay-maximize", "SGD", lr=0.05, momentum=0.8, weight_decay=0.05, maximize=True),
    _case("SGD-nesterov", "SGD", lr=0.05, momentum=0.7, nesterov=True),
    _case("Momentum", "Momentum", "SGD", _MOMENTUM, lr=0.05),
    _case("Momentum-weight_decay", "Momentum", "SGD", _MOMENTUM, lr=0.05, weight_decay=0.1),
    _case("Nesterov", "Nesterov", "SGD", _NESTEROV, lr=0.05),
    _case("Nesterov-weight_decay-maximize", "Nesterov", "SGD", _NESTEROV, lr=0.05, weight_decay=0.1, maximize=True),
    _case("Adagrad", "Adagrad", lr=0.1),
    _case(
        "Adagrad-lr_decay-initial_accumulator-weight_decay",
        "Adagrad",
        lr=0.1,
        lr_decay=0.05,
        initial_accumulator_value=0.1,
        weight_decay=0.1,
    ),
    _case("Adagrad-eps-maximize", "Adagrad", lr=0.1, eps=1e-3, maximize=True),
    _case("RMSprop", "RMSprop", lr=0.01),
    _case("RMSprop-centered", "RMSprop", lr=0.01, centered=True),
    _case("RMSprop-momentum", "RMSprop", lr=0.01, momentum=0.9),
    _case("RMSprop-centered-momentum-weight_decay", "RMSprop", lr=0.01, centered=True, momentum=0.5, weight_decay=0.1),
    _case("RMSprop-alpha-eps-maximize", "RMSprop", lr=0.01, alpha=0.9, eps=1e-4, maximize=True),
    _case("Adam", "Adam", lr=0.05),
    _case("Adam-weight_decay", "Adam", lr=0.05, weight_decay=0.1),
    _case("Adam-amsgrad", "Adam", lr=0.05, amsgrad=True),
    _case(
        "Adam-amsgrad-weight_decay-maximize-betas",
        "Adam",
        lr=0.05,
        betas=(0.8, 0.99),
        weight_decay=0.1,
        amsgrad=True,
        maximize=True,
    ),
    _case("Adam-decoupled_weight_decay", "Adam", lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
    _case("AdamW", "AdamW", lr=0.05),
    _case("AdamW-amsgrad-weight_decay", "AdamW", lr=0.05, weight_decay=0.2, amsgrad=True),
    _case("AdamW-maximize-eps", "AdamW", lr=0.05, eps=1e-3, maximize=True),
]
CASE_IDS = [c.id for c in CASES]


def make_problem() -> dict[str, np.ndarray]:
    """X (6, 2), Y (6, 2) of the least-squares fit and the initial W (2, 2), b (2,); float64."""
    rng = np.random.default_rng(20240501)
    x = rng.normal(size=(6, 2))
    y = x @ rng.normal(size=(2, 2)) + 0.5 + 0.1 * rng.normal(size=(6, 2))
    return {"X": x, "Y": y, "W0": rng.normal(size=(2, 2)), "b0": rng.normal(size=2)}


def gradients(w, b, x, y, sign=1.0):
    """``sign`` times the gradient of ``f = 0.5/n * ||x w + b - y||^2`` with respect to (w, b)."""
    r = (x @ w + b - y) * (sign / len(x))
    return x.T @ r, r.sum(axis=0)


def _cast(problem, dtype):
    return {k: np.asarray(a, dtype=dtype) for k, a in problem.items()}


def run_losslab(case: OptCase, dtype, problem, steps: int = STEPS, options: dict | None = None) -> np.ndarray:
    """The (steps, 6) trajectory of [W.ravel(), b] under losslab's optimizer."""
    pr = _cast(problem, dtype)
    params = [Parameter(pr["W0"].copy(), "W"), Parameter(pr["b0"].copy(), "b")]
    opt = getattr(optim, case.cls)(params, **(case.options if options is None else options))
    traj = []
    for _ in range(steps):
        gw, gb = gradients(params[0].data, params[1].data, pr["X"], pr["Y"], case.sign)
        params[0].grad[...] = gw
        params[1].grad[...] = gb
        opt.step()
        traj.append(np.concatenate([p.data.ravel() for p in params]))
    return np.array(traj)


def run_torch(case: OptCase, dtype, problem, steps: int = STEPS) -> np.ndarray:
    """The same trajectory under ``torch.optim``, each gradient computed at torch's parameters."""
    import torch

    pr = _cast(problem, dtype)
    params = [
        torch.nn.Parameter(torch.from_numpy(pr["W0"].copy())),
        torch.nn.Parameter(torch.from_numpy(pr["b0"].copy())),
    ]
    opt = getattr(torch.optim, case.torch_cls)(params, **case.torch_options)
    traj = []
    for _ in range(steps):
        w, b = (p.detach().numpy().copy() for p in params)
        gw, gb = gradients(w, b, pr["X"], pr["Y"], case.sign)
        params[0].grad, params[1].grad = torch.from_numpy(gw), torch.from_numpy(gb)
        opt.step()
        traj.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
    return np.array(traj)


# --------------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_trajectory_matches_torch(case, dtype):
    pytest.importorskip("torch")
    problem = make_problem()
    ours, theirs = run_losslab(case, dtype, problem), run_torch(case, dtype, problem)
    assert ours.dtype == np.dtype(dtype)
    np.testing.assert_allclose(ours, theirs, **TOL[dtype])
    assert not np.allclose(ours[-1], problem["W0"].ravel().tolist() + problem["b0"].tolist())


# --------------------------------------------------------------------------- golden values
def _load_golden():
    if not GOLDEN.exists():  # only while tools/make_golden_optim.py (which imports this module) writes it
        return {}, {"torch": "", "checkpoints": [], "cases": []}
    with np.load(GOLDEN, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(str(arrays.pop("index")))


GOLDEN_ARRAYS, GOLDEN_INDEX = _load_golden()


def test_golden_file_matches_the_case_list():
    assert GOLDEN_INDEX["torch"].startswith("2.13.0")
    assert tuple(GOLDEN_INDEX["checkpoints"]) == CHECKPOINTS
    stored = [(e["id"], e["cls"], e["options"]) for e in GOLDEN_INDEX["cases"]]
    expected = [(c.id, c.cls, json.loads(json.dumps(c.options))) for c in CASES]
    assert stored == expected
    assert GOLDEN.stat().st_size < 16_000


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(len(GOLDEN_INDEX["cases"])), ids=[e["id"] for e in GOLDEN_INDEX["cases"]])
def test_trajectory_matches_committed_torch_values(k, dtype):
    entry = GOLDEN_INDEX["cases"][k]
    problem = {name: GOLDEN_ARRAYS[name] for name in ("X", "Y", "W0", "b0")}
    case = OptCase(entry["id"], entry["cls"], entry["options"], "")
    ours = run_losslab(case, dtype, problem, steps=max(CHECKPOINTS))
    expected = GOLDEN_ARRAYS[f"trajectory_{dtype}"][k]
    assert expected.dtype == np.dtype(dtype)
    np.testing.assert_allclose(ours[np.array(CHECKPOINTS) - 1], expected, **TOL[dtype])


# --------------------------------------------------------------------------- hand-computed steps
def _param(values) -> Parameter:
    return Parameter(np.array(values, dtype=np.float64))


def _step(opt, p, grad):
    p.grad[...] = grad
    opt.step()
    return p.data.copy()


def test_sgd_first_step_by_hand():
    # g' = g + wd * p = [0.5 + 0.1 * 1, 1 + 0.1 * (-2)] = [0.6, 0.8]
    # p  = p - lr * g' = [1 - 0.06, -2 - 0.08] = [0.94, -2.08]
    p = _param([1.0, -2.0])
    np.testing.assert_allclose(
        _step(optim.SGD([p], lr=0.1, weight_decay=0.1), p, [0.5, 1.0]), [0.94, -2.08], rtol=1e-15
    )
    # maximize: p = p + lr * g = [1 + 0.05, -2 + 0.1]
    p = _param([1.0, -2.0])
    np.testing.assert_allclose(_step(optim.SGD([p], lr=0.1, maximize=True), p, [0.5, 1.0]), [1.05, -1.9], rtol=1e-15)


def test_momentum_steps_by_hand():
    # lr 0.1, momentum 0.9, dampening 0.5, p0 = [0, 0]
    # step 1, g = [1, 2]:   b1 = g (no dampening on the first step) = [1, 2];  p1 = -0.1 * b1 = [-0.1, -0.2]
    # step 2, g = [0.5, -1]: b2 = 0.9 * b1 + 0.5 * g = [0.9 + 0.25, 1.8 - 0.5] = [1.15, 1.3]
    #                        p2 = p1 - 0.1 * b2 = [-0.1 - 0.115, -0.2 - 0.13] = [-0.215, -0.33]
    p = _param([0.0, 0.0])
    opt = optim.Momentum([p], lr=0.1, dampening=0.5)
    np.testing.assert_allclose(_step(opt, p, [1.0, 2.0]), [-0.1, -0.2], rtol=1e-14)
    np.testing.assert_allclose(_step(opt, p, [0.5, -1.0]), [-0.215, -0.33], rtol=1e-14)
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], [1.15, 1.3], rtol=1e-14)


def test_nesterov_steps_by_hand():
    # lr 0.1, momentum 0.9, p0 = 0
    # step 1, g = 1: b1 = 1;               p1 = -0.1 * (1 + 0.9 * 1) = -0.19
    # step 2, g = 2: b2 = 0.9 * 1 + 2 = 2.9; p2 = -0.19 - 0.1 * (2 + 0.9 * 2.9) = -0.19 - 0.461 = -0.651
    p = _param([0.0])
    opt = optim.Nesterov([p], lr=0.1)
    np.testing.assert_allclose(_step(opt, p, [1.0]), [-0.19], rtol=1e-14)
    np.testing.assert_allclose(_step(opt, p, [2.0]), [-0.651], rtol=1e-14)


def test_adam_steps_by_hand():
    # lr 0.1, betas (0.9, 0.999), eps 1e-8, p0 = [1, -1]
    # step 1, g = [0.5, -2]: m1 = 0.1 g = [0.05, -0.2];  v1 = 0.001 g^2 = [0.00025, 0.004]
    #   m^ = m1 / (1 - 0.9) = g;  v^ = v1 / (1 - 0.999) = g^2;  so sqrt(v^) = |g| = [0.5, 2]
    #   p1 = p0 - 0.1 * g / (|g| + 1e-8) = [1 - 0.05 / 0.50000001, -1 + 0.2 / 2.00000001]
    # step 2, g = [0.5, 0]:  m2 = 0.9 m1 + 0.1 g = [0.095, -0.18];  v2 = 0.999 v1 + 0.001 g^2 = [0.00049975, 0.003996]
    #   bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999
    #   m^ = [0.5, -0.18 / 0.19];  v^ = [0.25, 0.003996 / 0.001999]
    #   p2 = p1 - 0.1 * m^ / (sqrt(v^) + 1e-8)
    p = _param([1.0, -1.0])
    opt = optim.Adam([p], lr=0.1)
    p1 = np.array([1 - 0.05 / 0.50000001, -1 + 0.2 / 2.00000001])
    np.testing.assert_allclose(_step(opt, p, [0.5, -2.0]), p1, rtol=1e-13)
    m_hat = np.array([0.5, -0.18 / 0.19])
    v_hat = np.array([0.25, 0.003996 / 0.001999])
    p2 = p1 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(_step(opt, p, [0.5, 0.0]), p2, rtol=1e-12)
    np.testing.assert_allclose(opt.state[0]["exp_avg"], [0.095, -0.18], rtol=1e-13)
    np.testing.assert_allclose(opt.state[0]["exp_avg_sq"], [0.00049975, 0.003996], rtol=1e-13)


def test_adamw_decays_before_the_adam_step():
    # p1 = p0 * (1 - lr * wd) - lr * g / (|g| + eps) = 2 * (1 - 0.1 * 0.5) - 0.1 * 1 / (1 + 1e-8)
    p = _param([2.0])
    np.testing.assert_allclose(
        _step(optim.AdamW([p], lr=0.1, weight_decay=0.5), p, [1.0]), [1.9 - 0.1 / (1 + 1e-8)], rtol=1e-14
    )


def test_amsgrad_keeps_the_largest_second_moment():
    p = _param([0.0])
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    for g in (3.0, 0.0, 0.0):  # v1 = 0.001 * 9, then v shrinks by 0.999 per step; the max stays v1
        _step(opt, p, [g])
    assert opt.state[0]["max_exp_avg_sq"][0] == pytest.approx(0.001 * 9, rel=1e-14)
    assert opt.state[0]["exp_avg_sq"][0] < opt.state[0]["max_exp_avg_sq"][0]


def test_centered_rmsprop_stays_finite_under_a_constant_gradient():
    # v_t - a_t^2 = (1 - alpha^t) alpha^t g^2 underflows to rounding noise after many steps
    p = _param([0.0, 0.0])
    opt = optim.RMSprop([p], lr=1e-3, centered=True)
    p.grad[...] = [1.0, 0.3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5000):
            opt.step()
    assert np.all(np.isfinite(p.data))


# --------------------------------------------------------------------------- textbook variants
def _run_textbook(opt, problem, steps=STEPS, lrs=None):
    params = {"W": problem["W0"].copy(), "b": problem["b0"].copy()}
    traj = []
    for t in range(steps):
        if lrs is not None:
            opt.lr = lrs[t]
        gw, gb = gradients(params["W"], params["b"], problem["X"], problem["Y"])
        opt.update(params, {"W": gw, "b": gb})
        traj.append(np.concatenate([params["W"].ravel(), params["b"]]))
    return np.array(traj)


def _run_torch_like(opt_cls, problem, steps=STEPS, lrs=None, eps_schedule=None, **options):
    params = [Parameter(problem["W0"].copy(), "W"), Parameter(problem["b0"].copy(), "b")]
    opt = opt_cls(params, **options)
    traj = []
    for t in range(steps):
        if lrs is not None:
            opt.lr = lrs[t]
        if eps_schedule is not None:
            opt.eps = eps_schedule(t + 1)
        params[0].grad[...], params[1].grad[...] = gradients(params[0].data, params[1].data, problem["X"], problem["Y"])
        opt.step()
        traj.append(np.concatenate([p.data.ravel() for p in params]))
    return np.array(traj)


@pytest.mark.parametrize(
    "book, ours",
    [
        (lambda: textbook.SGD(lr=0.1), lambda pr: _run_torch_like(optim.SGD, pr, lr=0.1)),
        (lambda: textbook.Momentum(lr=0.05), lambda pr: _run_torch_like(optim.Momentum, pr, lr=0.05)),
        (lambda: textbook.AdaGrad(lr=0.1), lambda pr: _run_torch_like(optim.Adagrad, pr, lr=0.1, eps=1e-7)),
        (
            lambda: textbook.RMSprop(lr=0.01, decay_rate=0.9),
            lambda pr: _run_torch_like(optim.RMSprop, pr, lr=0.01, alpha=0.9, eps=1e-7),
        ),
    ],
    ids=["SGD", "Momentum", "AdaGrad", "RMSprop"],
)
def test_textbook_rules_equal_their_torch_like_counterparts(book, ours):
    problem = make_problem()
    np.testing.assert_allclose(_run_textbook(book(), problem), ours(problem), rtol=1e-12, atol=1e-12)


def test_textbook_momentum_differs_from_torch_like_once_lr_changes():
    problem = make_problem()
    lrs = [0.05] * 5 + [0.01] * 5
    book = _run_textbook(textbook.Momentum(lr=0.05), problem, steps=10, lrs=lrs)
    ours = _run_torch_like(optim.Momentum, problem, steps=10, lrs=lrs, lr=0.05)
    np.testing.assert_allclose(book[:5], ours[:5], rtol=1e-12)
    assert not np.allclose(book[5:], ours[5:], rtol=1e-6)


def test_textbook_momentum_steps_by_hand():
    # v1 = -0.1 * 1 = -0.1; p1 = 1 - 0.1 = 0.9
    # v2 = 0.9 * (-0.1) - 0.1 * 2 = -0.29; p2 = 0.9 - 0.29 = 0.61
    params = {"W": np.array([1.0])}
    opt = textbook.Momentum(lr=0.1)
    opt.update(params, {"W": np.array([1.0])})
    np.testing.assert_allclose(params["W"], [0.9], rtol=1e-15)
    opt.update(params, {"W": np.array([2.0])})
    np.testing.assert_allclose(params["W"], [0.61], rtol=1e-14)
    np.testing.assert_allclose(opt.v["W"], [-0.29], rtol=1e-14)


def test_textbook_nesterov_steps_by_hand_and_the_difference_from_torch():
    # lr 0.1, m 0.9, p0 = 0
    # step 1, g = 1: v1 = -0.1;                  p1 = 0.81 * (-0.1) - 1.9 * 0.1 = -0.271
    # step 2, g = 2: v2 = 0.9 * (-0.1) - 0.2 = -0.29; p2 = -0.271 + 0.81 * (-0.29) - 1.9 * 0.2 = -0.8859
    params = {"W": np.array([0.0])}
    opt = textbook.Nesterov(lr=0.1)
    opt.update(params, {"W": np.array([1.0])})
    np.testing.assert_allclose(params["W"], [-0.271], rtol=1e-14)
    opt.update(params, {"W": np.array([2.0])})
    np.testing.assert_allclose(params["W"], [-0.8859], rtol=1e-14)
    # torch's first Nesterov step is -(1 + m) lr g = -0.19, the book's -(1 + m + m^2) lr g = -0.271
    p = _param([0.0])
    assert _step(optim.Nesterov([p], lr=0.1), p, [1.0])[0] == pytest.approx(-0.19)


def test_textbook_adagrad_and_rmsprop_steps_by_hand():
    # AdaGrad: h1 = 4, p1 = 1 - 0.1 * 2 / (2 + 1e-7); h2 = 5, p2 = p1 - 0.1 * 1 / (sqrt(5) + 1e-7)
    params = {"W": np.array([1.0])}
    opt = textbook.AdaGrad(lr=0.1)
    opt.update(params, {"W": np.array([2.0])})
    opt.update(params, {"W": np.array([1.0])})
    p1 = 1 - 0.1 * 2 / (2 + 1e-7)
    np.testing.assert_allclose(params["W"], [p1 - 0.1 / (np.sqrt(5) + 1e-7)], rtol=1e-15)
    # RMSprop: h1 = 0.01 * 9 = 0.09, p1 = 1 - 0.01 * 3 / (0.3 + 1e-7)
    #          h2 = 0.99 * 0.09 + 0.01 * 1 = 0.0991, p2 = p1 - 0.01 * 1 / (sqrt(0.0991) + 1e-7)
    params = {"W": np.array([1.0])}
    opt = textbook.RMSprop(lr=0.01)
    opt.update(params, {"W": np.array([3.0])})
    opt.update(params, {"W": np.array([1.0])})
    p1 = 1 - 0.01 * 3 / (0.3 + 1e-7)
    np.testing.assert_allclose(params["W"], [p1 - 0.01 / (np.sqrt(0.0991) + 1e-7)], rtol=1e-14)
    np.testing.assert_allclose(opt.h["W"], [0.0991], rtol=1e-14)


def test_textbook_adam_step_by_hand_and_its_eps_placement():
    # lr_t = 0.1 * sqrt(1 - 0.999) / (1 - 0.9) = sqrt(0.001);  m = 0.1 * 4 = 0.4;  v = 0.001 * 16 = 0.016
    # p1 = 1 - sqrt(0.001) * 0.4 / (sqrt(0.016) + 1e-7)
    params = {"W": np.array([1.0])}
    opt = textbook.Adam(lr=0.1)
    opt.update(params, {"W": np.array([4.0])})
    p1 = 1 - np.sqrt(0.001) * 0.4 / (np.sqrt(0.016) + 1e-7)
    np.testing.assert_allclose(params["W"], [p1], rtol=1e-14)
    # = torch's rule with eps_t = 1e-7 / sqrt(1 - b2^t): p1 = 1 - 0.1 * m^ / (sqrt(v^) + eps_t), m^ = 4, v^ = 16
    np.testing.assert_allclose(params["W"], [1 - 0.1 * 4 / (4 + 1e-7 / np.sqrt(0.001))], rtol=1e-14)
    # ...and over a whole trajectory it is torch-like Adam with that step-dependent eps
    problem = make_problem()
    book = _run_textbook(textbook.Adam(lr=0.05), problem)
    ours = _run_torch_like(optim.Adam, problem, lr=0.05, eps_schedule=lambda t: 1e-7 / np.sqrt(1 - 0.999**t))
    np.testing.assert_allclose(book, ours, rtol=1e-12, atol=1e-12)
    fixed_eps = _run_torch_like(optim.Adam, problem, lr=0.05, eps=1e-7)
    assert not np.allclose(book, fixed_eps, rtol=1e-10, atol=0)


def test_textbook_sgd_descends_the_bowl_to_the_origin():
    # f = x0^2 + x1^2, grad = 2x, lr = 0.1: x_t = 0.8^t x_0
    params = {"x": np.array([-3.0, 4.0])}
    opt = textbook.SGD(lr=0.1)
    for _ in range(100):
        opt.update(params, {"x": 2 * params["x"]})
    np.testing.assert_allclose(params["x"], [0.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(params["x"], 0.8**100 * np.array([-3.0, 4.0]), rtol=1e-12)


def test_textbook_state_is_keyed_by_parameter_name():
    params = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    grads = {"W1": np.ones((2, 2)), "b1": np.ones(2), "unused": np.ones(3)}
    opt = textbook.Adam()
    opt.update(params, grads)
    assert set(opt.m) == set(opt.v) == {"W1", "b1"}


# --------------------------------------------------------------------------- dtype, in place, zero_grad
def _all_torch_like(params):
    return [
        optim.SGD(params, 0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
        optim.Momentum(params, 0.1),
        optim.Nesterov(params, 0.1),
        optim.Adagrad(params, weight_decay=0.1, lr_decay=0.1),
        optim.RMSprop(params, centered=True, momentum=0.5, weight_decay=0.1),
        optim.Adam(params, weight_decay=0.1, amsgrad=True),
        optim.AdamW(params, amsgrad=True),
    ]


def _all_textbook():
    return [
        textbook.SGD(),
        textbook.Momentum(),
        textbook.Nesterov(),
        textbook.AdaGrad(),
        textbook.RMSprop(),
        textbook.Adam(),
    ]


def _float32_params():
    rng = np.random.default_rng(3)
    return [
        Parameter(rng.normal(size=(3, 2)).astype(np.float32), "W"),
        Parameter(rng.normal(size=2).astype(np.float32), "b"),
    ]


@pytest.mark.parametrize("k", range(7))
def test_torch_like_keeps_float32_and_updates_in_place(k):
    params = _float32_params()
    opt = _all_torch_like(params)[k]
    arrays, before = [p.data for p in params], [p.data.copy() for p in params]
    for _ in range(3):
        for p in params:
            p.grad[...] = np.float32(0.5) * p.data + np.float32(0.1)
        grads = [p.grad.copy() for p in params]
        opt.step()
        for p, g in zip(params, grads):
            np.testing.assert_array_equal(p.grad, g)  # step() leaves the gradients alone
    assert len(opt.state) == len(params)
    for p, a, b in zip(params, arrays, before):
        assert p.data is a and p.data.dtype == np.float32
        assert not np.array_equal(p.data, b)
    for p, state in zip(params, opt.state):
        for value in state.values():
            assert value.dtype == np.float32 and value.shape == p.data.shape


@pytest.mark.parametrize("k", range(6))
def test_textbook_keeps_float32_and_updates_in_place(k):
    opt = _all_textbook()[k]
    params = {p.name: p.data for p in _float32_params()}
    arrays = dict(params)
    for _ in range(3):
        opt.update(params, {key: np.float32(0.5) * a + np.float32(0.1) for key, a in params.items()})
    for key, a in arrays.items():
        assert params[key] is a and a.dtype == np.float32
    states = [s for s in vars(opt).values() if isinstance(s, dict)]
    assert len(states) == (0 if isinstance(opt, textbook.SGD) else 1 + isinstance(opt, textbook.Adam))
    assert all(arr.dtype == np.float32 for s in states for arr in s.values())


def test_zero_grad_clears_every_gradient_in_place():
    params = _float32_params()
    opt = optim.Adam(params)
    grads = [p.grad for p in params]
    for p in params:
        p.grad[...] = 1.0
    opt.zero_grad()
    for p, g in zip(params, grads):
        assert p.grad is g and not p.grad.any()


# --------------------------------------------------------------------------- validation
_P = [Parameter(np.zeros(2))]


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: optim.SGD(_P, lr=0), ValueError, r"lr must lie in \(0.0, inf\], got 0"),
        (lambda: optim.Adam(_P, lr=-1e-3), ValueError, "lr must lie"),
        (lambda: optim.SGD(_P, lr="0.1"), TypeError, "lr must be a real number"),
        (lambda: optim.SGD(_P, 0.1, momentum=-0.1), ValueError, "momentum must lie"),
        (lambda: optim.SGD(_P, 0.1, weight_decay=-1), ValueError, "weight_decay must lie"),
        (lambda: optim.SGD(_P, 0.1, dampening=1.5), ValueError, "dampening must lie"),
        (lambda: optim.SGD(_P, 0.1, nesterov=True), ValueError, "nesterov=True requires momentum > 0"),
        (lambda: optim.SGD(_P, 0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "and dampening == 0"),
        (lambda: optim.Nesterov(_P, 0.1, momentum=0), ValueError, "nesterov=True requires"),
        (lambda: optim.SGD(_P, 0.1, maximize="yes"), TypeError, "maximize must be True or False"),
        (lambda: optim.Momentum(_P, 0.1, momentum=-0.9), ValueError, "momentum must lie"),
        (lambda: optim.Adagrad(_P, lr_decay=-1), ValueError, "lr_decay must lie"),
        (lambda: optim.Adagrad(_P, initial_accumulator_value=-1), ValueError, "initial_accumulator_value"),
        (lambda: optim.Adagrad(_P, eps=-1e-10), ValueError, "eps must lie"),
        (lambda: optim.Adagrad(_P, weight_decay=-1), ValueError, "weight_decay must lie"),
        (lambda: optim.RMSprop(_P, alpha=1.5), ValueError, "alpha must lie"),
        (lambda: optim.RMSprop(_P, momentum=-1), ValueError, "momentum must lie"),
        (lambda: optim.RMSprop(_P, eps=-1), ValueError, "eps must lie"),
        (lambda: optim.RMSprop(_P, centered=1), TypeError, "centered must be True or False"),
        (lambda: optim.Adam(_P, betas=(1.0, 0.999)), ValueError, r"betas\[0\] must lie in \[0.0, 1.0\)"),
        (lambda: optim.Adam(_P, betas=(0.9, -0.1)), ValueError, r"betas\[1\] must lie"),
        (lambda: optim.Adam(_P, betas=0.9), TypeError, r"betas must be a pair"),
        (lambda: optim.Adam(_P, eps=-1e-8), ValueError, "eps must lie"),
        (lambda: optim.Adam(_P, weight_decay=-0.1), ValueError, "weight_decay must lie"),
        (lambda: optim.AdamW(_P, weight_decay=-0.1), ValueError, "weight_decay must lie"),
        (lambda: optim.AdamW(_P, amsgrad="no"), TypeError, "amsgrad must be True or False"),
        (lambda: optim.SGD([], lr=0.1), ValueError, "params must hold at least one Parameter"),
        (lambda: optim.Adam([np.zeros(2)]), TypeError, r"params\[0\] must be a losslab Parameter, got ndarray"),
        (lambda: textbook.SGD(lr=0), ValueError, "lr must lie"),
        (lambda: textbook.Momentum(momentum=-1), ValueError, "momentum must lie"),
        (lambda: textbook.Nesterov(lr=-0.1), ValueError, "lr must lie"),
        (lambda: textbook.RMSprop(decay_rate=1.0), ValueError, r"decay_rate must lie in \[0.0, 1.0\)"),
        (lambda: textbook.Adam(beta1=1.0), ValueError, "beta1 must lie"),
        (lambda: textbook.Adam(beta2=-0.5), ValueError, "beta2 must lie"),
    ],
)
def test_invalid_options_raise_clear_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize(
    "params, grads, exc, match",
    [
        ({"W": np.ones(2), "b": np.ones(2)}, {"W": np.ones(2)}, ValueError, r"grads has no entry for params\['b'\]"),
        ({"W": np.ones(2)}, {"W": np.ones(3)}, ValueError, r"grads\['W'\] must have the shape of params\['W'\]"),
        ([np.ones(2)], {"W": np.ones(2)}, TypeError, "params must be a dict"),
        ({"W": np.ones(2)}, [np.ones(2)], TypeError, "grads must be a dict"),
        ({"W": [1.0, 2.0]}, {"W": np.ones(2)}, TypeError, r"params\['W'\] must be a float NumPy array"),
        ({"W": np.ones(2, dtype=np.int64)}, {"W": np.ones(2)}, TypeError, "of dtype int64"),
    ],
    ids=["missing-key", "shape", "params-list", "grads-list", "param-list", "param-int"],
)
@pytest.mark.parametrize("k", range(6))
def test_textbook_update_validates_before_touching_anything(k, params, grads, exc, match):
    opt = _all_textbook()[k]
    before = {key: np.array(a, copy=True) for key, a in params.items()} if isinstance(params, dict) else None
    with pytest.raises(exc, match=match):
        opt.update(params, grads)
    if before is not None:
        for key, a in before.items():
            np.testing.assert_array_equal(params[key], a)
