"""Loss objects of the segmentation family: Dice, Tversky and generalized Dice.

See :mod:`losslab.functional.segmentation` for the layout (N, C, d1, ..., dK) and the
target forms (masks of the input's shape, or class indices).
"""

from __future__ import annotations

import itertools

import numpy as np

from .._cases import Case, Curve, col, label, paths_of
from ..functional import segmentation as F
from ._base import Loss, registered
from ._options import flag, reduction, scalar

__all__ = ["DiceLoss", "TverskyLoss", "GeneralizedDiceLoss"]


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



def _segmentation_path(rng, b, opts):
    """Images of 8 x 8 pixels, one or three classes, masks or class indices, probabilities or logits."""
    classes = opts.pop("classes")
    dense = opts.pop("target") == "mask"
    return _segmentation_inputs(rng, classes, opts["logits"], dense, (b, 8, 8)), opts


@registered("1 - soft Dice per sample, averaged over classes", _overlap_cases([{"smooth": 1.0}, {"smooth": 0.0}]),
            curve=Curve(lambda xs: ((xs[:, None, None], np.ones((len(xs), 1, 1))), {"logits": True}),
                        "logit of a one-pixel foreground mask (sigmoid, target 1, smooth 1)", (-6.0, 6.0)),
            torch=False, array_api=True,
            paths=paths_of(_segmentation_path, classes=[1, 3], logits=[False, True], target=["mask", "index"]))
class DiceLoss(Loss):
    """Soft Dice loss per sample, averaged over classes; see :func:`losslab.functional.dice_loss`."""

    _function = staticmethod(F.dice_loss)
    _backward = staticmethod(F.dice_loss_backward)
    _options = (scalar("smooth", 1.0, low=0.0), flag("logits", False), reduction())


@registered("1 - Tversky index (FP weighted alpha, FN beta)",
            _overlap_cases([{"alpha": 0.5, "beta": 0.5}, {"alpha": 0.3, "beta": 0.7, "smooth": 0.5}]),
            curve=Curve(lambda xs: ((xs[:, None, None], np.ones((len(xs), 1, 1))),
                                    {"logits": True, "alpha": 0.3, "beta": 0.7}),
                        "logit of a one-pixel foreground mask (target 1, alpha 0.3, beta 0.7)", (-6.0, 6.0)),
            torch=False, array_api=True,
            paths=paths_of(_segmentation_path, classes=[1, 3], logits=[False, True], target=["mask", "index"]))
class TverskyLoss(Loss):
    """Tversky loss (false positives weighted by alpha, false negatives by beta);
    see :func:`losslab.functional.tversky_loss`."""

    _function = staticmethod(F.tversky_loss)
    _backward = staticmethod(F.tversky_loss_backward)
    _options = (scalar("alpha", 0.5, low=0.0), scalar("beta", 0.5, low=0.0), scalar("smooth", 1.0, low=0.0),
                flag("logits", False), reduction())


def _generalized_dice_cases(rng) -> list[Case]:
    cases = _overlap_cases([{"smooth": 1e-5}, {"smooth": 1.0}])(rng)
    x = rng.uniform(0.02, 0.98, (2, 3, 3, 4))
    labels = rng.integers(0, 2, (2, 3, 4))  # class 2 absent: it takes the largest present weight
    labels[1] = 0  # sample 1: only class 0 present
    cases.append(Case("absent-classes", {"smooth": 1e-5}, (x, labels)))
    cases.append(Case("absent-classes,logits", {"smooth": 1e-5, "logits": True},
                      (rng.normal(0, 2, (2, 3, 3, 4)), labels)))
    return cases


@registered("1 - generalized Dice, classes weighted 1 / volume^2 (MONAI's)", _generalized_dice_cases,
            curve=Curve(lambda xs: ((col(xs, 0.0)[:, :, None], np.zeros((len(xs), 1), dtype=np.int64)),
                                    {"logits": True}),
                        "logit of the true class at one pixel (2 classes, other logit 0)", (-6.0, 6.0), column=0),
            torch=False, array_api=True,
            paths=paths_of(_segmentation_path, classes=[1, 3], logits=[False, True], target=["mask", "index"]))
class GeneralizedDiceLoss(Loss):
    """Generalized Dice loss, classes weighted by inverse squared volume (MONAI's definition);
    see :func:`losslab.functional.generalized_dice_loss`."""

    _function = staticmethod(F.generalized_dice_loss)
    _backward = staticmethod(F.generalized_dice_loss_backward)
    _options = (scalar("smooth", 1e-5, low=0.0), flag("logits", False), reduction())
