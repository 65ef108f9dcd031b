"""Loss objects of the focal family: sigmoid and softmax focal loss, Poly-1 cross-entropy.

None is in ``torch.nn``; the constructor options follow the pure functions in
:mod:`losslab.functional.focal` (``weight`` first and positional in ``FocalLoss``, as in
``CrossEntropyLoss``). Array options are validated when the loss is called.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from .._cases import BENCH_CLASSES, Case, Curve, col, elementwise, grid, index_targets, label, paths_of
from ..functional import focal as F
from ._base import Loss, registered
from ._options import array, checked, flag, reduction, scalar

__all__ = ["SigmoidFocalLoss", "FocalLoss", "PolyLoss"]


def _sigmoid_focal_cases(rng) -> list[Case]:
    cases = []
    for opts in grid(alpha=[0.25, -1.0], gamma=[0.0, 1.0, 2.0]):
        x, t = rng.normal(0, 2, (4, 3)), rng.integers(0, 2, (4, 3)).astype(float)
        cases.append(Case(label(opts, "hard"), opts, (x, t)))
    cases.append(
        Case(
            "soft,alpha=0.6,gamma=2.0",
            {"alpha": 0.6, "gamma": 2.0},
            (rng.normal(0, 2, (4, 3)), rng.uniform(0, 1, (4, 3))),
        )
    )
    # gamma < 1, at moderate logits (|x| < 2.5)
    cases.append(
        Case(
            "hard,gamma=0.5",
            {"gamma": 0.5},
            (rng.uniform(-2.5, 2.5, (2, 3, 2)), rng.integers(0, 2, (2, 3, 2)).astype(float)),
        )
    )
    # kornia's and MONAI's per-class options (classes along axis 1)
    x, t = rng.normal(0, 2, (3, 4, 2)), rng.integers(0, 2, (3, 4, 2)).astype(float)
    w, pw = rng.uniform(0.5, 2.0, 4), rng.uniform(0.5, 3.0, 4)
    cases.append(Case("weight,pos_weight", {"weight": w, "pos_weight": pw, "alpha": -1.0}, (x, t)))
    cases.append(Case("pos_weight,soft,gamma=1", {"pos_weight": pw, "gamma": 1.0}, (x, rng.uniform(0, 1, x.shape))))
    ignored = t.copy()
    ignored[0, 1, :] = ignored[2, 3, 1] = -100.0
    cases.append(Case("ignore_index=-100", {"ignore_index": -100, "weight": w}, (x, ignored)))
    cases.append(
        Case(
            "include_background=False",
            {"include_background": False, "weight": w[1:], "pos_weight": pw[1:], "ignore_index": -100},
            (x, ignored),
        )
    )
    return cases


def _optional_index(value):
    return None if value is None else v.check_scalar(value, "ignore_index", integer=True)


def _sigmoid_focal_path(rng, b, opts):
    return rng.normal(0, 2, (b, BENCH_CLASSES)), rng.integers(0, 2, (b, BENCH_CLASSES)).astype(float)


def _focal_path(rng, b, opts):
    c = BENCH_CLASSES
    if opts.get("weight") == "array":
        opts["weight"] = rng.uniform(0.5, 2.0, c)
    ii = opts.get("ignore_index", -100)
    t = index_targets(rng, b, c, None if ii == -100 else ii, ignored=max(1, b // 20))
    return (rng.normal(0, 2, (b, c)), t), opts


def _poly_path(rng, b, opts):
    c = BENCH_CLASSES
    x = rng.normal(0, 2, (b, c))
    if opts.pop("target") == "probs":
        return (x, rng.dirichlet(np.ones(c), size=b)), opts
    return (x, rng.integers(0, c, b)), opts


@registered(
    "binary focal loss on logits (torchvision's)",
    _sigmoid_focal_cases,
    curve=elementwise(1.0, "logit (target 1, alpha 0.25, gamma 2)", (-6.0, 6.0)),
    torch=False,
    array_api=True,
    paths=paths_of(_sigmoid_focal_path, alpha=[0.25, -1.0], gamma=[2.0, 0.0]),
)
class SigmoidFocalLoss(Loss):
    """Binary focal loss on logits (torchvision's definition); see :func:`losslab.functional.sigmoid_focal_loss`."""

    _function = staticmethod(F.sigmoid_focal_loss)
    _backward = staticmethod(F.sigmoid_focal_loss_backward)
    _options = (
        scalar("alpha", 0.25, positional=True, high=1.0),
        scalar("gamma", 2.0, positional=True, low=0.0),
        reduction(),
        array("weight"),
        array("pos_weight"),
        checked("ignore_index", None, _optional_index),
        flag("include_background", True),
    )


def _focal_cases(rng) -> list[Case]:
    n, c = 5, 4
    weight = rng.uniform(0.5, 2.0, c)
    cases = []
    for opts in grid(gamma=[0.0, 1.0, 2.0], weight=[None, weight], ignore_index=[-100, 2]):
        x = rng.normal(0, 2, (n, c))
        t = index_targets(rng, n, c, opts["ignore_index"] if opts["ignore_index"] != -100 else None)
        cases.append(Case(label(opts), opts, (x, t)))
    cases.append(
        Case(
            "kdim,gamma=2.0",
            {"gamma": 2.0, "weight": weight},
            (rng.normal(0, 2, (2, c, 3, 2)), index_targets(rng, (2, 3, 2), c, -100)),
        )
    )
    cases.append(Case("gamma=0.5", {"gamma": 0.5}, (rng.uniform(-1.5, 1.5, (n, c)), rng.integers(0, c, n))))
    cases.append(Case("unbatched", {}, (rng.normal(0, 2, c), np.array(1))))
    cases.append(
        Case(
            "include_background=False",
            {"include_background": False, "weight": weight},
            (rng.normal(0, 2, (n, c)), np.array([0, 1, 2, 3, 1])),
        )
    )
    cases.append(
        Case(
            "include_background=False,kdim,ignored",
            {"include_background": False, "ignore_index": 2},
            (rng.normal(0, 2, (2, c, 3)), np.array([[0, 2, 1], [3, 0, 1]])),
        )
    )
    return cases


@registered(
    "softmax focal loss -w_t (1 - p_t)^gamma log p_t",
    _focal_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
        "logit of the true class (2 other logits at 0, gamma 2)",
        (-6.0, 6.0),
        column=0,
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_focal_path, gamma=[2.0, 0.0], weight=[None, "array"], ignore_index=[-100, 0]),
)
class FocalLoss(Loss):
    """Softmax focal loss with class-index targets; see :func:`losslab.functional.focal_loss`."""

    _function = staticmethod(F.focal_loss)
    _backward = staticmethod(F.focal_loss_backward)
    _options = (
        array("weight", positional=True),
        scalar("gamma", 2.0, low=0.0),
        scalar("ignore_index", -100, integer=True),
        reduction(),
        flag("include_background", True),
    )


