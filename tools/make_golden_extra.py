"""Regenerate tests/golden/extra_golden.npz: reference numbers for the losses beyond torch.nn (EXTRA-B).

Run from the repository root with torch installed (the ``torch`` extra):

    python tools/make_golden_extra.py

None of these losses is in ``torch.nn``, and the libraries that define them (torchvision,
kornia, optax/JAX, MONAI, pytorch-forecasting, BasicSR) are not dependencies. Each reference
below re-implements its library's definition line by line in torch (the source file is named
above each one), and torch's autograd supplies the gradients. The file stores each case's
inputs, options, upstream gradient, the reference output and the reference gradient with
respect to the first input; tests/test_{focal,segmentation,robust,sparse}.py compare losslab
against it in the default test run, without torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "golden" / "extra_golden.npz"


def _reduce(loss, reduction):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


# ----------------------------------------------------------------------------- references


def torchvision_sigmoid_focal_loss(inputs, targets, reduction, alpha=0.25, gamma=2.0):
    """torchvision/ops/focal_loss.py, ``sigmoid_focal_loss`` (verbatim but for the signature)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return _reduce(loss, reduction)


def kornia_focal_loss(pred, target, reduction, gamma=2.0, weight=None, ignore_index=-100):
    """kornia/losses/focal.py, ``focal_loss`` with ``alpha=None`` (class weights through ``weight``).

    kornia masks ignored pixels out of the one-hot target and keeps the class axis in 'none';
    that axis is summed here (kornia's 'sum' sums it too). 'mean' follows CrossEntropyLoss:
    torch's own ``nll_loss`` of the modulated log-probabilities, which divides by the summed
    target weights of the non-ignored positions.
    """
    log_pred_soft = pred.log_softmax(1)
    if reduction == "mean":
        return F.nll_loss(
            torch.pow(1.0 - log_pred_soft.exp(), gamma) * log_pred_soft,
            target,
            weight=weight,
            ignore_index=ignore_index,
        )
    mask = target != ignore_index
    target_one_hot = F.one_hot(torch.where(mask, target, 0), pred.shape[1]).movedim(-1, 1).to(pred.dtype)
    target_one_hot = target_one_hot * mask.unsqueeze(1)
    loss_tmp = -torch.pow(1.0 - log_pred_soft.exp(), gamma) * log_pred_soft * target_one_hot
    if weight is not None:
        loss_tmp = weight.view([-1] + [1] * len(pred.shape[2:])) * loss_tmp
    return _reduce(loss_tmp.sum(1), reduction)


def _labels_as_distribution(logits, labels):
    return F.one_hot(labels, logits.shape[-1]).to(logits.dtype) if labels.dtype == torch.int64 else labels


def optax_poly_loss_cross_entropy(logits, labels, reduction, epsilon=2.0):
    """optax/losses/_classification.py, ``poly_loss_cross_entropy`` (axis=-1, where=None);
    integer labels are one-hot encoded first, as an optax user would."""
    labels = _labels_as_distribution(logits, labels)
    p = torch.softmax(logits, -1)
    one_minus_pt = torch.sum(labels * (1 - p), -1)
    cross_entropy = -(labels * torch.log_softmax(logits, -1)).sum(-1)  # optax softmax_cross_entropy
    return _reduce(cross_entropy + epsilon * one_minus_pt, reduction)


def _monai_layout(input, target):
    """MONAI's inputs: the target as (N, C, ...) (``to_onehot_y`` for index targets with C > 1)."""
    if target.shape == input.shape:
        return target
    if input.shape[1] == 1:
        return target.unsqueeze(1).to(input.dtype)
    return F.one_hot(target, input.shape[1]).movedim(-1, 1).to(input.dtype)


def _monai_activation(input, logits):
    if not logits:
        return input
    return torch.sigmoid(input) if input.shape[1] == 1 else torch.softmax(input, 1)  # sigmoid= / softmax=True


