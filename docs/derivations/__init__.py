r"""The gradient of each loss, derived step by step: the LaTeX shown on its page, and the final expression.

Each :class:`Derivation` holds the steps (Markdown with LaTeX, rendered on the loss's page) and the
final gradient once more as a NumPy expression (``final``). tests/test_derivations.py evaluates
that expression on random inputs (``sample``) and compares it with the loss's ``_backward``: a
derivation whose result disagrees with the code fails the test suite.

In an expression, the inputs are bound to the names in ``symbols`` (in the loss's input order),
the options in ``call`` to their own names, and these helpers are available: ``np``, ``softmax``,
``sigmoid``, ``onehot(t, C)`` and ``sparsemax``. ``reduction`` in ``call`` is the reduction the
derivation ends with; ``dout`` is 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Derivation:
    setting: str  # the options the derivation assumes, in words
    symbols: tuple[str, ...]  # the name of each input in the expressions
    sample: Callable[[np.random.Generator], tuple]  # random inputs for the check
    latex: str  # the steps, Markdown with LaTeX
    final: dict[str, str]  # differentiable input -> its gradient as a NumPy expression
    call: dict[str, Any] = field(default_factory=lambda: {"reduction": "mean"})


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


NAMESPACE = {"np": np, "softmax": softmax, "sigmoid": sigmoid, "onehot": onehot, "sparsemax": sparsemax}


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

_CE = r"""
For sample \(i\) with logits \(x_{i1}, \dots, x_{iC}\) and label \(t_i\), softmax turns the logits into
probabilities and the loss is minus the log-probability of the label:

\[
y_{ik} = \frac{e^{x_{ik}}}{\sum_{j=1}^{C} e^{x_{ij}}}, \qquad
\ell_i = -\log y_{i t_i} = -x_{i t_i} + \log \sum_{j=1}^{C} e^{x_{ij}} .
\]

**Step 1: differentiate the log-sum-exp.** By the chain rule,

\[
\frac{\partial}{\partial x_{ik}} \log \sum_{j} e^{x_{ij}}
= \frac{e^{x_{ik}}}{\sum_{j} e^{x_{ij}}} = y_{ik} .
\]

**Step 2: differentiate the label's logit.** \(\partial x_{i t_i} / \partial x_{ik}\) is 1 when
\(k = t_i\) and 0 otherwise: the one-hot vector \(\mathbb{1}[k = t_i]\).

**Step 3: subtract.** For one sample,

\[
\frac{\partial \ell_i}{\partial x_{ik}} = y_{ik} - \mathbb{1}[k = t_i] .
\]

**Step 4: the batch mean.** With reduction `'mean'` the loss is
\(L = \frac{1}{B} \sum_{i=1}^{B} \ell_i\), and \(\ell_i\) depends on row \(i\) only, so

\[
\boxed{\frac{\partial L}{\partial x_{ik}} = \frac{y_{ik} - \mathbb{1}[k = t_i]}{B}} .
\]

This is the textbook's `SoftmaxWithLoss.backward`, `(y - t) / batch_size` with `t` one-hot: the
softmax's own Jacobian and the log's \(1/y\) cancel, which is why the layers are fused.
"""

_NLL = r"""
The input already holds log-probabilities \(x_{ik} = \log p_{ik}\); the loss of sample \(i\) picks
the label's entry: \(\ell_i = -x_{i t_i}\).

**Step 1.** \(\partial \ell_i / \partial x_{ik} = -\mathbb{1}[k = t_i]\): only the label's entry has a
gradient.

**Step 2: the batch mean** \(L = \frac{1}{B}\sum_i \ell_i\):

\[
\boxed{\frac{\partial L}{\partial x_{ik}} = -\frac{\mathbb{1}[k = t_i]}{B}} .
\]
"""

_BCE = r"""
Each of the \(N\) elements has a probability \(p \in (0, 1)\) and a target \(t \in [0, 1]\):

\[
\ell = -\bigl[t \log p + (1 - t) \log(1 - p)\bigr] .
\]

