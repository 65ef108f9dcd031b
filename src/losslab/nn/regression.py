"""Loss objects of the regression family, with PyTorch's names and constructor options.

MSE, L1, smooth L1 and Huber have fused kernels (:mod:`losslab._fast`): on their common
calls the forward pass also computes the gradient, which ``backward`` scales by ``dout``.
"""

from __future__ import annotations

import numpy as np

from .._cases import BENCH_FEATURES, Case, Curve, away_from, col, elementwise, grid, label, paths_of
from ..functional import regression as F
from ._base import Loss, registered
from ._options import flag, reduction, scalar

__all__ = ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss"]


def _pair_cases(shapes, kinks=(), scale=2.0, **options):
    """Cases of an elementwise (input, target) loss: per shape and option set, differences off the kinks."""

    def make(rng) -> list[Case]:
        cases = []
        for shape in shapes:
            for opts in grid(**options):
                x = rng.normal(0, scale, shape)
                t = rng.normal(0, scale, shape)
                d = away_from(x - t, [k for kink in kinks for k in kink(opts)])
                cases.append(Case(label(opts, "x".join(map(str, shape))), opts, (t + d, t)))
        return cases

    return make


def _pair_path(rng, b, opts):
    return rng.normal(0, 2, (b, BENCH_FEATURES)), rng.normal(0, 2, (b, BENCH_FEATURES))


def _kl_path(rng, b, opts):
    z = rng.normal(0, 1, (b, BENCH_FEATURES))
    logq = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = rng.dirichlet(np.ones(BENCH_FEATURES), size=b)
    return logq, np.log(p) if opts["log_target"] else p


def _poisson_path(rng, b, opts):
    shape = (b, BENCH_FEATURES)
    x = rng.normal(0, 1, shape) if opts["log_input"] else rng.uniform(0.3, 3.0, shape)
    return x, rng.poisson(2.0, shape).astype(float)


def _gaussian_path(rng, b, opts):
    shape = (b, BENCH_FEATURES)
    var = rng.uniform(0.2, 2.0, shape if opts.pop("var") == "hetero" else (b, 1))
    return (rng.normal(0, 1, shape), rng.normal(0, 1, shape), var), opts


@registered(
    "squared error",
    _pair_cases([(4, 3), (2, 3, 2)]),
    curve=elementwise(0.0, "prediction - target"),
    array_api=True,
    paths=paths_of(_pair_path),
)
class MSELoss(Loss):
    """Squared error ``(x - t)^2``; see :func:`losslab.functional.mse_loss`."""

    _function = staticmethod(F.mse_loss)
    _backward = staticmethod(F.mse_loss_backward)
    _options = (reduction(),)


@registered(
    "absolute error",
    _pair_cases([(4, 3), (2, 3, 2)], kinks=[lambda o: [0.0]]),
    curve=elementwise(0.0, "prediction - target"),
    array_api=True,
    paths=paths_of(_pair_path),
)
class L1Loss(Loss):
    """Absolute error ``|x - t|``; see :func:`losslab.functional.l1_loss`."""

    _function = staticmethod(F.l1_loss)
    _backward = staticmethod(F.l1_loss_backward)
    _options = (reduction(),)


@registered(
    "quadratic below beta, linear above",
    _pair_cases([(4, 3)], kinks=[lambda o: [0.0, -o["beta"], o["beta"]]], beta=[1.0, 0.5, 0.0]),
    curve=elementwise(0.0, "prediction - target (beta 1)"),
    array_api=True,
    paths=paths_of(_pair_path, beta=[1.0, 0.0]),
)
class SmoothL1Loss(Loss):
    """Quadratic below ``beta``, linear above; see :func:`losslab.functional.smooth_l1_loss`."""

    _function = staticmethod(F.smooth_l1_loss)
    _backward = staticmethod(F.smooth_l1_loss_backward)
    _options = (reduction(), scalar("beta", 1.0, low=0.0))


