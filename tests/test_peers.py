"""The peers' options: losslab against MONAI, kornia and optax.

Two kinds of reference: the peers' own numbers (tests/golden/peers_golden.npz, from
tools/make_golden_peers.py, which calls MONAI 1.6.1, kornia 0.9.0 and optax 0.2.8 themselves), and
NumPy transcriptions of each peer's documented forward written here, independently of losslab's
code, with gradients by numerical differentiation.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from losslab.functional import focal, metric, robust, segmentation, sparse
from losslab.gradcheck import numerical_gradient

PEERS_GOLDEN = Path(__file__).parent / "golden" / "peers_golden.npz"
TANH = (np.tanh, lambda x: 1 - np.tanh(x) ** 2)


def _golden_cases() -> list:
    with np.load(PEERS_GOLDEN, allow_pickle=False) as data:
        flat = {k: data[k] for k in data.files}
    index = json.loads(str(flat.pop("index")))

    def get(ref):
        name, offset, shape = ref
        return flat[name][offset : offset + int(np.prod(shape, dtype=np.int64))].reshape(shape)

    return [pytest.param(e, get, id=f"{e['loss']}-{e['case']}") for e in index["cases"]]


GOLDEN = _golden_cases()


def test_golden_file_covers_every_peer():
    references = " ".join(p.values[0]["reference"] for p in GOLDEN)
    for peer in (
        "MONAI 1.6.1 DiceLoss",
        "MONAI 1.6.1 TverskyLoss",
        "MONAI 1.6.1 GeneralizedDiceLoss",
        "kornia 0.9.0 dice_loss",
        "optax 0.2.8 dice_loss",
        "kornia 0.9.0 binary_focal_loss_with_logits",
        "MONAI 1.6.1 FocalLoss",
        "optax 0.2.8 ntxent",
        "optax 0.2.8 poly_loss_cross_entropy",
        "optax 0.2.8 projections.projection_simplex",
    ):
        assert peer in references


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("entry, get", GOLDEN)
def test_matches_the_peer_library(entry, get, dtype):
    family, name = entry["function"].split(".")
    module = importlib.import_module(f"losslab.functional.{family}")
    fn, backward = getattr(module, name), getattr(module, f"{name}_backward")
    inputs = [get(r) for r in entry["inputs"]]
    inputs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    arrays = {k: get(r) for k, r in entry["array_options"].items()}
    options = dict(entry["options"], **{k: a.astype(dtype) if a.dtype.kind == "f" else a for k, a in arrays.items()})
    if options.get("other_act") == "tanh":
        options["other_act"] = TANH
    # MONAI computes the generalized Dice weights, and its focal loss altogether, in float32
    tol = (
        dict(rtol=1e-4, atol=1e-6)
        if dtype == "float32" or "float32" in entry["reference"]
        else (dict(rtol=1e-6, atol=1e-9) if entry["loss"] == "GeneralizedDiceLoss" else dict(rtol=1e-9, atol=1e-12))
    )
    for res in entry["results"]:
        if res["reduction"] is not None:  # a loss; else a mapping (sparsemax)
            options["reduction"] = res["reduction"]
        out = fn(*inputs, **options)
        grad = backward(get(res["dout"]).astype(dtype), *inputs, **options)
        np.testing.assert_allclose(out, get(res["out"]), **tol, err_msg=entry["reference"])
        np.testing.assert_allclose(grad, get(res["grad"]), **tol, err_msg=entry["reference"])
        assert np.asarray(out).dtype == np.dtype(dtype) and grad.dtype == np.dtype(dtype)


# ============================================================================ the peers' formulas, transcribed


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _soft(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def monai_forward(
    kind,
    x,
    y,
    *,
    include_background=True,
    sigmoid=False,
    softmax=False,
    other_act=None,
    squared_pred=False,
    jaccard=False,
    batch=False,
    smooth_nr=1e-5,
    smooth_dr=1e-5,
    weight=None,
    soft_label=False,
    ignore_index=None,
    alpha=0.5,
    beta=0.5,
    w_type="square",
):
    """MONAI 1.6.1's DiceLoss / TverskyLoss / GeneralizedDiceLoss forward (monai/losses/dice.py, tversky.py,
    utils.compute_tp_fp_fn) in NumPy, 'none' as (N, C) ((1, C) with batch; (N, 1) for the generalized Dice);
    ``y`` one-hot (N, C, ...) or labels (N, ...) one-hot encoded as ``to_onehot_y`` does."""
    if sigmoid:
        x = _sig(x)
    if softmax:
        x = _soft(x)
    if other_act is not None:
        x = other_act(x)
    mask = None
    if y.ndim == x.ndim - 1:
        if ignore_index is not None:
            mask = (y != ignore_index)[:, None].astype(float)
            y = np.where(y == ignore_index, 0, y)
        y = np.moveaxis(np.eye(x.shape[1])[y], -1, 1)
    if not include_background:
        x, y = x[:, 1:], y[:, 1:]
    if mask is not None:
        x, y = x * mask, y * mask
    axes = tuple(range(2, x.ndim)) if not batch else (0,) + tuple(range(2, x.ndim))
    order = 2 if squared_pred else 1
    if order == 1 and not soft_label:
        tp = (x * y).sum(axes)
        fp, fn = (x * (1 - y)).sum(axes), ((1 - x) * y).sum(axes)
    else:
        pred_o, ground_o = (np.abs(x) ** order).sum(axes), (np.abs(y) ** order).sum(axes)
        tp = (pred_o + ground_o - (np.abs(x - y) ** order).sum(axes)) / 2
        fp, fn = pred_o - tp, ground_o - tp
    if kind == "tversky":
        f = 1 - (tp + smooth_nr) / (tp + alpha * fp + beta * fn + smooth_dr)
    elif kind == "dice":
        if not jaccard:
            fp, fn = fp / 2, fn / 2
        f = 1 - (2 * tp + smooth_nr) / (2 * (tp + fp + fn) + smooth_dr)
        if weight is not None and y.shape[1] != 1:
            f = f * weight
    else:
        ground = y.sum(axes)
        with np.errstate(divide="ignore"):
            w = {"simple": 1 / ground, "square": 1 / ground**2, "uniform": np.ones_like(ground)}[w_type]
        infs = np.isinf(w)
        w[infs] = 0
        w = w + infs * (w.max() if batch else w.max(axis=1, keepdims=True))
        numer = 2 * (tp * w).sum(-1, keepdims=True) + smooth_nr
        denom = ((2 * tp + fp + fn) * w).sum(-1, keepdims=True) + smooth_dr
        f = 1 - numer / denom
    return f.reshape(1, -1) if batch else f


def kornia_micro(x, labels, *, weight=None, eps=1e-8, ignore_index=-100):
    """kornia 0.9.0's ``dice_loss(average='micro')`` (its Convention block): the batch mean of
    ``1 - 2 sum_c w_c |X_c n Y_c| / (sum_c w_c (|X_c| + |Y_c|) + eps)`` over the non-ignored pixels."""
    p = _soft(x)
    keep = (labels != ignore_index)[:, None]
    y = np.moveaxis(np.eye(x.shape[1])[np.where(keep[:, 0], labels, 0)], -1, 1) * keep
    p = p * keep
    w = np.ones(x.shape[1]) if weight is None else weight
    w = w.reshape(1, -1, 1, 1)
    inter = (w * p * y).sum((1, 2, 3))
    card = (w * (p + y)).sum((1, 2, 3))
    return np.mean(1 - 2 * inter / (card + eps))


def optax_dice(
    logits, targets, *, class_weights=None, smooth=1.0, alpha=0.5, beta=0.5, ignore_background=False, apply_softmax=True
):
    """optax 0.2.8's ``dice_loss(..., reduction='none')`` (optax/losses/_segmentation.py): classes last, (N, C)."""
    p = logits
    if apply_softmax:
        e = np.exp(logits - logits.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
    axes = tuple(range(1, p.ndim - 1))
    inter, ps, ts = (p * targets).sum(axes), p.sum(axes), targets.sum(axes)
    dice = 1 - (inter + smooth) / (inter + alpha * (ps - inter) + beta * (ts - inter) + smooth)
    if class_weights is not None:
        dice = dice * class_weights
    return dice[..., 1:] if ignore_background else dice


MONAI_CASES = [  # (kind, input kind, target kind, MONAI's options, losslab's options)
    (
        "dice",
        "scores",
        "labels",
        {"include_background": False, "softmax": True},
        {"include_background": False, "softmax": True},
    ),
    (
        "dice",
        "scores",
        "multilabel",
        {"sigmoid": True, "squared_pred": True, "jaccard": True},
        {"sigmoid": True, "squared_pred": True, "jaccard": True},
    ),
    (
        "dice",
        "probs",
        "onehot",
        {"batch": True, "smooth_nr": 0.0, "smooth_dr": 0.5},
        {"batch": True, "smooth_nr": 0.0, "smooth_dr": 0.5},
    ),
    (
        "dice",
        "scores",
        "ignored",
        {"weight": np.array([2.0, 0.5]), "include_background": False, "softmax": True, "ignore_index": -1},
        {"weight": np.array([2.0, 0.5]), "include_background": False, "softmax": True, "ignore_index": -1},
    ),
    (
        "dice",
        "probs",
        "soft",
        {"soft_label": True, "smooth_nr": 0.1, "smooth_dr": 0.2},
        {"soft_label": True, "smooth_nr": 0.1, "smooth_dr": 0.2},
    ),
    ("dice", "scores", "multilabel", {"other_act": np.tanh}, {"other_act": TANH}),
    (
        "tversky",
        "scores",
        "labels",
        {"alpha": 0.2, "beta": 0.8, "softmax": True, "batch": True, "smooth_nr": 1.0},
        {"alpha": 0.2, "beta": 0.8, "softmax": True, "batch": True, "smooth_nr": 1.0},
    ),
    (
        "tversky",
        "probs",
        "soft",
        {"soft_label": True, "alpha": 0.7, "beta": 0.4},
        {"soft_label": True, "alpha": 0.7, "beta": 0.4},
    ),
    ("generalized", "scores", "absent", {"softmax": True, "w_type": "simple"}, {"softmax": True, "w_type": "simple"}),
    ("generalized", "probs", "absent", {"batch": True}, {"batch": True}),
    (
        "generalized",
        "scores",
        "soft",
        {"sigmoid": True, "soft_label": True, "w_type": "uniform", "include_background": False},
        {"sigmoid": True, "soft_label": True, "w_type": "uniform", "include_background": False},
    ),
]


def _monai_inputs(rng, input_kind, target_kind):
    probs = rng.uniform(0.05, 0.95, (3, 3, 2, 3))
    x = rng.normal(0, 1.5, probs.shape) if input_kind == "scores" else probs
    labels = rng.integers(0, 3, (3, 2, 3))
    if target_kind in ("labels", "ignored"):
        if target_kind == "ignored":
            labels[0, 0, :2] = -1
        return x, labels
    if target_kind == "absent":
        return x, np.where(labels == 2, 1, labels)
    if target_kind == "onehot":
        return x, np.moveaxis(np.eye(3)[labels], -1, 1)
    if target_kind == "multilabel":
        return x, rng.integers(0, 2, x.shape).astype(float)
    t = rng.uniform(0, 1, x.shape)  # soft, away from the probabilities (|p - t| has a kink at p = t)
    p = _sig(x) if input_kind == "scores" else x
    return x, np.where(np.abs(t - p) < 0.05, np.clip(p + 0.3, 0, 1) * (p < 0.5) + (p - 0.3) * (p >= 0.5), t)


FUNCTIONS = {
    "dice": (segmentation.dice_loss, segmentation.dice_loss_backward),
    "tversky": (segmentation.tversky_loss, segmentation.tversky_loss_backward),
    "generalized": (segmentation.generalized_dice_loss, segmentation.generalized_dice_loss_backward),
}


@pytest.mark.parametrize(
    "kind, input_kind, target_kind, peer, ours", MONAI_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(MONAI_CASES)]
)
def test_matches_monai_transcribed(kind, input_kind, target_kind, peer, ours):
    rng = np.random.default_rng(len(str(peer)))
    x, y = _monai_inputs(rng, input_kind, target_kind)
    fn, backward = FUNCTIONS[kind]
    peer = dict({"smooth_nr": 1e-5, "smooth_dr": 1e-5}, **peer)
    ours = dict({"smooth_nr": peer["smooth_nr"], "smooth_dr": peer["smooth_dr"]}, **ours)
    if kind != "generalized":
        ours["per_class"] = True
    want = monai_forward(kind, x, y, **peer)
    want = want.reshape(-1) if kind == "generalized" else want
    np.testing.assert_allclose(fn(x, y, **ours, reduction="none"), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fn(x, y, **ours, reduction="mean"), want.mean(), rtol=1e-12)
    dout = rng.uniform(0.5, 1.5, want.shape)
    numeric = numerical_gradient(
        lambda a: float(np.sum(dout * monai_forward(kind, a, y, **peer).reshape(dout.shape))), x, h=1e-5
    )
    np.testing.assert_allclose(backward(dout, x, y, **ours, reduction="none"), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": np.array([0.3, 1.0, 2.5])},
        {"ignore_index": -1},
        {"weight": np.array([1.0, 0.0, 2.0]), "eps": 1e-2, "ignore_index": -1},
    ],
)
def test_matches_kornia_micro_dice_transcribed(options):
    rng = np.random.default_rng(3)
    x, labels = rng.normal(0, 1.5, (3, 3, 2, 4)), rng.integers(0, 3, (3, 2, 4))
    labels[1, 0, :3] = -1
    if "ignore_index" not in options:
        labels = np.abs(labels)
    eps = options.pop("eps", 1e-8)
    ours = dict(average="micro", logits=True, smooth_nr=0.0, smooth_dr=eps, **options)
    want = kornia_micro(x, labels, eps=eps, **options)
    assert segmentation.dice_loss(x, labels, **ours) == pytest.approx(want, rel=1e-12)
    numeric = numerical_gradient(lambda a: kornia_micro(a, labels, eps=eps, **options), x, h=1e-5)
    np.testing.assert_allclose(segmentation.dice_loss_backward(1.0, x, labels, **ours), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "peer, ours",
    [
        ({}, {}),
        ({"alpha": 0.3, "beta": 0.7, "smooth": 0.5}, {"alpha": 0.3, "beta": 0.7, "smooth": 0.5}),
        (
            {"class_weights": np.array([0.1, 1.0, 2.0]), "ignore_background": True},
            {"weight": np.array([1.0, 2.0]), "include_background": False},
        ),
    ],
)
def test_matches_optax_dice_transcribed(peer, ours):
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1.5, (2, 3, 4, 3))  # classes last
    t = np.eye(3)[rng.integers(0, 3, (2, 3, 4))]
    ours = dict(ours, logits=True, class_axis=-1, per_class=True)
    want = optax_dice(x, t, **peer)
    np.testing.assert_allclose(segmentation.tversky_loss(x, t, **ours, reduction="none"), want, rtol=1e-12)
    dout = rng.uniform(0.5, 1.5, want.shape)
    numeric = numerical_gradient(lambda a: float(np.sum(dout * optax_dice(a, t, **peer))), x, h=1e-5)
    np.testing.assert_allclose(
        segmentation.tversky_loss_backward(dout, x, t, **ours, reduction="none"), numeric, rtol=1e-6, atol=1e-9
    )
    # optax's 'mean' over the classes is losslab's per-sample loss; with alpha = beta = 1/2 it is Dice at 2 smooth
    no_class = {k: o for k, o in ours.items() if k != "per_class"}
    np.testing.assert_allclose(segmentation.tversky_loss(x, t, **no_class, reduction="none"), want.mean(-1), rtol=1e-12)
    if "alpha" not in peer:
        np.testing.assert_allclose(
            segmentation.dice_loss(x, t, **dict(no_class, smooth=2.0), reduction="none"), want.mean(-1), rtol=1e-12
        )


