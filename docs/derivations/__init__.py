r"""The gradient of each loss, derived step by step: the steps shown on its page, and the final expression.

Each :class:`Derivation` holds the steps (docs/derivations/<loss>.md, Markdown with LaTeX) and the
final gradient once more as a NumPy expression (``final``). tests/test_docs_site.py evaluates that
expression on random inputs (``sample``) and compares it with the loss's ``_backward``: a derivation
whose result disagrees with the code fails the test suite.

In an expression, the inputs are bound to the names in ``symbols`` (in the loss's input order), the
options in ``call`` to their own names, the intermediate expressions of ``let`` (evaluated in order)
to theirs, and these helpers are available: ``np``, ``softmax``, ``sigmoid``, ``onehot(t, C)``,
``rownorm(v)`` (the Euclidean norm of each row, kept as a column), ``cosine(u, w)`` (each pair of
rows' cosine, as a column), ``dcosine(u, w)`` (its gradient in ``u``), ``members(t, C)``
(MultiLabelMarginLoss's padded class lists as a 0/1 matrix), ``sparsemax``, and for CTC
``ctc_extend(labels, blank)`` (the extended label sequence), ``ctc_alpha(y, lab)`` and ``ctc_beta(y, lab)``
(the forward and backward recursions of one sequence, in probability space). ``reduction`` in
``call`` is the reduction the derivation ends with; ``dout`` is 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Derivation:
    setting: str  # the options the derivation assumes, in words
    symbols: tuple[str, ...]  # the name of each input in the expressions
    sample: Callable[[np.random.Generator], tuple]  # random inputs for the check
    latex: str  # the steps, Markdown with LaTeX
    final: dict[str, str]  # differentiable input -> its gradient as a NumPy expression
    call: dict[str, Any] = field(default_factory=lambda: {"reduction": "mean"})
    let: dict[str, str] = field(default_factory=dict)  # named intermediate expressions, in order


# ----------------------------------------------------------------------------- helpers of the expressions


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def onehot(t: np.ndarray, num_classes: int) -> np.ndarray:
    return (np.arange(num_classes) == np.asarray(t)[:, None]).astype(float)


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean projection onto the simplex (Martins and Astudillo 2016, algorithm 1)."""
    zs = -np.sort(-z, axis=1)
    k = np.arange(1, z.shape[1] + 1)
    cumsum = np.cumsum(zs, axis=1)
    support = 1 + k * zs > cumsum
    k_z = support.sum(axis=1, keepdims=True)
    tau = (np.take_along_axis(cumsum, k_z - 1, axis=1) - 1) / k_z
    return np.maximum(z - tau, 0.0)


def rownorm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(v * v, axis=1, keepdims=True))


