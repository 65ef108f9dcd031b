"""Input checks at the edges: ragged lists, uint64 labels, huge ignore_index, GaussianNLL's var,
ndarray subclasses (np.memmap) and NumPy parameters with Dask inputs."""

from pathlib import Path

import numpy as np
import pytest
from _support import as_tuple, case_args

import losslab.functional as F
import losslab.nn as nn
from losslab.registry import LOSSES

# --------------------------------------------------------------------------- ragged nested lists


@pytest.mark.parametrize("position, name", [(0, "input"), (1, "target")])
def test_ragged_list_names_the_argument(position, name):
    args = [[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]]]
    args[position] = [[1.0, 2.0], [3.0]]
    with pytest.raises(
        ValueError,
        match=rf"^{name} must be a rectangular array, got a nested list whose "
        r"rows have different lengths \(a ragged list\)",
    ):
        F.mse_loss(*args)


def test_ragged_list_through_the_class_names_the_argument():
    with pytest.raises(ValueError, match=r"^input must be a rectangular array"):
        nn.MSELoss()([[1.0, 2.0], [3.0]], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"^target must be a rectangular array"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), [[0], [1, 2]])


def test_ragged_class_labels_name_the_target():
    with pytest.raises(ValueError, match=r"^target must be a rectangular array, got a nested list"):
        F.cross_entropy(np.zeros((2, 3)), [[0, 1], [2]])


def test_ragged_weight_and_dout_are_named():
    with pytest.raises(ValueError, match=r"^weight must be a rectangular array"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), weight=[[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match=r"^dout must be a rectangular array"):
        F.mse_loss_backward([[1.0, 2.0], [3.0]], np.zeros((2, 2)), np.zeros((2, 2)), reduction="none")


# --------------------------------------------------------------------------- uint64 labels


@pytest.mark.parametrize("function", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_uint64_label_of_2_to_63_is_named_as_it_is(function):
    target = np.array([2**63, 0], np.uint64)
    with pytest.raises(
        IndexError,
        match=r"^target holds the class index 9223372036854775808, out of range: "
        r"expected values in \[0, 2\] for 3 classes",
    ):
        function(np.zeros((2, 3)), target)


def test_uint64_class_index_error_is_a_value_error_too():
    with pytest.raises(ValueError, match="target holds the class index 18446744073709551615"):
        F.multi_margin_loss(np.zeros((1, 3)), np.array([2**64 - 1], np.uint64))


def test_uint64_multilabel_end_marker_is_not_read_from_a_wrapped_value():
    target = np.array([[2**64 - 1, 0, 1]], np.uint64)
    with pytest.raises(
        ValueError,
        match=r"^target holds the value 18446744073709551615, out of range: "
        r"expected class indices in \[0, 2\] for 3 classes, or -1",
    ):
        F.multilabel_margin_loss(np.zeros((1, 3)), target)


def test_small_uint64_labels_still_work():
    x = np.random.default_rng(0).normal(size=(3, 4))
    signed, unsigned = np.array([[3, 0, -1, 0]] * 3), np.array([[3, 0, 1, 2]] * 3, np.uint64)
    assert F.multilabel_margin_loss(x, signed) == F.multilabel_margin_loss(x, signed.astype(np.int32))
    assert np.isfinite(F.multilabel_margin_loss(x, unsigned))
    labels = np.array([3, 0, 2])
    assert F.cross_entropy(x, labels.astype(np.uint64)) == F.cross_entropy(x, labels)


# --------------------------------------------------------------------------- ignore_index beyond int64


def test_huge_ignore_index_ignores_nothing():
    x = np.random.default_rng(1).normal(size=(4, 3))
    t = np.array([0, 2, 1, 2])
    for function in (F.cross_entropy, F.nll_loss):
        np.testing.assert_allclose(function(x, t, ignore_index=10**30), function(x, t, ignore_index=-1), rtol=1e-15)
        np.testing.assert_allclose(
            function(x, t, ignore_index=-(10**30), reduction="sum"), function(x, t, reduction="sum"), rtol=1e-15
        )
    loss = nn.CrossEntropyLoss(ignore_index=10**30)
    np.testing.assert_allclose(loss(x, t), F.cross_entropy(x, t), rtol=1e-15)
    np.testing.assert_allclose(loss.backward(), F.cross_entropy_backward(1.0, x, t), rtol=1e-14)


def test_huge_ignore_index_still_checks_labels():
    with pytest.raises(IndexError, match=r"target holds the class index 3, out of range"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 3]), ignore_index=10**30)


