"""Regenerate tests/golden/peers_golden.npz: the peers' own numbers for the options losslab takes from them.

Run it in a separate environment that holds the peers, never in losslab's own (none of them is a
dependency of losslab):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.13.0
    /tmp/peers/bin/pip install monai kornia "jax[cpu]" optax -c <(echo torch==2.13.0)
    /tmp/peers/bin/python tools/make_golden_peers.py

The committed file was made with MONAI 1.6.1, kornia 0.9.0, optax 0.2.8 / JAX 0.10.2 and torch
2.13.0 (CPU); the versions are stored in the file too. Each entry calls the peer library itself
(MONAI's ``DiceLoss`` / ``TverskyLoss`` / ``GeneralizedDiceLoss``, kornia's ``dice_loss``, optax's
``dice_loss``) with the peer's options, and stores the inputs, the losslab options that map to them
(the mapping of each docstring and of the README's table), an upstream gradient, the peer's output
and the gradient with respect to the first input, from torch's autograd or ``jax.vjp``.
``tests/test_peers.py`` holds losslab to them in the default test run.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import kornia
import monai
import numpy as np
import optax
import torch
from monai.losses import DiceLoss, FocalLoss, GeneralizedDiceLoss, TverskyLoss

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "golden" / "peers_golden.npz"
ACTIVATIONS = {"tanh": torch.tanh}  # other_act by name (tests/test_peers.py maps the name to losslab's pair)


class _Pack:
    """All arrays concatenated into one flat array per dtype; each stored item is ``[dtype, offset, shape]``."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}
        self.sizes: dict[str, int] = {}

    def add(self, a) -> list:
        a = np.asarray(a)
        offset = self.sizes.get(a.dtype.name, 0)
        self.parts.setdefault(a.dtype.name, []).append(a.reshape(-1))
        self.sizes[a.dtype.name] = offset + a.size
        return [a.dtype.name, offset, list(a.shape)]

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) for name, parts in self.parts.items()}


# ----------------------------------------------------------------------------- the peers, called


def monai_loss(cls, peer_options: dict, per_class: bool):
    """``cls(**peer_options)`` of MONAI on (input, target); an index target goes through ``to_onehot_y``.
    Its 'none' output is reshaped to losslab's: (N, C) per class, or its class mean (N,) ((1,) with ``batch``)."""

    def call(x, t, reduction):
        opts = {k: ACTIVATIONS.get(o, o) if k == "other_act" else o for k, o in peer_options.items()}
        if "weight" in opts:
            opts["weight"] = torch.as_tensor(opts["weight"], dtype=x.dtype)
        index = t.dtype == torch.int64 and t.ndim == x.ndim - 1
        loss = cls(reduction=reduction, to_onehot_y=index and x.shape[1] > 1, **opts)
        out = loss(x, t[:, None] if index else t)
        if reduction == "none":
            out = out.reshape(1 if opts.get("batch") else x.shape[0], -1)
            out = out if per_class else out.mean(1)  # losslab's per-sample loss: the class mean
        return out

    return call


def kornia_dice(peer_options: dict):
    def call(x, t, reduction):
        opts = dict(peer_options)
        if "weight" in opts:
            opts["weight"] = torch.as_tensor(opts["weight"], dtype=x.dtype)
        return kornia.losses.dice_loss(x, t, **opts)

    return call


def monai_sigmoid_focal(peer_options: dict):
    """MONAI's ``FocalLoss(use_softmax=False)``; it computes in float32 whatever the input's dtype."""

    def call(x, t, reduction):
        opts = {k: torch.as_tensor(o) if isinstance(o, list) else o for k, o in peer_options.items()}
        return FocalLoss(reduction=reduction, **opts)(x, t)

    return call


def kornia_binary_focal(peer_options: dict):
    def call(x, t, reduction):
        opts = {k: torch.as_tensor(o, dtype=x.dtype) if isinstance(o, list) else o for k, o in peer_options.items()}
        return kornia.losses.binary_focal_loss_with_logits(x, t, reduction=reduction, **opts)

    return call