# ============================================================================ properties of the options


def _probs(rng, shape=(2, 3, 4, 2)):
    return rng.uniform(0.05, 0.95, shape), rng.integers(0, shape[1], shape[:1] + shape[2:])


@pytest.mark.parametrize("kind", FUNCTIONS)
def test_options_by_their_definitions(kind):
    fn, backward = FUNCTIONS[kind]
    rng = np.random.default_rng(11)
    x, labels = _probs(rng)
    onehot = np.moveaxis(np.eye(3)[labels], -1, 1)
    # include_background=False: class 0 dropped (probabilities need no activation); its gradient is 0
    np.testing.assert_allclose(fn(x, onehot, include_background=False), fn(x[:, 1:], onehot[:, 1:]), rtol=1e-14)
    g = backward(1.0, x, onehot, include_background=False)
    assert np.all(g[:, 0] == 0)
    np.testing.assert_allclose(g[:, 1:], backward(1.0, x[:, 1:], onehot[:, 1:]), rtol=1e-14)
    # batch=True: the batch laid side by side as one sample
    side = np.concatenate(list(x), axis=-1)[None]
    side_t = np.concatenate(list(onehot), axis=-1)[None]
    np.testing.assert_allclose(
        fn(x, onehot, batch=True, reduction="none"), fn(side, side_t, reduction="none"), rtol=1e-14
    )
    # ignore_index: the ignored pixels are the same as pixels absent from input and target
    ignored = labels.copy()
    ignored[:, 0, :] = -100
    np.testing.assert_allclose(fn(x, ignored), fn(x[:, :, 1:], labels[:, 1:]), rtol=1e-14)
    # class_axis: the same loss on the moved input, the gradient moved back
    last = np.moveaxis(x, 1, -1)
    np.testing.assert_allclose(fn(last, labels, class_axis=-1), fn(x, labels), rtol=1e-14)
    np.testing.assert_allclose(
        backward(1.0, last, labels, class_axis=3), np.moveaxis(backward(1.0, x, labels), 1, -1), rtol=1e-14
    )
    # sigmoid on one channel is logits=True there; softmax over C >= 2 is logits=True
    z = rng.normal(0, 2, (2, 1, 4, 2))
    np.testing.assert_allclose(fn(z, labels % 2, sigmoid=True), fn(z, labels % 2, logits=True), rtol=1e-14)
    z3 = rng.normal(0, 2, x.shape)
    np.testing.assert_allclose(
        backward(1.0, z3, labels, softmax=True), backward(1.0, z3, labels, logits=True), rtol=1e-14
    )
    # smooth_nr / smooth_dr equal to smooth change nothing; soft_label changes nothing on hard labels
    np.testing.assert_allclose(
        fn(x, labels, smooth=0.3, smooth_nr=0.3, smooth_dr=0.3), fn(x, labels, smooth=0.3), rtol=1e-15
    )
    np.testing.assert_allclose(fn(x, onehot, soft_label=True), fn(x, onehot), rtol=1e-13)
    np.testing.assert_allclose(backward(1.0, x, onehot, soft_label=True), backward(1.0, x, onehot), rtol=1e-12)