# --------------------------------------------------------------------------- GaussianNLLLoss's var


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.uint8])
def test_gaussian_var_must_be_float(dtype):
    x = np.zeros(3)
    with pytest.raises(
        TypeError,
        match=rf"^var must hold real numbers as float32 or float64 \(or be a Python "
        rf"float\), got an array of shape \(3,\) and dtype {np.dtype(dtype)}",
    ):
        F.gaussian_nll_loss(x, x, np.ones(3, dtype))
    with pytest.raises(TypeError, match=r"^var must hold real numbers as float32 or float64"):
        nn.GaussianNLLLoss()(x, x, np.ones(3, dtype))


@pytest.mark.parametrize("var_shape", [(3, 2), (3, 1), (3,), ()])
def test_gaussian_var_gradient_is_writable(var_shape):
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    var = 1.5 if var_shape == () else rng.uniform(0.5, 2.0, var_shape)
    for reduction in ("mean", "sum", "none"):
        dout = 1.0 if reduction != "none" else np.ones((3, 2))
        gx, gv = F.gaussian_nll_loss_backward(dout, x, t, var, reduction=reduction)
        expected = gv.copy()
        gv *= 0.1  # an optimizer's in-place step
        np.testing.assert_allclose(gv, expected * 0.1, rtol=1e-15)
        gx *= 0.1
    loss = nn.GaussianNLLLoss()
    loss(x, t, var)
    _, gv = loss.backward()
    gv *= 0.1


# --------------------------------------------------------------------------- np.memmap: the same bits


def _memmap(a: np.ndarray, path) -> np.memmap:
    m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape if a.shape else (1,))
    m[...] = a.reshape(m.shape)
    return m if a.shape else m.reshape(())


def _bits(a) -> bytes:
    a = np.asarray(a)
    return a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes()


def _as_memmaps(arrays, tmp_path, prefix):
    out = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray) and a.size and a.dtype != object:
            out.append(_memmap(a, tmp_path / f"{prefix}{i}.dat"))
        else:
            out.append(a)
    return tuple(out)