def optax_dice(peer_options: dict, per_class: bool):
    """optax's ``dice_loss`` on classes-last arrays; losslab's 'none' is optax's 'mean' over the classes
    (or optax's 'none' with ``per_class``), losslab's 'mean' its batch mean."""

    def call(x, t, reduction):
        opts = {k: jnp.asarray(o) if isinstance(o, list) else o for k, o in peer_options.items()}
        out = optax.losses.dice_loss(x, t, reduction="none" if per_class else "mean", **opts)
        return out if reduction == "none" else jnp.mean(out)

    return call


def optax_poly(peer_options: dict):
    """optax's ``poly_loss_cross_entropy``: its output is losslab's 'none', its mean losslab's 'mean'."""

    def call(x, t, reduction):
        opts = {k: jnp.asarray(o) if isinstance(o, np.ndarray) else o for k, o in peer_options.items()}
        out = optax.losses.poly_loss_cross_entropy(x, t, **opts)
        return out if reduction == "none" else jnp.mean(out)

    return call


def optax_projection_simplex(scale: float):
    """optax's ``projection_simplex(row, scale)`` on each row (losslab's ``sparsemax(x, -1, scale=scale)``)."""

    def call(x, reduction):
        return jax.vmap(lambda row: optax.projections.projection_simplex(row, scale))(x)

    return call


def optax_ntxent(temperature: float):
    def call(e, labels, reduction):
        return optax.losses.ntxent(e, labels, temperature=temperature)

    return call


# ----------------------------------------------------------------------------- the cases


