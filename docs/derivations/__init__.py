r"""The gradient of each loss, derived step by step: the LaTeX shown on its page, and the final expression.

Each :class:`Derivation` holds the steps (Markdown with LaTeX, rendered on the loss's page) and the
final gradient once more as a NumPy expression (``final``). tests/test_derivations.py evaluates
that expression on random inputs (``sample``) and compares it with the loss's ``_backward``: a
derivation whose result disagrees with the code fails the test suite.

In an expression, the inputs are bound to the names in ``symbols`` (in the loss's input order),
the options in ``call`` to their own names, the intermediate expressions of ``let`` (evaluated in
order) to theirs, and these helpers are available: ``np``, ``softmax``, ``sigmoid``,
``onehot(t, C)``, ``rownorm(v)`` (the Euclidean norm of each row, kept as a column), ``cosine(u, w)``
(each pair of rows' cosine, as a column), ``dcosine(u, w)`` (its gradient in ``u``), ``members(t, C)``
(MultiLabelMarginLoss's padded class lists as a 0/1 matrix) and ``sparsemax``. ``reduction`` in ``call`` is the reduction the
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


_QUANTILE = r"""
One prediction \(x_{nj}\) per quantile level \(q_j \in (0, 1)\), one target \(t_n\) per sample; with
the residual \(u = t_n - x_{nj}\), the pinball loss is

\[
\ell_{nj} = \max\bigl(q_j\, u,\; (q_j - 1)\, u\bigr) =
\begin{cases} q_j\, u & u > 0 \ (\text{under-prediction}) \\ (q_j - 1)\, u & u < 0 \ (\text{over-prediction}) \end{cases}
\]

**Step 1: the chain rule** with \(\partial u / \partial x_{nj} = -1\):

\[
\frac{\partial \ell_{nj}}{\partial x_{nj}} = \begin{cases} -q_j & u > 0 \\ 1 - q_j & u < 0 \end{cases}
\]

(at \(u = 0\) the code takes the mean of the two one-sided slopes, \(\tfrac12 - q_j\)).

**Step 2: the mean over the \(N Q\) entries:**

\[
\boxed{\frac{\partial L}{\partial x_{nj}} = \frac{1}{NQ} \begin{cases} -q_j & t_n > x_{nj} \\ 1 - q_j & t_n < x_{nj} \end{cases}}
\]

At the minimum the slopes balance: a fraction \(q_j\) of the targets lies below the prediction, which
is why \(x_{\cdot j}\) estimates the \(q_j\)-quantile.
"""

_CONTRASTIVE = r"""
Two embeddings \(x_1, x_2\) at distance \(d = \lVert x_1 - x_2 \rVert\), \(y = 1\) for a similar pair,
\(y = 0\) for a dissimilar one, margin \(m\):

\[
\ell = y\, \tfrac12 d^2 + (1 - y)\, \tfrac12 \max(0, m - d)^2 .
\]

**Step 1: the distance's gradient.** \(\frac{\partial d}{\partial x_1} = \frac{x_1 - x_2}{d}\) and
\(\frac{\partial d^2}{\partial x_1} = 2 (x_1 - x_2)\).

**Step 2: similar pairs.** \(\frac{\partial}{\partial x_1} \tfrac12 d^2 = x_1 - x_2\): pulled together.

**Step 3: dissimilar pairs.** Where \(d < m\),
\(\frac{\partial}{\partial x_1} \tfrac12 (m - d)^2 = -(m - d) \frac{x_1 - x_2}{d}\): pushed apart until
they are \(m\) away; beyond the margin the gradient is 0.

**Step 4: symmetry and the mean over the \(N\) pairs.** \(\ell\) depends on \(x_1 - x_2\) only, so
\(\partial \ell / \partial x_2 = -\partial \ell / \partial x_1\):

