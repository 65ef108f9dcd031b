"""A trained network on a labelled set: accuracy, mean loss and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import encode_targets
from .trainer import evaluate_loss


@dataclass(frozen=True)
class Evaluation:
    """``confusion[i, j]`` counts the samples of class ``i`` predicted as class ``j``."""

    accuracy: float
    loss: float
    confusion: np.ndarray
    samples: int

    def __repr__(self) -> str:
        return f"Evaluation(accuracy={self.accuracy:.2%}, loss={self.loss:.4f}, samples={self.samples})"


def evaluate(
    net,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    loss_name: str = "CrossEntropyLoss",
    num_classes: int | None = None,
    batch_size: int = 1000,
) -> Evaluation:
    """Accuracy, mean loss (``loss_name``, the net's loss) and confusion matrix of ``net`` on ``(x, labels)``."""
    labels = np.asarray(labels)
    was_training = getattr(net, "training", True)
    net.eval()
    try:
        predicted = np.concatenate(
            [np.argmax(net.predict(x[i : i + batch_size]), axis=1) for i in range(0, x.shape[0], batch_size)]
        )
    finally:
        net.train(was_training)
    classes = int(num_classes if num_classes is not None else predicted.max(initial=labels.max(initial=0)) + 1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    targets = encode_targets(labels, loss_name, classes, x.dtype)
    loss = evaluate_loss(net, x, targets, batch_size)
    return Evaluation(float(np.mean(predicted == labels)), loss, confusion, int(x.shape[0]))