@pytest.mark.parametrize(
    "name, case_inputs",
    [
        ("cross_entropy", lambda r: (r.normal(size=(64, 10)), r.integers(0, 10, 64))),
        ("binary_cross_entropy_with_logits", lambda r: (r.normal(size=(64, 5)), r.uniform(size=(64, 5)))),
        ("smooth_l1_loss", lambda r: (r.normal(size=(64, 5)), r.normal(size=(64, 5)))),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_memmap_gives_the_bits_of_an_ndarray(name, case_inputs, dtype, tmp_path):
    x, t = case_inputs(np.random.default_rng(3))
    x = x.astype(dtype)
    if t.dtype.kind == "f":
        t = t.astype(dtype)
    mx, mt = _as_memmaps((x, t), tmp_path, "a")
    function, backward = getattr(F, name), getattr(F, name + "_backward")
    for reduction in ("mean", "sum", "none"):
        out = function(x, t, reduction=reduction)
        dout = 1.0 if np.ndim(out) == 0 else np.full(np.shape(out), 0.5, dtype)
        assert _bits(function(mx, mt, reduction=reduction)) == _bits(out)
        assert _bits(backward(dout, mx, mt, reduction=reduction)) == _bits(backward(dout, x, t, reduction=reduction))


def test_memmap_is_viewed_not_copied(tmp_path):
    from losslab._fast._contract import plain_inputs

    x = np.arange(6.0).reshape(2, 3)
    m = _memmap(x, tmp_path / "v.dat")
    viewed, same, label = plain_inputs((m, x, 3))
    assert viewed.__class__ is np.ndarray and np.shares_memory(viewed, m)
    assert same is x and label == 3
    F.mse_loss(m, x)
    np.testing.assert_array_equal(m, x)  # the caller's file is left as it was


@pytest.mark.parametrize("cls_name", ["CrossEntropyLoss", "BCEWithLogitsLoss", "SmoothL1Loss"])
def test_memmap_gives_the_bits_of_an_ndarray_through_the_class(cls_name, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(128, 7))
    t = rng.integers(0, 7, 128) if cls_name == "CrossEntropyLoss" else rng.uniform(size=(128, 7))
    mx, mt = _as_memmaps((x, t), tmp_path, "c")
    plain, mapped = getattr(nn, cls_name)(), getattr(nn, cls_name)()
    assert _bits(mapped(mx, mt)) == _bits(plain(x, t))
    assert _bits(mapped.backward()) == _bits(plain.backward())


def _array_cases():
    params = []
    for spec in LOSSES:
        case = spec.make_cases()[0]
        if any(isinstance(a, np.ndarray) and a.size for a in case.inputs):
            params.append(pytest.param(spec, case, id=spec.name))
    return params


def _read_only(arrays):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray) and a.size and a.dtype != object:
            a = a.copy()
            a.flags.writeable = False
        out.append(a)
    return tuple(out)


_STORAGES = {  # how a caller's arrays may be held: each must give the bits of plain writeable ndarrays
    "memmap": lambda inputs, tmp_path: _as_memmaps(inputs, tmp_path, "m"),
    # np.load(..., mmap_mode='r'), a frozen array
    "read-only": lambda inputs, tmp_path: _read_only(inputs),
}


@pytest.mark.parametrize("storage", list(_STORAGES))
@pytest.mark.parametrize("spec, case", _array_cases())
def test_every_loss_gives_the_same_bits_on_other_storage(spec, case, storage, tmp_path):
    """A memmap or a read-only input is answered like a writeable ndarray: values, gradients, the class."""
    inputs, options = case_args(case)
    held = _STORAGES[storage](inputs, tmp_path)
    for reduction in spec.reductions:
        out = spec.function(*inputs, **options, reduction=reduction)
        assert _bits(spec.function(*held, **options, reduction=reduction)) == _bits(out)
        dout = np.random.default_rng(7).uniform(0.5, 1.5, np.shape(out))
        grads = as_tuple(spec.backward(dout, *inputs, **options, reduction=reduction))
        hgrads = as_tuple(spec.backward(dout, *held, **options, reduction=reduction))
        assert [_bits(g) for g in hgrads] == [_bits(g) for g in grads]
    (plain, args), (on_held, hargs) = spec.build(inputs, options), spec.build(held, options)
    assert _bits(spec.call(on_held, hargs)) == _bits(spec.call(plain, args))
    assert [_bits(g) for g in spec.gradients(on_held)] == [_bits(g) for g in spec.gradients(plain)]


# --------------------------------------------------------------------------- Dask with NumPy parameters


def _dask():
    pytest.importorskip("array_api_compat")
    return pytest.importorskip("dask.array")


def test_dask_inputs_take_a_numpy_class_weight():
    da = _dask()
    rng = np.random.default_rng(5)
    x, t, w = rng.normal(size=(8, 4)), rng.integers(0, 4, 8), np.array([1.0, 2.0, 3.0, 0.5])
    dx, dt = da.from_array(x, chunks=4), da.from_array(t, chunks=4)
    for reduction in ("mean", "sum", "none"):
        loss, dloss = (
            nn.CrossEntropyLoss(weight=w, reduction=reduction),
            nn.CrossEntropyLoss(weight=w, reduction=reduction),
        )
        out, dout_ = loss(x, t), dloss(dx, dt)
        assert isinstance(dout_, da.Array)
        np.testing.assert_allclose(dout_.compute(), out, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dloss.backward().compute(), loss.backward(), rtol=1e-12, atol=1e-14)


def test_dask_inputs_take_numpy_parameter_arrays():
    da = _dask()
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=(6, 3)), rng.uniform(size=(6, 3))
    dx, dt = da.from_array(x, chunks=3), da.from_array(t, chunks=3)
    pos_weight, var = np.array([0.5, 1.0, 2.0]), rng.uniform(0.5, 2.0, (6, 3))
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(dx, dt, pos_weight=pos_weight).compute(),
        F.binary_cross_entropy_with_logits(x, t, pos_weight=pos_weight),
        rtol=1e-12,
    )
    np.testing.assert_allclose(F.gaussian_nll_loss(dx, dt, var).compute(), F.gaussian_nll_loss(x, t, var), rtol=1e-12)
    gx, gv = F.gaussian_nll_loss_backward(1.0, dx, dt, var)
    ex, ev = F.gaussian_nll_loss_backward(1.0, x, t, var)
    np.testing.assert_allclose(gx.compute(), ex, rtol=1e-12)
    np.testing.assert_allclose(gv.compute(), ev, rtol=1e-12)


