"""Shared helpers of the registry-driven tests (imported by the test modules, not a test itself)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from losslab.registry import LOSSES, Case, LossSpec


def cast(a, dtype):
    """Float arrays to ``dtype``; class labels and scalars unchanged."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.astype(dtype)
    return a


def case_args(case: Case, dtype=np.float64) -> tuple[tuple, dict]:
    inputs = tuple(cast(a, dtype) for a in case.inputs)
    options = {k: cast(val, dtype) for k, val in case.options.items()}
    return inputs, options


def as_tuple(grads) -> tuple:
    return grads if isinstance(grads, tuple) else (grads,)


def forward_backward(spec: LossSpec, case: Case, reduction: str, dtype=np.float64, dout=None):
    """Run the pure pair: returns (out, dout, gradients as a tuple)."""
    inputs, options = case_args(case, dtype)
    out = spec.function(*inputs, **options, reduction=reduction)
    if dout is None:
        dout = np.random.default_rng(7).uniform(0.5, 1.5, np.shape(out))
    grads = as_tuple(spec.backward(np.asarray(dout, dtype=dtype), *inputs, **options, reduction=reduction))
    return out, dout, grads


def spec_case_reduction(only=None, numeric_only=False):
    """pytest params over every registered loss x case x reduction."""
    params = []
    for spec in LOSSES:
        if only is not None and spec.name not in only:
            continue
        for case in spec.make_cases():
            if numeric_only and not case.numeric:
                continue
            for reduction in spec.reductions:
                params.append(pytest.param(spec, case, reduction, id=f"{spec.name}-{case.id}-{reduction}"))
    return params


def torch_forward_backward(spec: LossSpec, case: Case, reduction: str, dtype, dout):
    """The same call through torch.nn, returning (out, gradients) as NumPy arrays."""
    import torch

    if spec.parameters:
        return _torch_module_forward_backward(spec, case, reduction, dtype, dout)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    inputs, options = case_args(case, dtype)
    tensors = []
    for i, a in enumerate(inputs):
        t = torch.from_numpy(np.array(a))
        if t.is_floating_point():
            t = t.to(tdtype).requires_grad_(i in spec.grad_positions)
        tensors.append(t)
    topts = {
        k: torch.from_numpy(np.array(val)).to(tdtype) if isinstance(val, np.ndarray) else val
        for k, val in options.items()
    }
    if "distance_function" in topts:
        topts["distance_function"] = torch_distance(topts["distance_function"])
    loss = getattr(torch.nn, spec.torch_name)(**topts, reduction=reduction)
    out = loss(*tensors)
    out.backward(torch.from_numpy(np.array(dout)).to(tdtype))
    grads = tuple(tensors[i].grad.numpy() for i in spec.grad_positions)
    return out.detach().numpy(), grads