@pytest.mark.parametrize("kind", ["dice", "tversky"])
def test_weight_and_per_class(kind):
    fn, backward = FUNCTIONS[kind]
    rng = np.random.default_rng(12)
    x, labels = _probs(rng)
    per_class = fn(x, labels, per_class=True, reduction="none")
    assert per_class.shape == (2, 3)
    np.testing.assert_allclose(per_class.mean(axis=1), fn(x, labels, reduction="none"), rtol=1e-14)
    assert fn(x, labels, per_class=True) == pytest.approx(fn(x, labels), rel=1e-14)  # 'mean' over (N, C)
    np.testing.assert_allclose(fn(x, labels, weight=np.ones(3)), fn(x, labels), rtol=1e-15)
    w = np.array([0.0, 1.0, 3.0])
    np.testing.assert_allclose(fn(x, labels, weight=w, per_class=True, reduction="none"), per_class * w, rtol=1e-14)
    dout = rng.uniform(0.5, 1.5, (2, 3))
    np.testing.assert_allclose(
        backward(dout, x, labels, weight=w, per_class=True, reduction="none"),
        backward(dout * w, x, labels, per_class=True, reduction="none"),
        rtol=1e-14,
    )


def test_dice_options_by_their_formulas():
    rng = np.random.default_rng(13)
    x, labels = _probs(rng)
    t = np.moveaxis(np.eye(3)[labels], -1, 1)
    sums = (2, 3)
    inter, p2, t2 = (x * t).sum(sums), (x * x).sum(sums), (t * t).sum(sums)
    want = 1 - (2 * inter + 1) / (p2 + t2 + 1)
    np.testing.assert_allclose(
        segmentation.dice_loss(x, t, squared_pred=True, per_class=True, reduction="none"), want, rtol=1e-14
    )
    ps, ts = x.sum(sums), t.sum(sums)
    jac = 1 - (inter + 0.5) / (ps + ts - inter + 0.25)  # MONAI's (2 I + nr) / (2 (P + G - I) + dr)
    np.testing.assert_allclose(
        segmentation.dice_loss(x, t, jaccard=True, smooth_nr=1.0, smooth_dr=0.5, per_class=True, reduction="none"),
        jac,
        rtol=1e-14,
    )
    # 'micro': one ratio per sample over every class; the generalized Dice with uniform weights
    micro = 1 - (2 * inter.sum(1) + 1e-5) / (ps.sum(1) + ts.sum(1) + 1e-5)
    np.testing.assert_allclose(
        segmentation.dice_loss(x, t, average="micro", smooth=1e-5, reduction="none"), micro, rtol=1e-14
    )
    np.testing.assert_allclose(
        segmentation.generalized_dice_loss(x, t, w_type="uniform", reduction="none"), micro, rtol=1e-14
    )
    np.testing.assert_allclose(
        segmentation.dice_loss_backward(1.0, x, t, average="micro", smooth=1e-5),
        segmentation.generalized_dice_loss_backward(1.0, x, t, w_type="uniform"),
        rtol=1e-13,
    )


