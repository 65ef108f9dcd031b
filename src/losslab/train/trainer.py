"""Mini-batch training: epochs of shuffled batches, the loss of every iteration, accuracy every epoch."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import _validation as v
from ..data import iterate_minibatches
from .losses import TARGET_KINDS, encode_targets, make_loss

__all__ = [
    "TARGET_KINDS",
    "History",
    "TrainingDiverged",
    "TrainingInterrupted",
    "accuracy",
    "encode_targets",
    "evaluate_loss",
    "fit",
    "make_loss",
]

#: A loss this many times the first iteration's (or above 1e3 for a first loss below 1) is divergence.
DIVERGENCE_FACTOR = 1e3


class TrainingDiverged(UserWarning):
    """The training loss became NaN, infinite or exploded: :func:`fit` stopped."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`; ``history`` holds the epochs completed before it."""

    def __init__(self, history: History) -> None:
        super().__init__(f"training interrupted after {history.epochs} complete epochs")
        self.history = history


@dataclass(repr=False)
class History:
    """What a training run recorded: every iteration's loss, and per-epoch figures.

    ``start_epoch`` is the number of epochs the network had been trained before
    (a resumed run); ``stopped`` is ``""`` after every epoch ran, ``"diverged"``
    or ``"interrupted"`` otherwise.
    """

    iteration_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)  # mean training loss of each epoch
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)  # mean loss on the test set after each epoch
    epoch_seconds: list[float] = field(default_factory=list)
    iterations_per_epoch: int = 0
    start_epoch: int = 0
    stopped: str = ""

    @property
    def epochs(self) -> int:
        return len(self.epoch_loss)

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch: epoch, loss, test_loss, train_accuracy, test_accuracy, seconds."""

        def at(values, i):
            return values[i] if i < len(values) else float("nan")

        return [
            {
                "epoch": self.start_epoch + i + 1,
                "loss": self.epoch_loss[i],
                "test_loss": at(self.test_loss, i),
                "train_accuracy": at(self.train_accuracy, i),
                "test_accuracy": at(self.test_accuracy, i),
                "seconds": self.epoch_seconds[i],
            }
            for i in range(self.epochs)
        ]

    def __repr__(self) -> str:
        parts = [f"{self.epochs} epochs", f"{len(self.iteration_loss)} iterations"]
        if self.epoch_loss:
            parts.append(f"loss {self.epoch_loss[-1]:.4g}")
        if self.test_accuracy:
            parts.append(f"test accuracy {self.test_accuracy[-1]:.2%}")
        if self.stopped:
            parts.append(self.stopped)
        return f"History({', '.join(parts)})"


def accuracy(net, x: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of samples whose highest output is the label (evaluated in eval mode, in batches)."""
    was_training = getattr(net, "training", True)
    if hasattr(net, "eval"):
        net.eval()
    try:
        correct = 0
        for i in range(0, x.shape[0], batch_size):
            correct += int(np.sum(np.argmax(net.predict(x[i : i + batch_size]), axis=1) == labels[i : i + batch_size]))
    finally:
        if hasattr(net, "train"):
            net.train(was_training)
    return correct / max(x.shape[0], 1)


def evaluate_loss(net, x: np.ndarray, targets: np.ndarray, batch_size: int = 1000) -> float:
    """The mean loss of ``net`` on ``(x, targets)`` (targets encoded for its loss), in eval mode."""
    was_training = getattr(net, "training", True)
    if hasattr(net, "eval"):
        net.eval()
    try:
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size]
            total += float(net.loss(xb, targets[i : i + batch_size])) * xb.shape[0]
    finally:
        if hasattr(net, "train"):
            net.train(was_training)
    return total / max(x.shape[0], 1)


def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError('fit(progress=True) needs tqdm: pip install ".[progress]" (or pip install tqdm)') from None
    return tqdm(total=total, unit="batch", desc="training")