def test_numpy_target_with_dask_input_computes_in_dask():
    da = _dask()
    x, t = np.linspace(-1.0, 1.0, 6), np.linspace(0.5, -0.5, 6)
    out = F.mse_loss(da.from_array(x, chunks=3), t, reduction="none")
    assert isinstance(out, da.Array)
    np.testing.assert_allclose(out.compute(), F.mse_loss(x, t, reduction="none"), rtol=1e-15)


def test_numpy_with_an_eager_library_is_still_refused():
    xps = pytest.importorskip("array_api_strict")
    pytest.importorskip("array_api_compat")
    x = xps.zeros((2, 3), dtype=xps.float64)
    with pytest.raises(
        TypeError, match="input is an array_api_strict.Array but weight is a numpy.ndarray: pass arrays of one library"
    ):
        F.cross_entropy(x, xps.asarray([0, 1]), weight=np.ones(3))
    da = _dask()
    with pytest.raises(TypeError, match="pass arrays of one library"):
        F.mse_loss(da.zeros(3), xps.zeros(3, dtype=xps.float64))


# --------------------------------------------------------------------------- documented differences from PyTorch

DIFFERENCES = Path(__file__).resolve().parents[1] / "docs" / "differences.md"


def _differences() -> str:
    return DIFFERENCES.read_text(encoding="utf-8")


def test_kl_div_negative_target_is_a_documented_refusal():
    with pytest.raises(ValueError, match=r"^target must hold probabilities >= 0 when log_target=False"):
        F.kl_div(np.zeros(3), np.array([-1.0, 0.5, 0.5]))
    section = " ".join(_differences().split())
    assert "`KLDivLoss` raises `ValueError` on a negative target" in section


def test_multilabel_margin_0d_input_is_a_documented_refusal():
    with pytest.raises(
        ValueError,
        match=r"^input must be a \(C,\) or \(N, C\) array of class scores, got an "
        r"array of shape \(\)",
    ):
        F.multilabel_margin_loss(np.array(0.5), np.array(0))
    section = " ".join(_differences().split())
    assert "`MultiLabelMarginLoss` raises `ValueError` on a 0-d input" in section


def test_dice_docstring_states_the_optax_smooth_of_0_2_7():
    doc = " ".join(F.dice_loss.__doc__.split())
    assert "optax 0.2.6 with the same ``smooth``" in doc
    assert "``dice_loss(smooth=2 * s)``, or ``tversky_loss(smooth=s)``" in doc
    # what the docstring claims: optax >= 0.2.7's smooth=s, (2I + 2s) / (P + T + 2s), both ways
    rng = np.random.default_rng(8)
    p, t = rng.uniform(size=(3, 2, 5)), (rng.uniform(size=(3, 2, 5)) > 0.5).astype(float)
    s = 0.7
    inter, total = (p * t).sum(axis=2), p.sum(axis=2) + t.sum(axis=2)
    optax_0_2_7 = 1 - ((2 * inter + 2 * s) / (total + 2 * s)).mean(axis=1)
    np.testing.assert_allclose(F.dice_loss(p, t, smooth=2 * s, reduction="none"), optax_0_2_7, rtol=1e-14)
    np.testing.assert_allclose(F.tversky_loss(p, t, smooth=s, reduction="none"), optax_0_2_7, rtol=1e-14)


def _dask_cases_with_numpy_options():
    params = []
    for spec in LOSSES:
        if not spec.array_api:
            continue
        for case in spec.make_cases():
            if any(isinstance(val, np.ndarray) for val in case.options.values()):
                params.append(pytest.param(spec, case, id=f"{spec.name}-{case.id}"))
    return params


@pytest.mark.parametrize("spec, case", _dask_cases_with_numpy_options())
def test_dask_inputs_with_numpy_options_match_numpy(spec, case):
    da = _dask()
    inputs, options = case_args(case)
    dinputs = tuple(da.from_array(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in inputs)
    for reduction in spec.reductions:
        out = spec.function(*inputs, **options, reduction=reduction)
        dout = np.random.default_rng(7).uniform(0.5, 1.5, np.shape(out))
        grads = as_tuple(spec.backward(dout, *inputs, **options, reduction=reduction))
        lout = spec.function(*dinputs, **options, reduction=reduction)
        lgrads = as_tuple(spec.backward(da.from_array(dout), *dinputs, **options, reduction=reduction))
        assert isinstance(lout, da.Array)
        np.testing.assert_allclose(lout.compute(), out, rtol=1e-12, atol=1e-14)
        for lg, g in zip(lgrads, grads, strict=True):
            np.testing.assert_allclose(lg.compute(), g, rtol=1e-12, atol=1e-14)
