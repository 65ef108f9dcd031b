"""Figures people would rather look at than read. matplotlib is imported lazily, on the Agg backend.

Each function draws one figure, saves it as PNG to ``path`` and returns the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

_PALETTE = {"loss": "#1f5fa8", "grad": "#d1495b", "train": "#1f5fa8", "test": "#e07a1f", "faint": "#9db7d5"}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plots need matplotlib: pip install "losslab[plot]"') from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _style(ax, title: str | None = None) -> None:
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, loc="left", fontsize=12, fontweight="bold")


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_loss(names: Sequence[str], path, *, x_range: tuple[float, float] | None = None, points: int = 401) -> Path:
    """Each loss in ``names`` (registry names) and its derivative, over one scalar input.

    The scalar is the one the loss's plot recipe varies (see ``losslab.registry.CURVES``):
    prediction minus target for regression losses, the true-class logit for
    cross-entropy, and so on. Several losses on one figure must share a recipe's meaning;
    the x label of the first is used.
    """
    from ..registry import curve_values, get

    plt = _pyplot()
    specs = [get(n) for n in names]
    lo, hi = x_range or specs[0].curve.x_range
    if not lo < hi:
        raise ValueError(f"x_range must be increasing, got ({lo}, {hi})")
    xs = np.linspace(lo, hi, points)
    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, spec in enumerate(specs):
        values, grads = curve_values(spec.name, xs)
        color = _PALETTE["loss"] if len(specs) == 1 else colors[i % len(colors)]
        style = ("-", "--", "-.", ":")[i % 4]  # losses that coincide (SmoothL1 and Huber at 1) stay visible
        ax_l.plot(xs, values, style, color=color, linewidth=2.2, label=spec.name)
        ax_g.plot(xs, grads, style, color=_PALETTE["grad"] if len(specs) == 1 else color, linewidth=2.2,
                  label=spec.name)
    title = specs[0].name if len(specs) == 1 else "losses"
    _style(ax_l, f"{title}: value")
    _style(ax_g, f"{title}: gradient (analytic backward)")
    ax_g.axhline(0, color="#888888", linewidth=0.8)
    for ax in (ax_l, ax_g):
        ax.set_xlabel(specs[0].curve.xlabel)
    if len(specs) > 1:
        ax_l.legend(frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def plot_history(history, loss_path, accuracy_path, *, title: str = "") -> tuple[Path, Path]:
    """The loss of every iteration (with a moving average) and train/test accuracy per epoch."""
    plt = _pyplot()
    losses = np.asarray(history.iteration_loss, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    its = np.arange(1, len(losses) + 1)
    ax.plot(its, losses, color=_PALETTE["faint"], linewidth=0.8, label="each iteration")
    window = max(1, min(50, len(losses) // 10))
    if window > 1:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(its[window - 1:], smooth, color=_PALETTE["loss"], linewidth=2.2, label=f"mean of {window}")
    per_epoch = len(losses) / max(history.epochs, 1)
    for e in range(1, history.epochs):
        ax.axvline(e * per_epoch, color="#dddddd", linewidth=0.8, zorder=0)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    if losses.size and np.all(losses > 0) and losses.max() / losses.min() > 20:
        ax.set_yscale("log")
    _style(ax, f"{title}: training loss" if title else "training loss")
    ax.legend(frameon=False)
    loss_file = _save(fig, loss_path)

    fig, ax = plt.subplots(figsize=(8, 4.2))
    epochs = np.arange(1, history.epochs + 1)
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        acc = np.asarray(getattr(history, key), dtype=float) * 100
        if acc.size:
            ax.plot(epochs[:acc.size], acc, marker="o", color=_PALETTE[label], linewidth=2.2, label=label)
            ax.annotate(f"{acc[-1]:.1f}%", (epochs[acc.size - 1], acc[-1]), textcoords="offset points",
                        xytext=(6, -4 if label == "test" else 6), color=_PALETTE[label], fontweight="bold")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _style(ax, f"{title}: accuracy" if title else "accuracy")
    ax.legend(frameon=False, loc="lower right")
    acc_file = _save(fig, accuracy_path)
    return loss_file, acc_file


def plot_descent(path, *, init=(-3.0, 4.0), lr: float = 0.1, step_num: int = 20) -> Path:
    """Gradient descent on f(x0, x1) = x0^2 + x1^2 from ``init``, as in the textbook (numerical gradients)."""
    from ..gradcheck import gradient_descent

    plt = _pyplot()
    _, path_xy = gradient_descent(lambda x: float(x[0] ** 2 + x[1] ** 2), np.asarray(init, dtype=float),
                                  lr=lr, step_num=step_num)
    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    g = np.linspace(-4.5, 4.5, 241)
    x0, x1 = np.meshgrid(g, g)
    levels = np.linspace(0, 40, 21)
    ax.contourf(x0, x1, x0 ** 2 + x1 ** 2, levels=levels, cmap="Blues_r", alpha=0.55)
    ax.contour(x0, x1, x0 ** 2 + x1 ** 2, levels=levels, colors="white", linewidths=0.6)
    ax.plot(path_xy[:, 0], path_xy[:, 1], "-o", color=_PALETTE["grad"], markersize=4, linewidth=1.5,
            label=f"lr={lr}, {step_num} steps")
    ax.plot(*path_xy[0], "s", color="black", markersize=7, label=f"start ({path_xy[0, 0]:g}, {path_xy[0, 1]:g})")
    ax.plot(0, 0, "*", color="gold", markersize=14, markeredgecolor="black", label="minimum (0, 0)")
    ax.set_xlabel("$x_0$")
    ax.set_ylabel("$x_1$")
    ax.set_aspect("equal")
    _style(ax, "gradient descent on $x_0^2 + x_1^2$")
    ax.legend(frameon=True, loc="upper right", fontsize=9)
    return _save(fig, path)
