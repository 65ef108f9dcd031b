"""Losses that own their output layer, as in ``torch.nn``: LinearCrossEntropyLoss, AdaptiveLogSoftmaxWithLoss.

These two take PyTorch's constructor (sizes, then options) and hold their parameters, like a
layer of :mod:`losslab.layers`: each parameter is a :class:`~losslab.layers.Parameter`
(``.data``, ``.grad``), listed by ``parameters()`` for an optimizer. ``forward(input, target)``
returns what PyTorch's ``forward`` returns; ``backward(dout)`` returns the gradient of the input
and writes every parameter's ``.grad`` (overwriting it), as a layer's backward does.
``load_state_dict`` takes PyTorch's ``state_dict()`` (tensors or arrays) for parity.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import _validation as v
from ..functional import projection as F
from ..layers import Parameter

__all__ = ["LinearCrossEntropyLoss", "LinearCrossEntropyOptions", "AdaptiveLogSoftmaxWithLoss"]

LinearCrossEntropyOptions = F.LinearCrossEntropyOptions


def _size(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _dtype(dtype) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt not in v.FLOAT_DTYPES:
        raise TypeError(f"dtype must be None, np.float32 or np.float64, got {dtype!r}")
    return dt


def _generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        raise TypeError(f"rng must be a numpy Generator, an integer seed or None, got {type(rng).__name__}")
    return np.random.default_rng(int(rng))


def _linear_init(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype) -> np.ndarray:
    """``torch.nn.Linear``'s initialisation: uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, shape).astype(dtype)


def _load(param: Parameter, value, key: str) -> None:
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if arr.shape != param.data.shape:
        raise ValueError(f"state_dict[{key!r}] must have shape {param.data.shape}, got {arr.shape}")
    param.data[...] = arr


