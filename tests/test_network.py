"""Sequential and MultiLayerNet: whole-network gradient checks, dtypes, modes, state dicts."""

from __future__ import annotations

import numpy as np
import pytest

import losslab
from losslab._validation import BackwardBeforeForwardError
from losslab.gradcheck import gradcheck
from losslab.layers import Affine, BatchNorm, Dropout, MultiLayerNet, Relu, Sequential, Sigmoid, Tanh


def mse():
    return losslab.nn.MSELoss()


def regression_batch(n=6, d_in=5, d_out=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d_in)).astype(dtype), rng.standard_normal((n, d_out)).astype(dtype)


# --------------------------------------------------------------------------- Sequential


def test_sequential_chains_forward_and_backward():
    rng = np.random.default_rng(1)
    fc1, act, fc2 = (
        Affine.create(4, 3, rng=rng, dtype=np.float64),
        Tanh(),
        Affine.create(3, 2, rng=rng, dtype=np.float64),
    )
    net = Sequential(fc1, act, fc2)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    y = net(x)
    h = np.tanh(x @ fc1.W.data + fc1.b.data)
    np.testing.assert_allclose(y, h @ fc2.W.data + fc2.b.data, rtol=1e-14)
    dx = net.backward(dout)
    dh = (dout @ fc2.W.data.T) * (1 - h**2)
    np.testing.assert_allclose(dx, dh @ fc1.W.data.T, rtol=1e-13)
    np.testing.assert_allclose(fc1.W.grad, x.T @ dh, rtol=1e-13)
    assert net.parameters() == [fc1.W, fc1.b, fc2.W, fc2.b]
    assert len(net) == 3 and net[1] is act and list(net) == [fc1, act, fc2]


def test_sequential_modes_propagate():
    drop, bn = Dropout(0.5, rng=np.random.default_rng(0)), BatchNorm(3)
    net = Sequential(Affine.create(2, 3, rng=0), bn, Relu(), drop)
    assert net.eval() is net
    assert not net.training and not drop.training and not bn.training
    net.train()
    assert net.training and drop.training and bn.training


def test_sequential_input_grad_false_only_at_the_start():
    rng = np.random.default_rng(2)
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    first = Sequential(Affine.create(4, 2, rng=rng, dtype=np.float64, input_grad=False), Relu())
    first(x)
    assert first.backward(dout) is None
    middle = Sequential(
        Affine.create(4, 3, rng=rng, dtype=np.float64), Affine.create(3, 2, rng=rng, dtype=np.float64, input_grad=False)
    )
    middle(x)
    with pytest.raises(ValueError, match="layer 1 \\(Affine\\) returned no input gradient.*layer 0"):
        middle.backward(dout)


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="Sequential takes losslab Layers, got function at position 1"):
        Sequential(Relu(), lambda x: x)


def test_sequential_state_dict_nested_names():
    inner = Sequential(Affine.create(3, 3, rng=0), BatchNorm(3))
    net = Sequential(Affine.create(2, 3, rng=0), inner)
    assert list(net.state_dict()) == [
        "layer0.W",
        "layer0.b",
        "layer1.layer0.W",
        "layer1.layer0.b",
        "layer1.layer1.weight",
        "layer1.layer1.bias",
        "layer1.layer1.running_mean",
        "layer1.layer1.running_var",
    ]


# --------------------------------------------------------------------------- MultiLayerNet: gradients


def relu_margin(net, x):
    """The smallest |input| of any ReLU in ``net`` on ``x`` (inf without ReLUs).

    gradcheck perturbs one element by up to 2h = 2e-3 at a time; a ReLU input
    closer than that to 0 would sit on the kink and fail the check for the
    wrong reason. The tests pick seeds that keep every ReLU input clear of it.
    """
    margin, h = np.inf, x
    for layer in net.layers:
        if isinstance(layer, Relu):
            margin = min(margin, float(np.abs(h).min()))
        h = layer(h)
    return margin


