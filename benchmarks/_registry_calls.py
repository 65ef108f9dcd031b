"""One call of a registered loss on one option path, in each library: losslab, PyTorch, JAX.

A case (a plain dict, sent to the workers as JSON) names a loss, a path and a size:
``{"kind": "registry", "loss": "NLLLoss", "path": "weight=array,ignore_index=-100", "b": 16384,
"dtype": "float32"}``. Every library builds the same inputs from the path's declaration beside the
loss (``losslab.registry``: ``spec.make_paths(b)``, seed 0), and times forward + backward with
``reduction='mean'`` (or the path's own reduction):

* losslab: its loss object, ``L(*inputs); L.backward()`` (built by ``spec.build``: a loss that
  owns parameters, ``LinearCrossEntropyLoss``, ``AdaptiveLogSoftmaxWithLoss``, from its arrays,
  its backward writing the parameters' gradients too);
* PyTorch: ``torch.nn.<Name>(**options)`` on leaf tensors (``.grad`` reset to ``None``), for the
  losses the registry marks ``torch=True`` and that take options, not sizes: a loss owning
  parameters gets ``-`` here (PyTorch's linear cross-entropy is timed against losslab's in
  ``benchmarks/linear_cross_entropy.py``);
* JAX: ``jax.jit(jax.value_and_grad(f, argnums))`` of optax's loss where optax has it, else of the
  loss written in ``jax.numpy`` (``_jax_losses.makers()``: every registered loss), differentiating
  the inputs losslab's backward returns (a loss's parameters too).

A builder returns ``None`` for a path its library does not have: the cell then shows ``-``. The call
it returns also carries ``call.value()``: the loss's value as a float (``losses.py --check``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def path_case(case: dict):
    """``(spec, inputs, options)`` of the case: the registry's path at batch ``b``, cast to the case's dtype."""
    from losslab import registry

    spec = registry.get(case["loss"])
    dtype = np.dtype(case["dtype"])
    for c in spec.make_paths(case["b"], only=case["path"]):
        if c.id == case["path"]:
            inputs = tuple(a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a for a in c.inputs)
            options = {k: (val.astype(dtype) if isinstance(val, np.ndarray) else val) for k, val in c.options.items()}
            options.setdefault("reduction", "mean")
            return spec, inputs, options
    raise ValueError(f"{case['loss']} has no path {case['path']!r}")


# --------------------------------------------------------------------------- losslab


def losslab_call(case: dict) -> Callable[[], Any]:
    spec, inputs, options = path_case(case)
    loss, args = spec.build(inputs, options)

    def call():
        spec.call(loss, args)
        return spec.gradients(loss)

    call.value = lambda: float(spec.call(loss, args))
    return call


def peak_bytes(case: dict) -> dict:
    """Peak NumPy memory of one losslab call (forward + backward), beyond its inputs: tracemalloc's peak."""
    import tracemalloc

    call = losslab_call(case)
    call()  # warm-up: compiled kernels, thread pools, caches
    _spec, inputs, _ = path_case(case)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    grads = call()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del grads
    return {"peak": peak, "inputs": int(sum(np.asarray(a).nbytes for a in inputs))}


# --------------------------------------------------------------------------- PyTorch


def _torch_distance(torch, name):
    if name is None:
        return None
    if name == "cosine":
        return lambda a, b: 1 - torch.nn.functional.cosine_similarity(a, b, dim=-1)
    if name == "pairwise":
        return torch.nn.PairwiseDistance()
    return None


def torch_call(case: dict) -> Callable[[], Any] | None:
    import torch

    spec, inputs, options = path_case(case)
    if spec.torch_name is None or spec.parameters:  # torch.nn's class takes sizes: see the module's docstring
        return None
    opts = {}
    for k, val in options.items():
        if k == "distance_function":
            val = _torch_distance(torch, val)
        opts[k] = torch.from_numpy(val) if isinstance(val, np.ndarray) else val
    loss = getattr(torch.nn, spec.torch_name)(**opts)
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
    leaves = [tensors[spec.inputs.index(n)].requires_grad_(True) for n in spec.differentiable]

    def call():
        for t in leaves:
            t.grad = None
        loss(*tensors).backward()
        return [t.grad for t in leaves]

    def value() -> float:
        with torch.no_grad():
            return float(loss(*tensors))

    call.value = value
    return call


# --------------------------------------------------------------------------- JAX


def jax_call(case: dict) -> Callable[[], Any] | None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import _jax_losses

    spec, inputs, options = path_case(case)
    options = {k: jax.device_put(val) if isinstance(val, np.ndarray) else val for k, val in options.items()}
    maker = _jax_losses.makers().get(spec.name)
    f = maker(options) if maker else None
    if f is None or options.get("reduction", "mean") not in ("mean", "batchmean"):
        return None
    arrays = [jax.device_put(a) for a in inputs]
    argnums = tuple(spec.inputs.index(n) for n in spec.differentiable)
    step = jax.jit(jax.value_and_grad(f, argnums=argnums))

    def call():
        value, grads = step(*arrays)
        return jax.block_until_ready(grads)

    call.value = lambda: float(step(*arrays)[0])
    return call