def fit(
    net,
    optimizer,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    loss_name: str = "CrossEntropyLoss",
    num_classes: int = 10,
    progress: bool = False,
    start_epoch: int = 0,
    on_iteration: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int, History], None] | None = None,
) -> History:
    """Train ``net`` with ``optimizer`` on ``train = (x, labels)`` for ``epochs`` epochs.

    Each epoch visits every training sample once, in batches of ``batch_size``
    shuffled by ``rng`` (the last partial batch kept). Labels are class indices,
    encoded for the net's loss by :func:`encode_targets`. After each epoch the
    train and test accuracies and the test loss are measured.

    ``progress=True`` shows a progress bar (tqdm's, which draws a widget in
    Jupyter; needs the ``progress`` extra). ``on_iteration(i, loss)`` and
    ``on_epoch(epoch, history)`` let a caller show progress its own way.

    When the loss becomes NaN or infinite, or exceeds :data:`DIVERGENCE_FACTOR`
    times the first iteration's, training stops at that iteration: a
    :class:`TrainingDiverged` warning says so and ``history.stopped`` is
    ``"diverged"`` (the partial epoch is recorded). Ctrl-C raises
    :class:`TrainingInterrupted`, whose ``history`` holds the complete epochs.
    """
    v.check_scalar(epochs, "epochs", low=1, integer=True)
    v.check_scalar(batch_size, "batch_size", low=1, integer=True)
    x_train, labels = train
    targets = encode_targets(labels, loss_name, num_classes, x_train.dtype)
    test_targets = None if test is None else encode_targets(test[1], loss_name, num_classes, test[0].dtype)
    per_epoch = -(-x_train.shape[0] // batch_size)
    history = History(iterations_per_epoch=per_epoch, start_epoch=start_epoch)
    bar = _progress_bar(progress, epochs * per_epoch)
    iteration = 0
    limit = math.inf
    try:
        for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
            start = time.perf_counter()
            if hasattr(net, "train"):
                net.train()
            total, count = 0.0, 0
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is caught below
                for xb, tb in iterate_minibatches(x_train, targets, batch_size, rng=rng):
                    loss = float(net.loss(xb, tb))
                    history.iteration_loss.append(loss)
                    iteration += 1
                    total += loss * xb.shape[0]
                    count += xb.shape[0]
                    if not loss <= limit:  # NaN compares false
                        history.stopped = "diverged"
                        break
                    if iteration == 1:
                        limit = DIVERGENCE_FACTOR * max(loss, 1.0)
                    net.backward()
                    optimizer.step()
                    if bar is not None:
                        bar.update(1)
                    if on_iteration is not None:
                        on_iteration(iteration, loss)
                history.epoch_seconds.append(time.perf_counter() - start)
                history.epoch_loss.append(total / count)
                history.train_accuracy.append(accuracy(net, x_train, labels))
                if test is not None and test_targets is not None:  # None together
                    history.test_accuracy.append(accuracy(net, *test))
                    history.test_loss.append(evaluate_loss(net, test[0], test_targets))
            if bar is not None:
                bar.set_postfix_str(_summary(history), refresh=True)
            if on_epoch is not None:
                on_epoch(epoch, history)
            if history.stopped:
                warnings.warn(
                    f"training stopped at iteration {iteration} (epoch {epoch}): the loss became "
                    f"{history.iteration_loss[-1]:.4g}; the learning rate is too large for this "
                    f"optimizer",
                    TrainingDiverged,
                    stacklevel=2,
                )
                break
    except KeyboardInterrupt:
        _drop_partial_epoch(history, test is not None)
        history.stopped = "interrupted"
        raise TrainingInterrupted(history) from None
    finally:
        if bar is not None:
            bar.close()
    return history


def _summary(history: History) -> str:
    text = f"loss {history.epoch_loss[-1]:.4f}  train {history.train_accuracy[-1]:.1%}"
    return text + (f"  test {history.test_accuracy[-1]:.1%}" if history.test_accuracy else "")


def _drop_partial_epoch(history: History, has_test: bool) -> None:
    """After Ctrl-C: keep whole epochs only, every per-epoch list the same length."""
    names = ["epoch_loss", "train_accuracy", "epoch_seconds"] + (["test_accuracy", "test_loss"] if has_test else [])
    n = min(len(getattr(history, name)) for name in names)
    for name in names:
        del getattr(history, name)[n:]
    del history.iteration_loss[n * history.iterations_per_epoch :]