def test_other_act_is_the_pair_it_is_given():
    rng = np.random.default_rng(14)
    z, t = rng.normal(0, 1, (2, 2, 5)), rng.integers(0, 2, (2, 2, 5)).astype(float)
    sig = (lambda a: 1 / (1 + np.exp(-a)), lambda a: np.exp(-a) / (1 + np.exp(-a)) ** 2)
    np.testing.assert_allclose(
        segmentation.dice_loss(z, t, other_act=sig), segmentation.dice_loss(z, t, sigmoid=True), rtol=1e-14
    )
    np.testing.assert_allclose(
        segmentation.dice_loss_backward(1.0, z, t, other_act=sig),
        segmentation.dice_loss_backward(1.0, z, t, sigmoid=True),
        rtol=1e-13,
    )


X3, L3 = np.full((1, 3, 2), 0.4), np.array([[0, 2]])


@pytest.mark.parametrize("fn", [segmentation.dice_loss, segmentation.tversky_loss, segmentation.generalized_dice_loss])
@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (
            (X3, L3),
            {"sigmoid": True, "softmax": True},
            ValueError,
            "at most one activation may be chosen among logits, sigmoid, softmax and other_act, got sigmoid, softmax",
        ),
        ((X3, L3), {"logits": True, "other_act": TANH}, ValueError, "got logits, other_act"),
        ((X3, L3), {"other_act": np.tanh}, TypeError, r"other_act must be None or a pair \(act, act_derivative\)"),
        ((X3, L3), {"other_act": (np.tanh, 2)}, TypeError, "other_act must be None or a pair"),
        ((X3, L3), {"other_act": (np.sum, np.sum)}, ValueError, "other_act must map the input elementwise"),
        ((X3[:, :1], L3 % 2), {"softmax": True}, ValueError, "softmax=True needs at least 2 classes"),
        (
            (X3[:, :1], L3 % 2),
            {"include_background": False},
            ValueError,
            "include_background=False needs at least 2 classes",
        ),
        ((X3, L3), {"include_background": 0}, TypeError, "include_background must be True or False"),
        ((X3, L3), {"batch": "yes"}, TypeError, "batch must be True or False"),
        ((X3, L3), {"soft_label": None}, TypeError, "soft_label must be True or False"),
        ((X3, L3), {"smooth_nr": -1.0}, ValueError, "smooth_nr must lie in"),
        ((X3, L3), {"smooth_dr": "0"}, TypeError, "smooth_dr must be a real number"),
        ((X3, L3), {"ignore_index": 1.5}, TypeError, "ignore_index must be an integer"),
        (
            (X3, L3),
            {"class_axis": 0},
            ValueError,
            "class_axis must name an axis of the input other than the batch axis 0",
        ),
        ((X3, L3), {"class_axis": 3}, ValueError, r"\(1 to 2, or -2 to -1\), got 3"),
        ((X3, np.array([[0, -1]])), {"ignore_index": -2}, Exception, r"class index -1, out of range.*ignore_index=-2"),
        ((np.zeros((1, 2, 2)), np.array([[-100, -100]])), {"smooth": 0.0}, ValueError, "denominator is 0 for sample 0"),
        (
            (np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),
            {"smooth": 0.0, "batch": True},
            ValueError,
            "denominator is 0 for the batch",
        ),
    ],
)
def test_bad_options_raise(fn, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(*args, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"weight": np.ones(2)}, ValueError, r"weight must be a 1-D array with one entry per class \(3,\), got shape"),
        (
            {"weight": np.ones(3), "include_background": False},
            ValueError,
            r"per class \(2,\), got shape \(3,\) \(include_background=False: the background class has no weight\)",
        ),
        ({"weight": np.array([1.0, -1.0, 1.0])}, ValueError, "weight must hold values >= 0, got -1.0"),
        ({"average": "weighted"}, ValueError, "average must be one of 'macro', 'micro', got 'weighted'"),
        ({"average": "micro", "per_class": True}, ValueError, "per_class=True needs average='macro'"),
    ],
)
def test_bad_dice_options_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        segmentation.dice_loss(X3, L3, **kwargs)