def net_gradcheck(net, x, t, rtol=1e-6):
    """Gradient-check every parameter (and the input) of ``net.loss`` in float64."""
    assert relu_margin(net, x) > 0.02, "a ReLU input lies near its kink: choose another seed"
    params = net.parameters()
    originals = [p.data.copy() for p in params]
    grads = [g.copy() for g in net.gradient(x, t)]
    x_grad = net.x_grad.copy()

    def f(*arrays):
        for p, a in zip(params, arrays):
            p.data[...] = a
        return float(net.loss(arrays[-1], t))

    result = gradcheck(f, originals + [x], grads + [x_grad], rtol=rtol)
    for p, a in zip(params, originals):
        p.data[...] = a
    assert result.ok, str(result)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_multilayernet_gradcheck(activation, batchnorm):
    x, t = regression_batch(seed=8)
    net = MultiLayerNet(
        5,
        [7, 6],
        3,
        activation=activation,
        batchnorm=batchnorm,
        loss=mse(),
        rng=np.random.default_rng(9),
        dtype=np.float64,
        input_grad=True,
    )
    net_gradcheck(net, x, t)


def test_multilayernet_gradients_align_with_parameters():
    x, t = regression_batch(seed=5)
    net = MultiLayerNet(5, [4], 3, batchnorm=True, loss=mse(), rng=6, dtype=np.float64)
    grads = net.gradient(x, t)
    params = net.parameters()
    assert [p.name for p in params] == ["W", "b", "weight", "bias", "W", "b"]
    assert len(grads) == len(params)
    for p, g in zip(params, grads):
        assert g is p.grad and g.shape == p.data.shape


@pytest.mark.parametrize("batchnorm, dropout", [(False, 0.0), (True, 0.3)])
def test_float32_network_stays_float32(batchnorm, dropout):
    x, t = regression_batch(n=8, d_in=6, d_out=4, dtype=np.float64, seed=7)  # float64 data on purpose
    net = MultiLayerNet(6, [5, 5], 4, batchnorm=batchnorm, dropout=dropout, loss=mse(), rng=8, input_grad=True)
    assert all(p.data.dtype == np.float32 for p in net.parameters())
    y = net.forward(x)
    assert y.dtype == np.float32
    loss = net.loss(x, t)
    assert np.asarray(loss).dtype == np.float32
    grads = net.gradient(x, t)
    assert all(g.dtype == np.float32 for g in grads)
    assert net.x_grad.dtype == np.float32
    assert net.predict(x).dtype == np.float32
    for name, arr in net.state_dict().items():
        assert arr.dtype == np.float32, name


def test_training_reduces_the_loss():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((64, 4))
    t = np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2]], axis=1)
    net = MultiLayerNet(4, [16], 2, activation="tanh", loss=mse(), rng=10, dtype=np.float64)
    first = float(net.loss(x, t))
    for _ in range(200):
        for p, g in zip(net.parameters(), net.gradient(x, t)):
            p.data -= 0.1 * g
    assert float(net.loss(x, t)) < 0.5 * first


def test_caller_arrays_are_not_modified():
    x, t = regression_batch(seed=11)
    x0, t0 = x.copy(), t.copy()
    net = MultiLayerNet(
        5, [4, 4], 3, batchnorm=True, dropout=0.2, loss=mse(), rng=12, dtype=np.float64, input_grad=True
    )
    net.gradient(x, t)
    net.predict(x)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)


# --------------------------------------------------------------------------- structure, input_grad, modes


def test_structure_follows_the_book():
    net = MultiLayerNet(4, [3, 2], 5, activation="sigmoid", batchnorm=True, dropout=0.5, loss=mse(), rng=0)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Affine", "BatchNorm", "Sigmoid", "Dropout", "Affine", "BatchNorm", "Sigmoid", "Dropout", "Affine"]
    assert net.init == "xavier" and MultiLayerNet(4, [3], 2, loss=mse(), rng=0).init == "he"
    assert [layer.input_grad for layer in net.layers if isinstance(layer, Affine)] == [False, True, True]


def test_first_layer_skips_its_input_gradient_by_default():
    x, t = regression_batch(seed=13)
    lean = MultiLayerNet(5, [4], 3, loss=mse(), rng=14, dtype=np.float64)
    full = MultiLayerNet(5, [4], 3, loss=mse(), rng=14, dtype=np.float64, input_grad=True)
    g_lean, g_full = lean.gradient(x, t), full.gradient(x, t)
    for a, b in zip(g_lean, g_full):
        np.testing.assert_array_equal(a, b)
    assert lean.x_grad is None and full.x_grad.shape == x.shape


