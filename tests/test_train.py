"""Training loop, targets for each loss, history, and model files."""

from __future__ import annotations

import numpy as np
import pytest

from losslab.layers import MultiLayerNet
from losslab.optim import SGD, Adam
from losslab.train import TARGET_KINDS, History, TrainConfig, encode_targets, fit, load_model, make_loss, save_model


def _blobs(n=300, d=5, classes=3, seed=0, dtype=np.float64):
    """Linearly separable clusters: a net that learns must reach high accuracy."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, d))
    labels = rng.integers(0, classes, n)
    x = centers[labels] + rng.normal(0, 0.5, (n, d))
    return x.astype(dtype), labels


def test_encode_targets_for_each_kind():
    labels = np.array([2, 0, 1])
    np.testing.assert_array_equal(encode_targets(labels, "CrossEntropyLoss", 3, np.float32), labels)
    onehot = encode_targets(labels, "MSELoss", 3, np.float32)
    assert onehot.dtype == np.float32
    np.testing.assert_array_equal(onehot, np.eye(3)[labels])
    np.testing.assert_array_equal(encode_targets(labels, "SoftMarginLoss", 3, np.float64), 2 * np.eye(3)[labels] - 1)


def test_make_loss_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown training loss 'Foo'; choose one of: CrossEntropyLoss"):
        make_loss("Foo")


@pytest.mark.parametrize("loss_name", sorted(TARGET_KINDS))
def test_every_training_loss_learns_separable_blobs(loss_name):
    x, labels = _blobs()
    net = MultiLayerNet(5, [16], 3, loss=make_loss(loss_name), rng=np.random.default_rng(1), dtype=np.float64)
    history = fit(
        net,
        Adam(net.parameters(), lr=0.01),
        (x, labels),
        (x, labels),
        epochs=15,
        batch_size=32,
        rng=np.random.default_rng(2),
        loss_name=loss_name,
        num_classes=3,
    )
    assert history.test_accuracy[-1] >= 0.95, (loss_name, history.test_accuracy)
    assert history.epoch_loss[-1] < history.epoch_loss[0]


def test_history_counts_iterations_and_epochs():
    x, labels = _blobs(n=250)
    net = MultiLayerNet(5, [8], 3, rng=np.random.default_rng(0), dtype=np.float64)
    seen = []
    history = fit(
        net,
        SGD(net.parameters(), lr=0.1),
        (x, labels),
        None,
        epochs=3,
        batch_size=64,
        rng=np.random.default_rng(0),
        on_iteration=lambda i, loss: seen.append(i),
    )
    assert len(history.iteration_loss) == 3 * 4  # 250 samples at 64: 3 full batches and one of 58
    assert seen == list(range(1, 13))
    assert history.epochs == 3 and history.test_accuracy == []
    assert [r["epoch"] for r in history.rows()] == [1, 2, 3]


def test_fit_is_reproducible_with_the_same_generators():
    x, labels = _blobs()

    def once():
        net = MultiLayerNet(5, [8], 3, rng=np.random.default_rng(5), dtype=np.float64)
        return fit(
            net, SGD(net.parameters(), lr=0.1), (x, labels), None, epochs=2, batch_size=50, rng=np.random.default_rng(6)
        ).iteration_loss

    assert once() == once()


@pytest.mark.parametrize("bad, match", [({"epochs": 0}, "epochs must lie in"), ({"batch_size": 0}, "batch_size must")])
def test_fit_rejects_bad_counts(bad, match):
    x, labels = _blobs(n=20)
    net = MultiLayerNet(5, [4], 3, rng=np.random.default_rng(0))
    kwargs = {"epochs": 1, "batch_size": 4, **bad}
    with pytest.raises(ValueError, match=match):
        fit(net, SGD(net.parameters(), lr=0.1), (x, labels), None, rng=np.random.default_rng(0), **kwargs)


def test_save_and_load_model_round_trip(tmp_path):
    net = MultiLayerNet(5, [7, 6], 3, activation="tanh", rng=np.random.default_rng(0), dtype=np.float32)
    arch = {
        "input_size": 5,
        "hidden_sizes": [7, 6],
        "output_size": 3,
        "activation": "tanh",
        "dtype": "float32",
        "loss": "CrossEntropyLoss",
    }
    path = save_model(tmp_path / "m.npz", net, arch)
    loaded = load_model(path)
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert not list(tmp_path.glob("*.partial"))


def test_load_model_rejects_foreign_files(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a losslab model"):
        load_model(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a losslab model file"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.npz")


def test_train_config_validates():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        TrainConfig(dtype="float16")
    assert TrainConfig().hidden == (100,)
    assert isinstance(History().rows(), list)


# ----------------------------------------------------------------------------- defaults, divergence, Ctrl-C

from losslab import optim, registry  # noqa: E402
from losslab.train import DEFAULT_LR, HEADS, TrainingDiverged, TrainingInterrupted, evaluate, read_model, run  # noqa: E402
from losslab.train.run import OPTIMIZERS  # noqa: E402


@pytest.fixture(scope="module")
def mnist():
    from losslab.data import load_embedded_mnist

    return load_embedded_mnist()


@pytest.mark.parametrize("name", sorted(DEFAULT_LR))
def test_every_optimizer_learns_mnist_at_its_default_lr(name, mnist):
    (x, t), (xt, tt) = mnist
    net = MultiLayerNet(784, [50], 10, rng=np.random.default_rng(0))
    opt = getattr(optim, OPTIMIZERS[name])(net.parameters())  # no lr: the optimizer's default
    assert opt.lr == DEFAULT_LR[name] == TrainConfig(optimizer=name).learning_rate
    history = fit(net, opt, (x, t), (xt, tt), epochs=2, batch_size=100, rng=np.random.default_rng(1))
    assert history.test_accuracy[-1] > 0.8, (name, history.test_accuracy)  # chance is 0.1


def test_every_classification_loss_of_the_registry_can_train():
    classifiers = {s.name for s in registry.LOSSES if s.module in ("classification", "focal", "sparse")}
    classifiers |= {s.name for s in registry.LOSSES if s.module == "margin"} - {"HingeEmbeddingLoss"}
    assert classifiers <= set(TARGET_KINDS), classifiers - set(TARGET_KINDS)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_a_head_chains_its_backward_exactly(name):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4, 3))
    labels = np.array([0, 2, 1, 2])
    target = encode_targets(labels, name, 3, np.float64)
    loss = make_loss(name)
    loss(scores, target)
    analytic = loss.backward()
    numeric = np.zeros_like(scores)
    h = 1e-6
    for idx in np.ndindex(scores.shape):
        up, down = scores.copy(), scores.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (float(make_loss(name)(up, target)) - float(make_loss(name)(down, target))) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_fit_stops_and_warns_when_the_loss_diverges(mnist):
    (x, t), _ = mnist
    net = MultiLayerNet(784, [16], 10, rng=np.random.default_rng(0))
    with pytest.warns(TrainingDiverged, match="the learning rate is too large"):
        history = fit(
            net, SGD(net.parameters(), lr=1e6), (x, t), None, epochs=5, batch_size=100, rng=np.random.default_rng(1)
        )
    assert history.stopped == "diverged"
    assert history.epochs == 1 and len(history.iteration_loss) < 40  # stopped inside the first epoch
    assert not history.iteration_loss[-1] <= 1e3 * max(history.iteration_loss[0], 1)


def test_ctrl_c_keeps_the_complete_epochs():
    x, labels = _blobs(n=200)
    net = MultiLayerNet(5, [8], 3, rng=np.random.default_rng(0), dtype=np.float64)

    def press_ctrl_c(i, loss):
        if i == 10:  # in the third epoch of four batches
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as info:
        fit(
            net,
            SGD(net.parameters(), lr=0.1),
            (x, labels),
            (x, labels),
            epochs=5,
            batch_size=50,
            rng=np.random.default_rng(0),
            on_iteration=press_ctrl_c,
        )
    history = info.value.history
    assert history.stopped == "interrupted" and history.epochs == 2
    assert len(history.iteration_loss) == 8 and len(history.test_accuracy) == len(history.test_loss) == 2
    assert isinstance(info.value, KeyboardInterrupt)


def test_fit_records_the_test_loss_and_shows_progress(capsys):
    pytest.importorskip("tqdm")
    x, labels = _blobs()
    net = MultiLayerNet(5, [8], 3, rng=np.random.default_rng(0), dtype=np.float64)
    history = fit(
        net,
        SGD(net.parameters(), lr=0.1),
        (x, labels),
        (x, labels),
        epochs=2,
        batch_size=50,
        rng=np.random.default_rng(0),
        progress=True,
    )
    assert "12/12" in capsys.readouterr().err  # tqdm's bar: 2 epochs of 6 batches
    assert len(history.test_loss) == 2 and history.test_loss[1] < history.test_loss[0]


def test_evaluate_counts_a_confusion_matrix(mnist):
    (x, t), (xt, tt) = mnist
    net = MultiLayerNet(784, [16], 10, rng=np.random.default_rng(0))
    result = evaluate(net, xt, tt)
    assert result.confusion.sum() == len(tt) and result.confusion.sum(axis=1).tolist() == np.bincount(tt).tolist()
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / len(tt))
    assert result.loss == pytest.approx(float(net.loss(xt, tt)), rel=1e-5)


def test_a_resumed_run_counts_on_from_the_saved_epochs(tmp_path):
    first = run(TrainConfig(epochs=2, hidden=(16,), out_dir=str(tmp_path / "a"), plots=False))
    assert read_model(first.files["model"]).epochs == 2
    second = run(
        TrainConfig(
            epochs=1, optimizer="adam", out_dir=str(tmp_path / "b"), plots=False, resume=str(first.files["model"])
        )
    )
    assert second.config.hidden == (16,) and second.history.rows()[0]["epoch"] == 3
    assert read_model(second.files["model"]).epochs == 3
    assert second.history.test_accuracy[-1] > 0.5


def test_run_refuses_a_file_as_out_dir_before_loading_anything(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        run(TrainConfig(out_dir=str(tmp_path / "f"), data=str(tmp_path / "no-such-dir")))


def test_history_repr_is_one_short_line():
    history = History(
        iteration_loss=[1.0] * 80,
        epoch_loss=[0.9, 0.5],
        train_accuracy=[0.8, 0.9],
        test_accuracy=[0.75, 0.875],
        test_loss=[0.8, 0.6],
        epoch_seconds=[1.0, 1.0],
    )
    assert repr(history) == "History(2 epochs, 80 iterations, loss 0.5, test accuracy 87.50%)"