\[
\boxed{\frac{\partial L}{\partial x_1} = -\frac{\partial L}{\partial x_2} = \frac{1}{N}
\begin{cases} x_1 - x_2 & y = 1 \\ -\max(0, m - d)\, \dfrac{x_1 - x_2}{d} & y = 0 \end{cases}}
\]
"""

_MULTI_MARGIN = r"""
For a sample with scores \(x_1, \dots, x_C\) and label \(y\), each other class \(i\) has the hinge
\(z_i = m - x_y + x_i\) (positive when \(x_i\) comes within \(m\) of the label's score); with
\(p = 1\) and no weight

\[
\ell = \frac{1}{C} \sum_{i \ne y} \max(0, z_i) .
\]

**Step 1: an active hinge** (\(z_i > 0\)) has slope \(+1\) in \(x_i\) and \(-1\) in \(x_y\); an inactive
one has none. Write \(a_i = \mathbb{1}[z_i > 0]\) for \(i \ne y\), \(a_y = 0\).

**Step 2: collect.**

\[
\frac{\partial \ell}{\partial x_i} = \frac{a_i}{C} \ (i \ne y), \qquad
\frac{\partial \ell}{\partial x_y} = -\frac{1}{C} \sum_{i \ne y} a_i .
\]

**Step 3: the batch mean:**

\[
\boxed{\frac{\partial L}{\partial x_{ni}} = \frac{1}{N C} \Bigl( a_{ni} - \mathbb{1}[i = y_n] \sum_{j} a_{nj} \Bigr)}
\]
"""

_CRAMMER_SINGER = r"""
With scores \(s\), label \(t\) and \(y\) its one-hot vector:

\[
\ell = \max_j \bigl(s_j + 1 - y_j\bigr) - s_t .
\]

**Step 1: the gradient of a maximum** is the one-hot vector of the entry that attains it,
\(j^* = \arg\max_j (s_j + 1 - y_j)\) (shared equally where entries tie): \(e_{j^*}\).

**Step 2: the label's score** \(s_t = y^\top s\) has gradient \(y\).

**Step 3: subtract, then the batch mean:**

\[
\boxed{\frac{\partial L}{\partial s_n} = \frac{e_{j^*_n} - y_n}{N}}
\]

When the label leads every other score by at least 1, \(j^* = t\) and the gradient is 0.
"""

_COSINE_EMBEDDING = r"""
With \(A = \lVert x_1 \rVert^2 + \epsilon\), \(B = \lVert x_2 \rVert^2 + \epsilon\) and the cosine
\(c = \frac{x_1 \cdot x_2}{\sqrt{A B}}\), the loss of a pair with label \(y \in \{1, -1\}\) is

\[
\ell = \begin{cases} 1 - c & y = 1 \\ \max(0, c - m) & y = -1 . \end{cases}
\]

**Step 1: the cosine's gradient** by the quotient rule, with \(\partial A / \partial x_1 = 2 x_1\):

\[
\frac{\partial c}{\partial x_1} = \frac{x_2}{\sqrt{AB}} - \frac{x_1 \cdot x_2}{\sqrt{AB}} \cdot \frac{1}{2A} \cdot 2 x_1
= \frac{x_2}{\sqrt{AB}} - c\, \frac{x_1}{A},
\qquad \frac{\partial c}{\partial x_2} = \frac{x_1}{\sqrt{AB}} - c\, \frac{x_2}{B} .
\]

**Step 2: the outer derivative** \(g = \partial \ell / \partial c\): \(-1\) for \(y = 1\);
\(\mathbb{1}[c \ge m]\) for \(y = -1\).

**Step 3: the chain rule and the mean over the \(N\) pairs:**

\[
\boxed{\frac{\partial L}{\partial x_1} = \frac{g}{N} \Bigl( \frac{x_2}{\sqrt{AB}} - c\, \frac{x_1}{A} \Bigr), \qquad
\frac{\partial L}{\partial x_2} = \frac{g}{N} \Bigl( \frac{x_1}{\sqrt{AB}} - c\, \frac{x_2}{B} \Bigr)}
\]

The gradient is orthogonal to \(x_1\) (resp. \(x_2\)) up to \(\epsilon\): a cosine does not change when
a vector is scaled.
"""

_TRIPLET = r"""
An anchor \(a\), a positive \(p\) and a negative \(n\); with the Euclidean distance (\(p = 2\)) as
PyTorch computes it, \(d(u, w) = \lVert u - w + \epsilon \rVert\), and no swap:

\[
\ell = \max\bigl(d(a, p) - d(a, n) + m,\; 0\bigr) .
\]

**Step 1: a norm's gradient.** \(\nabla_u \lVert u \rVert = u / \lVert u \rVert\). Write
\(u_+ = a - p + \epsilon\), \(u_- = a - n + \epsilon\), \(d_\pm = \lVert u_\pm \rVert\).

**Step 2: the hinge.** Where \(h = d_+ - d_- + m \ge 0\) (the gradient passes at the kink, as
PyTorch's `clamp_min` does), \(\ell = h\); elsewhere \(\ell = 0\). Write \(s = \mathbb{1}[h \ge 0]\).

**Step 3: the chain rule,** with \(\partial u_+ / \partial a = I\), \(\partial u_+ / \partial p = -I\),
\(\partial u_- / \partial a = I\), \(\partial u_- / \partial n = -I\), then the mean over the \(N\) triplets:

\[
\boxed{\frac{\partial L}{\partial a} = \frac{s}{N}\Bigl(\frac{u_+}{d_+} - \frac{u_-}{d_-}\Bigr), \quad
\frac{\partial L}{\partial p} = -\frac{s}{N} \frac{u_+}{d_+}, \quad
\frac{\partial L}{\partial n} = \frac{s}{N} \frac{u_-}{d_-}}
\]

The anchor moves towards the positive and away from the negative, each along a unit vector.
"""

_FOCAL = r"""
With \(p = \operatorname{softmax}(x)\) and \(p_t\) the probability of the label \(t\), the focal loss
scales cross-entropy down for well-classified samples (\(\gamma \ge 0\)):

\[
\ell = -(1 - p_t)^\gamma \log p_t .
\]

**Step 1: as a function of \(p_t\)** (product rule):

\[
\frac{d\ell}{dp_t} = \gamma (1 - p_t)^{\gamma - 1} \log p_t - \frac{(1 - p_t)^\gamma}{p_t} .
\]

**Step 2: the softmax Jacobian** \(\frac{\partial p_t}{\partial x_c} = p_t\bigl(\mathbb{1}[c = t] - p_c\bigr)\).

**Step 3: multiply.**

\[
\frac{\partial \ell}{\partial x_c}
= \bigl[\gamma\, p_t (1 - p_t)^{\gamma - 1} \log p_t - (1 - p_t)^\gamma\bigr]\bigl(\mathbb{1}[c = t] - p_c\bigr)
= F \,\bigl(p_c - \mathbb{1}[c = t]\bigr),
\]

\[
F = (1 - p_t)^\gamma - \gamma\, p_t (1 - p_t)^{\gamma - 1} \log p_t .
\]

With \(\gamma = 0\), \(F = 1\): cross-entropy's gradient. **Step 4: the batch mean:**

\[
\boxed{\frac{\partial L}{\partial x_{nc}} = \frac{F_n}{N} \bigl(p_{nc} - \mathbb{1}[c = t_n]\bigr)}
\]
"""


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


_DICE = r"""
For sample \(n\) and class \(c\), sum over the spatial positions \(i\) the probabilities \(p_i\) and
the targets \(t_i\); with \(s\) = `smooth`,

\[
D = \frac{U}{V}, \quad U = 2 \sum_i p_i t_i + s, \quad V = \sum_i p_i + \sum_i t_i + s, \qquad
\ell_n = 1 - \frac{1}{C} \sum_c D_{nc} .
\]

**Step 1: the parts.** \(\partial U / \partial p_i = 2 t_i\) and \(\partial V / \partial p_i = 1\).

**Step 2: the quotient rule.**

\[
\frac{\partial D}{\partial p_i} = \frac{2 t_i V - U}{V^2} = \frac{2 t_i - D}{V} .
\]

**Step 3: the class mean, the minus sign, then the batch mean:**

\[
\boxed{\frac{\partial L}{\partial p_{nci}} = -\frac{1}{N C} \cdot \frac{2 t_i - D_{nc}}{V_{nc}}}
\]

A position of the class (\(t_i = 1\)) is pushed up, since \(2 - D > 0\); a background position
(\(t_i = 0\)) is pushed down in proportion to the current score \(D\).
"""

_TVERSKY = r"""
Per sample and class, with \(TP = \sum_i p_i t_i\), \(FP = \sum_i p_i (1 - t_i)\),
\(FN = \sum_i (1 - p_i) t_i\) and \(s\) = `smooth`:

\[
T = \frac{TP + s}{V}, \quad V = TP + \alpha\, FP + \beta\, FN + s, \qquad
\ell_n = 1 - \frac{1}{C} \sum_c T_{nc} .
\]

**Step 1: the parts.** \(\frac{\partial TP}{\partial p_i} = t_i\), \(\frac{\partial FP}{\partial p_i} = 1 - t_i\),
\(\frac{\partial FN}{\partial p_i} = -t_i\), so \(\frac{\partial V}{\partial p_i} = t_i + \alpha (1 - t_i) - \beta t_i\).

**Step 2: the quotient rule.**

\[
\frac{\partial T}{\partial p_i} = \frac{t_i V - (TP + s)\,\partial V / \partial p_i}{V^2}
= \frac{t_i - T \bigl(t_i + \alpha (1 - t_i) - \beta t_i\bigr)}{V} .
\]

**Step 3: the class mean, the minus sign, then the batch mean:**

\[
\boxed{\frac{\partial L}{\partial p_{nci}} = -\frac{1}{N C} \cdot
\frac{t_i - T_{nc} \bigl(t_i + \alpha (1 - t_i) - \beta t_i\bigr)}{V_{nc}}}
\]

With \(\alpha = \beta = \tfrac12\) this is the Dice gradient with `smooth` doubled.
"""

_SIGMOID_FOCAL = r"""
With \(\sigma = \sigma(x)\), a binary target \(t\), the cross-entropy
\(\mathrm{CE} = \log(1 + e^{x}) - t x\) (as for BCEWithLogitsLoss), the probability of the wrong answer
\(q = 1 - p_t = t\, \sigma(-x) + (1 - t)\, \sigma(x)\) and \(\alpha_t = \alpha t + (1 - \alpha)(1 - t)\):

\[
\ell = \alpha_t\, \mathrm{CE}\, q^\gamma .
\]

**Step 1: the cross-entropy.** \(\partial \mathrm{CE} / \partial x = \sigma - t\).

**Step 2: the modulating factor.** With \(\sigma'(x) = \sigma(x)\sigma(-x)\),
\(\frac{\partial q}{\partial x} = -t\, \sigma(x)\sigma(-x) + (1 - t)\, \sigma(x)\sigma(-x) = (1 - 2t)\, \sigma(x)\sigma(-x)\),
so \(\frac{\partial q^\gamma}{\partial x} = \gamma\, q^{\gamma - 1} (1 - 2t)\, \sigma(x)\sigma(-x)\).

**Step 3: the product rule** (\(\alpha_t\) is a constant):

\[
\frac{\partial \ell}{\partial x} = \alpha_t \Bigl[ q^\gamma (\sigma - t) + \gamma\, q^{\gamma - 1} (1 - 2t)\, \mathrm{CE}\, \sigma(x)\sigma(-x) \Bigr] .
\]

**Step 4: the mean over the \(N\) elements:**

\[
\boxed{\frac{\partial L}{\partial x} = \frac{\alpha_t}{N} \Bigl[ q^\gamma (\sigma(x) - t)
+ \gamma\, q^{\gamma - 1} (1 - 2t)\, \mathrm{CE}\; \sigma(x)\, \sigma(-x) \Bigr]}
\]

With \(\gamma = 0\) and \(\alpha_t = 1\) it is BCEWithLogitsLoss's \(\sigma(x) - t\).
"""

_TRIPLET_COSINE = r"""
With the cosine distance \(d(u, w) = 1 - \cos(u, w)\), \(\cos(u, w) = \frac{u \cdot w}{\lVert u \rVert \lVert w \rVert}\),
and no swap:

\[
\ell = \max\bigl(m + d(a, p) - d(a, n),\; 0\bigr) .
\]

**Step 1: the cosine's gradient** by the quotient rule, with
\(\partial \lVert u \rVert / \partial u = u / \lVert u \rVert\):

\[
\nabla_u \cos(u, w) = \frac{w}{\lVert u \rVert \lVert w \rVert} - \cos(u, w)\, \frac{u}{\lVert u \rVert^2} .
\]

**Step 2: the hinge.** Where \(h = m + d(a, p) - d(a, n) \ge 0\), \(\ell = h\); write
\(s = \mathbb{1}[h \ge 0]\).

**Step 3: the chain rule** (\(d = 1 - \cos\), so each distance passes \(-\nabla \cos\)), then the mean
over the \(N\) triplets:

\[
\boxed{\begin{aligned}
\frac{\partial L}{\partial a} &= \frac{s}{N} \bigl( \nabla_a \cos(a, n) - \nabla_a \cos(a, p) \bigr), \\
\frac{\partial L}{\partial p} &= -\frac{s}{N}\, \nabla_p \cos(p, a), \qquad
\frac{\partial L}{\partial n} = \frac{s}{N}\, \nabla_n \cos(n, a)
\end{aligned}}
\]
"""


def _segmentation(rng: np.random.Generator) -> tuple:
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), 3, 4)
    return rng.uniform(0.05, 0.95, shape), rng.integers(0, 2, shape).astype(float)


def _logits_and_binary(rng: np.random.Generator) -> tuple:
    x, _ = _pair(rng)
    return x, rng.integers(0, 2, x.shape).astype(float)


_GENERALIZED_DICE = r"""
One ratio per sample over all classes \(c\) and positions \(i\), each class weighted by its inverse
squared target volume \(w_c = 1 / (\sum_i t_{ci})^2\) (a constant: it depends on the target only);
\(s\) = `smooth`:

\[
\ell_n = 1 - \frac{A}{B}, \quad A = 2 \sum_c w_c \sum_i p_{ci} t_{ci} + s, \quad
B = \sum_c w_c \sum_i (p_{ci} + t_{ci}) + s .
\]

**Step 1: the parts.** \(\partial A / \partial p_{ci} = 2 w_c t_{ci}\) and \(\partial B / \partial p_{ci} = w_c\).

**Step 2: the quotient rule.**

\[
\frac{\partial}{\partial p_{ci}} \frac{A}{B} = \frac{2 w_c t_{ci} B - A w_c}{B^2}
= \frac{w_c}{B} \Bigl( 2 t_{ci} - \frac{A}{B} \Bigr) .
\]

**Step 3: the minus sign and the batch mean:**

\[
\boxed{\frac{\partial L}{\partial p_{nci}} = \frac{w_{nc}}{N B_n} \Bigl( \frac{A_n}{B_n} - 2 t_{nci} \Bigr)}
\]

A rare class (small volume) has a large \(w_c\): its positions move as much as a common class's.
"""

_MULTILABEL_MARGIN = r"""
Each sample lists its classes \(J\) (the target row, padded by \(-1\)); every pair of a listed class
\(j \in J\) and an unlisted one \(i \notin J\) has the hinge \(z_{ji} = 1 - x_j + x_i\):

\[
\ell = \frac{1}{C} \sum_{j \in J} \sum_{i \notin J} \max(0, z_{ji}) .
\]

**Step 1: an active hinge** (\(z_{ji} > 0\)) has slope \(+1\) in \(x_i\) and \(-1\) in \(x_j\). Write
\(a_{ji} = \mathbb{1}[z_{ji} > 0]\, \mathbb{1}[j \in J]\, \mathbb{1}[i \notin J]\).

**Step 2: count.** An unlisted class collects \(+1\) from every listed class it comes within 1 of; a
listed class collects \(-1\) from every unlisted class that comes within 1 of it:

\[
\frac{\partial \ell}{\partial x_k} = \frac{1}{C} \Bigl( \sum_{j} a_{jk} - \sum_{i} a_{ki} \Bigr) .
\]

**Step 3: the batch mean:**

\[
\boxed{\frac{\partial L}{\partial x_{nk}} = \frac{1}{N C} \Bigl( \sum_{j} a_{njk} - \sum_{i} a_{nki} \Bigr)}
\]
"""


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


_NT_XENT = r"""
Stack the two views into \(M = 2N\) embeddings \(e_1, \dots, e_M\), normalise them,
\(u_i = e_i / \lVert e_i \rVert\), and compare every pair: \(S_{ik} = u_i \cdot u_k / \tau\). The positive of
anchor \(i\) is the other view of the same sample, \(p(i) = i \pm N\); every other \(k \ne i\) is a
negative. Each anchor's loss is a cross-entropy over its row of \(S\) without the diagonal:

\[
\ell_i = -S_{i, p(i)} + \log \sum_{k \ne i} e^{S_{ik}}, \qquad L = \frac{1}{M} \sum_{i=1}^{M} \ell_i .
\]

**Step 1: the similarities** (as for CrossEntropyLoss): with \(P_{ik}\) the softmax of row \(i\) over
\(k \ne i\) (\(P_{ii} = 0\)),

\[
G_{ik} = \frac{\partial L}{\partial S_{ik}} = \frac{1}{M} \bigl( P_{ik} - \mathbb{1}[k = p(i)] \bigr) .
\]

**Step 2: the normalised embeddings.** \(u_j\) enters \(S\) twice, as a row (\(S_{jk}\)) and as a
column (\(S_{ij}\)), each time with slope \(u_{\text{other}} / \tau\):

\[
\bar u_j = \frac{\partial L}{\partial u_j} = \frac{1}{\tau} \sum_k (G_{jk} + G_{kj})\, u_k ,
\quad\text{i.e.}\quad \bar U = \frac{(G + G^\top)\, U}{\tau} .
\]

**Step 3: the normalisation.** The Jacobian of \(u = e / \lVert e \rVert\) is
\((I - u u^\top) / \lVert e \rVert\): it removes the component along \(u\) (scaling \(e\) changes nothing).

**Step 4: split the stack back into the two views:**

\[
\boxed{\frac{\partial L}{\partial e_j} = \frac{\bar u_j - (u_j \cdot \bar u_j)\, u_j}{\lVert e_j \rVert}},
\qquad j \le N \text{ for view1}, \ j > N \text{ for view2} .
\]
"""


def _two_views(rng: np.random.Generator) -> tuple:
    n, d = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    return rng.normal(0, 1, (n, d)), rng.normal(0, 1, (n, d))


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
    "QuantileLoss": Derivation(
        "`quantiles=(0.1, 0.5, 0.9)`, `reduction='mean'`",
        ("x", "t"),
        _quantile,
        _QUANTILE,
        {"input": "np.where(t[:, None] > x, -q, 1 - q) / x.size"},
        call={"quantiles": (0.1, 0.5, 0.9), "reduction": "mean"},
        let={"q": "np.asarray(quantiles)"},
    ),
    "ContrastiveLoss": Derivation(
        "`margin=1.0`, `reduction='mean'`",
        ("x1", "x2", "y"),
        _contrastive,
        _CONTRASTIVE,
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
        _MULTI_MARGIN,
        {"input": "(a - onehot(y, C) * a.sum(axis=1, keepdims=True)) / (len(y) * C)"},
        call={"reduction": "mean"},
        let={"C": "x.shape[1]", "a": "(1.0 - x[np.arange(len(y)), y][:, None] + x > 0) * (1 - onehot(y, C))"},
    ),
    "MulticlassHingeLoss": Derivation(
        "class-index targets, `reduction='mean'`",
        ("s", "t"),
        _scores_and_labels,
        _CRAMMER_SINGER,
        {"input": "(onehot(np.argmax(s + 1 - y, axis=1), s.shape[1]) - y) / len(t)"},
        let={"y": "onehot(t, s.shape[1])"},
    ),
    "CosineEmbeddingLoss": Derivation(
        "`margin=0.2`, `reduction='mean'`",
        ("x1", "x2", "y"),
        _cosine_pairs,
        _COSINE_EMBEDDING,
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
        _TRIPLET,
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
        _FOCAL,
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
        _DICE,
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
        _TVERSKY,
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
        _SIGMOID_FOCAL,
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
        _TRIPLET_COSINE,
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
        _GENERALIZED_DICE,
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
        _MULTILABEL_MARGIN,
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
        _NT_XENT,
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
}
