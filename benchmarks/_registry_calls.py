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
  loss written in ``jax.numpy``, for the paths :data:`JAX` covers (``None`` for the others).

A builder returns ``None`` for a path its library does not have: the cell then shows ``-``.
"""

from __future__ import annotations

from typing import Any, Callable

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

    return call


def peak_bytes(case: dict) -> dict:
    """Peak NumPy memory of one losslab call (forward + backward), beyond its inputs: tracemalloc's peak."""
    import tracemalloc

    call = losslab_call(case)
    call()   # warm-up: compiled kernels, thread pools, caches
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

    return call


# --------------------------------------------------------------------------- JAX

def _jax_losses() -> dict[str, Callable]:
    """``name -> maker(options) -> f(*inputs) or None``: the paths JAX runs, mean over the batch as losslab."""
    import jax
    import jax.numpy as jnp
    import optax

    def plain(options, *names):
        """True where every option outside ``names`` (and reduction) has its default."""
        defaults = {"weight": None, "pos_weight": None, "ignore_index": -100, "label_smoothing": 0.0,
                    "swap": False, "p": 2.0, "distance_function": None, "zero_infinity": False, "full": False}
        return all(options.get(k, d) is None if d is None else options.get(k, d) == d
                   for k, d in defaults.items() if k not in names)

    def cross_entropy(o):
        if not plain(o, "label_smoothing", "ignore_index"):
            return None
        ls = o.get("label_smoothing", 0.0)

        def f(x, t):
            if x.ndim != 2:
                return None
            if t.ndim == 2:
                p = t if ls == 0 else optax.smooth_labels(t, ls)
                return optax.softmax_cross_entropy(x, p).mean()
            if ls == 0:
                return optax.softmax_cross_entropy_with_integer_labels(x, t).mean()
            return optax.softmax_cross_entropy(x, optax.smooth_labels(jax.nn.one_hot(t, x.shape[1]), ls)).mean()
        return f if o.get("ignore_index", -100) == -100 else None

    def nll(o):
        if not plain(o):
            return None
        return lambda x, t: -jnp.take_along_axis(x, t[:, None], axis=1).mean() if x.ndim == 2 else None

    def bce_logits(o):
        if not plain(o):
            return None
        return lambda x, t: optax.sigmoid_binary_cross_entropy(x, t).mean()

    def huber(o):
        delta = o.get("delta", 1.0)
        return lambda x, t: optax.huber_loss(x, t, delta=delta).mean()

    def smooth_l1(o):
        beta = o.get("beta", 1.0)
        if beta == 0:
            return lambda x, t: jnp.abs(x - t).mean()
        return lambda x, t: optax.huber_loss(x, t, delta=beta).mean() / beta

    def kl(o):
        if o.get("log_target"):
            return lambda x, t: optax.losses.kl_divergence_with_log_targets(x, t).mean()
        return lambda x, t: optax.kl_divergence(x, t).mean()

    def ctc(o):
        if o.get("zero_infinity"):
            return None

        def f(log_probs, targets, il, tl):   # optax: (B, T, K) logits, 1 where padded
            t_len = log_probs.shape[0]
            logit_pad = (jnp.arange(t_len)[None, :] >= il[:, None]).astype(log_probs.dtype)
            label_pad = (jnp.arange(targets.shape[1])[None, :] >= tl[:, None]).astype(log_probs.dtype)
            per = optax.ctc_loss(jnp.swapaxes(log_probs, 0, 1), logit_pad, targets, label_pad)
            return (per / jnp.maximum(tl, 1)).mean()
        return f

    def triplet(o):
        if o.get("swap") or o.get("p", 2.0) != 2.0:
            return None
        margin = o.get("margin", 1.0)

        def f(a, p, n):
            d_ap = jnp.linalg.norm(a - p + 1e-6, axis=-1)
            d_an = jnp.linalg.norm(a - n + 1e-6, axis=-1)
            return jnp.maximum(d_ap - d_an + margin, 0).mean()
        return f

    def cosine_embedding(o):
        margin = o.get("margin", 0.0)

        def f(x1, x2, y):
            cos = (x1 * x2).sum(-1) / jnp.sqrt((x1 * x1).sum(-1) * (x2 * x2).sum(-1) + 1e-12)
            return jnp.where(y > 0, 1 - cos, jnp.maximum(cos - margin, 0)).mean()
        return f

    def soft_margin(o):
        return lambda x, y: jax.nn.softplus(-y * x).mean()

    def multilabel_soft_margin(o):
        if not plain(o):
            return None
        return lambda x, y: optax.sigmoid_binary_cross_entropy(x, y).mean()

    def multi_margin(o):
        if not plain(o):
            return None
        power, margin = o.get("p", 1), o.get("margin", 1.0)

        def f(x, t):
            h = jnp.maximum(margin - jnp.take_along_axis(x, t[:, None], axis=1) + x, 0) ** power
            h = h * (1 - jax.nn.one_hot(t, x.shape[1], dtype=x.dtype))
            return h.sum(1).mean() / x.shape[1]
        return f

    def sigmoid_focal(o):
        alpha = o.get("alpha", 0.25)
        return lambda x, t: optax.losses.sigmoid_focal_loss(
            x, t, alpha=None if alpha < 0 else alpha, gamma=o.get("gamma", 2.0)).mean()

    def poly(o):
        eps = o.get("epsilon", 2.0)

        def f(x, t):
            p = t if t.ndim == 2 else jax.nn.one_hot(t, x.shape[1], dtype=x.dtype)
            return optax.losses.poly_loss_cross_entropy(x, p, epsilon=eps).mean()
        return f

    def mse(o):
        return lambda x, t: optax.squared_error(x, t).mean()

    def l1(o):
        return lambda x, t: jnp.abs(x - t).mean()

    def log_cosh(o):
        return lambda x, t: optax.log_cosh(x, t).mean()

    def hinge(o):
        return lambda x, t: optax.losses.multiclass_hinge_loss(x, t).mean()

    return {"CrossEntropyLoss": cross_entropy, "NLLLoss": nll, "BCEWithLogitsLoss": bce_logits,
            "HuberLoss": huber, "SmoothL1Loss": smooth_l1, "KLDivLoss": kl, "CTCLoss": ctc,
            "TripletMarginLoss": triplet, "TripletMarginWithDistanceLoss": triplet,
            "CosineEmbeddingLoss": cosine_embedding, "SoftMarginLoss": soft_margin,
            "MultiLabelSoftMarginLoss": multilabel_soft_margin, "MultiMarginLoss": multi_margin,
            "SigmoidFocalLoss": sigmoid_focal, "PolyLoss": poly, "MSELoss": mse, "L1Loss": l1,
            "LogCoshLoss": log_cosh, "MulticlassHingeLoss": hinge}


def jax_call(case: dict) -> Callable[[], Any] | None:
    import jax

    jax.config.update("jax_enable_x64", True)
    spec, inputs, options = path_case(case)
    maker = _jax_losses().get(spec.name)
    f = maker(options) if maker else None
    if f is None or options.get("reduction", "mean") not in ("mean", "batchmean"):
        return None
    if spec.name == "TripletMarginWithDistanceLoss" and options.get("distance_function") is not None:
        return None
    arrays = [jax.device_put(a) for a in inputs]
    if f(*arrays) is None:
        return None
    argnums = tuple(spec.inputs.index(n) for n in spec.differentiable)
    step = jax.jit(jax.value_and_grad(f, argnums=argnums))

    def call():
        value, grads = step(*arrays)
        return jax.block_until_ready(grads)

    return call