def optax_dice_loss(predictions, targets, reduction, smooth=1.0, logits=False):
    """optax/losses/_segmentation.py, ``dice_loss`` (classes last there: moved), reduction='mean' over
    classes, then the batch reduction. optax requires probabilities to sum to 1 over the classes
    when ``apply_softmax=False``; those cases use MONAI's DiceLoss below instead."""
    predictions, targets = predictions.movedim(1, -1), _monai_layout(predictions, targets).movedim(1, -1)
    probs = predictions
    if logits:
        probs = torch.sigmoid(predictions) if predictions.shape[-1] == 1 else torch.softmax(predictions, -1)
    else:
        assert torch.allclose(predictions.sum(-1), torch.ones((), dtype=predictions.dtype), rtol=1e-5)
    axis = tuple(range(1, probs.ndim - 1))
    intersection = torch.sum(probs * targets, axis)
    pred_sum = torch.sum(probs, axis)
    target_sum = torch.sum(targets, axis)
    dice_coeff = (2.0 * intersection + smooth) / (pred_sum + target_sum + smooth)
    dice_l = 1.0 - dice_coeff
    return _reduce(dice_l.mean(-1), reduction)


def monai_dice_loss(input, target, reduction, smooth=1.0, logits=False):
    """monai/losses/dice.py, ``DiceLoss.forward`` with smooth_nr = smooth_dr = smooth, batch=False,
    reduction='none' (N, C), then averaged over classes and reduced over the batch."""
    target = _monai_layout(input, target)
    input = _monai_activation(input, logits)
    reduce_axis = list(range(2, len(input.shape)))
    intersection = torch.sum(target * input, dim=reduce_axis)
    ground_o = torch.sum(target, dim=reduce_axis)
    pred_o = torch.sum(input, dim=reduce_axis)
    denominator = ground_o + pred_o
    f = 1.0 - (2.0 * intersection + smooth) / (denominator + smooth)
    return _reduce(f.mean(1), reduction)


def monai_tversky_loss(input, target, reduction, alpha=0.5, beta=0.5, smooth=1.0, logits=False):
    """monai/losses/tversky.py, ``TverskyLoss.forward`` (smooth_nr = smooth_dr = smooth, batch=False,
    reduction='none'), averaged over classes and reduced over the batch."""
    target = _monai_layout(input, target)
    input = _monai_activation(input, logits)
    p0 = input
    p1 = 1 - p0
    g0 = target
    g1 = 1 - g0
    reduce_axis = list(range(2, len(input.shape)))
    tp = torch.sum(p0 * g0, reduce_axis)
    fp = alpha * torch.sum(p0 * g1, reduce_axis)
    fn = beta * torch.sum(p1 * g0, reduce_axis)
    numerator = tp + smooth
    denominator = tp + fp + fn + smooth
    score = 1.0 - numerator / denominator
    return _reduce(score.mean(1), reduction)


def monai_generalized_dice_loss(input, target, reduction, smooth=1e-5, logits=False):
    """monai/losses/dice.py, ``GeneralizedDiceLoss.forward`` (w_type='square', batch=False,
    smooth_nr = smooth_dr = smooth, reduction='none'). MONAI casts ``ground_o`` to float32 before
    the reciprocal; it keeps the input's dtype here, so the float64 numbers are float64-exact."""
    target = _monai_layout(input, target)
    input = _monai_activation(input, logits)
    reduce_axis = list(range(2, len(input.shape)))
    intersection = torch.sum(target * input, reduce_axis)
    ground_o = torch.sum(target, reduce_axis)
    pred_o = torch.sum(input, reduce_axis)
    denominator = ground_o + pred_o
    w = torch.reciprocal(ground_o * ground_o)
    for b in w:
        infs = torch.isinf(b)
        b[infs] = 0.0
        b[infs] = torch.max(b)
    f = 1.0 - (2.0 * (intersection * w).sum(1) + smooth) / ((denominator * w).sum(1) + smooth)
    return _reduce(f, reduction)


def optax_log_cosh(predictions, targets, reduction):
    """optax/losses/_regression.py, ``log_cosh``."""
    errors = predictions - targets
    return _reduce(torch.logaddexp(errors, -errors) - math.log(2.0), reduction)