def test_backward_before_loss_raises():
    with pytest.raises(BackwardBeforeForwardError, match="before loss"):
        MultiLayerNet(3, [2], 2, loss=mse(), rng=0).backward()


def test_predict_runs_in_eval_mode_and_restores_the_mode():
    x, _ = regression_batch(seed=15)
    net = MultiLayerNet(5, [8], 3, batchnorm=True, dropout=0.5, loss=mse(), rng=16, dtype=np.float64)
    bn = net.layers[1]
    stats = (bn.running_mean.copy(), bn.running_var.copy())
    a, b = net.predict(x), net.predict(x)
    np.testing.assert_array_equal(a, b)  # no dropout noise
    np.testing.assert_array_equal(bn.running_mean, stats[0])  # statistics untouched
    np.testing.assert_array_equal(bn.running_var, stats[1])
    assert net.training and all(layer.training for layer in net.layers)
    np.testing.assert_allclose(net.eval().forward(x), a, rtol=1e-15)
    assert not any(layer.training for layer in net.layers)
    assert net.train() is net and all(layer.training for layer in net.layers)


def test_accuracy_with_indices_and_one_hot():
    net = MultiLayerNet(2, [], 3, loss=mse(), rng=0, dtype=np.float64)  # no hidden layer: a linear model
    fc = net.layers[0]
    fc.W.data[...] = np.eye(2, 3)
    fc.b.data[...] = [0.0, 0.0, 0.5]
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [2.0, 0.0]])  # predicted classes 0, 1, 2, 0
    labels = np.array([0, 1, 2, 1])
    assert net.accuracy(x, labels) == 0.75
    assert net.accuracy(x, np.eye(3)[labels]) == 0.75
    with pytest.raises(ValueError, match=r"class indices of shape \(4,\)"):
        net.accuracy(x, labels[:3])


# --------------------------------------------------------------------------- state dict


def test_state_dict_round_trip():
    x, t = regression_batch(seed=17)
    src = MultiLayerNet(5, [4, 4], 3, batchnorm=True, loss=mse(), rng=18)
    src.gradient(x, t)  # move BatchNorm's running statistics away from 0 / 1
    state = src.state_dict()
    assert list(state) == [
        "layer0.W",
        "layer0.b",
        "layer1.weight",
        "layer1.bias",
        "layer1.running_mean",
        "layer1.running_var",
        "layer3.W",
        "layer3.b",
        "layer4.weight",
        "layer4.bias",
        "layer4.running_mean",
        "layer4.running_var",
        "layer6.W",
        "layer6.b",
    ]
    state["layer0.W"][...] = 0.0  # copies: editing the dict leaves the network alone
    assert src.layers[0].W.data.any()
    state = src.state_dict()
    dst = MultiLayerNet(5, [4, 4], 3, batchnorm=True, loss=mse(), rng=19)
    w_before = dst.layers[0].W.data
    dst.load_state_dict(state)
    assert dst.layers[0].W.data is w_before  # loaded in place
    for name, arr in dst.state_dict().items():
        np.testing.assert_array_equal(arr, state[name], err_msg=name)
    np.testing.assert_array_equal(dst.predict(x), src.predict(x))


def test_load_state_dict_is_strict():
    net = MultiLayerNet(3, [2], 2, loss=mse(), rng=0)
    good = net.state_dict()
    missing = {k: v for k, v in good.items() if k != "layer0.b"}
    with pytest.raises(ValueError, match=r"missing \['layer0.b'\], unexpected \[\]"):
        net.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['layer9.W'\]"):
        net.load_state_dict({**good, "layer9.W": np.zeros(2)})
    with pytest.raises(ValueError, match=r"state\['layer0.W'\] has shape \(2, 3\), expected \(3, 2\)"):
        net.load_state_dict({**good, "layer0.W": np.zeros((2, 3), dtype=np.float32)})
    bad_dtype = {**good, "layer2.W": np.zeros((2, 2)), "layer0.W": np.ones((3, 2), dtype=np.float32)}
    with pytest.raises(TypeError, match=r"state\['layer2.W'\] has dtype float64, expected float32"):
        net.load_state_dict(bad_dtype)
    assert not np.all(net.layers[0].W.data == 1.0)  # nothing written when a check fails
    with pytest.raises(TypeError, match="dict of name -> array"):
        net.load_state_dict([("layer0.W", good["layer0.W"])])


