"""Loss objects of the classification family, with PyTorch's names and constructor options.

``weight`` stays the first positional option, as in PyTorch; the rest are keyword-only.
Array options (``weight``, ``pos_weight``) are validated when the loss is called, once
the number of classes and the input's shape are known. Cross-entropy and BCE-with-logits
have fused kernels (:mod:`losslab._fast`): on their common calls the forward pass also
computes the gradient, which ``backward`` then scales by ``dout``.
"""

from __future__ import annotations

import numpy as np

from .._cases import BENCH_CLASSES, Case, Curve, col, elementwise, grid, index_targets, label, paths_of
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
        cases.append(Case(label(dict(opts, ignore_index=-100), "kdim-index"), dict(opts, ignore_index=-100), (x, t)))
    x = rng.normal(0, 2, (2, c, 3))
    p = np.moveaxis(rng.dirichlet(np.ones(c), size=(2, 3)), -1, 1)
    cases.append(Case("kdim-probs", {"label_smoothing": 0.1}, (x, p)))
    cases.append(Case("unbatched", {}, (rng.normal(0, 2, c), np.array(1))))
    return cases


def _class_weight(rng, opts: dict, c: int = BENCH_CLASSES) -> dict:
    """The call's options with a placeholder ``weight="array"`` (or ``pos_weight``) drawn as positive weights."""
    return {k: rng.uniform(0.5, 2.0, c) if isinstance(val, str) and val == "array" else val for k, val in opts.items()}


def _ignored(opts: dict) -> int | None:
    """The label a path sets on a few targets: its ``ignore_index``, unless that is the default -100."""
    ii = opts.get("ignore_index", -100)
    return None if ii == -100 else ii


def _cross_entropy_path(rng, b, opts):
    c = BENCH_CLASSES
    kind = opts.pop("target")
    kdim = kind == "kdim"
    x = rng.normal(0, 2, (b, c, 8) if kdim else (b, c))
    if kind == "probs":
        p = rng.dirichlet(np.ones(c), size=(b, 8) if kdim else b)
        return (x, np.moveaxis(p, -1, 1) if kdim else p), _class_weight(rng, opts)
    t = index_targets(rng, (b, 8) if kdim else b, c, _ignored(opts), ignored=max(1, b // 20))
    return (x, t), _class_weight(rng, opts)


def _cross_entropy_paths(rng, b, only=None):
    index = paths_of(
        _cross_entropy_path,
        target=["index"],
        weight=[None, "array"],
        ignore_index=[-100, 0],
        label_smoothing=[0.0, 0.1],
    )(rng, b, only)
    probs = paths_of(_cross_entropy_path, target=["probs"], weight=[None, "array"], label_smoothing=[0.0, 0.1])(
        rng, b, only
    )
    kdim = paths_of(_cross_entropy_path, target=["kdim"], weight=[None, "array"], label_smoothing=[0.0, 0.1])(
        rng, b, only
    )
    return index + probs + kdim


@registered(
    "softmax cross-entropy on logits; class-index or class-probability targets",
    _cross_entropy_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
        "logit of the true class (2 other logits at 0)",
        (-6.0, 6.0),
        column=0,
    ),
    array_api=True,
    paths=_cross_entropy_paths,
)
class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits; see :func:`losslab.functional.cross_entropy`.

    On the fused paths (NumPy float logits (N, C) or (N, C, d1, ..., dK), class indices or
    probabilities, every option) the forward pass also computes the gradient, which
    ``backward`` then scales by ``dout``.
    """

    _function = staticmethod(F.cross_entropy)
    _backward = staticmethod(F.cross_entropy_backward)
    _options = (
        array("weight", positional=True),
        scalar("ignore_index", -100, integer=True),
        reduction(),
        scalar("label_smoothing", 0.0, low=0.0, high=1.0),
    )


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


def _nll_path(rng, b, opts):
    c = BENCH_CLASSES
    kdim = opts.pop("target") == "kdim"
    z = rng.normal(0, 2, (b, c, 8) if kdim else (b, c))
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    t = index_targets(rng, (b, 8) if kdim else b, c, _ignored(opts), ignored=max(1, b // 20))
    return (logp, t), _class_weight(rng, opts)


def _nll_paths(rng, b, only=None):
    return paths_of(_nll_path, target=["index"], weight=[None, "array"], ignore_index=[-100, 0])(
        rng, b, only
    ) + paths_of(_nll_path, target=["kdim"], weight=[None, "array"])(rng, b, only)


@registered(
    "negative log-likelihood of log-probabilities",
    _nll_cases,
    curve=Curve(
        lambda xs: ((col(xs, -1.0), np.zeros(len(xs), dtype=np.int64)), {}),
        "log-probability of the true class",
        (-5.0, 0.0),
        column=0,
    ),
    array_api=True,
    paths=_nll_paths,
)
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


def _bce_path(rng, b, opts):
    c = BENCH_CLASSES
    p, t = rng.uniform(0.02, 0.98, (b, c)), rng.integers(0, 2, (b, c)).astype(float)
    return (p, t), _class_weight(rng, opts)


@registered(
    "binary cross-entropy on probabilities",
    _bce_cases,
    curve=elementwise(1.0, "predicted probability (target 1)", (0.01, 0.99)),
    array_api=True,
    paths=paths_of(_bce_path, weight=[None, "array"]),
)
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


def _bce_logits_path(rng, b, opts):
    c = BENCH_CLASSES
    x, t = rng.normal(0, 3, (b, c)), rng.integers(0, 2, (b, c)).astype(float)
    return (x, t), _class_weight(rng, opts)


@registered(
    "binary cross-entropy on logits, stable log-sigmoid form",
    _bce_logits_cases,
    curve=elementwise(1.0, "logit (target 1)", (-6.0, 6.0)),
    array_api=True,
    paths=paths_of(_bce_logits_path, weight=[None, "array"], pos_weight=[None, "array"]),
)
class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits; see :func:`losslab.functional.binary_cross_entropy_with_logits`.

    Without ``weight`` and ``pos_weight`` the forward pass also computes the gradient (fused path).
    """

    _function = staticmethod(F.binary_cross_entropy_with_logits)
    _backward = staticmethod(F.binary_cross_entropy_with_logits_backward)
    _options = (array("weight", positional=True), reduction(), array("pos_weight"))