class LinearCrossEntropyLoss:
    r"""Cross-entropy of a linear projection, owning the projection: ``torch.nn.LinearCrossEntropyLoss``.

    ``LinearCrossEntropyLoss(in_features, num_classes, *, out_features=(), bias=False, dtype=None,
    reduction='mean', weight=None, ignore_index=None, label_smoothing=0.0, options=None, rng=None)``
    holds ``linear_weight`` (a :class:`~losslab.layers.Parameter` of shape
    ``(num_classes * prod(out_features), in_features)``, as PyTorch stores ``linear.weight``) and,
    with ``bias=True``, ``linear_bias``, initialised as ``torch.nn.Linear`` from ``rng`` (a seed
    or Generator; ``None`` is seed 0). ``loss(input, target)`` is
    :func:`losslab.functional.linear_cross_entropy` with those parameters;
    ``loss.backward(dout=1.0)`` returns the input's gradient and writes ``linear_weight.grad``
    (and ``linear_bias.grad``). With ``reduction`` 'mean' or 'sum' the forward pass computes the
    gradients too, in the same chunked pass, and ``backward`` scales them (as PyTorch's chunked
    path does); with 'none' ``backward`` makes a second pass with ``dout``.

    ``options``: ``None`` for one chunk (the whole batch's logits at once), or a
    :class:`LinearCrossEntropyOptions` (``batch_chunk_size`` / ``chunking_method``) to bound memory.

    >>> import numpy as np
    >>> loss = LinearCrossEntropyLoss(4, 10, options=LinearCrossEntropyOptions(batch_chunk_size=2), rng=0)
    >>> out = loss(np.ones((3, 4), dtype=np.float32), np.array([1, 2, 3]))
    >>> out.dtype, loss.backward().shape, loss.linear_weight.grad.shape
    (dtype('float32'), (3, 4), (10, 4))
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        dtype=None,
        reduction: v.Reduction = "mean",
        weight=None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: LinearCrossEntropyOptions | None = None,
        rng=None,
    ) -> None:
        self.in_features = _size(in_features, "in_features")
        self.num_classes = _size(num_classes, "num_classes")
        self.out_features = tuple(_size(d, "out_features") for d in out_features)
        dt = _dtype(dtype)
        self.reduction = v.check_reduction(reduction)
        self.weight = v.check_weight(weight, "weight", self.num_classes, dt)
        if ignore_index is not None:
            v.check_scalar(ignore_index, "ignore_index", integer=True)
        self.ignore_index = ignore_index
        self.label_smoothing = v.check_scalar(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        if options is not None and not isinstance(options, LinearCrossEntropyOptions):
            raise TypeError(f"options must be a LinearCrossEntropyOptions or None, got {type(options).__name__}")
        self.options = options
        gen = _generator(rng)
        rows = math.prod(self.out_features, start=self.num_classes)
        self.linear_weight = Parameter(
            _linear_init(gen, (rows, self.in_features), self.in_features, dt), "linear_weight"
        )
        self.linear_bias = (
            Parameter(_linear_init(gen, (rows,), self.in_features, dt), "linear_bias")
            if v.check_bool(bias, "bias")
            else None
        )
        self._cache: tuple | None = None
        self._pending: tuple | None = None

    def parameters(self) -> list[Parameter]:
        """The trainable parameters: ``linear_weight``, then ``linear_bias`` where there is one."""
        return [self.linear_weight] + ([self.linear_bias] if self.linear_bias is not None else [])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy PyTorch's parameters (``'linear.weight'``, ``'linear.bias'``; tensors or arrays) into this loss."""
        _load(self.linear_weight, state["linear.weight"], "linear.weight")
        if self.linear_bias is not None:
            _load(self.linear_bias, state["linear.bias"], "linear.bias")

    def _call_args(self) -> tuple[np.ndarray, dict[str, Any]]:
        shape = (self.num_classes, *self.out_features)
        w = self.linear_weight.data.reshape(shape + (self.in_features,))
        b = None if self.linear_bias is None else self.linear_bias.data.reshape(shape)
        return w, dict(
            linear_bias=b,
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def forward(self, input, target):
        """The loss of ``input`` (N, in_features) or (in_features,) against ``target``."""
        w, kw = self._call_args()
        self._pending = None
        if self.reduction == "none":
            out = F.linear_cross_entropy(input, w, target, **kw)
        else:
            out, grads = F.linear_cross_entropy_value_and_grad(1.0, input, w, target, **kw)
            self._pending = grads
        self._cache = (input, target)
        return out

    __call__ = forward

    def backward(self, dout=1.0) -> np.ndarray:
        """The input's gradient of ``sum(dout * out)``; writes ``linear_weight.grad`` (and ``linear_bias.grad``)."""
        if self._cache is None:
            raise v.BackwardBeforeForwardError(
                "LinearCrossEntropyLoss.backward() was called before forward(): call the loss on its inputs first"
            )
        w, kw = self._call_args()
        if self._pending is not None:
            grads, self._pending = self._pending, None
            g = v.check_dout(dout, (), grads[0].dtype)
            grads = tuple(gi * g if g != 1 else gi for gi in grads)
        else:
            grads = F.linear_cross_entropy_backward(dout, self._cache[0], w, self._cache[1], **kw)
        self.linear_weight.grad = grads[1].reshape(self.linear_weight.data.shape)
        if self.linear_bias is not None:
            self.linear_bias.grad = grads[2].reshape(self.linear_bias.data.shape)
        return grads[0]

    def __repr__(self) -> str:
        return (
            f"LinearCrossEntropyLoss(in_features={self.in_features}, num_classes={self.num_classes}, "
            f"out_features={self.out_features}, bias={self.linear_bias is not None}, "
            f"reduction={self.reduction!r}, ignore_index={self.ignore_index}, "
            f"label_smoothing={self.label_smoothing}, options={self.options})"
        )


class AdaptiveLogSoftmaxWithLoss:
    r"""Efficient softmax approximation (Grave et al. 2017): ``torch.nn.AdaptiveLogSoftmaxWithLoss``.

    ``AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
    dtype=None, rng=None)`` holds ``head_weight`` ``(cutoffs[0] + n_clusters, in_features)``,
    ``head_bias`` (with ``head_bias=True``) and, per cluster ``i``, the projections
    ``tail[i] = (W1 (in_features // div_value**(i+1), in_features), W2 (cluster size, that))``, all
    :class:`~losslab.layers.Parameter`, initialised as ``torch.nn.Linear`` from ``rng`` (a seed or
    Generator; ``None`` is seed 0); ``load_state_dict`` takes PyTorch's ``state_dict()``.

    ``forward(input, target)`` returns ``(output, loss)`` as PyTorch does: ``output`` the
    log-probability of each target, ``loss`` the mean of ``-output``
    (:func:`losslab.functional.adaptive_log_softmax_with_loss`). ``backward(dloss=1.0,
    doutput=None)`` returns the gradient of ``dloss * loss + sum(doutput * output)`` with respect
    to the input and writes every parameter's ``.grad``. ``log_prob(input)`` gives all classes'
    log-probabilities and ``predict(input)`` the most probable class.

    >>> import numpy as np
    >>> asm = AdaptiveLogSoftmaxWithLoss(16, 10, [4, 8], rng=0)
    >>> output, loss = asm(np.ones((3, 16), dtype=np.float32), np.array([0, 5, 9]))
    >>> output.shape, asm.backward().shape, asm.tail[1][1].grad.shape
    ((3,), (3, 16), (2, 1))
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs,
        div_value: float = 4.0,
        head_bias: bool = False,
        dtype=None,
        rng=None,
    ) -> None:
        self.in_features = _size(in_features, "in_features")
        self.n_classes = _size(n_classes, "n_classes")
        cutoffs = list(cutoffs)
        if (
            not cutoffs
            or any(isinstance(c, bool) or not isinstance(c, numbers.Integral) for c in cutoffs)
            or cutoffs != sorted(set(cutoffs))
            or cutoffs[0] <= 0
            or cutoffs[-1] > self.n_classes - 1
        ):
            raise ValueError(
                f"cutoffs must be a non-empty sequence of unique increasing integers in "
                f"[1, n_classes - 1] = [1, {self.n_classes - 1}], got {cutoffs!r}"
            )
        self.div_value = float(v.check_scalar(div_value, "div_value", low=0.0, low_open=True))
        self.head_bias = v.check_bool(head_bias, "head_bias")
        dt = _dtype(dtype)
        self.cutoffs = [int(c) for c in cutoffs] + [self.n_classes]
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        gen = _generator(rng)
        self.head_weight = Parameter(
            _linear_init(gen, (self.head_size, self.in_features), self.in_features, dt), "head_weight"
        )
        self.head_bias_param = (
            Parameter(_linear_init(gen, (self.head_size,), self.in_features, dt), "head_bias")
            if self.head_bias
            else None
        )
        self.tail: list[tuple[Parameter, Parameter]] = []
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            w1 = Parameter(_linear_init(gen, (hsz, self.in_features), self.in_features, dt), f"tail.{i}.0.weight")
            w2 = Parameter(_linear_init(gen, (osz, hsz), hsz, dt), f"tail.{i}.1.weight")
            self.tail.append((w1, w2))
        self._cache: tuple | None = None

    def parameters(self) -> list[Parameter]:
        """The trainable parameters: head weight, head bias (if any), then each cluster's two projections."""
        params = [self.head_weight] + ([self.head_bias_param] if self.head_bias_param is not None else [])
        return params + [p for pair in self.tail for p in pair]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy PyTorch's parameters (``head.weight``, ``head.bias``, ``tail.i.0.weight``, ``tail.i.1.weight``)."""
        _load(self.head_weight, state["head.weight"], "head.weight")
        if self.head_bias_param is not None:
            _load(self.head_bias_param, state["head.bias"], "head.bias")
        for i, (w1, w2) in enumerate(self.tail):
            _load(w1, state[f"tail.{i}.0.weight"], f"tail.{i}.0.weight")
            _load(w2, state[f"tail.{i}.1.weight"], f"tail.{i}.1.weight")

    def _args(self):
        hb = None if self.head_bias_param is None else self.head_bias_param.data
        return self.head_weight.data, hb, [(w1.data, w2.data) for w1, w2 in self.tail], self.cutoffs

    def _input(self, input) -> np.ndarray:
        x = v.as_float_array(input, "input")
        if x.dtype != self.head_weight.data.dtype:
            raise TypeError(f"input must have the parameters' dtype {self.head_weight.data.dtype}, got {x.dtype}")
        return x

    def forward(self, input, target):
        """``(output, loss)``: each target's log-probability and their mean negative log-likelihood."""
        out = F.adaptive_log_softmax_with_loss(self._input(input), target, *self._args())
        self._cache = (input, target)
        return out

    __call__ = forward

    def backward(self, dloss=1.0, doutput=None) -> np.ndarray:
        """The input's gradient of ``dloss * loss + sum(doutput * output)``; writes every parameter's ``.grad``."""
        if self._cache is None:
            raise v.BackwardBeforeForwardError(
                "AdaptiveLogSoftmaxWithLoss.backward() was called before forward(): call it on its inputs first"
            )
        dx, dhw, dhb, dtails = F.adaptive_log_softmax_with_loss_backward(dloss, doutput, *self._cache, *self._args())
        self.head_weight.grad = dhw
        if self.head_bias_param is not None:
            self.head_bias_param.grad = dhb
        for (w1, w2), (g1, g2) in zip(self.tail, dtails, strict=True):
            w1.grad, w2.grad = g1, g2
        return dx

    def log_prob(self, input) -> np.ndarray:
        """Log-probabilities of all ``n_classes`` classes, (N, n_classes)."""
        return F.adaptive_log_prob(self._input(input), *self._args())

    def predict(self, input) -> np.ndarray:
        """The most probable class of each sample: ``log_prob(input).argmax(axis=-1)``."""
        return np.argmax(self.log_prob(input), axis=-1)

    def __repr__(self) -> str:
        return (
            f"AdaptiveLogSoftmaxWithLoss(in_features={self.in_features}, n_classes={self.n_classes}, "
            f"cutoffs={self.cutoffs[:-1]}, div_value={self.div_value}, head_bias={self.head_bias})"
        )