def _to_torch(torch, value):
    """A constructor argument for torch: dtypes, arrays and option dataclasses (by their torch.nn name) converted."""
    import dataclasses

    if isinstance(value, np.dtype):
        return getattr(torch, value.name)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if dataclasses.is_dataclass(value):
        return getattr(torch.nn, type(value).__name__)(
            **{f.name: _to_torch(torch, getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    return value


def _torch_module_forward_backward(spec: LossSpec, case: Case, reduction: str, dtype, dout):
    """A loss that owns parameters: torch.nn's module built with the same constructor arguments and parameters."""
    import torch

    inputs, options = case_args(case, dtype)
    loss, args = spec.build(inputs, {**options, "reduction": reduction})
    positional, keywords = loss.constructor_args()
    module = getattr(torch.nn, spec.torch_name)(*positional, **{k: _to_torch(torch, v) for k, v in keywords.items()})
    state = module.state_dict()  # its buffers (a class weight) as built, the parameters as losslab's
    state.update({k: torch.from_numpy(v) for k, v in loss.state_dict().items()})
    module.load_state_dict(state)
    others = [n for n in spec.inputs if n not in spec.parameters]
    tensors = [torch.from_numpy(np.array(a)) for a in args]
    for name, t in zip(others, tensors, strict=True):
        t.requires_grad_(name in spec.differentiable)
    result = module(*tensors)
    read = getattr(loss, "_registry_value", None)
    out = result if read is None else read(result)
    out.backward(torch.from_numpy(np.array(dout)).to(out.dtype))
    grads = {n: t.grad.numpy() for n, t in zip(others, tensors, strict=True) if n in spec.differentiable}
    # the parameters' gradients in the registry's layout: the losslab module loaded with them, read back
    # (a parameter no sample reached, a cluster of one sample's call, has no .grad in torch: zero)
    loss.load_state_dict({k: torch.zeros_like(p) if p.grad is None else p.grad for k, p in module.named_parameters()})
    grads.update(zip(spec.parameters, loss._registry_parameters()))
    return out.detach().numpy(), tuple(grads[n] for n in spec.differentiable)


def torch_distance(distance_function):
    """The torch callable matching a losslab ``distance_function`` option (None, a name or a distance object)."""
    import torch.nn.functional as tF

    from losslab.nn.metric import CosineDistance, PairwiseDistance

    if distance_function is None:
        return None
    if distance_function == "pairwise":
        return tF.pairwise_distance
    if distance_function == "cosine":
        distance_function = CosineDistance()
    if isinstance(distance_function, PairwiseDistance):
        p, eps = distance_function.p, distance_function.eps
        return lambda x, y: tF.pairwise_distance(x, y, p=p, eps=eps)
    if isinstance(distance_function, CosineDistance):
        eps = distance_function.eps
        return lambda x, y: 1.0 - tF.cosine_similarity(x, y, dim=-1, eps=eps)
    raise ValueError(f"no torch counterpart for distance_function={distance_function!r}")


EXTRA_GOLDEN = Path(__file__).parent / "golden" / "extra_golden.npz"


def extra_golden_cases(losses) -> list:
    """pytest params ``(entry, get)`` for the entries of tests/golden/extra_golden.npz whose loss is in
    ``losses``; ``get(ref)`` reads one stored array (tools/make_golden_extra.py packs them flat)."""
    with np.load(EXTRA_GOLDEN, allow_pickle=False) as data:
        flat = {k: data[k] for k in data.files}
    index = json.loads(str(flat.pop("index")))

    def get(ref):
        name, offset, shape = ref
        return flat[name][offset : offset + int(np.prod(shape, dtype=np.int64))].reshape(shape)

    return [pytest.param(e, get, id=f"{e['loss']}-{e['case']}") for e in index["cases"] if e["loss"] in losses]


GOLDEN_TOLERANCES = {"float64": dict(rtol=1e-7, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-6)}


def check_golden_entry(module, entry, get) -> None:
    """Hold ``module``'s function and its ``_backward`` to one entry of :func:`extra_golden_cases`: for
    each stored dtype and reduction, the value and the gradient within GOLDEN_TOLERANCES, in that dtype."""
    name = entry["function"].split(".")[1]
    fn, backward = getattr(module, name), getattr(module, f"{name}_backward")
    inputs = [get(r) for r in entry["inputs"]]
    array_options = {k: get(r) for k, r in entry["array_options"].items()}
    for res in entry["results"]:
        dtype = res["dtype"]
        args = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
        options = dict(entry["options"], **{k: a.astype(dtype) for k, a in array_options.items()})
        if "axis" in entry:  # sparsemax: a mapping along an axis, not a reduced loss
            options["axis"] = entry["axis"]
        else:
            options["reduction"] = res["reduction"]
        out = fn(*args, **options)
        grad = backward(get(res["dout"]), *args, **options)
        np.testing.assert_allclose(out, get(res["out"]), **GOLDEN_TOLERANCES[dtype], err_msg=entry["reference"])
        np.testing.assert_allclose(grad, get(res["grad"]), **GOLDEN_TOLERANCES[dtype], err_msg=entry["reference"])
        assert np.asarray(out).dtype == np.dtype(dtype) and grad.dtype == np.dtype(dtype)


# --------------------------------------------------------------------------- the judge's fixtures

GRADE_FIXTURES = Path(__file__).parent / "grade_fixtures"
REFERENCES = {
    "level1_reference.py": "loss-forward",
    "level2_reference.py": "loss-backward",
    "cee_reference.py": "cross-entropy-error",
    "numerical_gradient_reference.py": "numerical-gradient",
    "relu_reference.py": "relu-backward",
    "sigmoid_reference.py": "sigmoid-backward",
    "affine_reference.py": "affine-backward",
    "bce_reference.py": "bce-with-logits",
    "sgd_reference.py": "sgd-step",
}


def grade_fixture(name: str) -> Path:
    """A learner's file for the judge's tests: a reference solution (each built-in exercise's solution.py,
    by its old fixture name) or a file of tests/grade_fixtures/."""
    if name in REFERENCES:
        from losslab.grade import catalog

        return Path(str(catalog.get(REFERENCES[name]).folder)) / "solution.py"
    return GRADE_FIXTURES / name


# --------------------------------------------------------------------------- the documentation's scripts

DOCS = Path(__file__).resolve().parents[1] / "docs"


def load_docs_module(name: str, filename: str):
    """``docs/<filename>`` imported as the module ``name`` (the docs folder is not a package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, DOCS / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
