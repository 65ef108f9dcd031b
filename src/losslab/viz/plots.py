"""Figures people would rather look at than read (needs the ``plot`` extra, matplotlib).

Each function draws one figure and returns it (a ``matplotlib.figure.Figure``: a
notebook shows it); given ``path``, it also saves it as PNG there. The figures are
made without pyplot, so they never change the notebook's backend and never pile up
in pyplot's list of open figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

_PALETTE = {
    "loss": "#1f5fa8",
    "grad": "#d1495b",
    "train": "#1f5fa8",
    "test": "#e07a1f",
    "faint": "#9db7d5",
    "chance": "#888888",
}
_COLORS = ("#1f5fa8", "#d1495b", "#2a9d5c", "#e07a1f", "#7b4fa8", "#8c564b")


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('plots need matplotlib: pip install ".[plot]" (or pip install matplotlib)') from None
    return Figure(**kwargs)


def _style(ax, title: str | None = None) -> None:
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, loc="left", fontsize=11, fontweight="bold")


def _finish(fig, path):
    """Save ``fig`` as PNG at ``path`` when given; return the figure."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight", format="png")
    return fig


def plot_loss(names: Sequence[str], path=None, *, x_range: tuple[float, float] | None = None, points: int = 401):
    """Each loss in ``names`` (registry names) and its derivative, over one scalar input.

    The scalar is the one the loss's plot recipe varies (see ``losslab.registry.CURVES``):
    prediction minus target for regression losses, the true-class logit for
    cross-entropy, and so on; the x label of the first loss is used. Curves that
    coincide (``HuberLoss`` and ``SmoothL1Loss`` at their default 1) are drawn
    dashed over each other and say so in the legend.
    """
    from ..registry import curve_values, get

    if isinstance(names, str):
        names = [names]
    specs = [get(n) for n in names]
    if not specs:
        raise ValueError("names must list at least one loss, got none")
    curve = specs[0].curve
    if curve is None:
        raise ValueError(f"{specs[0].name} has no plot recipe")
    lo, hi = x_range or curve.x_range
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"x_range must be two finite increasing numbers, got ({lo}, {hi})")
    xs = np.linspace(lo, hi, points)
    fig = _figure(figsize=(11, 4.4))
    ax_l, ax_g = fig.subplots(1, 2)
    drawn: list[tuple[str, np.ndarray, np.ndarray]] = []
    for i, spec in enumerate(specs):
        values, grads = curve_values(spec.name, xs)
        same = [n for n, v_, g_ in drawn if np.allclose(v_, values) and np.allclose(g_, grads)]
        label = spec.name + (f" (same curve as {same[0]})" if same else "")
        color = _COLORS[i % len(_COLORS)]
        style = "--" if same else "-"
        ax_l.plot(xs, values, style, color=color, linewidth=2.2, label=label)
        ax_g.plot(xs, grads, style, color=color, linewidth=2.2, label=label)
        drawn.append((spec.name, values, grads))
    title = ", ".join(s.name for s in specs)
    _style(ax_l, f"{title}: value")
    _style(ax_g, f"{title}: gradient (analytic backward)")
    ax_g.axhline(0, color="#888888", linewidth=0.8)
    for ax in (ax_l, ax_g):
        ax.set_xlabel(curve.xlabel)
    ax_l.set_ylabel("loss")
    ax_g.set_ylabel("d loss / d x")
    ax_l.legend(frameon=False)
    fig.tight_layout()
    return _finish(fig, path)


def _epoch_axis(ax, history, per_epoch: int) -> None:
    """A top axis numbering the epochs at their last iteration."""
    first = history.start_epoch + 1
    ticks = [per_epoch * e for e in range(1, history.epochs + 1)]
    labels = [str(first + e - 1) for e in range(1, history.epochs + 1)]
    if len(ticks) > 12:
        keep = set(np.linspace(0, len(ticks) - 1, 10).round().astype(int))
        ticks = [t for i, t in enumerate(ticks) if i in keep]
        labels = [lab for i, lab in enumerate(labels) if i in keep]
    top = ax.secondary_xaxis("top")
    top.set_xticks(ticks)
    top.set_xticklabels(labels)
    top.set_xlabel("end of epoch")