def pytorch_forecasting_quantile_loss(y_pred, target, reduction, quantiles=(0.5,)):
    """pytorch_forecasting/metrics/quantile.py, ``QuantileLoss.loss`` (the form without the factor 2)."""
    losses = []
    for i, q in enumerate(quantiles):
        errors = target - y_pred[..., i]
        losses.append(torch.max((q - 1) * errors, q * errors).unsqueeze(-1))
    return _reduce(torch.cat(losses, dim=-1), reduction)


def basicsr_charbonnier_loss(pred, target, reduction, eps=1e-3):
    """basicsr/losses/basic_loss.py, ``charbonnier_loss`` (``sqrt((pred - target)**2 + eps)``), whose
    unsquared eps is LapSRN's eps squared: called with eps**2."""
    return _reduce(torch.sqrt((pred - target) ** 2 + eps**2), reduction)


def optax_projection_unit_simplex(values):
    """optax/projections/_projections.py, ``_projection_unit_simplex`` (one vector)."""
    s = 1
    n_features = values.shape[0]
    u = torch.sort(values, descending=True).values
    cumsum_u = torch.cumsum(u, 0)
    ind = torch.arange(n_features, dtype=values.dtype) + 1
    cond = s / ind + (u - cumsum_u / ind) > 0
    idx = torch.count_nonzero(cond)
    return torch.relu(s / idx + (values - cumsum_u[idx - 1] / idx))


def optax_sparsemax(x, axis=-1):
    rows = x.movedim(axis, -1).reshape(-1, x.shape[axis])
    out = torch.stack([optax_projection_unit_simplex(r) for r in rows])
    return out.reshape(x.movedim(axis, -1).shape).movedim(-1, axis)


def optax_multiclass_sparsemax_loss(scores, labels, reduction):
    """optax/losses/_classification.py, ``_multiclass_sparsemax_loss`` (vmapped over rows)."""
    out = []
    for row, label in zip(scores, labels, strict=True):
        proba = optax_projection_unit_simplex(row)
        shifted = row - row[label]
        shifted = torch.where(torch.arange(row.shape[0]) == label, torch.zeros_like(shifted), shifted)  # .at[].set(0)
        out.append(torch.dot(proba, torch.where(proba != 0, shifted, 0.0)) + 0.5 * (1.0 - torch.dot(proba, proba)))
    return _reduce(torch.stack(out), reduction)


def optax_multiclass_hinge_loss(scores, labels, reduction):
    """optax/losses/_classification.py, ``multiclass_hinge_loss``. ``torch.amax`` shares the gradient
    equally among tied maxima, as JAX differentiates ``jnp.max``."""
    one_hot_labels = F.one_hot(labels, scores.shape[-1]).to(scores.dtype)
    return _reduce(torch.amax(scores + 1.0 - one_hot_labels, dim=-1) - (scores * one_hot_labels).sum(-1), reduction)


# ----------------------------------------------------------------------------- cases


