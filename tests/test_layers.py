"""The layers: textbook numbers, float64 gradient checks, dtypes, validation, PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest

from losslab._validation import BackwardBeforeForwardError
from losslab.gradcheck import gradcheck
from losslab.layers import (
    AddLayer,
    Affine,
    BatchNorm,
    Dropout,
    Layer,
    MulLayer,
    Relu,
    Sigmoid,
    Softmax,
    Tanh,
    init_std,
)


def away_from_zero(rng, shape, low=0.1):
    """Values with |x| >= low: ReLU's kink stays outside the 2h = 2e-3 stencil of gradcheck."""
    return rng.uniform(low, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def check_layer(make, arrays, params=(), *, seed=0):
    """Gradient-check ``sum(dout * make().forward(x))`` in float64 w.r.t. x and the named parameters.

    ``arrays`` is ``[x, *parameter values]``; ``params`` names the Parameters the
    values go into (a fresh layer is built for every evaluation).
    """

    def run(*arrs):
        layer = make()
        for name, a in zip(params, arrs[1:]):
            getattr(layer, name).data = a
        return layer, layer.forward(arrs[0])

    layer, y = run(*arrays)
    dout = np.random.default_rng(seed).standard_normal(y.shape)
    dx = layer.backward(dout)
    analytic = [dx] + [getattr(layer, name).grad for name in params]
    result = gradcheck(lambda *a: float(np.sum(dout * run(*a)[1])), arrays, analytic)
    assert result.ok, str(result)


# --------------------------------------------------------------------------- Add / Mul (the book's examples)


def test_apple_example():
    mul_apple, mul_tax = MulLayer(), MulLayer()
    apple_price = mul_apple(100, 2)
    price = mul_tax(apple_price, 1.1)
    assert price == pytest.approx(220.0, rel=1e-15)
    d_apple_price, d_tax = mul_tax.backward(1)
    d_apple, d_num = mul_apple.backward(d_apple_price)
    assert d_apple == pytest.approx(2.2, rel=1e-15)
    assert d_num == pytest.approx(110.0, rel=1e-15)
    assert d_tax == pytest.approx(200.0, rel=1e-15)


def test_apple_and_orange_example():
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple_price = mul_apple(100, 2)
    orange_price = mul_orange(150, 3)
    total = add(apple_price, orange_price)
    price = mul_tax(total, 1.1)
    assert total == 650
    assert price == pytest.approx(715.0, rel=1e-15)
    d_total, d_tax = mul_tax.backward(1)
    d_apple_price, d_orange_price = add.backward(d_total)
    d_orange, d_orange_num = mul_orange.backward(d_orange_price)
    d_apple, d_apple_num = mul_apple.backward(d_apple_price)
    expected = {"d_apple": 2.2, "d_apple_num": 110, "d_orange": 3.3, "d_orange_num": 165, "d_tax": 650}
    got = {
        "d_apple": d_apple,
        "d_apple_num": d_apple_num,
        "d_orange": d_orange,
        "d_orange_num": d_orange_num,
        "d_tax": d_tax,
    }
    assert got == pytest.approx(expected, rel=1e-15)


def test_add_mul_arrays_with_broadcasting_gradcheck():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((1, 3))
    dout = rng.standard_normal((4, 3))
    for layer, fn in ((AddLayer(), np.add), (MulLayer(), np.multiply)):
        layer(x, y)
        dx, dy = layer.backward(dout)
        assert dx.shape == x.shape and dy.shape == y.shape
        result = gradcheck(lambda a, b, fn=fn: float(np.sum(dout * fn(a, b))), [x, y], [dx, dy])
        assert result.ok, str(result)


def test_add_mul_scalar_times_array():
    mul = MulLayer()
    out = mul(2.0, np.array([1.0, 2.0, 3.0]))
    dx, dy = mul.backward(np.ones(3))
    assert out.tolist() == [2.0, 4.0, 6.0]
    assert np.ndim(dx) == 0 and dx == 6.0
    assert dy.tolist() == [2.0, 2.0, 2.0]


def test_add_backward_returns_separate_arrays():
    add = AddLayer()
    add(np.zeros(2), np.zeros(2))
    dout = np.ones(2)
    dx, dy = add.backward(dout)
    dx[0] = 5.0
    assert dy[0] == 1.0 and dout[0] == 1.0


def test_add_mul_validation():
    with pytest.raises(BackwardBeforeForwardError, match="before forward"):
        MulLayer().backward(1.0)
    with pytest.raises(BackwardBeforeForwardError):
        AddLayer().backward(1.0)
    mul = MulLayer()
    mul(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(3,\), got \(2,\)"):
        mul.backward(np.ones(2))
    with pytest.raises(TypeError, match="real number"):
        AddLayer()("a", 1.0)


# --------------------------------------------------------------------------- activations

ACTIVATIONS = [Relu, Sigmoid, Tanh, Softmax]


@pytest.mark.parametrize("cls", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_activation_gradcheck(cls, shape):
    x = away_from_zero(np.random.default_rng(2), shape)
    check_layer(cls, [x])


def test_activation_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(Relu()(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(Sigmoid()(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(Tanh()(x), np.tanh(x), rtol=1e-15)
    e = np.exp(x - 3.0)
    np.testing.assert_allclose(Softmax()(x), e / e.sum(), rtol=1e-15)


def test_relu_gradient_at_zero_is_zero():
    relu = Relu()
    relu(np.array([0.0, 1.0]))
    assert relu.backward(np.array([5.0, 5.0])).tolist() == [0.0, 5.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_1000(dtype):
    # RuntimeWarnings are errors in this suite: an overflowing exp(1000) would fail here.
    sig = Sigmoid()
    y = sig(np.array([-1000.0, 1000.0], dtype=dtype))
    assert y.tolist() == [0.0, 1.0] and y.dtype == dtype
    assert sig.backward(np.ones(2, dtype=dtype)).tolist() == [0.0, 0.0]


def test_softmax_is_stable_and_normalised_along_last_axis():
    x = np.array([[1000.0, 1000.0, -1000.0], [1e4, 0.0, 0.0]])
    y = Softmax()(x)
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(Softmax()(np.ones((2, 3, 4))).sum(axis=-1), 1.0)


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activation_backward_before_forward(cls):
    with pytest.raises(BackwardBeforeForwardError, match=f"{cls.__name__}.backward"):
        cls().backward(np.ones((2, 2)))


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activation_rejects_integer_input_and_bad_dout(cls):
    with pytest.raises(TypeError, match="float32 or float64"):
        cls()(np.array([[1, 2]]))
    layer = cls()
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"forward output, \(2, 3\), got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))


# --------------------------------------------------------------------------- every layer: dtypes, no mutation


def make_layers(dtype):
    """(layer, input) pairs covering every single-input layer, in training mode."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4)).astype(dtype)
    return [
        (Relu(), x),
        (Sigmoid(), x),
        (Tanh(), x),
        (Softmax(), x),
        (Affine.create(4, 3, rng=rng, dtype=dtype), x),
        (Affine.create(12, 3, rng=rng, dtype=dtype), rng.standard_normal((6, 3, 4)).astype(dtype)),
        (Dropout(0.5, rng=np.random.default_rng(0)), x),
        (BatchNorm(4, dtype=dtype), x),
        (BatchNorm(4, dtype=dtype).eval(), x),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_dtype(dtype):
    for layer, x in make_layers(dtype):
        y = layer(x)
        assert y.dtype == dtype, layer
        # a float64 dout into a float32 layer must not upcast the gradients
        dx = layer.backward(np.ones(y.shape, dtype=np.float64))
        assert dx.dtype == dtype, layer
        for p in layer.parameters():
            assert p.data.dtype == dtype and p.grad.dtype == dtype, (layer, p)
            assert p.grad.shape == p.data.shape


def test_layers_never_modify_caller_arrays():
    for layer, x in make_layers(np.float64):
        x_before = x.copy()
        y = layer(x)
        dout = np.random.default_rng(4).standard_normal(y.shape)
        dout_before = dout.copy()
        layer.backward(dout)
        np.testing.assert_array_equal(x, x_before, err_msg=repr(layer))
        np.testing.assert_array_equal(dout, dout_before, err_msg=repr(layer))


# --------------------------------------------------------------------------- Affine


def test_affine_gradcheck_2d_and_nd():
    rng = np.random.default_rng(5)
    W, b = rng.standard_normal((6, 3)), rng.standard_normal(3)

    def make():
        return Affine(np.zeros((6, 3)), np.zeros(3))

    check_layer(make, [rng.standard_normal((4, 6)), W, b], ("W", "b"))
    check_layer(make, [rng.standard_normal((4, 2, 3)), W, b], ("W", "b"))


def test_affine_matches_book_formulas_and_restores_shape():
    rng = np.random.default_rng(6)
    x, W, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    fc = Affine(W, b)
    x2 = x.reshape(4, 6)
    np.testing.assert_allclose(fc(x), x2 @ W + b, rtol=1e-14)
    dx = fc.backward(dout)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, (dout @ W.T).reshape(x.shape), rtol=1e-14)
    np.testing.assert_allclose(fc.W.grad, x2.T @ dout, rtol=1e-14)
    np.testing.assert_allclose(fc.b.grad, dout.sum(axis=0), rtol=1e-14)
    assert fc.dW is fc.W.grad and fc.db is fc.b.grad
    assert [p.name for p in fc.parameters()] == ["W", "b"]


def test_affine_input_grad_false_skips_dx_but_fills_parameter_grads():
    rng = np.random.default_rng(7)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    full, lean = Affine(W, b), Affine(W, b, input_grad=False)
    full(x)
    lean(x)
    assert full.backward(dout) is not None
    assert lean.backward(dout) is None
    np.testing.assert_array_equal(lean.W.grad, full.W.grad)
    np.testing.assert_array_equal(lean.b.grad, full.b.grad)


def test_affine_gradients_are_fresh_arrays_each_backward():
    fc = Affine.create(3, 2, rng=0, dtype=np.float64)
    fc(np.ones((2, 3)))
    fc.backward(np.ones((2, 2)))
    first = fc.W.grad
    kept = first.copy()
    fc(np.full((2, 3), 5.0))
    fc.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(first, kept)


def test_affine_casts_input_to_parameter_dtype():
    fc = Affine.create(3, 2, rng=np.random.default_rng(0), dtype=np.float32)
    y = fc(np.ones((2, 3), dtype=np.float64))
    assert y.dtype == np.float32
    assert fc.backward(np.ones((2, 2))).dtype == np.float32


@pytest.mark.parametrize("init, std", [("he", np.sqrt(2 / 784)), ("xavier", np.sqrt(1 / 784)), (0.01, 0.01)])
def test_affine_create_init(init, std):
    fc = Affine.create(784, 100, rng=np.random.default_rng(8), init=init)
    assert fc.W.data.dtype == np.float32 and fc.b.data.dtype == np.float32
    assert not fc.b.data.any()
    # The sample std of n = 78400 normal draws has relative standard error 1/sqrt(2n) = 0.25%;
    # 2% is eight standard errors.
    assert fc.W.data.std() == pytest.approx(std, rel=0.02)
    assert abs(fc.W.data.mean()) < 5 * std / np.sqrt(fc.W.data.size)


def test_affine_create_is_reproducible_from_seed():
    a = Affine.create(5, 4, rng=np.random.default_rng(9))
    b = Affine.create(5, 4, rng=9)
    np.testing.assert_array_equal(a.W.data, b.W.data)


def test_init_std():
    assert init_std("he", 50) == pytest.approx(0.2)
    assert init_std("xavier", 100) == pytest.approx(0.1)


def test_affine_validation():
    fc = Affine.create(784, 10, rng=0)
    with pytest.raises(ValueError, match=r"expects 784 input features.*\(2, 783\)"):
        fc(np.ones((2, 783), dtype=np.float32))
    with pytest.raises(ValueError, match=r"batch of shape \(N, 784\).*x\[None\]"):
        fc(np.ones(784, dtype=np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        fc(np.ones((2, 784), dtype=np.uint8))
    with pytest.raises(BackwardBeforeForwardError, match="Affine.backward"):
        Affine.create(3, 2, rng=0).backward(np.ones((1, 2)))
    fc2 = Affine.create(3, 2, rng=0)
    fc2(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(4, 2\), got \(4, 3\)"):
        fc2.backward(np.ones((4, 3)))
    with pytest.raises(ValueError, match="W must be a 2-D array"):
        Affine(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"b must have shape \(out_features,\) = \(2,\)"):
        Affine(np.ones((3, 2)), np.ones(3))
    with pytest.raises(TypeError, match="share one dtype"):
        Affine(np.ones((3, 2), dtype=np.float32), np.ones(2))
    with pytest.raises(ValueError, match="init must be one of 'he', 'xavier'"):
        Affine.create(3, 2, rng=0, init="glorot")
    with pytest.raises(ValueError, match="init must lie in"):
        Affine.create(3, 2, rng=0, init=-0.1)
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        Affine.create(0, 2, rng=0)
    with pytest.raises(TypeError, match="out_features must be a positive integer"):
        Affine.create(3, 2.5, rng=0)
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        Affine.create(3, 2, rng=0, dtype=np.float16)
    with pytest.raises(TypeError, match="np.random.default_rng"):
        Affine.create(3, 2, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="input_grad must be True or False"):
        Affine(np.ones((3, 2)), np.ones(2), input_grad=None)


# --------------------------------------------------------------------------- Dropout


def test_dropout_gradcheck_with_a_fixed_mask():
    x = np.random.default_rng(10).standard_normal((5, 6))
    check_layer(lambda: Dropout(0.4, rng=np.random.default_rng(11)), [x])


def test_dropout_eval_is_identity():
    drop = Dropout(0.5, rng=np.random.default_rng(0)).eval()
    x, dout = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    assert drop(x) is x
    assert drop.backward(dout) is dout
    zero = Dropout(0.0, rng=np.random.default_rng(0))
    assert zero(x) is x


def test_dropout_training_scales_and_preserves_the_mean():
    p, shape = 0.3, (200, 500)
    n = shape[0] * shape[1]
    drop = Dropout(p, rng=np.random.default_rng(12))
    x = np.ones(shape)
    y = drop(x)
    scale = 1 / (1 - p)
    assert set(np.unique(y).tolist()) == {0.0, scale}
    # Each output is scale * Bernoulli(1 - p): mean 1, variance scale^2 (1 - p) p = p / (1 - p).
    # The mean of n = 1e5 of them has standard deviation sqrt(p / ((1 - p) n)) = 2.07e-3;
    # the tolerance 1.1e-2 is about five of those (chance of a false failure ~ 1e-6).
    assert abs(y.mean() - 1.0) < 5.3 * np.sqrt(p / ((1 - p) * n))
    # The dropped fraction is a binomial proportion with std sqrt(p (1 - p) / n) = 1.45e-3.
    assert abs(np.mean(y == 0) - p) < 5 * np.sqrt(p * (1 - p) / n)
    # backward drops exactly the same elements and applies the same scale
    dx = drop.backward(np.full(shape, 2.0))
    np.testing.assert_array_equal(dx, 2.0 * y)


def test_dropout_keeps_float32_and_reproduces_from_seed():
    x = np.ones((4, 5), dtype=np.float32)
    a = Dropout(0.5, rng=np.random.default_rng(13))(x)
    b = Dropout(0.5, rng=np.random.default_rng(13))(x)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_dropout_validation():
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"p must lie in \[0.0, 1.0\)"):
            Dropout(p)
    with pytest.raises(TypeError, match="p must be a real number"):
        Dropout("0.5")
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        Dropout(0.5, rng=0)
    assert isinstance(Dropout(0.5).rng, np.random.Generator)  # None: a fresh generator
    with pytest.raises(BackwardBeforeForwardError):
        Dropout(0.5).backward(np.ones(2))


# --------------------------------------------------------------------------- BatchNorm


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_batchnorm_training_gradcheck(shape):
    rng = np.random.default_rng(14)
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    check_layer(lambda: BatchNorm(4, dtype=np.float64), [x, gamma, beta], ("weight", "bias"))


def test_batchnorm_eval_gradcheck():
    rng = np.random.default_rng(15)
    mean, var = rng.standard_normal(4), rng.uniform(0.5, 2.0, 4)

    def make():
        bn = BatchNorm(4, dtype=np.float64).eval()
        bn.running_mean[:], bn.running_var[:] = mean, var
        return bn

    check_layer(
        make, [rng.standard_normal((5, 4)), rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)], ("weight", "bias")
    )


def test_batchnorm_training_output_is_normalised_and_stats_follow_momentum():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((50, 3)) * [1.0, 5.0, 0.1] + [0.0, -3.0, 7.0]
    bn = BatchNorm(3, momentum=0.2, dtype=np.float64)
    y = bn(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean, 0.2 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.8 + 0.2 * x.var(axis=0, ddof=1), rtol=1e-12)
    assert [p.name for p in bn.parameters()] == ["weight", "bias"]
    assert set(bn.buffers()) == {"running_mean", "running_var"}


def test_batchnorm_eval_uses_running_stats_and_updates_nothing():
    bn = BatchNorm(2, dtype=np.float64).eval()
    bn.running_mean[:] = [1.0, 2.0]
    bn.running_var[:] = [4.0, 9.0]
    y = bn(np.array([[3.0, 8.0]]))  # one sample is fine in eval
    np.testing.assert_allclose(y, [[2 / np.sqrt(4 + 1e-5), 6 / np.sqrt(9 + 1e-5)]])
    assert bn.running_mean.tolist() == [1.0, 2.0] and bn.running_var.tolist() == [4.0, 9.0]


def test_batchnorm_validation():
    bn = BatchNorm(3)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3\) or \(N, 3, L\).*\(4, 2\)"):
        bn(np.ones((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(BackwardBeforeForwardError):
        BatchNorm(3).backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        BatchNorm(0)
    with pytest.raises(ValueError, match="eps must lie in"):
        BatchNorm(3, eps=0.0)
    with pytest.raises(ValueError, match="momentum must lie in"):
        BatchNorm(3, momentum=1.5)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("shape", [(8, 5), (4, 5, 3)])
def test_batchnorm_matches_torch(dtype, tol, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    C = shape[1]
    gamma, beta = rng.uniform(0.5, 1.5, C).astype(dtype), rng.standard_normal(C).astype(dtype)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ref = torch.nn.BatchNorm1d(C, eps=1e-5, momentum=0.1, dtype=tdtype)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    bn = BatchNorm(C, eps=1e-5, momentum=0.1, dtype=dtype)
    bn.weight.data[:], bn.bias.data[:] = gamma, beta

    for _ in range(3):  # training: output, all three gradients, running statistics
        x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
        dout = rng.standard_normal(shape).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(torch.from_numpy(dout))
        y = bn(x)
        dx = bn.backward(dout)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(bn.weight.grad, ref.weight.grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(bn.bias.grad, ref.bias.grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(bn.running_mean, ref.running_mean.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(bn.running_var, ref.running_var.numpy(), rtol=tol, atol=tol)
        assert y.dtype == dx.dtype == dtype

    ref.eval()
    bn.eval()
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    ref.zero_grad()
    yt = ref(xt)
    yt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(bn(x), yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(bn.backward(dout), xt.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(bn.weight.grad, ref.weight.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(bn.bias.grad, ref.bias.grad.numpy(), rtol=tol, atol=tol)


# --------------------------------------------------------------------------- the protocol


def test_every_layer_is_a_layer_with_modes():
    for layer, _ in make_layers(np.float64):
        assert isinstance(layer, Layer)
        assert layer.eval() is layer and layer.training is False
        assert layer.train() is layer and layer.training is True