**Step 1: differentiate each log.** \(\frac{d}{dp} \log p = \frac{1}{p}\) and
\(\frac{d}{dp} \log(1 - p) = -\frac{1}{1 - p}\), so

\[
\frac{\partial \ell}{\partial p} = -\frac{t}{p} + \frac{1 - t}{1 - p} .
\]

**Step 2: a common denominator.**

\[
\frac{\partial \ell}{\partial p} = \frac{-t(1 - p) + (1 - t)p}{p(1 - p)} = \frac{p - t}{p(1 - p)} .
\]

**Step 3: the mean over all \(N\) elements** divides each gradient by \(N\):

\[
\boxed{\frac{\partial L}{\partial p} = \frac{p - t}{N\, p (1 - p)}} .
\]

The denominator \(p(1 - p)\) explodes as \(p\) nears 0 or 1; that is why the logits form below is
preferred (and why the backward clamps \(p(1-p)\) at \(10^{-12}\), as PyTorch does).
"""

_BCE_LOGITS = r"""
With \(p = \sigma(x) = 1 / (1 + e^{-x})\), binary cross-entropy becomes a function of the logit:

\[
\ell = -\bigl[t \log \sigma(x) + (1 - t) \log(1 - \sigma(x))\bigr] .
\]

**Step 1: rewrite with softplus.** \(\log \sigma(x) = -\log(1 + e^{-x})\) and
\(\log(1 - \sigma(x)) = \log \sigma(-x) = -x - \log(1 + e^{-x})\), so

\[
\ell = (1 - t)\,x + \log(1 + e^{-x}) = \log(1 + e^{x}) - t\,x .
\]

(The code evaluates \(\max(x, 0) - t x + \log(1 + e^{-|x|})\), the same number without overflow.)

**Step 2: differentiate.** \(\frac{d}{dx} \log(1 + e^{x}) = \frac{e^x}{1 + e^x} = \sigma(x)\), so

\[
\frac{\partial \ell}{\partial x} = \sigma(x) - t .
\]

**Step 3: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{\sigma(x) - t}{N}} .
\]

The sigmoid's derivative \(\sigma(1 - \sigma)\) cancelled the \(1/(p(1-p))\) of the probability form.
"""

_MSE = r"""
Each of the \(N\) elements contributes \(\ell = (x - t)^2\) and \(L = \frac{1}{N}\sum \ell\).

**Step 1: the power rule and the chain rule.** With \(d = x - t\) and \(\partial d / \partial x = 1\),

\[
\frac{\partial \ell}{\partial x} = 2 (x - t) .
\]

**Step 2: the mean.**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{2 (x - t)}{N}} .
\]

(The textbook's `MeanSquaredError` is \(\frac12 \sum (y - t)^2\), summed and halved: its gradient
is \(y - t\), with neither the 2 nor the \(1/N\).)
"""

_L1 = r"""
Each element contributes \(\ell = |x - t|\).

**Step 1.** \(\frac{d}{dd}|d| = \operatorname{sign}(d)\) for \(d \ne 0\); at \(d = 0\) the absolute
value has a kink, and losslab (like PyTorch) takes the subgradient 0 there.

**Step 2: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{\operatorname{sign}(x - t)}{N}} .
\]
"""

_SMOOTH_L1 = r"""
With \(d = x - t\) and \(\beta > 0\):

\[
\ell = \begin{cases} \dfrac{d^2}{2\beta} & |d| < \beta \\[4pt] |d| - \dfrac{\beta}{2} & \text{otherwise.} \end{cases}
\]

**Step 1: the quadratic piece.** \(\frac{d}{dd} \frac{d^2}{2\beta} = \frac{d}{\beta}\).

**Step 2: the linear piece.** \(\frac{d}{dd}\bigl(|d| - \frac{\beta}{2}\bigr) = \operatorname{sign}(d)\).

The pieces meet at \(|d| = \beta\) with the same value (\(\beta / 2\)) and the same slope (\(\pm 1\)):
the loss is continuously differentiable.

