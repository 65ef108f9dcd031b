"""Mini-batch training: epochs of shuffled batches, the loss of every iteration, accuracy every epoch."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import _validation as v
from ..data import iterate_minibatches

# How each loss that can train a classifier wants its target: class indices, one-hot
# probabilities, or one-hot labels in {-1, 1}.
TARGET_KINDS: dict[str, str] = {
    "CrossEntropyLoss": "index",
    "MultiMarginLoss": "index",
    "SoftmaxWithLoss": "index",
    "MSELoss": "onehot",
    "L1Loss": "onehot",
    "SmoothL1Loss": "onehot",
    "HuberLoss": "onehot",
    "BCEWithLogitsLoss": "onehot",
    "MultiLabelSoftMarginLoss": "onehot",
    "SoftMarginLoss": "pm1",
}


def make_loss(name: str):
    """A loss object by name, for training a classifier on class labels."""
    if name not in TARGET_KINDS:
        raise ValueError(f"unknown training loss {name!r}; choose one of: {', '.join(TARGET_KINDS)}")
    from .. import nn

    return getattr(nn, name)()


def encode_targets(labels: np.ndarray, loss_name: str, num_classes: int, dtype) -> np.ndarray:
    """Class labels in the form ``loss_name`` expects (see :data:`TARGET_KINDS`)."""
    kind = TARGET_KINDS[loss_name]
    labels = np.asarray(labels)
    if kind == "index":
        return labels.astype(np.int64, copy=False)
    onehot = np.zeros((labels.shape[0], num_classes), dtype=dtype)
    onehot[np.arange(labels.shape[0]), labels] = 1
    return 2 * onehot - 1 if kind == "pm1" else onehot


@dataclass
class History:
    """What a training run recorded: every iteration's loss, and per-epoch figures."""

    iteration_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)       # mean training loss of each epoch
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.epoch_loss)

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch: epoch, loss, train_accuracy, test_accuracy, seconds."""
        return [
            {"epoch": i + 1, "loss": self.epoch_loss[i],
             "train_accuracy": self.train_accuracy[i] if i < len(self.train_accuracy) else float("nan"),
             "test_accuracy": self.test_accuracy[i] if i < len(self.test_accuracy) else float("nan"),
             "seconds": self.epoch_seconds[i]}
            for i in range(self.epochs)
        ]


def accuracy(net, x: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of samples whose highest output is the label (evaluated in eval mode, in batches)."""
    was_training = getattr(net, "training", True)
    if hasattr(net, "eval"):
        net.eval()
    try:
        correct = 0
        for i in range(0, x.shape[0], batch_size):
            correct += int(np.sum(np.argmax(net.predict(x[i:i + batch_size]), axis=1) == labels[i:i + batch_size]))
    finally:
        if hasattr(net, "train"):
            net.train(was_training)
    return correct / max(x.shape[0], 1)


def fit(net, optimizer, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray] | None = None,
        *, epochs: int, batch_size: int, rng: np.random.Generator, loss_name: str = "CrossEntropyLoss",
        num_classes: int = 10, on_iteration: Callable[[int, float], None] | None = None,
        on_epoch: Callable[[int, History], None] | None = None) -> History:
    """Train ``net`` with ``optimizer`` on ``train = (x, labels)`` for ``epochs`` epochs.

    Each epoch visits every training sample once, in batches of ``batch_size``
    shuffled by ``rng`` (the last partial batch kept). Labels are class indices,
    encoded for the net's loss by :func:`encode_targets`. After each epoch the
    train and test accuracies are measured. ``on_iteration(i, loss)`` and
    ``on_epoch(epoch, history)`` let a caller show progress.
    """
    v.check_scalar(epochs, "epochs", low=1, integer=True)
    v.check_scalar(batch_size, "batch_size", low=1, integer=True)
    x_train, labels = train
    targets = encode_targets(labels, loss_name, num_classes, x_train.dtype)
    history = History()
    iteration = 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        if hasattr(net, "train"):
            net.train()
        total, count = 0.0, 0
        for xb, tb in iterate_minibatches(x_train, targets, batch_size, rng=rng):
            loss = float(net.loss(xb, tb))
            net.backward()
            optimizer.step()
            history.iteration_loss.append(loss)
            total += loss * xb.shape[0]
            count += xb.shape[0]
            iteration += 1
            if on_iteration is not None:
                on_iteration(iteration, loss)
        history.epoch_seconds.append(time.perf_counter() - start)
        history.epoch_loss.append(total / count)
        history.train_accuracy.append(accuracy(net, x_train, labels))
        if test is not None:
            history.test_accuracy.append(accuracy(net, *test))
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history