def plot_training_loss(history, path=None, *, title: str = ""):
    """The training loss of every iteration (and a moving average), the test loss after each epoch.

    A run that diverged ends in a red mark at the last finite loss.
    """
    losses = np.asarray(history.iteration_loss, dtype=float)
    fig = _figure(figsize=(8.5, 4.6))
    ax = fig.subplots()
    its = np.arange(1, len(losses) + 1)
    finite = np.isfinite(losses)
    ax.plot(its[finite], losses[finite], color=_PALETTE["faint"], linewidth=0.8, label="training loss, each batch")
    window = max(1, min(50, len(losses) // 10))
    if window > 1 and finite.all():
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(
            its[window - 1 :],
            smooth,
            color=_PALETTE["loss"],
            linewidth=2.2,
            label=f"training loss, mean of {window} batches",
        )
    per_epoch = history.iterations_per_epoch or max(1, round(len(losses) / max(history.epochs, 1)))
    ends = per_epoch * np.arange(1, history.epochs + 1)
    test_loss = np.asarray(getattr(history, "test_loss", []), dtype=float)
    if test_loss.size and np.isfinite(test_loss).all():
        ax.plot(
            ends[: test_loss.size],
            test_loss,
            "o-",
            color=_PALETTE["test"],
            linewidth=1.8,
            markersize=4,
            label="test loss, after each epoch",
        )
    if history.stopped == "diverged":
        last = np.flatnonzero(finite)
        if last.size:
            ax.plot(
                its[last[-1]],
                losses[last[-1]],
                "X",
                color=_PALETTE["grad"],
                markersize=10,
                label=f"diverged: loss {losses[-1]:.3g} at iteration {len(losses)}",
            )
    ax.set_xlabel("iteration (batch)")
    ax.set_ylabel("loss")
    shown = losses[finite]
    if shown.size and np.all(shown > 0) and shown.max() / shown.min() > 20:
        ax.set_yscale("log")
        ax.set_ylabel("loss (log scale)")
    if history.epochs:
        _epoch_axis(ax, history, per_epoch)
    _style(ax, f"{title}: loss" if title else "loss")
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)


def plot_accuracy(history, path=None, *, title: str = "", chance: float | None = 10.0):
    """Train and test accuracy after each epoch; every epoch numbered when few, the first and last always.

    The y axis spans at least 20 percentage points, so a flat line stays flat; the
    ``chance`` level (percent; ``None`` for none) is drawn when in view.
    """
    from matplotlib.ticker import MaxNLocator

    fig = _figure(figsize=(8.5, 4.6))
    ax = fig.subplots()
    epochs = history.start_epoch + np.arange(1, history.epochs + 1)
    shown = []
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        acc = np.asarray(getattr(history, key), dtype=float) * 100
        if acc.size:
            shown.append(acc)
            ax.plot(epochs[: acc.size], acc, marker="o", color=_PALETTE[label], linewidth=2.2, label=label)
            ax.annotate(
                f"{acc[-1]:.1f}%",
                (epochs[acc.size - 1], acc[-1]),
                textcoords="offset points",
                xytext=(6, -12 if label == "test" else 6),
                color=_PALETTE[label],
                fontweight="bold",
            )
    if shown:
        values = np.concatenate(shown)
        lo, hi = float(values.min()), float(values.max())
        pad = max(0.0, (20 - (hi - lo)) / 2)
        lo, hi = max(0.0, lo - pad - 2), min(100.0, hi + pad + 2)
        if hi - lo < 20:
            lo, hi = (max(0.0, hi - 20), hi) if hi >= 100 else (lo, min(100.0, lo + 20))
        ax.set_ylim(lo, hi)
        if chance is not None and lo <= chance <= hi:
            ax.axhline(chance, color=_PALETTE["chance"], linestyle=":", linewidth=1.2, label=f"chance ({chance:g}%)")
    if history.epochs:
        if history.epochs <= 20:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ticks = sorted(
                set(int(t) for t in ax.get_xticks() if epochs[0] <= t <= epochs[-1]) | {int(epochs[0]), int(epochs[-1])}
            )
            ax.set_xticks(ticks)
        ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    note = {"diverged": " (diverged)", "interrupted": " (interrupted)"}.get(history.stopped, "")
    _style(ax, (f"{title}: accuracy" if title else "accuracy") + note)
    ax.legend(frameon=False, loc="best")
    fig.tight_layout()
    return _finish(fig, path)


def plot_history(history, loss_path=None, accuracy_path=None, *, title: str = ""):
    """Both training figures, :func:`plot_training_loss` and :func:`plot_accuracy`, as ``(loss, accuracy)``."""
    return (plot_training_loss(history, loss_path, title=title), plot_accuracy(history, accuracy_path, title=title))


def plot_confusion(confusion, path=None, *, title: str = ""):
    """A confusion matrix: row ``i``, column ``j`` counts the samples of class ``i`` predicted as ``j``."""
    m = np.asarray(confusion)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got shape {m.shape}")
    fig = _figure(figsize=(6.4, 5.6))
    ax = fig.subplots()
    image = ax.imshow(m, cmap="Blues")
    fig.colorbar(image, ax=ax, label="samples")
    k = m.shape[0]
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    threshold = m.max() / 2 if m.size else 0
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(int(m[i, j])),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if m[i, j] > threshold else "black",
                )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = m.sum()
    acc = f"accuracy {np.trace(m) / total:.2%} of {int(total)}" if total else "no samples"
    ax.set_title(f"{title}: {acc}" if title else acc, loc="left", fontsize=11, fontweight="bold")
    fig.tight_layout()
    return _finish(fig, path)