**Step 3: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{1}{N} \begin{cases} d / \beta & |d| < \beta \\ \operatorname{sign}(d) & \text{otherwise.} \end{cases}}
\]
"""

_HUBER = r"""
With \(d = x - t\) and \(\delta > 0\):

\[
\ell = \begin{cases} \tfrac12 d^2 & |d| \le \delta \\[2pt] \delta \bigl(|d| - \tfrac12 \delta\bigr) & \text{otherwise.} \end{cases}
\]

**Step 1: the quadratic piece.** \(\frac{d}{dd} \tfrac12 d^2 = d\).

**Step 2: the linear piece.** \(\frac{d}{dd}\, \delta (|d| - \tfrac12\delta) = \delta \operatorname{sign}(d)\):
the gradient is clipped at \(\pm\delta\).

**Step 3: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{1}{N} \begin{cases} d & |d| \le \delta \\ \delta \operatorname{sign}(d) & \text{otherwise.} \end{cases}}
\]

Huber with \(\delta\) is \(\delta\) times SmoothL1 with \(\beta = \delta\).
"""

_KL = r"""
The input holds log-probabilities \(x = \log q\), the target probabilities \(t\); each element
contributes

\[
\ell = t \,(\log t - x) \qquad (\text{and } 0 \text{ where } t = 0) .
\]

**Step 1.** \(t \log t\) does not depend on \(x\), and \(\partial(-t x)/\partial x = -t\).

**Step 2: `'batchmean'`** divides the summed loss by the batch size \(B\) (the first dimension), which
makes \(L\) the mean KL divergence per sample:

\[
\boxed{\frac{\partial L}{\partial x} = -\frac{t}{B}} .
\]
"""

_SOFT_MARGIN = r"""
Labels \(y \in \{-1, +1\}\), scores \(x\); each element contributes the logistic loss

\[
\ell = \log\bigl(1 + e^{-y x}\bigr) .
\]

**Step 1: the chain rule** with \(u = -y x\), \(\partial u / \partial x = -y\):

\[
\frac{\partial \ell}{\partial x} = \frac{e^{u}}{1 + e^{u}} \cdot (-y) = -y\, \sigma(-y x) .
\]

**Step 2: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = -\frac{y\, \sigma(-y x)}{N}} .
\]
"""

_LOG_COSH = r"""
With \(d = x - t\), each element contributes \(\ell = \log \cosh d\).

**Step 1: the chain rule.** \(\frac{d}{dd} \log \cosh d = \frac{\sinh d}{\cosh d} = \tanh d\).

**Step 2: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{\tanh(x - t)}{N}} .
\]

\(\tanh\) is about \(d\) near 0 and \(\pm 1\) far away: log-cosh behaves like \(\tfrac12 d^2\) for small
errors and like \(|d| - \log 2\) for large ones, a smooth Huber.
"""

_CHARBONNIER = r"""
With \(d = x - t\) and a small \(\varepsilon > 0\), each element contributes

\[
\ell = \sqrt{d^2 + \varepsilon^2} .
\]

**Step 1: the chain rule** on \(\sqrt{u}\) with \(u = d^2 + \varepsilon^2\):

\[
\frac{\partial \ell}{\partial x} = \frac{1}{2\sqrt{u}} \cdot 2d = \frac{d}{\sqrt{d^2 + \varepsilon^2}} .
\]

**Step 2: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{x - t}{N \sqrt{(x - t)^2 + \varepsilon^2}}} .
\]

Unlike L1, the gradient passes smoothly through 0.
"""

_POISSON = r"""
With `log_input=True` the input is the log-rate \(x = \log \lambda\). The negative log-likelihood of a
count \(t\) under \(\operatorname{Poisson}(\lambda)\), dropping \(\log t!\) (`full=False`), is

\[
\ell = \lambda - t \log \lambda = e^{x} - t\, x .
\]

**Step 1.** \(\frac{d}{dx} e^x = e^x\) and \(\frac{d}{dx}(t x) = t\):