@registered(
    "quadratic below delta, linear above (delta-scaled)",
    _pair_cases([(4, 3)], kinks=[lambda o: [-o["delta"], o["delta"]]], delta=[1.0, 0.5, 2.0]),
    curve=elementwise(0.0, "prediction - target (delta 1)"),
    array_api=True,
    paths=paths_of(_pair_path, delta=[1.0, 0.5]),
)
class HuberLoss(Loss):
    """Quadratic below ``delta``, linear above; see :func:`losslab.functional.huber_loss`."""

    _function = staticmethod(F.huber_loss)
    _backward = staticmethod(F.huber_loss_backward)
    _options = (reduction(positional=True), scalar("delta", 1.0, positional=True, low=0.0, low_open=True))


def _kl_cases(rng) -> list[Case]:
    cases = []
    for log_target in (False, True):
        x = np.log(rng.dirichlet(np.ones(4), size=3))
        p = rng.dirichlet(np.ones(4), size=3)
        if not log_target:
            p[0, 1] = 0.0  # 0 log 0 = 0
        t = np.log(p) if log_target else p
        cases.append(Case(f"log_target={log_target}", {"log_target": log_target}, (x, t)))
    return cases


@registered(
    "KL divergence from log-probabilities",
    _kl_cases,
    curve=Curve(
        lambda xs: ((col(xs, np.log(0.5)), np.full((len(xs), 2), 0.5)), {}),
        "log q of the first class (target p = [0.5, 0.5])",
        (-5.0, 0.0),
        column=0,
    ),
    array_api=True,
    paths=paths_of(_kl_path, log_target=[False, True], reduction=["batchmean"]),
)
class KLDivLoss(Loss):
    """KL divergence from log-probabilities; see :func:`losslab.functional.kl_div`."""

    _function = staticmethod(F.kl_div)
    _backward = staticmethod(F.kl_div_backward)
    _options = (reduction(allowed=F.KL_REDUCTIONS), flag("log_target", False))


def _poisson_cases(rng) -> list[Case]:
    cases = []
    for opts in grid(log_input=[True, False], full=[False, True]):
        t = rng.poisson(2.0, (4, 3)).astype(float)
        x = rng.normal(0, 1, (4, 3)) if opts["log_input"] else rng.uniform(0.3, 3.0, (4, 3))
        cases.append(Case(label(opts), opts, (x, t)))
    return cases


@registered(
    "Poisson negative log-likelihood",
    _poisson_cases,
    curve=elementwise(2.0, "log rate (target count 2)", (-2.0, 3.0)),
    array_api=True,
    paths=paths_of(_poisson_path, log_input=[True, False], full=[False, True]),
)
class PoissonNLLLoss(Loss):
    """Poisson negative log-likelihood; see :func:`losslab.functional.poisson_nll_loss`."""

    _function = staticmethod(F.poisson_nll_loss)
    _backward = staticmethod(F.poisson_nll_loss_backward)
    _options = (
        flag("log_input", True, positional=True),
        flag("full", False, positional=True),
        scalar("eps", 1e-8, low=0.0),
        reduction(),
    )


def _gaussian_cases(rng) -> list[Case]:
    cases = []
    for full in (False, True):
        for kind, vshape in (("hetero", (4, 3)), ("homo", (4,)), ("homo-keepdim", (4, 1)), ("homo-dim1", (1, 3))):
            x, t = rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3))
            var = rng.uniform(0.2, 2.0, vshape)
            cases.append(Case(f"{kind},full={full}", {"full": full}, (x, t, var)))
    var = rng.uniform(0.0, 0.2, (4, 3))
    cases.append(
        Case("clamped", {"eps": 0.1}, (rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3)), var), numeric=False)
    )
    return cases


@registered(
    "Gaussian negative log-likelihood with variance",
    _gaussian_cases,
    curve=Curve(lambda xs: ((xs, np.zeros_like(xs), np.ones_like(xs)), {}), "prediction - target (variance 1)"),
    array_api=True,
    paths=paths_of(_gaussian_path, var=["hetero", "homo"], full=[False, True]),
)
class GaussianNLLLoss(Loss):
    """Gaussian negative log-likelihood, ``L(input, target, var)``; gradients for input and var.

    See :func:`losslab.functional.gaussian_nll_loss`.
    """

    _function = staticmethod(F.gaussian_nll_loss)
    _backward = staticmethod(F.gaussian_nll_loss_backward)
    _inputs = ("input", "target", "var")
    _grad_inputs = ("input", "var")
    _options = (flag("full", False), scalar("eps", 1e-6, low=0.0), reduction())