def plot_descent(path=None, *, init=(-3.0, 4.0), lr: float = 0.1, step_num: int = 20):
    """Gradient descent on f(x0, x1) = x0^2 + x1^2 from ``init``, as in the textbook (numerical gradients).

    The view stays on the function's bowl; a path that leaves it (``lr > 1`` diverges
    on this function) is marked where it leaves, and the title says it diverged.
    """
    from .. import _validation as v
    from ..gradcheck import gradient_descent

    v.check_scalar(lr, "lr", low=0.0, low_open=True)
    v.check_scalar(step_num, "step_num", low=1, integer=True)
    with np.errstate(over="ignore", invalid="ignore"):
        _, path_xy = gradient_descent(
            lambda x: float(x[0] ** 2 + x[1] ** 2), np.asarray(init, dtype=float), lr=lr, step_num=step_num
        )
    fig = _figure(figsize=(6.4, 6.0))
    ax = fig.subplots()
    g = np.linspace(-4.5, 4.5, 241)
    x0, x1 = np.meshgrid(g, g)
    levels = np.linspace(0, 40, 21)
    ax.contourf(x0, x1, x0**2 + x1**2, levels=levels, cmap="Blues_r", alpha=0.55)
    ax.contour(x0, x1, x0**2 + x1**2, levels=levels, colors="white", linewidths=0.6)
    norms = np.hypot(path_xy[:, 0], path_xy[:, 1])
    diverged = not np.isfinite(norms[-1]) or norms[-1] > norms[0]
    outside = np.flatnonzero(~(np.abs(path_xy) <= 4.5).all(axis=1))
    shown = path_xy if not outside.size else path_xy[: outside[0] + 1]
    ax.plot(
        shown[:, 0],
        shown[:, 1],
        "-o",
        color=_PALETTE["grad"],
        markersize=4,
        linewidth=1.5,
        label=f"lr={lr:g}, {step_num} steps",
    )
    if outside.size:
        ax.annotate(
            f"leaves the view at step {outside[0]}",
            xy=(np.clip(shown[-1, 0], -4.4, 4.4), np.clip(shown[-1, 1], -4.4, 4.4)),
            xytext=(0, 2.2),
            textcoords="data",
            ha="center",
            fontsize=9,
            color=_PALETTE["grad"],
            arrowprops={"arrowstyle": "->", "color": _PALETTE["grad"]},
        )
    ax.plot(*path_xy[0], "s", color="black", markersize=7, label=f"start ({path_xy[0, 0]:g}, {path_xy[0, 1]:g})")
    ax.plot(0, 0, "*", color="gold", markersize=14, markeredgecolor="black", label="minimum (0, 0)")
    ax.set_xlim(-4.5, 4.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_xlabel("$x_0$")
    ax.set_ylabel("$x_1$")
    ax.set_aspect("equal")
    if diverged:
        status = f"diverges: the distance to the minimum grows from {norms[0]:.3g} to {norms[-1]:.3g}"
    else:
        status = f"ends at ({path_xy[-1, 0]:.3g}, {path_xy[-1, 1]:.3g}), distance {norms[-1]:.3g} from the minimum"
    _style(ax, "gradient descent on $x_0^2 + x_1^2$")
    ax.text(
        0.0,
        -0.13,
        f"lr={lr:g}: {status}",
        transform=ax.transAxes,
        fontsize=9,
        color=_PALETTE["grad"] if diverged else "black",
    )
    ax.legend(frameon=True, loc="upper right", fontsize=9)
    return _finish(fig, path)