\[
\frac{\partial \ell}{\partial x} = e^{x} - t .
\]

**Step 2: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{e^{x} - t}{N}} .
\]
"""

_GAUSSIAN = r"""
Prediction \(x\), target \(t\) and variance \(v > 0\) (above `eps`); without the constant
(`full=False`) each element contributes

\[
\ell = \frac12 \Bigl( \log v + \frac{(x - t)^2}{v} \Bigr) .
\]

**Step 1: with respect to the prediction.** \(\log v\) does not depend on \(x\):

\[
\frac{\partial \ell}{\partial x} = \frac{x - t}{v} .
\]

**Step 2: with respect to the variance.** \(\frac{d}{dv}\log v = \frac1v\) and
\(\frac{d}{dv}\frac{(x - t)^2}{v} = -\frac{(x - t)^2}{v^2}\):

\[
\frac{\partial \ell}{\partial v} = \frac12 \Bigl( \frac1v - \frac{(x - t)^2}{v^2} \Bigr) .
\]

It vanishes at \(v = (x - t)^2\): the best variance is the squared error.

**Step 3: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{x - t}{N v}, \qquad
\frac{\partial L}{\partial v} = \frac{1}{2N} \Bigl( \frac1v - \frac{(x - t)^2}{v^2} \Bigr)} .
\]
"""

_MARGIN_RANKING = r"""
Two scores \(x_1, x_2\) and a label \(y \in \{-1, +1\}\) saying which should rank higher:

\[
\ell = \max\bigl(0,\; -y (x_1 - x_2) + m\bigr) .
\]

**Step 1: the hinge.** Where \(h = -y(x_1 - x_2) + m > 0\) the loss is \(h\); elsewhere it is 0 and so
is its gradient. Write \(a = \mathbb{1}[h > 0]\).

**Step 2: the chain rule.** \(\partial h / \partial x_1 = -y\) and \(\partial h / \partial x_2 = +y\).

**Step 3: the mean over the \(N\) pairs:**

\[
\boxed{\frac{\partial L}{\partial x_1} = -\frac{a\, y}{N}, \qquad \frac{\partial L}{\partial x_2} = \frac{a\, y}{N}} .
\]
"""

_HINGE_EMBEDDING = r"""
A distance-like input \(x\) and a label \(y \in \{-1, +1\}\) (similar or dissimilar pair):

\[
\ell = \begin{cases} x & y = 1 \\ \max(0, m - x) & y = -1 . \end{cases}
\]

**Step 1: similar pairs.** \(\partial \ell / \partial x = 1\): the input is pushed down.

**Step 2: dissimilar pairs.** Where \(m - x > 0\), \(\partial \ell / \partial x = -1\); elsewhere 0.

**Step 3: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{1}{N} \begin{cases} 1 & y = 1 \\ -\mathbb{1}[x < m] & y = -1 . \end{cases}}
\]
"""

_MULTILABEL_SOFT_MARGIN = r"""
Each sample has \(C\) independent binary labels \(y_{ic} \in \{0, 1\}\); its loss is the mean over
the classes of the logistic loss:

\[
\ell_i = -\frac{1}{C} \sum_{c=1}^{C} \Bigl[ y_{ic} \log \sigma(x_{ic}) + (1 - y_{ic}) \log \sigma(-x_{ic}) \Bigr] .
\]

**Step 1: one term.** As for binary cross-entropy with logits,
\(\frac{\partial}{\partial x}\bigl[-y \log\sigma(x) - (1-y)\log\sigma(-x)\bigr] = \sigma(x) - y\).

**Step 2: the class mean** divides by \(C\), **the batch mean** by \(B\):

\[
\boxed{\frac{\partial L}{\partial x_{ic}} = \frac{\sigma(x_{ic}) - y_{ic}}{B\, C}} .
\]
"""

_POLY = r"""
Poly-1 adds \(\varepsilon (1 - p_t)\) to cross-entropy, with \(p = \operatorname{softmax}(x)\) and
\(p_t = p_{i t_i}\) the probability of the label:

