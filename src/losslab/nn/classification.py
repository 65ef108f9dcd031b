"""Loss objects of the classification family, with PyTorch's names and constructor options.

``weight`` stays the first positional option, as in PyTorch; the rest are keyword-only.
Array options (``weight``, ``pos_weight``) are validated when the loss is called, once
the number of classes and the input's shape are known. Cross-entropy and BCE-with-logits
have fused kernels (:mod:`losslab._fast`): on their common calls the forward pass also
computes the gradient, which ``backward`` then scales by ``dout``.
"""

from __future__ import annotations

import numpy as np

from .._cases import Case, Curve, col, elementwise, grid, index_targets, label
from ..functional import classification as F
from ._base import Loss, registered
from ._options import array, reduction, scalar

__all__ = ["CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss"]


def _cross_entropy_cases(rng) -> list[Case]:
    n, c = 5, 4
    cases = []
    weight = rng.uniform(0.5, 2.0, c)
    for opts in grid(weight=[None, weight], ignore_index=[-100, 2], label_smoothing=[0.0, 0.25]):
        x = rng.normal(0, 2, (n, c))
        t = index_targets(rng, n, c, opts["ignore_index"] if opts["ignore_index"] != -100 else None)
        cases.append(Case(label(opts, "index"), opts, (x, t)))
    for opts in grid(weight=[None, weight], label_smoothing=[0.0, 0.25]):
        x = rng.normal(0, 2, (n, c))
        p = rng.dirichlet(np.ones(c), size=n)
        cases.append(Case(label(opts, "probs"), opts, (x, p)))
    for opts in grid(weight=[None, weight], label_smoothing=[0.0, 0.1]):
        x = rng.normal(0, 2, (2, c, 3, 2))
        t = index_targets(rng, (2, 3, 2), c, -100)
        cases.append(Case(label(dict(opts, ignore_index=-100), "kdim-index"),
                          dict(opts, ignore_index=-100), (x, t)))
    x = rng.normal(0, 2, (2, c, 3))
    p = np.moveaxis(rng.dirichlet(np.ones(c), size=(2, 3)), -1, 1)
    cases.append(Case("kdim-probs", {"label_smoothing": 0.1}, (x, p)))
    cases.append(Case("unbatched", {}, (rng.normal(0, 2, c), np.array(1))))
    return cases


@registered("softmax cross-entropy on logits; class-index or class-probability targets", _cross_entropy_cases,
            curve=Curve(lambda xs: ((col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
                        "logit of the true class (2 other logits at 0)", (-6.0, 6.0), column=0),
            array_api=True)
class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits; see :func:`losslab.functional.cross_entropy`.

    On the fused path (2-D logits, class indices, no weight or label smoothing) the
    forward pass also computes the gradient, which ``backward`` then scales by ``dout``.
    """

    _function = staticmethod(F.cross_entropy)
    _backward = staticmethod(F.cross_entropy_backward)
    _options = (array("weight", positional=True), scalar("ignore_index", -100, integer=True), reduction(),
                scalar("label_smoothing", 0.0, low=0.0, high=1.0))


def _nll_cases(rng) -> list[Case]:
    n, c = 5, 4
    weight = rng.uniform(0.5, 2.0, c)
    cases = []
    for opts in grid(weight=[None, weight], ignore_index=[-100, 0]):
        x = rng.normal(0, 2, (n, c))
        t = index_targets(rng, n, c, opts["ignore_index"] if opts["ignore_index"] != -100 else None)
        cases.append(Case(label(opts), opts, (x, t)))
    cases.append(Case("kdim", {"weight": weight}, (rng.normal(0, 2, (2, c, 3)), rng.integers(0, c, (2, 3)))))
    cases.append(Case("unbatched", {}, (rng.normal(0, 2, c), np.array(3))))
    return cases


@registered("negative log-likelihood of log-probabilities", _nll_cases,
            curve=Curve(lambda xs: ((col(xs, -1.0), np.zeros(len(xs), dtype=np.int64)), {}),
                        "log-probability of the true class", (-5.0, 0.0), column=0),
            array_api=True)
class NLLLoss(Loss):
    """Negative log-likelihood of log-probabilities; see :func:`losslab.functional.nll_loss`."""

    _function = staticmethod(F.nll_loss)
    _backward = staticmethod(F.nll_loss_backward)
    _options = (array("weight", positional=True), scalar("ignore_index", -100, integer=True), reduction())


def _bce_cases(rng) -> list[Case]:
    cases = []
    for opts in grid(weight=[None, rng.uniform(0.5, 2.0, 3), rng.uniform(0.5, 2.0, (4, 3))]):
        p = rng.uniform(0.05, 0.95, (4, 3))
        hard = rng.integers(0, 2, (4, 3)).astype(float)
        cases.append(Case(label(opts, "hard"), opts, (p, hard)))
        cases.append(Case(label(opts, "soft"), opts, (rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3)))))
    return cases


@registered("binary cross-entropy on probabilities", _bce_cases,
            curve=elementwise(1.0, "predicted probability (target 1)", (0.01, 0.99)), array_api=True)
class BCELoss(Loss):
    """Binary cross-entropy on probabilities; see :func:`losslab.functional.binary_cross_entropy`."""

    _function = staticmethod(F.binary_cross_entropy)
    _backward = staticmethod(F.binary_cross_entropy_backward)
    _options = (array("weight", positional=True), reduction())


def _bce_logits_cases(rng) -> list[Case]:
    cases = []
    for opts in grid(weight=[None, rng.uniform(0.5, 2.0, 3)], pos_weight=[None, rng.uniform(0.5, 3.0, 3)]):
        x = rng.normal(0, 3, (4, 3))
        t = rng.integers(0, 2, (4, 3)).astype(float)
        cases.append(Case(label(opts), opts, (x, t)))
    cases.append(Case("soft-3d", {}, (rng.normal(0, 3, (2, 3, 3)), rng.uniform(0, 1, (2, 3, 3)))))
    return cases


@registered("binary cross-entropy on logits, stable log-sigmoid form", _bce_logits_cases,
            curve=elementwise(1.0, "logit (target 1)", (-6.0, 6.0)), array_api=True)
class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits; see :func:`losslab.functional.binary_cross_entropy_with_logits`.

    Without ``weight`` and ``pos_weight`` the forward pass also computes the gradient (fused path).
    """

    _function = staticmethod(F.binary_cross_entropy_with_logits)
    _backward = staticmethod(F.binary_cross_entropy_with_logits_backward)
    _options = (array("weight", positional=True), reduction(), array("pos_weight"))