def test_bad_w_type_and_constructor_options_raise():
    from losslab.nn import DiceLoss, GeneralizedDiceLoss, TverskyLoss

    with pytest.raises(ValueError, match="w_type must be one of 'square', 'simple', 'uniform', got 'cube'"):
        segmentation.generalized_dice_loss(X3, L3, w_type="cube")
    with pytest.raises(ValueError, match="w_type must be one of"):
        GeneralizedDiceLoss(w_type="cube")
    with pytest.raises(ValueError, match="average must be one of"):
        DiceLoss(average="samples")
    with pytest.raises(TypeError, match="other_act must be None or a pair"):
        TverskyLoss(other_act=np.tanh)
    with pytest.raises(ValueError, match="smooth_nr must lie in"):
        TverskyLoss(smooth_nr=-1.0)
    loss = DiceLoss(include_background=False, softmax=True, batch=True, weight=np.array([1.0, 2.0]))
    z = np.random.default_rng(0).normal(0, 1, (2, 3, 4))
    out = loss(z, np.array([[0, 1, 2, 1], [2, 2, 0, 1]]))
    assert out == pytest.approx(
        segmentation.dice_loss(
            z,
            np.array([[0, 1, 2, 1], [2, 2, 0, 1]]),
            include_background=False,
            softmax=True,
            batch=True,
            weight=np.array([1.0, 2.0]),
        ),
        rel=1e-15,
    )


# ============================================================================ focal losses