\[
\ell_i = -\log p_{t} + \varepsilon\,(1 - p_{t}) .
\]

**Step 1: the cross-entropy term** gives \(p_{ik} - \mathbb{1}[k = t_i]\) (see CrossEntropyLoss).

**Step 2: the softmax Jacobian.** \(\frac{\partial p_t}{\partial x_{ik}} = p_t\bigl(\mathbb{1}[k = t_i] - p_{ik}\bigr)\),
so \(\frac{\partial}{\partial x_{ik}}\, \varepsilon(1 - p_t) = -\varepsilon\, p_t \bigl(\mathbb{1}[k = t_i] - p_{ik}\bigr)\).

**Step 3: add, then the batch mean:**

\[
\boxed{\frac{\partial L}{\partial x_{ik}} = \frac{1}{B}\Bigl[ p_{ik} - \mathbb{1}[k = t_i]
- \varepsilon\, p_{t}\bigl(\mathbb{1}[k = t_i] - p_{ik}\bigr) \Bigr]} .
\]
"""

_SPARSEMAX = r"""
Sparsemax is the Euclidean projection of the scores onto the probability simplex,
\(\operatorname{sparsemax}(z) = \arg\min_{p \in \Delta} \lVert p - z \rVert^2\); unlike softmax it can
give exact zeros. Its loss (a Fenchel-Young loss) for label \(k\), with \(y\) the one-hot of \(k\), is

\[
\ell(z) = -z_k + \tfrac12 \sum_{j \in S(z)} \bigl(z_j^2 - \tau(z)^2\bigr) + \tfrac12
= \max_{p \in \Delta} \Bigl( p^\top z - \tfrac12 \lVert p \rVert^2 \Bigr) - z^\top y + \tfrac12 \lVert y \rVert^2 ,
\]

where \(S(z)\) is the support and \(\tau(z)\) the threshold of the projection.

**Step 1: the maximum's gradient (Danskin's theorem).** The gradient of
\(\max_{p} \bigl(p^\top z - \tfrac12\lVert p\rVert^2\bigr)\) with respect to \(z\) is the maximiser, and
completing the square shows that maximiser is the projection of \(z\): \(\operatorname{sparsemax}(z)\).

**Step 2: the linear term** \(-z^\top y\) has gradient \(-y\); \(\tfrac12\lVert y\rVert^2\) is constant.

**Step 3: the batch mean:**

\[
\boxed{\frac{\partial L}{\partial z_i} = \frac{\operatorname{sparsemax}(z_i) - y_i}{B}} ,
\]