def _poly_cases(rng) -> list[Case]:
    n, c = 5, 4
    cases = []
    for epsilon in (2.0, -1.0, 0.0):
        cases.append(
            Case(f"index,epsilon={epsilon}", {"epsilon": epsilon}, (rng.normal(0, 2, (n, c)), rng.integers(0, c, n)))
        )
        cases.append(
            Case(
                f"probs,epsilon={epsilon}",
                {"epsilon": epsilon},
                (rng.normal(0, 2, (n, c)), rng.dirichlet(np.ones(c), size=n)),
            )
        )
    # optax's where (a class mask) and axis (the classes along another axis)
    where = np.ones((n, c), dtype=bool)
    where[0, 3] = where[2, 0] = where[4, 1] = False
    labels = rng.integers(0, c, n)
    labels[0], labels[2] = 1, 2
    cases.append(Case("where,index", {"where": where}, (rng.normal(0, 2, (n, c)), labels)))
    cases.append(
        Case(
            "where,probs,epsilon=-1",
            {"where": where, "epsilon": -1.0},
            (rng.normal(0, 2, (n, c)), rng.dirichlet(np.ones(c), size=n)),
        )
    )
    cases.append(Case("axis=1,kdim", {"axis": 1}, (rng.normal(0, 2, (2, c, 3)), rng.integers(0, c, (2, 3)))))
    cases.append(
        Case(
            "axis=0,probs,where",
            {"axis": 0, "where": np.array([True, False, True, True])[:, None]},
            (rng.normal(0, 2, (c, 3)), rng.dirichlet(np.ones(c), size=3).T.copy()),
        )
    )
    return cases


@registered(
    "Poly-1: cross-entropy + epsilon (1 - p_t) (optax's)",
    _poly_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
        "logit of the true class (2 other logits at 0, epsilon 2)",
        (-6.0, 6.0),
        column=0,
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_poly_path, target=["index", "probs"], epsilon=[2.0]),
)
class PolyLoss(Loss):
    """Poly-1 cross-entropy, CE + epsilon (1 - p_t) (optax's definition); see
    :func:`losslab.functional.poly1_cross_entropy`."""

    _function = staticmethod(F.poly1_cross_entropy)
    _backward = staticmethod(F.poly1_cross_entropy_backward)
    _options = (scalar("epsilon", 2.0, positional=True), reduction(), array("where"), scalar("axis", -1, integer=True))