# --------------------------------------------------------------------------- losses


def test_default_loss_is_cross_entropy():
    # Needs losslab.nn.CrossEntropyLoss (the classification loss objects).
    net = MultiLayerNet(4, [5], 3, rng=20, dtype=np.float64)
    assert type(net.loss_fn).__name__ == "CrossEntropyLoss"
    rng = np.random.default_rng(21)
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    loss = net.loss(x, labels)
    scores = net.forward(x)
    logp = scores - scores.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    assert float(loss) == pytest.approx(-logp[np.arange(6), labels].mean(), rel=1e-12)
    net.loss(x, labels)
    net.backward()
    assert all(np.isfinite(p.grad).all() for p in net.parameters())


def test_softmax_with_loss():
    rng = np.random.default_rng(22)
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net = MultiLayerNet(4, [5], 3, loss=losslab.nn.SoftmaxWithLoss(), rng=23, dtype=np.float64, input_grad=True)
    # The book's loss is -log(y + 1e-7) but its backward is the unguarded (y - t) / N: they differ
    # by a relative 1e-7 / y_t (documented there), about 1e-6 here, so this check allows 1e-5.
    net_gradcheck(net, x, np.eye(3)[labels], rtol=1e-5)


# --------------------------------------------------------------------------- validation


def test_multilayernet_validation():
    loss = mse()
    with pytest.raises(ValueError, match="activation must be one of 'relu', 'sigmoid', 'tanh', got 'gelu'"):
        MultiLayerNet(3, [2], 2, activation="gelu", loss=loss, rng=0)
    with pytest.raises(ValueError, match="init must be one of 'he', 'xavier'"):
        MultiLayerNet(3, [2], 2, init="kaiming", loss=loss, rng=0)
    with pytest.raises(ValueError, match="input_size must be a positive integer, got 0"):
        MultiLayerNet(0, [2], 2, loss=loss, rng=0)
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\] must be a positive integer, got -4"):
        MultiLayerNet(3, [2, -4], 2, loss=loss, rng=0)
    with pytest.raises(ValueError, match="output_size must be a positive integer"):
        MultiLayerNet(3, [2], 0, loss=loss, rng=0)
    with pytest.raises(TypeError, match=r"hidden_sizes must be a sequence.*\[100, 50\]"):
        MultiLayerNet(3, 2, 2, loss=loss, rng=0)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0.0, 1.0\)"):
        MultiLayerNet(3, [2], 2, dropout=1.0, loss=loss, rng=0)
    with pytest.raises(TypeError, match="batchnorm must be True or False"):
        MultiLayerNet(3, [2], 2, batchnorm="yes", loss=loss, rng=0)
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        MultiLayerNet(3, [2], 2, dtype=np.int32, loss=loss, rng=0)
    with pytest.raises(TypeError, match="rng must be a numpy Generator or an integer seed"):
        MultiLayerNet(3, [2], 2, loss=loss, rng=None)
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'rng'"):
        MultiLayerNet(3, [2], 2, loss=loss)
    with pytest.raises(TypeError, match="loss must be a losslab loss object"):
        MultiLayerNet(3, [2], 2, loss=np.mean, rng=0)
    net = MultiLayerNet(3, [2], 2, loss=loss, rng=0)
    with pytest.raises(ValueError, match="Affine expects 3 input features"):
        net.loss(np.ones((4, 5), dtype=np.float32), np.ones((4, 2), dtype=np.float32))


def test_same_seed_same_network():
    a = MultiLayerNet(5, [4], 3, loss=mse(), rng=np.random.default_rng(24), dropout=0.5)
    b = MultiLayerNet(5, [4], 3, loss=mse(), rng=24, dropout=0.5)
    x, _ = regression_batch(seed=25)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))  # same weights and dropout masks
    assert isinstance(a.layers[2], Dropout) and isinstance(a.layers[1], Relu)
    assert isinstance(MultiLayerNet(5, [4], 3, activation="sigmoid", loss=mse(), rng=0).layers[1], Sigmoid)
