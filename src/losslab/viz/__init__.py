"""Plots of losses, gradients, training runs and gradient-descent paths (needs the ``plot`` extra).

Each function returns a matplotlib ``Figure`` (shown by a notebook) and saves it as PNG only when
given a path.
"""

from .plots import plot_accuracy, plot_confusion, plot_descent, plot_history, plot_loss, plot_training_loss

__all__ = ["plot_loss", "plot_training_loss", "plot_accuracy", "plot_history", "plot_confusion", "plot_descent"]