def cases(rng):
    """``(loss, function, reference, case id, inputs, options, dtypes)`` for every golden entry."""
    big = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [700.0, -700.0, 0.5], [-30.0, 40.0, -1.0]])
    binary = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    labels4 = np.array([1, 0, 2, 2])
    both = ("float64", "float32")
    out = []

    def add(loss, function, ref, case_id, inputs, options=None, dtypes=("float64",)):
        out.append((loss, function, ref, case_id, inputs, options or {}, dtypes))

    sig = torchvision_sigmoid_focal_loss
    add(
        "SigmoidFocalLoss",
        "focal.sigmoid_focal_loss",
        sig,
        "default",
        (rng.normal(0, 2, (4, 3)), rng.integers(0, 2, (4, 3)).astype(float)),
        {},
        both,
    )
    add(
        "SigmoidFocalLoss",
        "focal.sigmoid_focal_loss",
        sig,
        "no-alpha,gamma=1,soft",
        (rng.normal(0, 2, (3, 4)), rng.uniform(0, 1, (3, 4))),
        {"alpha": -1.0, "gamma": 1.0},
    )
    add(
        "SigmoidFocalLoss",
        "focal.sigmoid_focal_loss",
        sig,
        "gamma=0.5",
        (rng.uniform(-2.5, 2.5, (2, 5)), rng.integers(0, 2, (2, 5)).astype(float)),
        {"alpha": 0.6, "gamma": 0.5},
    )
    add("SigmoidFocalLoss", "focal.sigmoid_focal_loss", sig, "extreme", (big, binary), {}, both)

    kf = kornia_focal_loss
    weight = rng.uniform(0.5, 2.0, 4)
    t = rng.integers(0, 4, 6)
    t[2] = -100
    add("FocalLoss", "focal.focal_loss", kf, "gamma=2,ignored", (rng.normal(0, 2, (6, 4)), t), {}, both)
    add(
        "FocalLoss",
        "focal.focal_loss",
        kf,
        "gamma=1,weight,ignore_index=3",
        (rng.normal(0, 2, (6, 4)), rng.integers(0, 4, 6)),
        {"gamma": 1.0, "weight": weight, "ignore_index": 3},
    )
    add(
        "FocalLoss",
        "focal.focal_loss",
        kf,
        "gamma=0.5,kdim,weight",
        (rng.normal(0, 2, (2, 4, 3, 2)), rng.integers(0, 4, (2, 3, 2))),
        {"gamma": 0.5, "weight": weight},
    )
    add("FocalLoss", "focal.focal_loss", kf, "extreme", (big, labels4), {}, both)

    poly = optax_poly_loss_cross_entropy
    add(
        "PolyLoss",
        "focal.poly1_cross_entropy",
        poly,
        "index,epsilon=2",
        (rng.normal(0, 2, (5, 4)), rng.integers(0, 4, 5)),
        {},
        both,
    )
    add(
        "PolyLoss",
        "focal.poly1_cross_entropy",
        poly,
        "probs,epsilon=-1",
        (rng.normal(0, 2, (5, 4)), rng.dirichlet(np.ones(4), size=5)),
        {"epsilon": -1.0},
    )
    add("PolyLoss", "focal.poly1_cross_entropy", poly, "extreme", (big, labels4), {"epsilon": 1.0}, both)

    def seg_pair(classes, logits, dense, shape=(2, 2, 3)):
        n, spatial = shape[0], shape[1:]
        x = rng.normal(0, 2, (n, classes) + spatial)
        if not logits:  # probabilities; summing to 1 over C > 1 classes, as optax requires
            x = 1 / (1 + np.exp(-x)) if classes == 1 else np.exp(x) / np.exp(x).sum(1, keepdims=True)
        labels = rng.integers(0, max(classes, 2), (n,) + spatial)
        if not dense:
            return x, labels
        return x, (rng.uniform(0, 1, x.shape) if classes == 1 else np.moveaxis(np.eye(classes)[labels], -1, 1))

    add(
        "DiceLoss",
        "segmentation.dice_loss",
        optax_dice_loss,
        "optax,C=3,logits,mask",
        seg_pair(3, True, True),
        {"logits": True},
        both,
    )
    add(
        "DiceLoss",
        "segmentation.dice_loss",
        optax_dice_loss,
        "optax,C=1,logits,index",
        seg_pair(1, True, False),
        {"logits": True, "smooth": 0.5},
    )
    add("DiceLoss", "segmentation.dice_loss", optax_dice_loss, "optax,C=3,probs,index", seg_pair(3, False, False), {})
    add(
        "DiceLoss",
        "segmentation.dice_loss",
        monai_dice_loss,
        "monai,C=1,probs,soft",
        seg_pair(1, False, True),
        {"smooth": 1e-5},
    )
    add(
        "DiceLoss",
        "segmentation.dice_loss",
        monai_dice_loss,
        "monai,C=3,logits,index",
        seg_pair(3, True, False),
        {"logits": True, "smooth": 1.0},
    )

    tv = monai_tversky_loss
    add(
        "TverskyLoss",
        "segmentation.tversky_loss",
        tv,
        "C=3,logits,mask,alpha=0.3",
        seg_pair(3, True, True),
        {"alpha": 0.3, "beta": 0.7, "logits": True},
        both,
    )
    add(
        "TverskyLoss",
        "segmentation.tversky_loss",
        tv,
        "C=1,probs,soft",
        seg_pair(1, False, True),
        {"alpha": 0.7, "beta": 0.2, "smooth": 1e-5},
    )
    add("TverskyLoss", "segmentation.tversky_loss", tv, "C=3,probs,index", seg_pair(3, False, False), {})

    gd = monai_generalized_dice_loss
    absent = rng.integers(0, 2, (2, 2, 3))
    absent[1] = 0
    add(
        "GeneralizedDiceLoss",
        "segmentation.generalized_dice_loss",
        gd,
        "C=3,logits,absent-classes",
        (rng.normal(0, 2, (2, 3, 2, 3)), absent),
        {"logits": True},
        both,
    )
    add(
        "GeneralizedDiceLoss",
        "segmentation.generalized_dice_loss",
        gd,
        "C=3,probs,mask",
        seg_pair(3, False, True),
        {"smooth": 1.0},
    )
    add(
        "GeneralizedDiceLoss",
        "segmentation.generalized_dice_loss",
        gd,
        "C=1,logits,soft",
        seg_pair(1, True, True),
        {"logits": True},
    )

    d = rng.normal(0, 2, (4, 3))
    add("LogCoshLoss", "robust.log_cosh_loss", optax_log_cosh, "normal", (d, rng.normal(0, 2, (4, 3))), {}, both)
    add(
        "LogCoshLoss",
        "robust.log_cosh_loss",
        optax_log_cosh,
        "extreme",
        (np.array([1e4, -1e4, 700.0, -750.0, 1e-8, 0.0]), np.zeros(6)),
        {},
        both,
    )

    t = rng.normal(0, 2, 5)
    x = t[:, None] + rng.normal(0, 2, (5, 3))
    x[1, 0] = t[1]  # a tie, where the gradient is 1/2 - q
    x[3, 2] = t[3]
    add(
        "QuantileLoss",
        "robust.quantile_loss",
        pytorch_forecasting_quantile_loss,
        "three-levels-with-ties",
        (x, t),
        {"quantiles": [0.1, 0.5, 0.9]},
        both,
    )
    add(
        "QuantileLoss",
        "robust.quantile_loss",
        pytorch_forecasting_quantile_loss,
        "seven-levels",
        (rng.normal(0, 2, (4, 7)), rng.normal(0, 2, 4)),
        {"quantiles": [0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98]},
    )

    add(
        "CharbonnierLoss",
        "robust.charbonnier_loss",
        basicsr_charbonnier_loss,
        "eps=1e-3",
        (rng.normal(0, 2, (4, 3)), rng.normal(0, 2, (4, 3))),
        {},
        both,
    )
    add(
        "CharbonnierLoss",
        "robust.charbonnier_loss",
        basicsr_charbonnier_loss,
        "eps=0.5,extreme",
        (np.array([1e4, -1e4, 0.0, 1e-3]), np.zeros(4)),
        {"eps": 0.5},
        both,
    )

    spm = optax_multiclass_sparsemax_loss
    add(
        "SparsemaxLoss",
        "sparse.sparsemax_loss",
        spm,
        "normal",
        (rng.normal(0, 1, (6, 4)), rng.integers(0, 4, 6)),
        {},
        both,
    )
    # float64 only: in float32, autograd through optax's expression at scores of 1e4 is off by ~1e-4
    # (terms that cancel analytically); losslab's closed-form gradient sparsemax(z) - y is exact
    add("SparsemaxLoss", "sparse.sparsemax_loss", spm, "extreme", (big, labels4))

    hinge = optax_multiclass_hinge_loss
    scores = rng.normal(0, 1, (6, 4))
    hinge_labels = rng.integers(0, 4, 6)
    scores[0] = [0.5, 0.5, -0.5, 0.0]  # label 2: a tie between classes 0 and 1
    hinge_labels[0] = 2
    add("MulticlassHingeLoss", "sparse.multiclass_hinge_loss", hinge, "with-a-tie", (scores, hinge_labels), {}, both)
    add("MulticlassHingeLoss", "sparse.multiclass_hinge_loss", hinge, "extreme", (big, labels4), {}, both)
    return out


