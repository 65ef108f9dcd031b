"""The losses that train a classifier on class labels, and how each wants its target.

Every classification loss of the registry is here (the regression losses that can fit
one-hot rows too). Two expect something other than raw scores: ``NLLLoss`` takes
log-probabilities and ``BCELoss`` probabilities, so the network's scores go through a
head (``log_softmax``, ``sigmoid``) whose backward is chained in front of the loss's.
"""

from __future__ import annotations

import numpy as np

from .._validation import BackwardBeforeForwardError

TARGET_KINDS: dict[str, str] = {
    "CrossEntropyLoss": "index",
    "NLLLoss": "index",
    "FocalLoss": "index",
    "PolyLoss": "index",
    "MultiMarginLoss": "index",
    "SparsemaxLoss": "index",
    "MulticlassHingeLoss": "index",
    "SoftmaxWithLoss": "index",
    "BCELoss": "onehot",
    "BCEWithLogitsLoss": "onehot",
    "SigmoidFocalLoss": "onehot",
    "MultiLabelSoftMarginLoss": "onehot",
    "MSELoss": "onehot",
    "L1Loss": "onehot",
    "SmoothL1Loss": "onehot",
    "HuberLoss": "onehot",
    "SoftMarginLoss": "pm1",
    "MultiLabelMarginLoss": "padded",
}
"""The losses a network can be trained with, and how each wants its target: ``"index"`` class indices,
``"onehot"`` one-hot rows, ``"pm1"`` one-hot labels in {-1, 1}, ``"padded"`` the class index then -1
(MultiLabelMarginLoss's class lists)."""

HEADS: dict[str, str] = {"NLLLoss": "log_softmax", "BCELoss": "sigmoid"}
"""The losses whose input is not a raw score: the head applied to the network's output first."""


class _Headed:
    """``loss(head(scores), target)``, with the head's backward chained after the loss's."""

    def __init__(self, head: str, loss) -> None:
        self.head, self.inner = head, loss
        self._out: np.ndarray | None = None

    def __call__(self, scores, target):
        from ..functional import log_softmax, sigmoid

        if self.head == "log_softmax":
            self._out = log_softmax(scores, axis=-1)
        else:
            # clipped away from 0 and 1 in the input's precision: BCELoss's log stays finite
            eps = np.finfo(np.asarray(scores).dtype).eps
            self._out = np.clip(sigmoid(scores), eps, 1 - eps)
        return self.inner(self._out, target)

    def backward(self, dout=1.0):
        g = self.inner.backward(dout)
        y = self._out
        if y is None:  # the inner loss was called on its own
            raise BackwardBeforeForwardError(
                f"{type(self).__name__}.backward() was called before the loss: call it on the scores first"
            )
        if self.head == "log_softmax":
            # d log_softmax: g - softmax * sum(g) over the classes
            return g - np.exp(y) * g.sum(axis=-1, keepdims=True)
        return g * y * (1 - y)

    @property
    def short_name(self) -> str:
        return f"{self.head} + {type(self.inner).__name__}"

    def __repr__(self) -> str:
        return f"{self.head} + {self.inner!r}"


def make_loss(name: str):
    """A loss object by name, for training a classifier on class labels (see :data:`TARGET_KINDS`)."""
    if name not in TARGET_KINDS:
        raise ValueError(f"unknown training loss {name!r}; choose one of: {', '.join(TARGET_KINDS)}")
    from .. import nn

    loss = getattr(nn, name)()
    return _Headed(HEADS[name], loss) if name in HEADS else loss


def encode_targets(labels: np.ndarray, loss_name: str, num_classes: int, dtype) -> np.ndarray:
    """Class labels in the form ``loss_name`` expects (see :data:`TARGET_KINDS`)."""
    kind = TARGET_KINDS[loss_name]
    labels = np.asarray(labels)
    if kind == "index":
        return labels.astype(np.int64, copy=False)
    if kind == "padded":
        padded = np.full((labels.shape[0], num_classes), -1, dtype=np.int64)
        padded[:, 0] = labels
        return padded
    onehot = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    onehot[np.arange(labels.shape[0]), labels] = 1
    return 2 * onehot - 1 if kind == "pm1" else onehot