the same "prediction minus target" shape as softmax cross-entropy.
"""


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


DERIVATIONS: dict[str, Derivation] = {
    "CrossEntropyLoss": Derivation(
        "class-index targets, no class weights, no label smoothing, `reduction='mean'`",
        ("x", "t"),
        _logits_and_labels,
        _CE,
        {"input": "(softmax(x) - onehot(t, x.shape[1])) / x.shape[0]"},
    ),
    "NLLLoss": Derivation(
        "no class weights, `reduction='mean'`",
        ("x", "t"),
        _logits_and_labels,
        _NLL,
        {"input": "-onehot(t, x.shape[1]) / x.shape[0]"},
    ),
    "BCELoss": Derivation(
        "no weight, `reduction='mean'`",
        ("p", "t"),
        _probs_and_targets,
        _BCE,
        {"input": "(p - t) / (p * (1 - p)) / p.size"},
    ),
    "BCEWithLogitsLoss": Derivation(
        "no weight, no `pos_weight`, `reduction='mean'`",
        ("x", "t"),
        _logits_and_soft_targets,
        _BCE_LOGITS,
        {"input": "(sigmoid(x) - t) / x.size"},
    ),
    "MSELoss": Derivation("`reduction='mean'`", ("x", "t"), _pair, _MSE, {"input": "2 * (x - t) / x.size"}),
    "L1Loss": Derivation(
        "`reduction='mean'`", ("x", "t"), _pair_away_from(0.0), _L1, {"input": "np.sign(x - t) / x.size"}
    ),
    "SmoothL1Loss": Derivation(
        "`beta=0.5`, `reduction='mean'`",
        ("x", "t"),
        _pair_away_from(0.5, -0.5),
        _SMOOTH_L1,
        {"input": "np.where(np.abs(x - t) < beta, (x - t) / beta, np.sign(x - t)) / x.size"},
        call={"beta": 0.5, "reduction": "mean"},
    ),
    "HuberLoss": Derivation(
        "`delta=1.5`, `reduction='mean'`",
        ("x", "t"),
        _pair_away_from(1.5, -1.5),
        _HUBER,
        {"input": "np.where(np.abs(x - t) <= delta, x - t, delta * np.sign(x - t)) / x.size"},
        call={"delta": 1.5, "reduction": "mean"},
    ),
    "KLDivLoss": Derivation(
        "`log_target=False`, `reduction='batchmean'`",
        ("x", "t"),
        _kl,
        _KL,
        {"input": "-t / x.shape[0]"},
        call={"reduction": "batchmean"},
    ),
    "PoissonNLLLoss": Derivation(
        "`log_input=True`, `full=False`, `reduction='mean'`",
        ("x", "t"),
        _poisson,
        _POISSON,
        {"input": "(np.exp(x) - t) / x.size"},
    ),
    "GaussianNLLLoss": Derivation(
        "`full=False`, a variance of the input's shape above `eps`, `reduction='mean'`",
        ("x", "t", "v"),
        _gaussian,
        _GAUSSIAN,
        {"input": "(x - t) / v / x.size", "var": "0.5 * (1 / v - (x - t) ** 2 / v ** 2) / x.size"},
    ),
    "MarginRankingLoss": Derivation(
        "`margin=0.5`, `reduction='mean'`",
        ("x1", "x2", "y"),
        _ranking,
        _MARGIN_RANKING,
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
        _HINGE_EMBEDDING,
        {"input": "np.where(y == 1, 1.0, -1.0 * (x < margin)) / x.size"},
        call={"margin": 1.0, "reduction": "mean"},
    ),
    "SoftMarginLoss": Derivation(
        "`reduction='mean'`", ("x", "y"), _soft_margin, _SOFT_MARGIN, {"input": "-y * sigmoid(-y * x) / x.size"}
    ),
    "MultiLabelSoftMarginLoss": Derivation(
        "no weight, `reduction='mean'`",
        ("x", "y"),
        _multilabel,
        _MULTILABEL_SOFT_MARGIN,
        {"input": "(sigmoid(x) - y) / x.size"},
    ),
    "PolyLoss": Derivation(
        "`epsilon=2.0`, `reduction='mean'`",
        ("x", "t"),
        _logits_and_labels,
        _POLY,
        {
            "input": "(softmax(x) - onehot(t, x.shape[1]) - epsilon * softmax(x)[np.arange(len(t)), t][:, None]"
            " * (onehot(t, x.shape[1]) - softmax(x))) / x.shape[0]"
        },
        call={"epsilon": 2.0, "reduction": "mean"},
    ),
    "LogCoshLoss": Derivation("`reduction='mean'`", ("x", "t"), _pair, _LOG_COSH, {"input": "np.tanh(x - t) / x.size"}),
    "CharbonnierLoss": Derivation(
        "`eps=0.1`, `reduction='mean'`",
        ("x", "t"),
        _pair,
        _CHARBONNIER,
        {"input": "(x - t) / np.sqrt((x - t) ** 2 + eps ** 2) / x.size"},
        call={"eps": 0.1, "reduction": "mean"},
    ),
    "SparsemaxLoss": Derivation(
        "class-index targets, `reduction='mean'`",
        ("z", "t"),
        _logits_and_labels,
        _SPARSEMAX,
        {"input": "(sparsemax(z) - onehot(t, z.shape[1])) / z.shape[0]"},
    ),
}