def kornia_binary_focal(x, t, *, alpha=0.25, gamma=2.0, pos_weight=None, weight=None, ignore_index=-100):
    """kornia 0.9.0's ``binary_focal_loss_with_logits(..., reduction='none')`` (kornia/losses/focal.py)."""
    keep = t != ignore_index
    t = np.where(keep, t, 0)
    log_pos, log_neg = -np.logaddexp(0, -x) * keep, -np.logaddexp(0, x) * keep
    pos = -np.exp(gamma * log_neg) * t * log_pos
    neg = -np.exp(gamma * log_pos) * (1 - t) * log_neg
    if alpha is not None:
        pos, neg = alpha * pos, (1 - alpha) * neg
    shape = (-1,) + (1,) * (x.ndim - 2)
    if pos_weight is not None:
        pos = pos_weight.reshape(shape) * pos
    loss = pos + neg
    return loss if weight is None else weight.reshape(shape) * loss


@pytest.mark.parametrize(
    "peer, ours",
    [
        ({"pos_weight": np.array([0.5, 2.0, 3.0])}, {"pos_weight": np.array([0.5, 2.0, 3.0])}),
        (
            {"alpha": None, "gamma": 0.5, "weight": np.array([1.0, 0.0, 2.5])},
            {"alpha": -1.0, "gamma": 0.5, "weight": np.array([1.0, 0.0, 2.5])},
        ),
        (
            {"alpha": 0.7, "gamma": 1.0, "pos_weight": np.array([1.5, 1.0, 0.2]), "weight": np.array([2.0, 1.0, 0.5])},
            {
                "alpha": 0.7,
                "gamma": 1.0,
                "pos_weight": np.array([1.5, 1.0, 0.2]),
                "weight": np.array([2.0, 1.0, 0.5]),
                "ignore_index": -100,
            },
        ),
    ],
)
def test_matches_kornia_binary_focal_transcribed(peer, ours):
    rng = np.random.default_rng(21)
    x, t = rng.normal(0, 2, (4, 3, 5)), rng.integers(0, 2, (4, 3, 5)).astype(float)
    if "ignore_index" in ours:
        t[1, 2, :3] = t[3, 0, 0] = -100.0
    want = kornia_binary_focal(x, t, **peer)
    np.testing.assert_allclose(focal.sigmoid_focal_loss(x, t, **ours, reduction="none"), want, rtol=1e-12, atol=1e-15)
    assert focal.sigmoid_focal_loss(x, t, **ours) == pytest.approx(want.mean(), rel=1e-12)
    dout = rng.uniform(0.5, 1.5, x.shape)
    numeric = numerical_gradient(lambda a: float(np.sum(dout * kornia_binary_focal(a, t, **peer))), x, h=1e-5)
    np.testing.assert_allclose(
        focal.sigmoid_focal_loss_backward(dout, x, t, **ours, reduction="none"), numeric, rtol=1e-6, atol=1e-9
    )


def test_sigmoid_focal_options_by_their_definitions():
    rng = np.random.default_rng(22)
    x, t = rng.normal(0, 2, (3, 4, 2)), rng.integers(0, 2, (3, 4, 2)).astype(float)
    fn, backward = focal.sigmoid_focal_loss, focal.sigmoid_focal_loss_backward
    # the plain call takes the fused kernel, the weighted one the definition: the same values to an ulp or two
    np.testing.assert_allclose(
        fn(x, t, pos_weight=np.ones(4), weight=np.ones(4), reduction="none"), fn(x, t, reduction="none"), rtol=1e-14
    )
    np.testing.assert_allclose(backward(1.0, x, t, pos_weight=np.ones(4)), backward(1.0, x, t), rtol=1e-14)
    # include_background=False: channel 0 dropped, its gradient 0
    np.testing.assert_allclose(
        fn(x, t, include_background=False, reduction="none"), fn(x[:, 1:], t[:, 1:], reduction="none"), rtol=1e-14
    )
    g = backward(1.0, x, t, include_background=False)
    assert np.all(g[:, 0] == 0)
    np.testing.assert_allclose(g[:, 1:], backward(1.0, x[:, 1:], t[:, 1:]), rtol=1e-14)
    # ignore_index: 0 there, in the 'mean' denominator (kornia)
    ignored = t.copy()
    ignored[0] = -1
    out = fn(x, ignored, ignore_index=-1, reduction="none")
    assert np.all(out[0] == 0)
    np.testing.assert_allclose(out[1:], fn(x[1:], t[1:], reduction="none"), rtol=1e-15)
    assert np.all(backward(1.0, x, ignored, ignore_index=-1)[0] == 0)


def test_softmax_focal_without_background_is_a_zero_background_weight():
    rng = np.random.default_rng(23)
    x, t = rng.normal(0, 2, (6, 3)), np.array([0, 1, 2, 0, 2, 1])
    w = np.array([1.5, 0.5, 2.0])
    zero = np.array([0.0, 0.5, 2.0])
    for reduction in ("none", "mean", "sum"):
        np.testing.assert_allclose(
            focal.focal_loss(x, t, weight=w, include_background=False, reduction=reduction),
            focal.focal_loss(x, t, weight=zero, reduction=reduction),
            rtol=1e-15,
        )
        np.testing.assert_allclose(
            focal.focal_loss_backward(1.0, x, t, include_background=False, reduction=reduction),
            focal.focal_loss_backward(1.0, x, t, weight=np.array([0.0, 1.0, 1.0]), reduction=reduction),
            rtol=1e-15,
        )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"weight": np.ones(3)}, ValueError, r"weight must be a 1-D array with one entry per class \(4,\)"),
        ({"pos_weight": np.array([1.0, -1.0, 1.0, 1.0])}, ValueError, "pos_weight must hold values >= 0, got -1.0"),
        ({"ignore_index": 0.5}, TypeError, "ignore_index must be an integer"),
        ({"include_background": "no"}, TypeError, "include_background must be True or False"),
    ],
)
def test_bad_sigmoid_focal_options_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        focal.sigmoid_focal_loss(np.zeros((2, 4)), np.ones((2, 4)), **kwargs)