def cosine(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The cosine of each pair of rows, as a column."""
    return np.sum(u * w, axis=1, keepdims=True) / (rownorm(u) * rownorm(w))


def dcosine(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The gradient of ``cosine(u, w)`` with respect to ``u``: w / (|u| |w|) - cos u / |u|^2."""
    return w / (rownorm(u) * rownorm(w)) - cosine(u, w) * u / rownorm(u) ** 2


def members(target: np.ndarray, num_classes: int) -> np.ndarray:
    """MultiLabelMarginLoss's target rows (class lists padded by -1) as a 0/1 membership matrix."""
    out = np.zeros((len(target), num_classes))
    for row, labels in zip(out, target, strict=True):
        for label in labels:
            if label < 0:
                break
            row[label] = 1.0
    return out


def ctc_extend(labels: np.ndarray, blank: int) -> np.ndarray:
    """CTC's extended label sequence: a blank before, between and after the labels."""
    out = np.full(2 * len(labels) + 1, blank)
    out[1::2] = labels
    return out


def _shifted(v: np.ndarray, k: int) -> np.ndarray:
    """``v`` moved ``k`` places to the right (to the left for k < 0), zeros filling in."""
    n = len(v)
    pad = np.zeros(abs(k))
    return np.concatenate([pad, v])[:n] if k > 0 else np.concatenate([v, pad])[-k:]


def ctc_alpha(y: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """CTC's forward variables, in probability space: ``alpha[t, s]`` for frames ``y`` (T, C) and the
    extended labels ``lab``."""
    alpha = np.zeros((len(y), len(lab)))
    alpha[0, :2] = y[0, lab[:2]]
    # state s - 2 -> s: a label unlike the one two states back (a blank always equals the blank before it)
    skip = np.concatenate([[False, False], lab[2:] != lab[:-2]])[: len(lab)]
    for t in range(1, len(y)):
        prev = alpha[t - 1]
        alpha[t] = y[t, lab] * (prev + _shifted(prev, 1) + np.where(skip, _shifted(prev, 2), 0.0))
    return alpha


def ctc_beta(y: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """CTC's backward variables, in probability space: ``beta[t, s]`` (each includes frame t's own ``y``)."""
    beta = np.zeros((len(y), len(lab)))
    beta[-1, -2:] = y[-1, lab[-2:]]
    skip = np.concatenate([lab[:-2] != lab[2:], [False, False]])[: len(lab)]  # state s -> s + 2
    for t in range(len(y) - 2, -1, -1):
        nxt = beta[t + 1]
        beta[t] = y[t, lab] * (nxt + _shifted(nxt, -1) + np.where(skip, _shifted(nxt, -2), 0.0))
    return beta


def _steps(name: str) -> str:
    """The derivation's steps: docs/derivations/<name>.md."""
    return (HERE / f"{name}.md").read_text(encoding="utf-8")


NAMESPACE = {
    "np": np,
    "softmax": softmax,
    "sigmoid": sigmoid,
    "onehot": onehot,
    "sparsemax": sparsemax,
    "rownorm": rownorm,
    "cosine": cosine,
    "dcosine": dcosine,
    "members": members,
    "ctc_extend": ctc_extend,
    "ctc_alpha": ctc_alpha,
    "ctc_beta": ctc_beta,
}


# ----------------------------------------------------------------------------- sample makers


def _logits_and_labels(rng: np.random.Generator) -> tuple:
    b, c = int(rng.integers(2, 7)), int(rng.integers(2, 6))
    return rng.normal(0, 2, (b, c)), rng.integers(0, c, b)


def _pair(rng: np.random.Generator) -> tuple:
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 5)))
    return rng.normal(0, 2, shape), rng.normal(0, 2, shape)


def _pair_away_from(*kinks: float) -> Callable[[np.random.Generator], tuple]:
    """Pairs whose difference stays clear of the kinks, where the gradient jumps."""

    def make(rng: np.random.Generator) -> tuple:
        x, t = _pair(rng)
        d = x - t
        for k in kinks:
            near = np.abs(d - k) < 1e-3
            d[near] += 1e-2
        return t + d, t

    return make


def _probs_and_targets(rng: np.random.Generator) -> tuple:
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 5)))
    return rng.uniform(0.02, 0.98, shape), rng.uniform(0, 1, shape)


def _logits_and_soft_targets(rng: np.random.Generator) -> tuple:
    x, _ = _pair(rng)
    return x, rng.uniform(0, 1, x.shape)


def _signs(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=shape)


# ----------------------------------------------------------------------------- the derivations


def _quantile(rng: np.random.Generator) -> tuple:
    n = int(rng.integers(1, 6))
    return rng.normal(0, 2, (n, 3)), rng.normal(0, 2, n)


def _contrastive(rng: np.random.Generator) -> tuple:
    n = int(rng.integers(2, 7))
    return rng.normal(0, 0.5, (n, 3)), rng.normal(0, 0.5, (n, 3)), rng.integers(0, 2, n)


def _cosine_pairs(rng: np.random.Generator) -> tuple:
    n = int(rng.integers(2, 7))
    x1, x2 = rng.normal(0, 1, (n, 3)), rng.normal(0, 1, (n, 3))
    return x1, x2, _signs(rng, n)


def _triplets(rng: np.random.Generator) -> tuple:
    n = int(rng.integers(2, 7))
    return rng.normal(0, 1, (n, 3)), rng.normal(0, 1, (n, 3)), rng.normal(0, 1, (n, 3))


