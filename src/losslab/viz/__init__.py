"""Plots of losses, gradients, training runs and gradient-descent paths (needs the ``plot`` extra)."""

from .plots import plot_descent, plot_history, plot_loss

__all__ = ["plot_loss", "plot_history", "plot_descent"]