def cases(rng):
    """``(loss, function, peer call, description, inputs, losslab options, reductions)``."""
    probs = rng.uniform(0.02, 0.98, (2, 3, 3, 4))
    scores = rng.normal(0, 2, (2, 3, 3, 4))
    labels = rng.integers(0, 3, (2, 3, 4))
    onehot = np.moveaxis(np.eye(3)[labels], -1, 1)
    multilabel = rng.integers(0, 2, (2, 3, 3, 4)).astype(float)
    soft = rng.uniform(0, 1, (2, 3, 3, 4))
    ignored = labels.copy()
    ignored[0, 1, :2] = ignored[1, 2, 3] = -1
    both = ("none", "mean")
    out = []

    def add(loss, function, call, reference, inputs, options, reductions=both):
        out.append((loss, function, call, reference, inputs, options, reductions))

    def m(cls, inputs, peer, ours, per_class=True):
        name = cls.__name__
        function = {
            "DiceLoss": "dice_loss",
            "TverskyLoss": "tversky_loss",
            "GeneralizedDiceLoss": "generalized_dice_loss",
        }[name]
        smooth = {"smooth_nr": peer.pop("smooth_nr", 1e-5), "smooth_dr": peer.pop("smooth_dr", 1e-5)}
        peer.update(smooth)
        ours = dict(ours, **smooth, **({"per_class": True} if per_class else {}))
        add(
            name,
            f"segmentation.{function}",
            monai_loss(cls, peer, per_class),
            f"MONAI {monai.__version__} {name}({', '.join(f'{k}={o!r}' for k, o in peer.items())})",
            inputs,
            ours,
        )

    # MONAI DiceLoss
    m(
        DiceLoss,
        (scores, labels),
        {"include_background": False, "softmax": True},
        {"include_background": False, "softmax": True},
    )
    m(DiceLoss, (scores, multilabel), {"sigmoid": True, "squared_pred": True}, {"sigmoid": True, "squared_pred": True})
    m(
        DiceLoss,
        (probs, onehot),
        {"jaccard": True, "batch": True, "smooth_nr": 0.0, "smooth_dr": 1e-6},
        {"jaccard": True, "batch": True},
    )
    m(
        DiceLoss,
        (scores, labels),
        {"weight": [0.5, 2.0], "include_background": False, "softmax": True},
        {"weight": np.array([0.5, 2.0]), "include_background": False, "softmax": True},
    )
    m(DiceLoss, (probs, soft), {"soft_label": True, "smooth_nr": 0.5, "smooth_dr": 0.25}, {"soft_label": True})
    m(DiceLoss, (scores, multilabel), {"other_act": "tanh"}, {"other_act": "tanh"})
    m(DiceLoss, (scores, ignored), {"ignore_index": -1, "softmax": True}, {"ignore_index": -1, "softmax": True})
    m(DiceLoss, (scores, labels), {"softmax": True, "jaccard": True}, {"softmax": True, "jaccard": True}, False)
    # MONAI TverskyLoss
    m(
        TverskyLoss,
        (scores, labels),
        {"alpha": 0.3, "beta": 0.7, "include_background": False, "softmax": True},
        {"alpha": 0.3, "beta": 0.7, "include_background": False, "softmax": True},
    )
    m(
        TverskyLoss,
        (scores, multilabel),
        {"sigmoid": True, "batch": True, "smooth_nr": 1.0},
        {"sigmoid": True, "batch": True},
    )
    m(
        TverskyLoss,
        (probs, soft),
        {"soft_label": True, "alpha": 0.6, "beta": 0.2},
        {"soft_label": True, "alpha": 0.6, "beta": 0.2},
    )
    m(TverskyLoss, (probs, ignored), {"ignore_index": -1}, {"ignore_index": -1})
    # MONAI GeneralizedDiceLoss
    absent = np.where(labels == 2, 0, labels)
    for w_type in ("square", "simple", "uniform"):
        m(
            GeneralizedDiceLoss,
            (scores, absent),
            {"w_type": w_type, "softmax": True},
            {"w_type": w_type, "softmax": True},
            False,
        )
    m(
        GeneralizedDiceLoss,
        (probs, onehot),
        {"batch": True, "include_background": False, "w_type": "simple"},
        {"batch": True, "include_background": False, "w_type": "simple"},
        False,
    )
    m(
        GeneralizedDiceLoss,
        (scores, soft),
        {"soft_label": True, "sigmoid": True},
        {"soft_label": True, "sigmoid": True},
        False,
    )
    # kornia dice_loss: 'micro', weight, ignore_index (the batch mean: losslab's 'mean')
    for opts in (
        {},
        {"weight": [0.2, 1.0, 3.0]},
        {"ignore_index": -1},
        {"weight": [0.5, 1.0, 2.0], "eps": 1e-3, "ignore_index": -1},
    ):
        peer = dict({"average": "micro"}, **opts)
        ours = {
            "average": "micro",
            "logits": True,
            "smooth_nr": 0.0,
            "smooth_dr": opts.get("eps", 1e-8),
            **({"weight": np.array(opts["weight"])} if "weight" in opts else {}),
            **({"ignore_index": opts["ignore_index"]} if "ignore_index" in opts else {}),
        }
        add(
            "DiceLoss",
            "segmentation.dice_loss",
            kornia_dice(peer),
            f"kornia {kornia.__version__} dice_loss({', '.join(f'{k}={o!r}' for k, o in peer.items())})",
            (scores, ignored if "ignore_index" in opts else labels),
            ours,
            ("mean",),
        )
    # optax dice_loss: classes last, Tversky form, class_weights, ignore_background, per-class 'none'
    last_scores, last_onehot = np.moveaxis(scores, 1, -1).copy(), np.moveaxis(onehot, 1, -1).copy()
    last_probs = np.moveaxis(np.exp(scores) / np.exp(scores).sum(1, keepdims=True), 1, -1).copy()
    for peer, ours, per_class in (
        ({}, {"logits": True}, False),
        ({"alpha": 0.3, "beta": 0.7, "smooth": 0.5}, {"logits": True, "alpha": 0.3, "beta": 0.7, "smooth": 0.5}, True),
        (
            {"class_weights": [0.1, 1.0, 2.0], "ignore_background": True},
            {"logits": True, "weight": np.array([1.0, 2.0]), "include_background": False},
            True,
        ),
        ({"apply_softmax": False, "class_weights": [1.0, 0.5, 2.0]}, {"weight": np.array([1.0, 0.5, 2.0])}, False),
    ):
        ours = dict({"class_axis": -1, "smooth": 1.0}, **ours, **({"per_class": True} if per_class else {}))
        x = last_probs if peer.get("apply_softmax") is False else last_scores
        add(
            "TverskyLoss",
            "segmentation.tversky_loss",
            optax_dice(peer, per_class),
            f"optax {optax.__version__} dice_loss({', '.join(f'{k}={o!r}' for k, o in peer.items())}"
            f"{', reduction=none' if per_class else ''})",
            (x, last_onehot),
            ours,
        )
    # kornia's binary focal loss (hard labels): pos_weight, weight, ignore_index
    hard = rng.integers(0, 2, (3, 4, 5)).astype(float)
    hard_ignored = hard.copy()
    hard_ignored[0, 1, :2] = hard_ignored[2, 0, 4] = -100.0
    focal_x = rng.normal(0, 2, (3, 4, 5))
    pw, w = [0.5, 2.0, 1.0, 3.0], [1.0, 0.2, 2.0, 0.7]
    for peer, ours, t in (
        ({"alpha": 0.25, "gamma": 2.0, "pos_weight": pw}, {"pos_weight": np.array(pw)}, hard),
        ({"alpha": None, "gamma": 1.0, "weight": w}, {"alpha": -1.0, "gamma": 1.0, "weight": np.array(w)}, hard),
        (
            {"alpha": 0.6, "gamma": 0.5, "pos_weight": pw, "weight": w, "ignore_index": -100},
            {"alpha": 0.6, "gamma": 0.5, "pos_weight": np.array(pw), "weight": np.array(w), "ignore_index": -100},
            hard_ignored,
        ),
    ):
        add(
            "SigmoidFocalLoss",
            "focal.sigmoid_focal_loss",
            kornia_binary_focal(peer),
            f"kornia {kornia.__version__} binary_focal_loss_with_logits("
            f"{', '.join(f'{k}={o!r}' for k, o in peer.items())})",
            (focal_x, t),
            ours,
        )
    # MONAI's FocalLoss with a sigmoid: per-class alpha (the positive term), weight, include_background
    for peer, ours in (
        ({"alpha": 0.25}, {"alpha": 0.25}),
        ({"alpha": [0.5, 2.0, 1.0, 3.0]}, {"alpha": -1.0, "pos_weight": np.array([0.5, 2.0, 1.0, 3.0])}),
        (
            {"weight": [1.0, 0.2, 2.0, 0.7], "gamma": 1.5},
            {"alpha": -1.0, "weight": np.array([1.0, 0.2, 2.0, 0.7]), "gamma": 1.5},
        ),
        (
            {"include_background": False, "alpha": [2.0, 1.0, 3.0], "weight": [0.2, 2.0, 0.7]},
            {
                "include_background": False,
                "alpha": -1.0,
                "pos_weight": np.array([2.0, 1.0, 3.0]),
                "weight": np.array([0.2, 2.0, 0.7]),
            },
        ),
    ):
        add(
            "SigmoidFocalLoss",
            "focal.sigmoid_focal_loss",
            monai_sigmoid_focal(peer),
            f"MONAI {monai.__version__} FocalLoss({', '.join(f'{k}={o!r}' for k, o in peer.items())}) in float32",
            (focal_x, hard),
            dict({"alpha": -1.0}, **ours),
        )
    # optax's Poly-1 with where (a class mask) and axis
    px = rng.normal(0, 2, (5, 4))
    pt = rng.dirichlet(np.ones(4), size=5)
    mask = np.ones((5, 4), dtype=bool)
    mask[0, 3] = mask[2, 0] = mask[4, 1] = False
    kx = rng.normal(0, 2, (2, 4, 3))
    kt = np.moveaxis(np.eye(4)[rng.integers(0, 4, (2, 3))], -1, 1).copy()
    for peer, ours, inputs in (
        ({"epsilon": 2.0, "where": mask}, {"epsilon": 2.0, "where": mask}, (px, pt)),
        ({"epsilon": -1.0, "where": mask[:1]}, {"epsilon": -1.0, "where": mask[:1]}, (px, pt)),
        ({"epsilon": 1.0, "axis": 1}, {"epsilon": 1.0, "axis": 1}, (kx, kt)),
        (
            {"epsilon": 2.0, "axis": 1, "where": np.array([True, True, False, True])[None, :, None]},
            {"epsilon": 2.0, "axis": 1, "where": np.array([True, True, False, True])[None, :, None]},
            (kx, kt),
        ),
    ):
        shown = {k: ("mask" if isinstance(o, np.ndarray) else o) for k, o in peer.items()}
        add(
            "PolyLoss",
            "focal.poly1_cross_entropy",
            optax_poly(peer),
            f"optax {optax.__version__} poly_loss_cross_entropy({', '.join(f'{k}={o!r}' for k, o in shown.items())})",
            inputs,
            ours,
        )
    # optax's projection_simplex with a scale: sparsemax onto {p >= 0, sum p = scale}
    for scale in (0.5, 3.0):
        add(
            "sparsemax",
            "sparse.sparsemax",
            optax_projection_simplex(scale),
            f"optax {optax.__version__} projections.projection_simplex(row, scale={scale}) on each row",
            (rng.normal(0, 1, (5, 4)),),
            {"scale": scale},
            (None,),
        )
    # optax's ntxent with group labels: several views of a sample, an anchor without a positive
    for temperature, labels in ((0.1, [0, 1, 2, 0, 1, 2]), (0.5, [3, 3, 3, 7, 7, 1]), (1.0, [0, 0, 1, 1, 1, 2])):
        add(
            "NTXentGroupLoss",
            "metric.nt_xent_group_loss",
            optax_ntxent(temperature),
            f"optax {optax.__version__} ntxent(embeddings, labels={labels}, temperature={temperature})",
            (rng.normal(0, 1, (6, 4)), np.array(labels)),
            {"temperature": temperature},
            ("mean",),
        )
    return out


