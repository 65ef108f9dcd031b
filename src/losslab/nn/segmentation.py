"""Loss objects of the segmentation family: Dice, Tversky and generalized Dice.

See :mod:`losslab.functional.segmentation` for the layout (N, C, d1, ..., dK) and the
target forms (masks of the input's shape, or class indices). Beyond losslab's ``smooth``,
``logits`` and ``reduction``, the options are MONAI's (``include_background``, ``sigmoid``,
``softmax``, ``other_act``, ``squared_pred``, ``jaccard``, ``batch``, ``smooth_nr``,
``smooth_dr``, ``weight``, ``soft_label``, ``w_type``, ``ignore_index``), kornia's
``average`` and optax's layout and per-class output (``class_axis``, ``per_class``).
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import _validation as v
from .._cases import Case, Curve, col, label, paths_of
from ..functional import segmentation as F
from ._base import Loss, registered
from ._options import Option, array, checked, flag, reduction, scalar

__all__ = ["DiceLoss", "TverskyLoss", "GeneralizedDiceLoss"]


def _optional_scalar(name: str) -> Option:
    """``None`` (take ``smooth``) or a real scalar >= 0."""
    return checked(name, None, lambda value: None if value is None else v.check_scalar(value, name, low=0.0))


def _activations() -> tuple[Option, ...]:
    return (
        flag("include_background", True),
        flag("sigmoid", False),
        flag("softmax", False),
        checked("other_act", None, F.check_other_act),
    )


def _common() -> tuple[Option, ...]:
    """The options every overlap loss takes after its own."""
    return (flag("batch", False), _optional_scalar("smooth_nr"), _optional_scalar("smooth_dr"))


def _index() -> tuple[Option, ...]:
    return (scalar("ignore_index", -100, integer=True), scalar("class_axis", 1, integer=True))


def _average(value) -> str:
    return F.check_choice(value, "average", F.AVERAGES)


def _bump(x):
    """``1 / (1 + x^2)``: an elementwise activation onto (0, 1] (an ``other_act`` of the sample cases)."""
    return 1 / (1 + x * x)


def _bump_derivative(x):
    """The derivative of :func:`_bump`, ``-2 x / (1 + x^2)^2``."""
    d = 1 + x * x
    return -2 * x / (d * d)


def _soft_targets(rng, p):
    """Soft labels at least 0.05 from the probabilities ``p`` (``soft_label``'s |p - t| has a kink at p = t)."""
    t = rng.uniform(0, 1, p.shape)
    return np.where(np.abs(t - p) < 0.05, np.where(p > 0.5, p - 0.3, p + 0.3), t)


def _peer_cases(kind: str):
    """Cases of MONAI's, optax's and kornia's options (``kind``: dice, tversky or generalized)."""

    def make(rng) -> list[Case]:
        probs = rng.uniform(0.02, 0.98, (2, 3, 3, 2))
        scores = rng.normal(0, 2, (2, 3, 3, 2))
        labels = rng.integers(0, 3, (2, 3, 2))
        onehot = np.moveaxis(np.eye(3)[labels], -1, 1)
        multilabel = rng.integers(0, 2, (2, 3, 3, 2)).astype(float)
        ignored = labels.copy()
        ignored[0, 1, 0] = ignored[1, 2, 1] = -1
        weight = np.array([0.5, 2.0])

        def last(a):  # classes last (optax's layout), contiguous: the numerical gradient perturbs it in place
            return np.ascontiguousarray(np.moveaxis(a, 1, -1))

        cases = [
            Case("include_background=False,softmax", {"include_background": False, "softmax": True}, (scores, labels)),
            Case("include_background=False,probs", {"include_background": False}, (probs, onehot)),
            Case("sigmoid,multi-label", {"sigmoid": True}, (scores, multilabel)),
            Case("other_act", {"other_act": (_bump, _bump_derivative)}, (scores, multilabel)),
            Case("batch,logits", {"batch": True, "logits": True}, (scores, labels)),
            Case("batch,sigmoid,C=1", {"batch": True, "sigmoid": True}, (scores[:, :1], labels % 2)),
            Case("smooth_nr=0,smooth_dr=1e-5", {"smooth_nr": 0.0, "smooth_dr": 1e-5}, (probs, onehot)),
            Case("soft_label", {"soft_label": True}, (probs, _soft_targets(rng, probs))),
            Case(
                "soft_label,C=1", {"soft_label": True, "batch": True}, (probs[:, :1], _soft_targets(rng, probs[:, :1]))
            ),
            Case("ignore_index=-1,softmax", {"ignore_index": -1, "softmax": True}, (scores, ignored)),
            Case("class_axis=-1,logits", {"class_axis": -1, "logits": True}, (last(scores), labels)),
            Case("class_axis=-1,mask", {"class_axis": -1}, (last(probs), last(onehot))),
        ]
        if kind in ("dice", "tversky"):
            cases += [
                Case(
                    "weight,include_background=False",
                    {"weight": weight, "include_background": False, "softmax": True},
                    (scores, labels),
                ),
                Case("per_class,weight", {"per_class": True, "weight": np.array([1.0, 0.5, 2.0])}, (probs, onehot)),
                Case("per_class,batch", {"per_class": True, "batch": True, "sigmoid": True}, (scores, multilabel)),
            ]
        if kind == "dice":
            cases += [
                Case("squared_pred", {"squared_pred": True}, (probs, onehot)),
                Case("squared_pred,sigmoid", {"squared_pred": True, "sigmoid": True}, (scores, multilabel)),
                Case("jaccard", {"jaccard": True}, (probs, onehot)),
                Case(
                    "jaccard,squared_pred,batch",
                    {"jaccard": True, "squared_pred": True, "batch": True, "softmax": True},
                    (scores, labels),
                ),
                Case(
                    "micro", {"average": "micro", "logits": True, "smooth_nr": 0.0, "smooth_dr": 1e-8}, (scores, labels)
                ),
                Case(
                    "micro,weight",
                    {"average": "micro", "weight": np.array([0.2, 1.0, 3.0]), "logits": True, "ignore_index": -1},
                    (scores, ignored),
                ),
            ]
        if kind == "tversky":
            cases.append(
                Case(
                    "soft_label,alpha=0.3,beta=0.7",
                    {"soft_label": True, "alpha": 0.3, "beta": 0.7},
                    (probs, _soft_targets(rng, probs)),
                )
            )
        if kind == "generalized":
            cases += [
                Case("w_type=simple", {"w_type": "simple"}, (probs, onehot)),
                Case("w_type=uniform,softmax", {"w_type": "uniform", "softmax": True}, (scores, labels)),
                Case(
                    "w_type=simple,batch,absent",
                    {"w_type": "simple", "batch": True},
                    (probs, np.where(labels == 2, 0, labels)),
                ),
            ]
        return cases

    return make


def _segmentation_inputs(rng, classes, logits, dense, shape=(2, 3, 4)):
    """(input, target) for the overlap losses: logits, or probabilities 0.02 away from 0 and 1 (out of the
    5-point stencil's reach: input outside [0, 1] is an error)."""
    n, spatial = shape[0], shape[1:]
    x = rng.normal(0, 2, (n, classes) + spatial) if logits else rng.uniform(0.02, 0.98, (n, classes) + spatial)
    labels = rng.integers(0, max(classes, 2), (n,) + spatial)
    if not dense:
        return x, labels
    if classes == 1:
        return x, rng.uniform(0, 1, x.shape)  # soft labels
    return x, np.moveaxis(np.eye(classes)[labels], -1, 1)  # one-hot masks


def _overlap_cases(option_sets: list[dict]):
    """Cases of an overlap loss: C in {1, 3}, probabilities or logits, mask or index targets, per option set."""

    def make(rng) -> list[Case]:
        cases = []
        for classes, logits, dense in itertools.product((1, 3), (False, True), (True, False)):
            for opts in option_sets:
                opts = dict(opts, logits=logits)
                x, t = _segmentation_inputs(rng, classes, logits, dense)
                cases.append(Case(label(opts, f"C={classes},{'mask' if dense else 'index'}"), opts, (x, t)))
        return cases

    return make


def _dice_cases(rng) -> list[Case]:
    return _overlap_cases([{"smooth": 1.0}, {"smooth": 0.0}])(rng) + _peer_cases("dice")(rng)


def _segmentation_path(rng, b, opts):
    """Images of 8 x 8 pixels, one or three classes, masks or class indices, probabilities or logits."""
    classes = opts.pop("classes")
    dense = opts.pop("target") == "mask"
    return _segmentation_inputs(rng, classes, opts["logits"], dense, (b, 8, 8)), opts


@registered(
    "1 - soft Dice per sample, averaged over classes",
    _dice_cases,
    curve=Curve(
        lambda xs: ((xs[:, None, None], np.ones((len(xs), 1, 1))), {"logits": True}),
        "logit of a one-pixel foreground mask (sigmoid, target 1, smooth 1)",
        (-6.0, 6.0),
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_segmentation_path, classes=[1, 3], logits=[False, True], target=["mask", "index"]),
)
class DiceLoss(Loss):
    """Soft Dice loss per sample, averaged over classes; see :func:`losslab.functional.dice_loss`."""

    _function = staticmethod(F.dice_loss)
    _backward = staticmethod(F.dice_loss_backward)
    _options = (
        scalar("smooth", 1.0, low=0.0),
        flag("logits", False),
        reduction(),
        *_activations(),
        flag("squared_pred", False),
        flag("jaccard", False),
        *_common(),
        array("weight"),
        flag("soft_label", False),
        checked("average", "macro", _average),
        flag("per_class", False),
        *_index(),
    )


def _tversky_cases(rng) -> list[Case]:
    return _overlap_cases([{"alpha": 0.5, "beta": 0.5}, {"alpha": 0.3, "beta": 0.7, "smooth": 0.5}])(rng) + _peer_cases(
        "tversky"
    )(rng)


@registered(
    "1 - Tversky index (FP weighted alpha, FN beta)",
    _tversky_cases,
    curve=Curve(
        lambda xs: ((xs[:, None, None], np.ones((len(xs), 1, 1))), {"logits": True, "alpha": 0.3, "beta": 0.7}),
        "logit of a one-pixel foreground mask (target 1, alpha 0.3, beta 0.7)",
        (-6.0, 6.0),
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_segmentation_path, classes=[1, 3], logits=[False, True], target=["mask", "index"]),
)
class TverskyLoss(Loss):
    """Tversky loss (false positives weighted by alpha, false negatives by beta);
    see :func:`losslab.functional.tversky_loss`."""

    _function = staticmethod(F.tversky_loss)
    _backward = staticmethod(F.tversky_loss_backward)
    _options = (
        scalar("alpha", 0.5, low=0.0),
        scalar("beta", 0.5, low=0.0),
        scalar("smooth", 1.0, low=0.0),
        flag("logits", False),
        reduction(),
        *_activations(),
        *_common(),
        array("weight"),
        flag("soft_label", False),
        flag("per_class", False),
        *_index(),
    )


def _generalized_dice_cases(rng) -> list[Case]:
    cases = _overlap_cases([{"smooth": 1e-5}, {"smooth": 1.0}])(rng)
    x = rng.uniform(0.02, 0.98, (2, 3, 3, 4))
    labels = rng.integers(0, 2, (2, 3, 4))  # class 2 absent: it takes the largest present weight
    labels[1] = 0  # sample 1: only class 0 present
    cases.append(Case("absent-classes", {"smooth": 1e-5}, (x, labels)))
    cases.append(
        Case("absent-classes,logits", {"smooth": 1e-5, "logits": True}, (rng.normal(0, 2, (2, 3, 3, 4)), labels))
    )
    return cases + _peer_cases("generalized")(rng)


@registered(
    "1 - generalized Dice, classes weighted 1 / volume^2 (MONAI's)",
    _generalized_dice_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0)[:, :, None], np.zeros((len(xs), 1), dtype=np.int64)), {"logits": True}),
        "logit of the true class at one pixel (2 classes, other logit 0)",
        (-6.0, 6.0),
        column=0,
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_segmentation_path, classes=[1, 3], logits=[False, True], target=["mask", "index"]),
)
class GeneralizedDiceLoss(Loss):
    """Generalized Dice loss, classes weighted by inverse squared volume (MONAI's definition);
    see :func:`losslab.functional.generalized_dice_loss`."""

    _function = staticmethod(F.generalized_dice_loss)
    _backward = staticmethod(F.generalized_dice_loss_backward)
    _options = (
        scalar("smooth", 1e-5, low=0.0),
        flag("logits", False),
        reduction(),
        *_activations(),
        checked("w_type", "square", lambda w: F.check_choice(w, "w_type", F.W_TYPES)),
        *_common(),
        flag("soft_label", False),
        *_index(),
    )