def test_per_class_focal_options_need_a_class_axis():
    with pytest.raises(
        ValueError,
        match=r"pos_weight needs an input with its classes along axis 1, of shape "
        r"\(N, C, ...\), got shape \(4,\)",
    ):
        focal.sigmoid_focal_loss(np.zeros(4), np.ones(4), pos_weight=np.ones(4))
    with pytest.raises(ValueError, match="include_background=False needs at least 2 classes along axis 1"):
        focal.sigmoid_focal_loss(np.zeros((4, 1)), np.ones((4, 1)), include_background=False)
    with pytest.raises(ValueError, match="include_background=False needs at least 2 classes"):
        focal.focal_loss(np.zeros((4, 1)), np.zeros(4, dtype=int), include_background=False)
    with pytest.raises(ValueError, match="target must hold values in"):
        focal.sigmoid_focal_loss(np.zeros((2, 2)), np.array([[1.0, -100.0], [0.0, 1.0]]))  # no ignore_index given


# ============================================================================ NT-Xent with group labels


def optax_ntxent(e, labels, temperature):
    """optax 0.2.8's ``ntxent(embeddings, labels, temperature)`` (optax/losses/_self_supervised.py) in NumPy."""
    norms = np.maximum(np.sum(e * e, axis=1), np.finfo(e.dtype).eps) ** 0.5
    xcs = (e @ e.T) / np.outer(norms, norms) / temperature
    matches = (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)
    diffs = labels[:, None] != labels[None, :]
    xcs_diffs, xcs_matches = np.where(diffs, xcs, -np.inf), np.where(matches, xcs, -np.inf)
    top = np.max(np.concatenate([xcs_diffs, xcs_matches], axis=1), axis=1, keepdims=True)
    numer = xcs_matches - top
    denom = np.sum(np.exp(xcs_diffs - top), axis=1, keepdims=True) + np.exp(numer)
    with np.errstate(invalid="ignore"):
        log_softm = numer - np.log(denom)
    return -np.where(matches, log_softm, 0).sum() / matches.sum()


@pytest.mark.parametrize(
    "labels, temperature",
    [([0, 1, 2, 0, 1, 2], 0.1), ([5, 5, 5, 2, 2, 9], 0.5), ([0, 0, 0, 0, 1, 1], 1.0), ([1, 2, 3, 4, 1, 4], 0.07)],
)
def test_nt_xent_groups_match_optax_transcribed(labels, temperature):
    rng = np.random.default_rng(31)
    e, labels = rng.normal(0, 1, (6, 3)), np.array(labels)
    want = optax_ntxent(e, labels, temperature)
    assert metric.nt_xent_group_loss(e, labels, temperature=temperature) == pytest.approx(want, rel=1e-12)
    numeric = numerical_gradient(lambda a: optax_ntxent(a, labels, temperature), e, h=1e-6)
    np.testing.assert_allclose(
        metric.nt_xent_group_loss_backward(1.0, e, labels, temperature=temperature), numeric, rtol=1e-6, atol=1e-8
    )


def test_nt_xent_groups_by_their_definition():
    rng = np.random.default_rng(32)
    v1, v2 = rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3))
    e, pairs = np.concatenate([v1, v2]), np.r_[np.arange(4), np.arange(4)]
    for reduction in ("none", "mean", "sum"):
        np.testing.assert_allclose(
            metric.nt_xent_group_loss(e, pairs, temperature=0.3, reduction=reduction),
            metric.nt_xent_loss(v1, v2, temperature=0.3, reduction=reduction),
            rtol=1e-13,
        )
    g1, g2 = metric.nt_xent_loss_backward(1.0, v1, v2, temperature=0.3)
    np.testing.assert_allclose(
        metric.nt_xent_group_loss_backward(1.0, e, pairs, temperature=0.3), np.r_[g1, g2], rtol=1e-12
    )
    # one group: no negatives, every term is log 1 = 0; an anchor alone adds 0 and the 'mean' counts pairs
    assert metric.nt_xent_group_loss(e[:3], np.zeros(3, dtype=int), reduction="sum") == pytest.approx(0, abs=1e-12)
    out = metric.nt_xent_group_loss(e[:5], np.array([0, 0, 1, 1, 2]), reduction="none")
    assert out[4] == 0
    assert metric.nt_xent_group_loss(e[:5], np.array([0, 0, 1, 1, 2])) == pytest.approx(out.sum() / 4, rel=1e-14)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((np.zeros((3, 2)), np.array([0, 1, 2])), {}, ValueError, "labels give no positive pair"),
        ((np.zeros((3, 2)), np.array([0, 1])), {}, ValueError, r"labels must have shape \(3,\)"),
        ((np.zeros((3, 2)), np.array([0.0, 1.0, 0.0])), {}, TypeError, "labels must hold integer group labels"),
        ((np.zeros(3), np.array([0, 1, 0])), {}, ValueError, "embeddings must be a 2-D"),
        ((np.zeros((3, 2)), np.array([0, 1, 0])), {"temperature": 0.0}, ValueError, "temperature must lie in"),
    ],
)
def test_bad_group_inputs_raise(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        metric.nt_xent_group_loss(*args, **kwargs)


# ============================================================================ Poly-1: where and axis


def test_poly_where_and_axis_by_their_definitions():
    rng = np.random.default_rng(41)
    x, labels = rng.normal(0, 2, (5, 4)), rng.integers(0, 4, 5)
    fn, backward = focal.poly1_cross_entropy, focal.poly1_cross_entropy_backward
    everything = np.ones((5, 4), dtype=bool)
    # a call without where and axis takes the fused kernel, the others the definition: equal to a few ulps
    np.testing.assert_allclose(
        fn(x, labels, where=everything, reduction="none"), fn(x, labels, reduction="none"), rtol=1e-14
    )
    # an excluded class is a class that is not there
    keep = np.array([True, True, False, True])
    labels = np.array([0, 1, 3, 3, 0])
    np.testing.assert_allclose(
        fn(x, labels, where=keep, reduction="none"),
        fn(x[:, keep], np.array([0, 1, 2, 2, 0]), reduction="none"),
        rtol=1e-14,
    )
    g = backward(1.0, x, labels, where=keep)
    assert np.all(g[:, 2] == 0)
    np.testing.assert_allclose(g[:, keep], backward(1.0, x[:, keep], np.array([0, 1, 2, 2, 0])), rtol=1e-14)
    # axis: the classes along another axis, the loss of each position
    x3, t3 = rng.normal(0, 2, (2, 4, 3)), rng.integers(0, 4, (2, 3))
    flat = np.moveaxis(x3, 1, -1).reshape(-1, 4)
    np.testing.assert_allclose(
        fn(x3, t3, axis=1, reduction="none"), fn(flat, t3.reshape(-1), reduction="none").reshape(2, 3), rtol=1e-14
    )
    np.testing.assert_allclose(
        backward(1.0, x3, t3, axis=-2),
        np.moveaxis(backward(1.0, flat, t3.reshape(-1)).reshape(2, 3, 4) * 1.0, -1, 1),
        rtol=1e-14,
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"where": np.array([[True, False, False]])}, ValueError, "does not broadcast to the input's shape"),
        ({"where": np.ones((2, 4))}, TypeError, "where must be a boolean mask"),
        (
            {"where": np.array([True, True, True, False])[None] & np.array([[True], [False]])},
            ValueError,
            "where excludes every class of a row",
        ),
        ({"axis": 2}, ValueError, r"axis must name an axis of the input of shape \(2, 4\), got 2"),
        ({"axis": 0.5}, TypeError, "axis must be an integer"),
    ],
)
def test_bad_poly_options_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        focal.poly1_cross_entropy(np.zeros((2, 4)), np.array([0, 1]), **kwargs)