def _run(call, x, *rest, dout_rng):
    """(out, dout, grad) of the peer's call on (input, target) or (input,), by torch's autograd or jax.vjp."""
    *t, reduction = rest
    if "optax" in call.__qualname__:
        out, vjp = jax.vjp(lambda a: call(a, *(jnp.asarray(b) for b in t), reduction), jnp.asarray(x))
        dout = dout_rng.uniform(0.5, 1.5, out.shape)
        return np.asarray(out), dout, np.asarray(vjp(jnp.asarray(dout))[0])
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    out = call(xt, *(torch.from_numpy(b) for b in t), reduction)
    dout = dout_rng.uniform(0.5, 1.5, tuple(out.shape))
    out.backward(torch.from_numpy(dout))
    return out.detach().numpy(), dout, xt.grad.numpy()


def main() -> None:
    torch.set_default_dtype(torch.float64)
    pack, index = _Pack(), []
    rng, dout_rng = np.random.default_rng(20261206), np.random.default_rng(15)
    for loss, function, call, reference, inputs, options, reductions in cases(rng):
        entry = {
            "loss": loss,
            "case": f"{len(index)}:{reference.split(' ', 2)[0]}",
            "function": function,
            "reference": reference,
            "inputs": [pack.add(a) for a in inputs],
            "options": {k: o for k, o in options.items() if not isinstance(o, np.ndarray)},
            "array_options": {k: pack.add(o) for k, o in options.items() if isinstance(o, np.ndarray)},
            "results": [],
        }
        for reduction in reductions:
            out, dout, grad = _run(call, *inputs, reduction, dout_rng=dout_rng)
            entry["results"].append(
                {"reduction": reduction, "dout": pack.add(dout), "out": pack.add(out), "grad": pack.add(grad)}
            )
        index.append(entry)
    versions = {
        "monai": monai.__version__,
        "kornia": kornia.__version__,
        "optax": optax.__version__,
        "jax": jax.__version__,
        "torch": torch.__version__,
    }
    arrays = pack.arrays()
    arrays["index"] = np.array(json.dumps({"versions": versions, "cases": index}))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(index)} cases to {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes; {versions})")


if __name__ == "__main__":
    main()