def _scores_and_labels(rng: np.random.Generator) -> tuple:
    b, c = int(rng.integers(2, 7)), int(rng.integers(3, 6))
    return rng.normal(0, 1, (b, c)), rng.integers(0, c, b)


def _segmentation(rng: np.random.Generator) -> tuple:
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), 3, 4)
    return rng.uniform(0.05, 0.95, shape), rng.integers(0, 2, shape).astype(float)


def _logits_and_binary(rng: np.random.Generator) -> tuple:
    x, _ = _pair(rng)
    return x, rng.integers(0, 2, x.shape).astype(float)


def _soft_segmentation(rng: np.random.Generator) -> tuple:
    shape = (int(rng.integers(1, 4)), int(rng.integers(2, 4)), 3, 4)
    return rng.uniform(0.05, 0.95, shape), rng.uniform(0.05, 0.95, shape)


def _multilabel_lists(rng: np.random.Generator) -> tuple:
    n, c = int(rng.integers(1, 6)), int(rng.integers(3, 6))
    target = np.full((n, c), -1)
    for row in target:
        k = int(rng.integers(1, c))
        row[:k] = rng.choice(c, size=k, replace=False)
    return rng.normal(0, 1, (n, c)), target


def _ctc(rng: np.random.Generator) -> tuple:
    """Log-softmax frames (T, N, C), padded targets of 1 or 2 labels, input lengths of at least 4 frames."""
    t, n, c = int(rng.integers(4, 9)), int(rng.integers(1, 4)), int(rng.integers(3, 6))
    logits = rng.normal(0, 1, (t, n, c))
    log_probs = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    return log_probs, rng.integers(1, c, (n, 2)), rng.integers(4, t + 1, n), rng.integers(1, 3, n)


def _two_views(rng: np.random.Generator) -> tuple:
    n, d = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    return rng.normal(0, 1, (n, d)), rng.normal(0, 1, (n, d))


def _groups(rng: np.random.Generator) -> tuple:
    m, d = int(rng.integers(4, 8)), int(rng.integers(2, 5))
    return rng.normal(0, 1, (m, d)), rng.integers(0, 3, m)  # 3 labels over 4 or more: a positive pair


def _ranking(rng: np.random.Generator) -> tuple:
    n = int(rng.integers(2, 8))
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    y = _signs(rng, n)
    h = -y * (x1 - x2) + 0.5
    x1 = np.where(np.abs(h) < 1e-3, x1 + 0.01, x1)
    return x1, x2, y


def _hinge_embedding(rng: np.random.Generator) -> tuple:
    x, _ = _pair(rng)
    x = np.where(np.abs(x - 1.0) < 1e-3, x + 0.01, x)
    return x, _signs(rng, x.shape)


def _gaussian(rng: np.random.Generator) -> tuple:
    x, t = _pair(rng)
    return x, t, rng.uniform(0.1, 3.0, x.shape)


def _kl(rng: np.random.Generator) -> tuple:
    b, c = int(rng.integers(1, 6)), int(rng.integers(2, 6))
    return np.log(rng.dirichlet(np.ones(c), size=b)), rng.dirichlet(np.ones(c), size=b)


def _multilabel(rng: np.random.Generator) -> tuple:
    x, _ = _pair(rng)
    return x, rng.integers(0, 2, x.shape).astype(float)


def _soft_margin(rng: np.random.Generator) -> tuple:
    x, _ = _pair(rng)
    return x, _signs(rng, x.shape)


def _poisson(rng: np.random.Generator) -> tuple:
    x, _ = _pair(rng)
    return x, rng.poisson(2.0, x.shape).astype(float)


def _linear_head(rng: np.random.Generator) -> tuple:
    n, d, c = int(rng.integers(2, 7)), int(rng.integers(2, 5)), int(rng.integers(2, 6))
    return rng.normal(0, 1, (n, d)), rng.normal(0, 1, (c, d)), rng.integers(0, c, n), rng.normal(0, 1, c)