class _Pack:
    """All arrays concatenated into one flat array per dtype (a few KB instead of hundreds of npz members);
    each stored item is ``[dtype name, offset, shape]``."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}
        self.sizes: dict[str, int] = {}

    def add(self, a) -> list:
        a = np.asarray(a)
        name = a.dtype.name
        offset = self.sizes.get(name, 0)
        self.parts.setdefault(name, []).append(a.reshape(-1))
        self.sizes[name] = offset + a.size
        return [name, offset, list(a.shape)]

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) for name, parts in self.parts.items()}


def main() -> None:
    torch.set_default_dtype(torch.float64)
    pack, index = _Pack(), []
    rng = np.random.default_rng(20240611)
    drawn = np.random.default_rng(7)
    for loss, function, ref, case_id, inputs, options, dtypes in cases(rng):
        entry = {
            "loss": loss,
            "case": case_id,
            "function": function,
            "reference": ref.__doc__.split("\n")[0],
            "inputs": [pack.add(a) for a in inputs],
            "options": {k: o for k, o in options.items() if not isinstance(o, np.ndarray)},
            "array_options": {k: pack.add(o) for k, o in options.items() if isinstance(o, np.ndarray)},
            "results": [],
        }
        for dtype in dtypes:  # float32 cases cast the stored float64 inputs
            tdtype = getattr(torch, dtype)
            for reduction in ("none", "mean"):  # 'sum' is 'none' summed, through the shared reduce
                tensors = [torch.from_numpy(a.astype(dtype) if a.dtype.kind == "f" else a) for a in inputs]
                tensors[0].requires_grad_(True)
                topts = {
                    k: torch.from_numpy(o.astype(dtype)) if isinstance(o, np.ndarray) else o for k, o in options.items()
                }
                out = ref(*tensors, reduction, **topts)
                dout = drawn.uniform(0.5, 1.5, tuple(out.shape)).astype(dtype)
                out.backward(torch.from_numpy(dout).to(tdtype))
                entry["results"].append(
                    {
                        "dtype": dtype,
                        "reduction": reduction,
                        "dout": pack.add(dout),
                        "out": pack.add(out.detach().numpy()),
                        "grad": pack.add(tensors[0].grad.numpy()),
                    }
                )
        index.append(entry)
    # sparsemax itself: optax's projection_simplex along an axis, and its vector-Jacobian product
    for case_id, x, axis in (
        ("rows", rng.normal(0, 1, (5, 4)), -1),
        ("axis0", rng.normal(0, 1, (4, 3, 2)), 0),
        ("extreme", np.array([[1e4, -1e4, 0.0], [1e4, 1e4 - 0.5, 1e4 - 3.0]]), -1),
    ):
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        out = optax_sparsemax(xt, axis)
        dout = drawn.uniform(-1, 1, x.shape)
        out.backward(torch.from_numpy(dout))
        index.append(
            {
                "loss": "sparsemax",
                "case": case_id,
                "function": "sparse.sparsemax",
                "axis": axis,
                "reference": optax_projection_unit_simplex.__doc__.split("\n")[0],
                "inputs": [pack.add(x)],
                "options": {},
                "array_options": {},
                "results": [
                    {
                        "dtype": "float64",
                        "reduction": None,
                        "dout": pack.add(dout),
                        "out": pack.add(out.detach().numpy()),
                        "grad": pack.add(xt.grad.numpy()),
                    }
                ],
            }
        )
    arrays = pack.arrays()
    arrays["index"] = np.array(json.dumps({"torch": torch.__version__, "cases": index}))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(
        f"wrote {len(index)} cases to {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes, torch {torch.__version__})"
    )


if __name__ == "__main__":
    main()
