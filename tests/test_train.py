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
    history = fit(net, Adam(net.parameters(), lr=0.01), (x, labels), (x, labels), epochs=15, batch_size=32,
                  rng=np.random.default_rng(2), loss_name=loss_name, num_classes=3)
    assert history.test_accuracy[-1] >= 0.95, (loss_name, history.test_accuracy)
    assert history.epoch_loss[-1] < history.epoch_loss[0]


def test_history_counts_iterations_and_epochs():
    x, labels = _blobs(n=250)
    net = MultiLayerNet(5, [8], 3, rng=np.random.default_rng(0), dtype=np.float64)
    seen = []
    history = fit(net, SGD(net.parameters(), lr=0.1), (x, labels), None, epochs=3, batch_size=64,
                  rng=np.random.default_rng(0), on_iteration=lambda i, loss: seen.append(i))
    assert len(history.iteration_loss) == 3 * 4  # 250 samples at 64: 3 full batches and one of 58
    assert seen == list(range(1, 13))
    assert history.epochs == 3 and history.test_accuracy == []
    assert [r["epoch"] for r in history.rows()] == [1, 2, 3]


def test_fit_is_reproducible_with_the_same_generators():
    x, labels = _blobs()

    def once():
        net = MultiLayerNet(5, [8], 3, rng=np.random.default_rng(5), dtype=np.float64)
        return fit(net, SGD(net.parameters(), lr=0.1), (x, labels), None, epochs=2, batch_size=50,
                   rng=np.random.default_rng(6)).iteration_loss

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
    arch = {"input_size": 5, "hidden_sizes": [7, 6], "output_size": 3, "activation": "tanh",
            "dtype": "float32", "loss": "CrossEntropyLoss"}
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