# ============================================================================ Charbonnier weight, sparsemax scale


def basicsr_charbonnier(pred, target, weight, eps, reduction):
    """BasicSR 1.4's ``charbonnier_loss`` under ``@weighted_loss`` (basicsr/losses/loss_util.py,
    ``weight_reduce_loss``): ``sqrt(d^2 + eps)`` times the weight; 'mean' divides by the summed weights,
    a weight with one channel counted once per channel."""
    loss = np.sqrt((pred - target) ** 2 + eps) * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    total = weight.sum() if weight.shape[1] > 1 else weight.sum() * loss.shape[1]
    return loss.sum() / total


@pytest.mark.parametrize("weight_shape", [(2, 3, 4, 4), (2, 1, 4, 4)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_charbonnier_weight_matches_basicsr_transcribed(weight_shape, reduction):
    rng = np.random.default_rng(51)
    pred, target = rng.normal(0, 1, (2, 3, 4, 4)), rng.normal(0, 1, (2, 3, 4, 4))
    weight = rng.uniform(0, 2, weight_shape)
    eps = 1e-6  # BasicSR's eps is added unsquared: losslab's eps is its square root
    want = basicsr_charbonnier(pred, target, weight, eps, reduction)
    got = robust.charbonnier_loss(pred, target, eps=eps**0.5, weight=weight, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    dout = rng.uniform(0.5, 1.5, np.shape(want))
    numeric = numerical_gradient(
        lambda a: float(np.sum(dout * basicsr_charbonnier(a, target, weight, eps, reduction))), pred, h=1e-5
    )
    np.testing.assert_allclose(
        robust.charbonnier_loss_backward(dout, pred, target, eps=eps**0.5, weight=weight, reduction=reduction),
        numeric,
        rtol=1e-6,
        atol=1e-9,
    )


@pytest.mark.parametrize(
    "weight, error, match",
    [
        (np.ones((2, 2)), ValueError, r"weight of shape \(2, 2\) does not broadcast to the input's shape \(2, 3\)"),
        (-np.ones(3), ValueError, "weight must hold values >= 0, got -1.0"),
        (np.zeros(3), ValueError, "weight sums to 0"),
    ],
)
def test_bad_charbonnier_weight_raises(weight, error, match):
    with pytest.raises(error, match=match):
        robust.charbonnier_loss(np.zeros((2, 3)), np.ones((2, 3)), weight=weight)


def test_sparsemax_scale_is_a_scaled_simplex():
    rng = np.random.default_rng(52)
    x = rng.normal(0, 1, (4, 5))
    for scale in (0.25, 1.0, 4.0):
        p = sparse.sparsemax(x, scale=scale)
        np.testing.assert_allclose(p.sum(axis=1), scale, rtol=1e-14)
        assert np.all(p >= 0)
        np.testing.assert_allclose(p, scale * sparse.sparsemax(x / scale), rtol=1e-15)
        dout = rng.normal(0, 1, x.shape)
        numeric = numerical_gradient(
            lambda a, d=dout, s=scale: float(np.sum(d * sparse.sparsemax(a, 0, scale=s))), x, h=1e-6
        )
        np.testing.assert_allclose(sparse.sparsemax_backward(dout, x, 0, scale=scale), numeric, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="scale must lie in"):
        sparse.sparsemax(x, scale=0.0)