def _adaptive(rng: np.random.Generator) -> tuple:
    """4 features, cutoffs [3, 6] and div_value 2: a head of 3 classes + 1 cluster, W1 (2, 4), W2 (3, 2)."""
    n = int(rng.integers(3, 8))
    return (
        rng.normal(0, 1, (n, 4)),
        rng.integers(0, 6, n),
        rng.normal(0, 1, (4, 4)),
        rng.normal(0, 1, 4),
        rng.normal(0, 1, 14),
    )


DERIVATIONS: dict[str, Derivation] = {
    "CrossEntropyLoss": Derivation(
        "class-index targets, no class weights, no label smoothing, `reduction='mean'`",
        ("x", "t"),
        _logits_and_labels,
        _steps("CrossEntropyLoss"),
        {"input": "(softmax(x) - onehot(t, x.shape[1])) / x.shape[0]"},
    ),
    "NLLLoss": Derivation(
        "no class weights, `reduction='mean'`",
        ("x", "t"),
        _logits_and_labels,
        _steps("NLLLoss"),
        {"input": "-onehot(t, x.shape[1]) / x.shape[0]"},
    ),
    "BCELoss": Derivation(
        "no weight, `reduction='mean'`",
        ("p", "t"),
        _probs_and_targets,
        _steps("BCELoss"),
        {"input": "(p - t) / (p * (1 - p)) / p.size"},
    ),
    "BCEWithLogitsLoss": Derivation(
        "no weight, no `pos_weight`, `reduction='mean'`",
        ("x", "t"),
        _logits_and_soft_targets,
        _steps("BCEWithLogitsLoss"),
        {"input": "(sigmoid(x) - t) / x.size"},
    ),
    "MSELoss": Derivation(
        "`reduction='mean'`", ("x", "t"), _pair, _steps("MSELoss"), {"input": "2 * (x - t) / x.size"}
    ),
    "L1Loss": Derivation(
        "`reduction='mean'`", ("x", "t"), _pair_away_from(0.0), _steps("L1Loss"), {"input": "np.sign(x - t) / x.size"}
    ),
    "SmoothL1Loss": Derivation(
        "`beta=0.5`, `reduction='mean'`",
        ("x", "t"),
        _pair_away_from(0.5, -0.5),
        _steps("SmoothL1Loss"),
        {"input": "np.where(np.abs(x - t) < beta, (x - t) / beta, np.sign(x - t)) / x.size"},
        call={"beta": 0.5, "reduction": "mean"},
    ),
    "HuberLoss": Derivation(
        "`delta=1.5`, `reduction='mean'`",
        ("x", "t"),
        _pair_away_from(1.5, -1.5),
        _steps("HuberLoss"),
        {"input": "np.where(np.abs(x - t) <= delta, x - t, delta * np.sign(x - t)) / x.size"},
        call={"delta": 1.5, "reduction": "mean"},
    ),
    "KLDivLoss": Derivation(
        "`log_target=False`, `reduction='batchmean'`",
        ("x", "t"),
        _kl,
        _steps("KLDivLoss"),
        {"input": "-t / x.shape[0]"},
        call={"reduction": "batchmean"},
    ),
    "PoissonNLLLoss": Derivation(
        "`log_input=True`, `full=False`, `reduction='mean'`",
        ("x", "t"),
        _poisson,
        _steps("PoissonNLLLoss"),
        {"input": "(np.exp(x) - t) / x.size"},
    ),
    "GaussianNLLLoss": Derivation(
        "`full=False`, a variance of the input's shape above `eps`, `reduction='mean'`",
        ("x", "t", "v"),
        _gaussian,
        _steps("GaussianNLLLoss"),
        {"input": "(x - t) / v / x.size", "var": "0.5 * (1 / v - (x - t) ** 2 / v ** 2) / x.size"},
    ),
    "MarginRankingLoss": Derivation(
        "`margin=0.5`, `reduction='mean'`",
        ("x1", "x2", "y"),
        _ranking,
        _steps("MarginRankingLoss"),
        {
            "input1": "-y * (-y * (x1 - x2) + margin > 0) / x1.size",
            "input2": "y * (-y * (x1 - x2) + margin > 0) / x1.size",
        },
        call={"margin": 0.5, "reduction": "mean"},
    ),
    "HingeEmbeddingLoss": Derivation(
        "`margin=1.0`, `reduction='mean'`",
        ("x", "y"),
        _hinge_embedding,
        _steps("HingeEmbeddingLoss"),
        {"input": "np.where(y == 1, 1.0, -1.0 * (x < margin)) / x.size"},
        call={"margin": 1.0, "reduction": "mean"},
    ),
    "SoftMarginLoss": Derivation(
        "`reduction='mean'`",
        ("x", "y"),
        _soft_margin,
        _steps("SoftMarginLoss"),
        {"input": "-y * sigmoid(-y * x) / x.size"},
    ),
    "MultiLabelSoftMarginLoss": Derivation(
        "no weight, `reduction='mean'`",
        ("x", "y"),
        _multilabel,
        _steps("MultiLabelSoftMarginLoss"),
        {"input": "(sigmoid(x) - y) / x.size"},
    ),
    "PolyLoss": Derivation(
        "`epsilon=2.0`, `reduction='mean'`",
        ("x", "t"),
        _logits_and_labels,
        _steps("PolyLoss"),
        {
            "input": "(softmax(x) - onehot(t, x.shape[1]) - epsilon * softmax(x)[np.arange(len(t)), t][:, None]"
            " * (onehot(t, x.shape[1]) - softmax(x))) / x.shape[0]"
        },
        call={"epsilon": 2.0, "reduction": "mean"},
    ),
    "LogCoshLoss": Derivation(
        "`reduction='mean'`", ("x", "t"), _pair, _steps("LogCoshLoss"), {"input": "np.tanh(x - t) / x.size"}
    ),
    "CharbonnierLoss": Derivation(
        "`eps=0.1`, `reduction='mean'`",
        ("x", "t"),
        _pair,
        _steps("CharbonnierLoss"),
        {"input": "(x - t) / np.sqrt((x - t) ** 2 + eps ** 2) / x.size"},
        call={"eps": 0.1, "reduction": "mean"},
    ),
    "CTCLoss": Derivation(
        "`blank=0`, padded targets, `reduction='mean'` (each loss divided by its target length, then the batch mean)",
        ("x", "l", "T_n", "L_n"),
        _ctc,
        _steps("CTCLoss"),
        {"log_probs": "frame * (y - gamma) / (len(L_n) * np.maximum(L_n, 1))[None, :, None]"},
        call={"blank": 0, "reduction": "mean"},
        let={
            "y": "np.exp(x) / np.exp(x).sum(axis=2, keepdims=True)",
            "lab": "[ctc_extend(l[n, : L_n[n]], blank) for n in range(len(L_n))]",
            "alpha": "[ctc_alpha(y[: T_n[n], n], lab[n]) for n in range(len(L_n))]",
            "beta": "[ctc_beta(y[: T_n[n], n], lab[n]) for n in range(len(L_n))]",
            "p": "[a[-1, -2:].sum() for a in alpha]",
            "gamma": "np.stack([np.pad((alpha[n] * beta[n]) @ onehot(lab[n], x.shape[2]) / (y[: T_n[n], n] * p[n]), "
            "((0, len(x) - T_n[n]), (0, 0))) for n in range(len(L_n))], axis=1)",
            "frame": "np.arange(len(x))[:, None, None] < T_n[None, :, None]",
        },
    ),
    "SparsemaxLoss": Derivation(
        "class-index targets, `reduction='mean'`",
        ("z", "t"),
        _logits_and_labels,
        _steps("SparsemaxLoss"),
        {"input": "(sparsemax(z) - onehot(t, z.shape[1])) / z.shape[0]"},
    ),
    "QuantileLoss": Derivation(
        "`quantiles=(0.1, 0.5, 0.9)`, `reduction='mean'`",
        ("x", "t"),
        _quantile,
        _steps("QuantileLoss"),
        {"input": "np.where(t[:, None] > x, -q, 1 - q) / x.size"},
        call={"quantiles": (0.1, 0.5, 0.9), "reduction": "mean"},
        let={"q": "np.asarray(quantiles)"},
    ),
    "ContrastiveLoss": Derivation(
        "`margin=1.0`, `reduction='mean'`",
        ("x1", "x2", "y"),
        _contrastive,
        _steps("ContrastiveLoss"),
        {"input1": "g / len(y)", "input2": "-g / len(y)"},
        call={"margin": 1.0, "reduction": "mean"},
        let={
            "d": "rownorm(x1 - x2)",
            "g": "np.where(y[:, None] == 1, x1 - x2, -np.maximum(0, margin - d) * (x1 - x2) / d)",
        },
    ),
    "MultiMarginLoss": Derivation(
        "`p=1`, `margin=1.0`, no weight, `reduction='mean'`",
        ("x", "y"),
        _scores_and_labels,
        _steps("MultiMarginLoss"),
        {"input": "(a - onehot(y, C) * a.sum(axis=1, keepdims=True)) / (len(y) * C)"},
        call={"reduction": "mean"},
        let={"C": "x.shape[1]", "a": "(1.0 - x[np.arange(len(y)), y][:, None] + x > 0) * (1 - onehot(y, C))"},
    ),
    "MulticlassHingeLoss": Derivation(
        "class-index targets, `reduction='mean'`",
        ("s", "t"),
        _scores_and_labels,
        _steps("MulticlassHingeLoss"),
        {"input": "(onehot(np.argmax(s + 1 - y, axis=1), s.shape[1]) - y) / len(t)"},
        let={"y": "onehot(t, s.shape[1])"},
    ),
    "CosineEmbeddingLoss": Derivation(
        "`margin=0.2`, `reduction='mean'`",
        ("x1", "x2", "y"),
        _cosine_pairs,
        _steps("CosineEmbeddingLoss"),
        {
            "input1": "g / len(y) * (x2 / np.sqrt(A * B) - c * x1 / A)",
            "input2": "g / len(y) * (x1 / np.sqrt(A * B) - c * x2 / B)",
        },
        call={"margin": 0.2, "reduction": "mean"},
        let={
            "A": "np.sum(x1 ** 2, axis=1, keepdims=True) + 1e-12",
            "B": "np.sum(x2 ** 2, axis=1, keepdims=True) + 1e-12",
            "c": "np.sum(x1 * x2, axis=1, keepdims=True) / np.sqrt(A * B)",
            "g": "np.where(y[:, None] == 1, -1.0, 1.0 * (c >= margin))",
        },
    ),
    "TripletMarginLoss": Derivation(
        "`p=2`, `margin=1.0`, `eps=1e-6`, no swap, `reduction='mean'`",
        ("a", "p", "n"),
        _triplets,
        _steps("TripletMarginLoss"),
        {
            "anchor": "s / len(a) * (u_pos / d_pos - u_neg / d_neg)",
            "positive": "-s / len(a) * u_pos / d_pos",
            "negative": "s / len(a) * u_neg / d_neg",
        },
        call={"margin": 1.0, "eps": 1e-6, "reduction": "mean"},
        let={
            "u_pos": "a - p + eps",
            "u_neg": "a - n + eps",
            "d_pos": "rownorm(u_pos)",
            "d_neg": "rownorm(u_neg)",
            "s": "1.0 * (d_pos - d_neg + margin >= 0)",
        },
    ),
    "FocalLoss": Derivation(
        "`gamma=2.0`, no weight, `reduction='mean'`",
        ("x", "t"),
        _logits_and_labels,
        _steps("FocalLoss"),
        {"input": "F / len(t) * (p - onehot(t, x.shape[1]))"},
        call={"gamma": 2.0, "reduction": "mean"},
        let={
            "p": "softmax(x)",
            "p_t": "p[np.arange(len(t)), t][:, None]",
            "F": "(1 - p_t) ** gamma - gamma * p_t * (1 - p_t) ** (gamma - 1) * np.log(p_t)",
        },
    ),
    "DiceLoss": Derivation(
        "probabilities (`logits=False`), `smooth=1.0`, `reduction='mean'`",
        ("p", "t"),
        _segmentation,
        _steps("DiceLoss"),
        {"input": "-(2 * t - D) / V / (p.shape[0] * p.shape[1])"},
        call={"smooth": 1.0, "reduction": "mean"},
        let={
            "ax": "tuple(range(2, p.ndim))",
            "V": "p.sum(axis=ax, keepdims=True) + t.sum(axis=ax, keepdims=True) + smooth",
            "D": "(2 * (p * t).sum(axis=ax, keepdims=True) + smooth) / V",
        },
    ),
    "TverskyLoss": Derivation(
        "probabilities (`logits=False`), `alpha=0.3`, `beta=0.7`, `smooth=1.0`, `reduction='mean'`",
        ("p", "t"),
        _segmentation,
        _steps("TverskyLoss"),
        {"input": "-(t - T * (t + alpha * (1 - t) - beta * t)) / V / (p.shape[0] * p.shape[1])"},
        call={"alpha": 0.3, "beta": 0.7, "smooth": 1.0, "reduction": "mean"},
        let={
            "ax": "tuple(range(2, p.ndim))",
            "TP": "(p * t).sum(axis=ax, keepdims=True)",
            "FP": "(p * (1 - t)).sum(axis=ax, keepdims=True)",
            "FN": "((1 - p) * t).sum(axis=ax, keepdims=True)",
            "V": "TP + alpha * FP + beta * FN + smooth",
            "T": "(TP + smooth) / V",
        },
    ),
    "SigmoidFocalLoss": Derivation(
        "binary targets, `alpha=0.25`, `gamma=2.0`, `reduction='mean'`",
        ("x", "t"),
        _logits_and_binary,
        _steps("SigmoidFocalLoss"),
        {
            "input": "a_t / x.size * (q ** gamma * (sigmoid(x) - t)"
            " + gamma * q ** (gamma - 1) * (1 - 2 * t) * CE * sigmoid(x) * sigmoid(-x))"
        },
        call={"alpha": 0.25, "gamma": 2.0, "reduction": "mean"},
        let={
            "CE": "np.logaddexp(0, x) - t * x",
            "q": "t * sigmoid(-x) + (1 - t) * sigmoid(x)",
            "a_t": "alpha * t + (1 - alpha) * (1 - t)",
        },
    ),
    "TripletMarginWithDistanceLoss": Derivation(
        "`distance_function='cosine'`, `margin=0.5`, no swap, `reduction='mean'`",
        ("a", "p", "n"),
        _triplets,
        _steps("TripletMarginWithDistanceLoss"),
        {
            "anchor": "s / len(a) * (dcosine(a, n) - dcosine(a, p))",
            "positive": "-s / len(a) * dcosine(p, a)",
            "negative": "s / len(a) * dcosine(n, a)",
        },
        call={"distance_function": "cosine", "margin": 0.5, "reduction": "mean"},
        let={"s": "1.0 * (margin + (1 - cosine(a, p)) - (1 - cosine(a, n)) >= 0)"},
    ),
    "GeneralizedDiceLoss": Derivation(
        "probabilities (`logits=False`), every class present in each sample's target, `smooth=1e-5`, "
        "`reduction='mean'`",
        ("p", "t"),
        _soft_segmentation,
        _steps("GeneralizedDiceLoss"),
        {"input": "w * (A / B - 2 * t) / B / len(p)"},
        call={"smooth": 1e-5, "reduction": "mean"},
        let={
            "ax": "tuple(range(2, p.ndim))",
            "w": "1 / t.sum(axis=ax, keepdims=True) ** 2",
            "A": "2 * (w * (p * t).sum(axis=ax, keepdims=True)).sum(axis=1, keepdims=True) + smooth",
            "B": "(w * (p + t).sum(axis=ax, keepdims=True)).sum(axis=1, keepdims=True) + smooth",
        },
    ),
    "MultiLabelMarginLoss": Derivation(
        "class lists without repeats, `reduction='mean'`",
        ("x", "y"),
        _multilabel_lists,
        _steps("MultiLabelMarginLoss"),
        {"input": "(a.sum(axis=1) - a.sum(axis=2)) / (len(x) * x.shape[1])"},
        let={
            "J": "members(y, x.shape[1])",
            "a": "(1 - x[:, :, None] + x[:, None, :] > 0) * J[:, :, None] * (1 - J[:, None, :])",
        },
    ),
    "NTXentLoss": Derivation(
        "`temperature=0.5`, `reduction='mean'` (over the 2N anchors)",
        ("v1", "v2"),
        _two_views,
        _steps("NTXentLoss"),
        {"view1": "de[: len(v1)]", "view2": "de[len(v1) :]"},
        call={"temperature": 0.5, "reduction": "mean"},
        let={
            "e": "np.concatenate([v1, v2])",
            "M": "len(e)",
            "u": "e / rownorm(e)",
            "S": "np.where(np.eye(M, dtype=bool), -np.inf, u @ u.T / temperature)",
            "G": "(softmax(S) - onehot((np.arange(M) + M // 2) % M, M)) / M",
            "u_bar": "(G + G.T) @ u / temperature",
            "de": "(u_bar - np.sum(u * u_bar, axis=1, keepdims=True) * u) / rownorm(e)",
        },
    ),
    "NTXentGroupLoss": Derivation(
        "`temperature=0.5`, `reduction='mean'` (over the positive pairs)",
        ("E", "lab"),
        _groups,
        _steps("NTXentGroupLoss"),
        {"embeddings": "de"},
        call={"temperature": 0.5, "reduction": "mean"},
        let={
            "M": "len(E)",
            "u": "E / rownorm(E)",
            "S": "u @ u.T / temperature",
            "Pos": "(lab[:, None] == lab[None, :]) & ~np.eye(M, dtype=bool)",
            "Neg": "lab[:, None] != lab[None, :]",
            "X": "np.exp(S)",
            "D": "np.where(Pos, X + np.where(Neg, X, 0).sum(axis=1, keepdims=True), 1)",
            "G": "(np.where(Pos, X / D - 1, 0) + np.where(Neg, X * np.where(Pos, 1 / D, 0).sum(axis=1, keepdims=True),"
            " 0)) / Pos.sum()",
            "u_bar": "(G + G.T) @ u / temperature",
            "de": "(u_bar - np.sum(u * u_bar, axis=1, keepdims=True) * u) / rownorm(E)",
        },
    ),
    "LinearCrossEntropyLoss": Derivation(
        "class-index targets, no class weights, no label smoothing, `reduction='mean'`",
        ("x", "W", "t", "b"),
        _linear_head,
        _steps("LinearCrossEntropyLoss"),
        {"input": "G @ W", "linear_weight": "G.T @ x", "linear_bias": "G.sum(axis=0)"},
        let={"G": "(softmax(x @ W.T + b) - onehot(t, W.shape[0])) / x.shape[0]"},
    ),
    "AdaptiveLogSoftmaxWithLoss": Derivation(
        "one cluster (`cutoffs=[3, 6]`, `div_value=2.0`), a head bias, `reduction='mean'` (PyTorch's loss)",
        ("x", "t", "Wh", "bh", "tail"),
        _adaptive,
        _steps("AdaptiveLogSoftmaxWithLoss"),
        {
            "input": "H @ Wh + O @ W2 @ W1",
            "head_weight": "H.T @ x",
            "head_bias": "H.sum(axis=0)",
            "tail_weight": "np.concatenate([((O @ W2).T @ x).ravel(), (O.T @ u).ravel()])",
        },
        call={"cutoffs": [3, 6], "div_value": 2.0, "reduction": "mean"},
        let={
            "W1": "tail[:8].reshape(2, 4)",
            "W2": "tail[8:].reshape(3, 2)",
            "k": "np.where(t < 3, t, 3)",
            "H": "(softmax(x @ Wh.T + bh) - onehot(k, 4)) / x.shape[0]",
            "r": "(t >= 3)[:, None]",
            "u": "x @ W1.T",
            "O": "r * (softmax(u @ W2.T) - onehot(np.where(t >= 3, t - 3, 0), 3)) / x.shape[0]",
        },
    ),
}
