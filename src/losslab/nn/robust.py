"""Loss objects of the robust-regression family: log-cosh, quantile (pinball) and Charbonnier."""

from __future__ import annotations

import numpy as np

from .._cases import BENCH_FEATURES, Case, Curve, away_from, elementwise, paths_of
from ..functional import robust as F
from ._base import Loss, registered
from ._options import array, checked, reduction, scalar

__all__ = ["LogCoshLoss", "QuantileLoss", "CharbonnierLoss"]

# pytorch-forecasting's QuantileLoss default levels
DEFAULT_QUANTILES = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)


def _log_cosh_cases(rng) -> list[Case]:
    return [
        Case("4x3", {}, (rng.normal(0, 2, (4, 3)), rng.normal(0, 2, (4, 3)))),
        Case("2x3x2", {}, (rng.normal(0, 2, (2, 3, 2)), rng.normal(0, 2, (2, 3, 2)))),
    ]


def _pair_path(rng, b, opts):
    return rng.normal(0, 2, (b, BENCH_FEATURES)), rng.normal(0, 2, (b, BENCH_FEATURES))


def _quantile_path(rng, b, opts):
    return rng.normal(0, 2, (b, len(opts["quantiles"]))), rng.normal(0, 2, b)


@registered(
    "log(cosh(x - t)), a smooth Huber",
    _log_cosh_cases,
    curve=elementwise(0.0, "prediction - target"),
    torch=False,
    array_api=True,
    paths=paths_of(_pair_path),
)
class LogCoshLoss(Loss):
    """``log(cosh(x - t))``, a smooth Huber; see :func:`losslab.functional.log_cosh_loss`."""

    _function = staticmethod(F.log_cosh_loss)
    _backward = staticmethod(F.log_cosh_loss_backward)
    _options = (reduction(),)


def _quantile_cases(rng) -> list[Case]:
    cases = []
    for quantiles in ((0.1, 0.5, 0.9), (0.25, 0.75), (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)):
        t = rng.normal(0, 2, 5)
        d = away_from(rng.normal(0, 2, (5, len(quantiles))), [0.0])
        cases.append(Case(f"quantiles={quantiles}", {"quantiles": quantiles}, (t[:, None] + d, t)))
    return cases


def _check_levels(quantiles):
    """Refuse bad levels now, not at the first call; keep what the caller gave."""
    F.levels(quantiles)
    return quantiles


@registered(
    "pinball loss for Q quantile levels at once",
    _quantile_cases,
    curve=Curve(
        lambda xs: ((xs[:, None], np.zeros_like(xs)), {"quantiles": (0.9,)}), "prediction - target (quantile 0.9)"
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_quantile_path, quantiles=[(0.1, 0.5, 0.9)]),
)
class QuantileLoss(Loss):
    """Pinball loss for Q quantile levels, input (N, Q) against target (N,);
    see :func:`losslab.functional.quantile_loss`.

    ``quantiles`` defaults to pytorch-forecasting's seven levels
    (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98); the input then needs 7 columns.
    The levels are checked here; their count against the input's columns when the loss is called.
    """

    _function = staticmethod(F.quantile_loss)
    _backward = staticmethod(F.quantile_loss_backward)
    _options = (checked("quantiles", DEFAULT_QUANTILES, _check_levels, positional=True), reduction())


def _charbonnier_cases(rng) -> list[Case]:
    cases = []
    for eps in (1e-3, 0.5):
        t = rng.normal(0, 2, (4, 3))
        d = away_from(rng.normal(0, 2, (4, 3)), [0.0], gap=0.05)  # curvature 1/eps at d = 0
        cases.append(Case(f"eps={eps}", {"eps": eps}, (t + d, t)))
    # BasicSR's element-wise weight: full, and one per pixel broadcast over the channels
    t = rng.normal(0, 2, (2, 3, 2, 2))
    d = away_from(rng.normal(0, 2, t.shape), [0.0], gap=0.05)
    cases.append(Case("weight", {"weight": rng.uniform(0, 2, t.shape)}, (t + d, t)))
    cases.append(
        Case("weight-per-pixel,eps=0.5", {"weight": rng.uniform(0.5, 2, (2, 1, 2, 2)), "eps": 0.5}, (t + d, t))
    )
    return cases


@registered(
    "sqrt((x - t)^2 + eps^2), a differentiable L1",
    _charbonnier_cases,
    curve=elementwise(0.0, "prediction - target (eps 1e-3)"),
    torch=False,
    array_api=True,
    paths=paths_of(_pair_path, eps=[1e-3]),
)
class CharbonnierLoss(Loss):
    """``sqrt((x - t)^2 + eps^2)``, a differentiable L1; see :func:`losslab.functional.charbonnier_loss`."""

    _function = staticmethod(F.charbonnier_loss)
    _backward = staticmethod(F.charbonnier_loss_backward)
    _options = (scalar("eps", 1e-3, positional=True, low=0.0, low_open=True), reduction(), array("weight"))
