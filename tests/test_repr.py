"""What a notebook shows for losslab's objects: one short line each."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from losslab.layers import Affine, Dropout, MultiLayerNet, Relu, Sequential, Sigmoid, Softmax, Tanh
from losslab.optim import SGD, Adagrad, Adam, AdamW, Momentum, Nesterov, RMSprop


@pytest.mark.parametrize("layer", [Relu(), Sigmoid(), Tanh(), Softmax()])
def test_layers_print_their_name(layer):
    assert repr(layer) == f"{type(layer).__name__}()"


def test_networks_print_their_shape():
    net = MultiLayerNet(784, [100, 50], 10, rng=0, dropout=0.5)
    assert repr(net) == "MultiLayerNet(784-100-50-10, relu, dropout=0.5, loss=CrossEntropyLoss, dtype=float32)"
    seq = Sequential(Affine(np.eye(2), np.zeros(2)), Relu(), Dropout(0.1, rng=np.random.default_rng(0)))
    assert "object at 0x" not in repr(seq) and "Relu()" in repr(seq)


@pytest.mark.parametrize(
    "cls, lr",
    [(SGD, 0.1), (Momentum, 0.01), (Nesterov, 0.01), (Adagrad, 0.01), (RMSprop, 0.01), (Adam, 0.001), (AdamW, 0.001)],
)
def test_optimizers_print_lr_and_parameter_count(cls, lr):
    net = MultiLayerNet(4, [3], 2, rng=0)
    assert repr(cls(net.parameters())) == f"{cls.__name__}(lr={lr:g}, 4 parameters)"
    assert cls(net.parameters()).lr == cls.default_lr == lr


def test_a_lazy_dask_loss_prints_its_operation():
    da = pytest.importorskip("dask.array")
    from losslab.functional import cross_entropy

    x = da.from_array(np.random.default_rng(0).normal(size=(4, 3)), chunks=2)
    t = da.from_array(np.array([0, 1, 2, 0]), chunks=2)
    text = repr(cross_entropy(x, t, ignore_index=0))
    assert "_Quiet object" not in text and re.match(r"dask\.array<[\w-]+, shape=\(\)", text), text


def test_the_progress_bar_fits_80_columns(monkeypatch):
    pytest.importorskip("tqdm")
    from losslab import cli
    from losslab.train import History

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    on_iteration, on_epoch, close = cli._progress(100, 1, 40)
    for i in range(1, 41):
        on_iteration(i, 0.123456)
    history = History(epoch_loss=[0.1234], train_accuracy=[0.9712], test_accuracy=[0.9433], epoch_seconds=[1.0])
    on_epoch(1, history)
    close()
    lines = [part for line in screen.getvalue().split("\n") for part in line.split("\r") if part.strip()]
    final = lines[-1]
    assert "test 94.3%" in final and final.startswith("epoch   1/100")
    assert max(len(line) for line in lines) <= 80, lines[-1]
