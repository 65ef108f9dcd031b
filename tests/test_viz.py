"""Figures: returned for a notebook, saved only when asked, readable without the command line."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from losslab.train import History
from losslab.viz import plot_accuracy, plot_confusion, plot_descent, plot_history, plot_loss, plot_training_loss

PNG = b"\x89PNG\r\n\x1a\n"


def _history(epochs=3, per_epoch=10, acc=None, start=0, stopped=""):
    rng = np.random.default_rng(0)
    acc = acc if acc is not None else list(np.linspace(0.5, 0.9, epochs))
    return History(
        iteration_loss=list(2 * np.exp(-np.arange(epochs * per_epoch) / 10) + rng.uniform(0, 0.1, epochs * per_epoch)),
        epoch_loss=list(np.linspace(1.5, 0.3, epochs)),
        train_accuracy=list(acc),
        test_accuracy=list(np.asarray(acc) - 0.01),
        test_loss=list(np.linspace(1.4, 0.4, epochs)),
        epoch_seconds=[1.0] * epochs,
        iterations_per_epoch=per_epoch,
        start_epoch=start,
        stopped=stopped,
    )


def _texts(fig):
    out = []
    for ax in fig.axes:
        out += [ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
        out += [t.get_text() for t in ax.texts]
    return out


def test_plots_return_figures_and_write_only_when_given_a_path(tmp_path, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    backend = matplotlib.get_backend()
    figures = [
        plot_loss(["MSELoss"]),
        plot_training_loss(_history()),
        plot_accuracy(_history()),
        plot_descent(),
        plot_confusion(np.eye(3, dtype=int)),
        *plot_history(_history()),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert plt.get_fignums() == []  # nothing left open in pyplot
    assert matplotlib.get_backend() == backend  # a notebook's backend is left alone
    fig = plot_loss(["MSELoss"], tmp_path / "sub" / "mse.png")
    assert isinstance(fig, Figure) and (tmp_path / "sub" / "mse.png").read_bytes()[:8] == PNG


def test_identical_losses_are_both_visible_and_said_to_coincide():
    texts = _texts(plot_loss(["HuberLoss", "SmoothL1Loss", "MSELoss"]))
    assert "SmoothL1Loss (same curve as HuberLoss)" in texts
    assert "MSELoss" in texts  # a different curve: no note
    assert "HuberLoss, SmoothL1Loss, MSELoss: value" in texts and "loss" in texts and "d loss / d x" in texts


def test_plot_loss_refuses_a_bad_range():
    with pytest.raises(ValueError, match="x_range must be two finite increasing numbers"):
        plot_loss(["MSELoss"], x_range=(1.0, -1.0))


def test_training_loss_shows_test_loss_epochs_and_title():
    fig = plot_training_loss(_history(epochs=3, per_epoch=10), title="784-100-10 relu, CrossEntropyLoss, adam lr 0.001")
    texts = _texts(fig)
    assert "test loss, after each epoch" in texts
    assert any("adam lr 0.001" in t for t in texts)
    top = [ax for ax in fig.axes[0].child_axes if ax.get_xlabel() == "end of epoch"]
    assert top and [t.get_text() for t in top[0].get_xticklabels()] == ["1", "2", "3"]


def test_a_diverged_run_is_marked():
    h = _history(epochs=1, stopped="diverged")
    h.iteration_loss.append(float("inf"))
    assert any(t.startswith("diverged: loss inf") for t in _texts(plot_training_loss(h)))
    assert "accuracy (diverged)" in _texts(plot_accuracy(h))


def test_accuracy_marks_first_and_last_epoch_and_keeps_a_flat_line_flat():
    fig = plot_accuracy(_history(epochs=30, acc=[0.1] * 30, start=5))
    ax = fig.axes[0]
    ticks = [int(t) for t in ax.get_xticks()]
    assert 6 in ticks and 35 in ticks  # first and last epoch of a resumed run
    lo, hi = ax.get_ylim()
    assert hi - lo >= 20  # 10% flat stays a flat line
    assert "chance (10%)" in _texts(fig)
    few = plot_accuracy(_history(epochs=4)).axes[0]
    assert [int(t) for t in few.get_xticks()] == [1, 2, 3, 4]


def test_descent_says_whether_it_diverged():
    assert any("diverges" in t for t in _texts(plot_descent(lr=10)))
    assert not any("diverges" in t for t in _texts(plot_descent(lr=0.1)))
    with pytest.raises(ValueError, match="step_num"):
        plot_descent(step_num=0)


def test_confusion_matrix_names_its_axes_and_accuracy():
    texts = _texts(plot_confusion(np.array([[3, 1], [0, 4]]), title="net"))
    assert "net: accuracy 87.50% of 8" in texts and "predicted class" in texts and "true class" in texts
    with pytest.raises(ValueError, match="square"):
        plot_confusion(np.zeros((2, 3)))
