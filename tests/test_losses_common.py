"""Properties every registered loss must have, driven by the registry's cases."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from _support import as_tuple, case_args, forward_backward, spec_case_reduction

from losslab import _validation
from losslab.gradcheck import gradcheck
from losslab.registry import LOSSES


@pytest.mark.parametrize("spec, case, reduction", spec_case_reduction(numeric_only=True))
def test_gradient_matches_central_differences(spec, case, reduction):
    inputs, options = case_args(case)
    out, dout, grads = forward_backward(spec, case, reduction)

    def objective(*args):
        return float(np.sum(dout * spec.function(*args, **options, reduction=reduction)))

    result = gradcheck(objective, inputs, grads, wrt=spec.grad_positions)
    assert result.ok, str(result)


@pytest.mark.parametrize("spec, case, reduction", spec_case_reduction())
def test_float32_in_float32_out_and_close_to_float64(spec, case, reduction):
    out64, dout, grads64 = forward_backward(spec, case, reduction, np.float64)
    out32, _, grads32 = forward_backward(spec, case, reduction, np.float32, dout=dout)
    assert np.asarray(out32).dtype == np.float32
    assert np.shape(out32) == np.shape(out64)
    if reduction != "none":
        assert isinstance(out32, np.float32) and isinstance(out64, np.float64)
    np.testing.assert_allclose(out32, out64, rtol=2e-4, atol=1e-5)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("spec, case, reduction", spec_case_reduction())
def test_gradient_shapes_match_inputs(spec, case, reduction):
    _, _, grads = forward_backward(spec, case, reduction)
    assert len(grads) == len(spec.differentiable)
    for pos, g in zip(spec.grad_positions, grads):
        assert g.shape == np.shape(case.inputs[pos])
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize("spec, case, reduction", spec_case_reduction())
def test_class_matches_function_and_leaves_inputs_alone(spec, case, reduction):
    inputs, options = case_args(case)
    before = [np.array(a, copy=True) for a in inputs] + [np.array(o, copy=True) for o in options.values()]
    loss, args = spec.build(inputs, {**options, "reduction": reduction})
    out = spec.call(loss, args)
    dout = np.full(np.shape(out), 0.75)
    grads = spec.gradients(loss, dout)
    np.testing.assert_array_equal(out, spec.function(*inputs, **options, reduction=reduction))
    expected = as_tuple(spec.backward(dout, *inputs, **options, reduction=reduction))
    for g, e in zip(grads, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    np.testing.assert_array_equal(spec.call(loss, args), out)
    after = list(inputs) + list(options.values())
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_default_backward_is_dout_one(spec):
    case = spec.make_cases()[0]
    inputs, options = case_args(case)
    loss, args = spec.build(inputs, options)
    out = spec.call(loss, args)
    for g, e in zip(
        spec.gradients(loss), as_tuple(spec.backward(np.ones(np.shape(out)), *inputs, **options)), strict=True
    ):
        np.testing.assert_allclose(g, e, rtol=1e-15)


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_backward_before_forward_raises(spec):
    inputs, options = case_args(spec.make_cases()[0])
    with pytest.raises(_validation.BackwardBeforeForwardError, match="before forward"):
        spec.gradients(spec.build(inputs, options)[0])
    with pytest.raises(ValueError, match="before forward"):
        spec.gradients(spec.build(inputs, options)[0])


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_unknown_reduction_raises(spec):
    case = spec.make_cases()[0]
    inputs, options = case_args(case)
    with pytest.raises(ValueError, match=r"reduction must be one of .*got 'avg'"):
        spec.build(inputs, {**options, "reduction": "avg"})
    with pytest.raises(ValueError, match="reduction"):
        spec.function(*inputs, **options, reduction="avg")


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_wrong_dout_shape_raises(spec):
    case = spec.make_cases()[0]
    inputs, options = case_args(case)
    loss, args = spec.build(inputs, {**options, "reduction": "none"})
    out = spec.call(loss, args)
    with pytest.raises(ValueError, match="dout must be a scalar or have the loss's output shape"):
        spec.gradients(loss, np.ones(np.shape(out) + (2,)))


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_wrong_number_of_inputs_raises(spec):
    case = spec.make_cases()[0]
    inputs, options = case_args(case)
    with pytest.raises(TypeError, match=f"takes {len(spec.inputs)} inputs"):
        spec.call(*spec.build(inputs[:-1], options))


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_integer_input_is_a_type_error(spec):
    case = spec.make_cases()[0]
    inputs, options = case_args(case)
    bad = list(inputs)
    bad[0] = np.ones(np.shape(inputs[0]), dtype=np.int64)
    with pytest.raises(TypeError, match=f"{spec.inputs[0]} must be a float32 or float64 array"):
        spec.function(*bad, **options)


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_docstring_has_formula_and_example(spec):
    for fn in (spec.function, spec.backward):
        assert fn.__doc__ and ">>>" in fn.__doc__, f"{fn.__name__} needs a doctest"
    assert "math::" in spec.function.__doc__ or "=" in spec.function.__doc__
    assert spec.cls.__doc__


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_constructor_follows_the_declared_options(spec):
    if spec.parameters:  # PyTorch's constructor (sizes first); the declared options are from_inputs's
        case = spec.make_cases()[0]
        inputs, options = case_args(case)
        with pytest.raises(TypeError, match="unexpected keyword argument 'reductio'"):
            spec.build(inputs, {**options, "reductio": "sum"})
        assert repr(spec.build(inputs, options)[0]).startswith(f"{spec.name}(")
        return
    sig = inspect.signature(spec.cls)
    assert tuple(sig.parameters) == spec.options
    loss = spec.cls()
    assert loss.options() == {name: p.default for name, p in sig.parameters.items()}
    assert repr(loss).startswith(f"{spec.name}(")
    with pytest.raises(TypeError, match=f"{spec.name}.. got an unexpected keyword argument 'reductio'"):
        spec.cls(reductio="sum")
    positional = [p for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    with pytest.raises(TypeError, match=f"{spec.name}.. takes .* by position, got {len(positional) + 1}"):
        spec.cls(*[p.default for p in positional], "mean")
    if positional:
        with pytest.raises(TypeError, match=f"multiple values for option '{positional[0].name}'"):
            spec.cls(positional[0].default, **{positional[0].name: positional[0].default})
    with pytest.raises(ValueError, match="reduction must be one of"):
        spec.cls(reduction="avg")


@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s.name)
def test_class_and_functions_agree_on_inputs_and_options(spec):
    """The class's declared inputs and options are the pure pair's: names, order, and every default
    the function has (a function may require an option that the class defaults, as QuantileLoss does)."""
    params = inspect.signature(spec.function).parameters.values()
    assert tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD) == spec.inputs
    options = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
    declared = {o.name: o.default for o in spec.cls._options}
    assert set(options) == set(declared)
    assert all(declared[n] == d for n, d in options.items() if d is not inspect.Parameter.empty)
    backward = inspect.signature(spec.backward).parameters.values()
    assert tuple(p.name for p in backward if p.kind is p.POSITIONAL_OR_KEYWORD) == ("dout", *spec.inputs)
    assert {p.name for p in backward if p.kind is p.KEYWORD_ONLY} == set(declared)
    assert set(spec.differentiable) <= set(spec.inputs)
