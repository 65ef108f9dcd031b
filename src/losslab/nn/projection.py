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
from .._cases import BENCH_CLASSES, BENCH_FEATURES, Case, Curve, grid, index_targets, label, paths_of
from ..functional import projection as F
from ..layers import Parameter
from ._base import registered
from ._options import array, checked, reduction, scalar

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


def _scaled(gradient: np.ndarray, g) -> np.ndarray:
    with np.errstate(over="ignore"):  # beyond the float range: inf
        return gradient * g


def _scaled_all(grads: tuple, g) -> tuple:
    """The adaptive softmax's gradients ``(dx, dhw, dhb or None, [(dW1, dW2), ...])`` times ``g`` (0: zeros)."""

    def one(a):
        return None if a is None else (np.zeros_like(a) if g == 0 else _scaled(a, g))

    dx, dhw, dhb, dtails = grads
    return one(dx), one(dhw), one(dhb), [(one(a), one(b)) for a, b in dtails]


def _linear_init(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype) -> np.ndarray:
    """``torch.nn.Linear``'s initialisation: uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, shape).astype(dtype)


def _copy_into(param: Parameter, value, name: str) -> None:
    arr = v.as_float_array(value, name)
    if arr.size != param.data.size:
        raise ValueError(f"{name} must have {param.data.size} values, got an array of shape {arr.shape}")
    param.data[...] = arr.reshape(param.data.shape)


def _lce_cases(rng) -> list[Case]:
    """Batched and single-sample calls, class weights, ignore_index, smoothing, chunks, probabilities, K-d."""
    n, d, c = 5, 4, 3
    cases = []
    for opts in grid(weight=[None, rng.uniform(0.5, 2.0, c)], ignore_index=[None, 2], label_smoothing=[0.0, 0.2]):
        t = index_targets(rng, (n,), c)
        cases.append(
            Case(label(opts), opts, (rng.normal(0, 1, (n, d)), rng.normal(0, 1, (c, d)), t, rng.normal(0, 1, c)))
        )
    chunked = {"options": LinearCrossEntropyOptions(batch_chunk_size=2)}
    cases.append(
        Case(
            "chunks of 2 rows",
            chunked,
            (rng.normal(0, 1, (n, d)), rng.normal(0, 1, (c, d)), index_targets(rng, (n,), c), rng.normal(0, 1, c)),
        )
    )
    probs = rng.dirichlet(np.ones(c), n)
    cases.append(
        Case(
            "class probabilities", {}, (rng.normal(0, 1, (n, d)), rng.normal(0, 1, (c, d)), probs, rng.normal(0, 1, c))
        )
    )
    cases.append(
        Case(
            "K-dimensional",
            {},
            (
                rng.normal(0, 1, (n, d)),
                rng.normal(0, 1, (c, 2, d)),
                index_targets(rng, (n, 2), c),
                rng.normal(0, 1, (c, 2)),
            ),
        )
    )
    cases.append(
        Case("one sample", {}, (rng.normal(0, 1, d), rng.normal(0, 1, (c, d)), np.array(1), rng.normal(0, 1, c)))
    )
    return cases


def _asm_cases(rng) -> list[Case]:
    """One cluster, two clusters, one sample; targets in every cluster (None as head_bias: tests/test_projection.py)."""
    cases = []
    for cutoffs, div, n in (([3, 6], 4.0, 5), ([2, 4, 7], 2.0, 6), ([2, 4, 7], 2.0, None)):
        d = 8
        size = sum(math.prod(s) for pair in F.adaptive_tail_shapes(d, cutoffs, div) for s in pair)
        head = (cutoffs[0] + len(cutoffs) - 1, d)
        opts = {"cutoffs": cutoffs, "div_value": div}
        if n is None:
            x, t = rng.normal(0, 1, d), np.array(5)
        else:
            x, t = rng.normal(0, 1, (n, d)), np.resize(rng.permutation(cutoffs[-1]), n)
        inputs = (x, t, rng.normal(0, 1, head), rng.normal(0, 1, head[0]), rng.normal(0, 1, size))
        cases.append(Case(label(opts, "one sample" if n is None else f"{n} samples"), opts, inputs))
    return cases


def _lce_path(rng, b, opts):
    """b rows of BENCH_FEATURES features, BENCH_CLASSES classes, a bias; ``"chunked"``: PyTorch's default chunks."""
    d, c = BENCH_FEATURES, BENCH_CLASSES
    call = dict(opts)
    if call["weight"] == "array":
        call["weight"] = rng.uniform(0.5, 2.0, c)
    if call["options"] == "chunked":
        call["options"] = LinearCrossEntropyOptions()
    return (rng.normal(0, 1, (b, d)), rng.normal(0, 0.1, (c, d)), rng.integers(0, c, b), rng.normal(0, 0.1, c)), call


def _asm_path(rng, b, opts):
    """b rows of BENCH_FEATURES features, BENCH_CLASSES classes: a head of 20 and clusters of 40 and 40."""
    d, cutoffs = BENCH_FEATURES, [20, 60, BENCH_CLASSES]
    size = sum(math.prod(s) for pair in F.adaptive_tail_shapes(d, cutoffs, opts["div_value"]) for s in pair)
    head = cutoffs[0] + len(cutoffs) - 1
    inputs = (
        rng.normal(0, 1, (b, d)),
        rng.integers(0, cutoffs[-1], b),
        rng.normal(0, 0.1, (head, d)),
        rng.normal(0, 0.1, head),
        rng.normal(0, 0.1, size),
    )
    return inputs, {"cutoffs": cutoffs, **opts}


def _lce_curve(x: float):
    """One sample with one feature ``x``, class weights 1, 0, -1 and biases 0, target class 0."""
    return (np.array([[x]]), np.array([[1.0], [0.0], [-1.0]]), np.array([0]), np.zeros(3)), {}


_ASM_HEAD = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])


def _asm_curve(x: float):
    """One sample ``(x, 1, 0, 0)``, a head of 2 classes and 1 cluster of 2 (cutoffs [2, 4]), target class 0."""
    tail = np.array([1.0, 1.0, 0.0, 0.0, 1.0, -1.0])  # W1 (1, 4) = (1, 1, 0, 0), W2 (2, 1) = (1, -1)
    return (np.array([[x, 1.0, 0.0, 0.0]]), np.array([0]), _ASM_HEAD, np.zeros(3), tail), {
        "cutoffs": [2, 4],
        "div_value": 4.0,
    }


def _load(param: Parameter, value, key: str) -> None:
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if arr.shape != param.data.shape:
        raise ValueError(f"state_dict[{key!r}] must have shape {param.data.shape}, got {arr.shape}")
    param.data[...] = arr


@registered(
    "cross-entropy of a linear projection, chunked so the (N, C) logits never exist whole",
    _lce_cases,
    curve=Curve(_lce_curve, "input (one feature; class weights 1, 0, -1; class 0)", at=(0, 0)),
    paths=paths_of(_lce_path, weight=[None, "array"], options=[None, "chunked"]),
)
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

    The registry (:mod:`losslab.registry`) sees it through its pure pair, the parameters being
    inputs: :meth:`from_inputs` builds the loss from ``linear_weight`` (and ``linear_bias``).
    """

    # the registry's view: the pure pair, its inputs (the parameters among them) and its options
    _function = staticmethod(F.linear_cross_entropy)
    _backward = staticmethod(F.linear_cross_entropy_backward)
    _inputs = ("input", "linear_weight", "target", "linear_bias")
    _grad_inputs = ("input", "linear_weight", "linear_bias")
    _parameter_inputs = ("linear_weight", "linear_bias")
    _options = (
        reduction(),
        array("weight"),
        checked("ignore_index", None, lambda i: i),
        scalar("label_smoothing", 0.0, low=0.0, high=1.0),
        checked("options", None, lambda o: o),
    )
    _entry = None

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

    @classmethod
    def from_inputs(cls, linear_weight, linear_bias=None, **options) -> LinearCrossEntropyLoss:
        """The loss holding copies of ``linear_weight`` (C, [d1, ..., dK,] in_features) and ``linear_bias``.

        ``options`` are the constructor's keyword options; the sizes, ``bias`` and ``dtype`` come
        from the arrays. ``loss(input, target)`` then equals :func:`losslab.functional.linear_cross_entropy`
        ``(input, linear_weight, target, linear_bias, **options)``.
        """
        w = v.as_float_array(linear_weight, "linear_weight")
        if w.ndim < 2:
            raise ValueError(
                f"linear_weight must be of shape (C, in_features) or (C, d1, ..., dK, in_features), "
                f"got an array of shape {w.shape}"
            )
        loss = cls(
            w.shape[-1], w.shape[0], out_features=w.shape[1:-1], bias=linear_bias is not None, dtype=w.dtype, **options
        )
        _copy_into(loss.linear_weight, w, "linear_weight")
        if loss.linear_bias is not None:
            _copy_into(loss.linear_bias, linear_bias, "linear_bias")
        return loss

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters under PyTorch's names (copies): ``'linear.weight'``, ``'linear.bias'``."""
        state = {"linear.weight": self.linear_weight.data.copy()}
        if self.linear_bias is not None:
            state["linear.bias"] = self.linear_bias.data.copy()
        return state

    def constructor_args(self) -> tuple[tuple, dict[str, Any]]:
        """The arguments of the constructor (PyTorch's) that rebuild this module, its parameters' values aside."""
        return (self.in_features, self.num_classes), dict(
            out_features=self.out_features,
            bias=self.linear_bias is not None,
            dtype=self.linear_weight.data.dtype,
            reduction=self.reduction,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def _registry_parameters(self) -> tuple[np.ndarray, ...]:
        """The parameters in the layout of :meth:`from_inputs`'s arrays."""
        shape = (self.num_classes, *self.out_features, self.in_features)
        params = (self.linear_weight.data.reshape(shape),)
        return params if self.linear_bias is None else params + (self.linear_bias.data.reshape(shape[:-1]),)

    def _registry_grads(self, dout=1.0) -> tuple[np.ndarray, ...]:
        """``backward(dout)`` and the parameters' gradients, in the shapes of :meth:`from_inputs`'s arrays."""
        dx = self.backward(dout)
        shape = (self.num_classes, *self.out_features, self.in_features)
        grads = (dx, self.linear_weight.grad.reshape(shape))
        return grads if self.linear_bias is None else grads + (self.linear_bias.grad.reshape(shape[:-1]),)

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
            g = dout if dout.__class__ is float and dout == 1.0 else v.check_dout(dout, (), grads[0].dtype)
            if g != 1:  # d(0 L) = 0, even where the gradient of L is infinite
                grads = tuple(np.zeros_like(gi) if g == 0 else _scaled(gi, g) for gi in grads)
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


@registered(
    "adaptive softmax (Grave et al. 2017): frequent classes in a head, the rest in clusters",
    _asm_cases,
    curve=Curve(_asm_curve, "first input feature (head class 0)", at=(0, 0)),
    paths=paths_of(_asm_path, div_value=[4.0]),
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

    The registry (:mod:`losslab.registry`) sees it through
    :func:`losslab.functional.adaptive_log_softmax_loss`, whose value is the loss (``reduction``
    'mean', PyTorch's, or 'sum' / 'none' of ``-output``) and whose inputs include the parameters,
    the clusters' projections as one flat ``tail_weight``; :meth:`from_inputs` builds the module
    from those arrays.
    """

    _reduction: str = "mean"  # what the registry reads of (output, loss); from_inputs sets it

    # the registry's view: the pure pair, its inputs (the parameters among them) and its options
    _function = staticmethod(F.adaptive_log_softmax_loss)
    _backward = staticmethod(F.adaptive_log_softmax_loss_backward)
    _inputs = ("input", "target", "head_weight", "head_bias", "tail_weight")
    _grad_inputs = ("input", "head_weight", "head_bias", "tail_weight")
    _parameter_inputs = ("head_weight", "head_bias", "tail_weight")
    _options = (checked("cutoffs", None, lambda c: c), scalar("div_value", 4.0, low=0.0, low_open=True), reduction())
    _entry = None

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
        self._pending: tuple | None = None

    @classmethod
    def from_inputs(
        cls, head_weight, head_bias, tail_weight, *, cutoffs, div_value: float = 4.0, reduction: v.Reduction = "mean"
    ) -> AdaptiveLogSoftmaxWithLoss:
        """The module holding copies of ``head_weight``, ``head_bias`` (or None) and the flat ``tail_weight``.

        ``cutoffs`` ends with ``n_classes``, as for :func:`losslab.functional.adaptive_log_softmax_loss`;
        ``reduction`` is what the registry reads of ``(output, loss)``: 'mean' the loss, 'sum' and
        'none' the sum of ``-output`` and ``-output``.
        """
        hw = v.as_float_array(head_weight, "head_weight")
        if hw.ndim != 2:
            raise ValueError(
                f"head_weight must be a 2-D array (cutoffs[0] + clusters, in_features), got shape {hw.shape}"
            )
        cuts = list(cutoffs)
        module = cls(hw.shape[1], cuts[-1], cuts[:-1], div_value, head_bias is not None, hw.dtype)
        module._reduction = v.check_reduction(reduction)
        _copy_into(module.head_weight, hw, "head_weight")
        if module.head_bias_param is not None:
            _copy_into(module.head_bias_param, head_bias, "head_bias")
        tail = v.as_float_array(tail_weight, "tail_weight")
        sizes = [p.data.size for pair in module.tail for p in pair]
        if tail.shape != (sum(sizes),):
            raise ValueError(f"tail_weight must be 1-D with {sum(sizes)} values, got shape {tail.shape}")
        params = [p for pair in module.tail for p in pair]
        for p, part in zip(params, np.split(tail, np.cumsum(sizes)[:-1]), strict=True):
            _copy_into(p, part, "tail_weight")
        return module

    def _registry_value(self, result):
        """The registry's value of ``(output, loss)`` (NumPy's or PyTorch's): the loss, or ``-output`` summed or not."""
        output, loss = result
        reduction = getattr(self, "_reduction", "mean")
        if reduction == "mean":
            return loss
        return -output.sum() if reduction == "sum" else -output

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters under PyTorch's names (copies): ``head.weight``, ``head.bias``, ``tail.i.j.weight``."""
        state = {"head.weight": self.head_weight.data.copy()}
        if self.head_bias_param is not None:
            state["head.bias"] = self.head_bias_param.data.copy()
        for i, (w1, w2) in enumerate(self.tail):
            state[f"tail.{i}.0.weight"], state[f"tail.{i}.1.weight"] = w1.data.copy(), w2.data.copy()
        return state

    def constructor_args(self) -> tuple[tuple, dict[str, Any]]:
        """The arguments of the constructor (PyTorch's) that rebuild this module, its parameters' values aside."""
        return (self.in_features, self.n_classes, self.cutoffs[:-1]), dict(
            div_value=self.div_value, head_bias=self.head_bias, dtype=self.head_weight.data.dtype
        )

    def _registry_parameters(self) -> tuple:
        """The parameters in the layout of :meth:`from_inputs`'s arrays (the tail's flattened, concatenated)."""
        hb = None if self.head_bias_param is None else self.head_bias_param.data
        return self.head_weight.data, hb, np.concatenate([p.data.reshape(-1) for pair in self.tail for p in pair])

    def _registry_grads(self, dout=1.0) -> tuple:
        """The gradients of the registry's value: input, head weight, head bias (or None), flat tail weight."""
        reduction = getattr(self, "_reduction", "mean")
        if reduction == "mean":
            dx = self.backward(dout)
        else:
            if self._cache is None:
                self.backward()  # raises: backward before forward
            target: Any = self._cache[1] if self._cache is not None else None  # set: backward() raised otherwise
            dt = self.head_weight.data.dtype
            g = np.asarray(v.check_dout(dout, np.shape(target) if reduction == "none" else (), dt), dtype=dt)
            dx = self.backward(0.0, -np.broadcast_to(g, np.shape(target)))
        hb = None if self.head_bias_param is None else self.head_bias_param.grad
        return dx, self.head_weight.grad, hb, np.concatenate([p.grad.reshape(-1) for pair in self.tail for p in pair])

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
        if input.__class__ is np.ndarray and input.dtype == self.head_weight.data.dtype:
            return input
        x = v.as_float_array(input, "input")
        if x.dtype != self.head_weight.data.dtype:
            raise TypeError(f"input must have the parameters' dtype {self.head_weight.data.dtype}, got {x.dtype}")
        return x

    def forward(self, input, target):
        """``(output, loss)``: each target's log-probability and their mean negative log-likelihood.

        The same pass computes the gradients of ``loss``, which ``backward(dloss)`` then scales."""
        out, self._pending = F.adaptive_log_softmax_with_loss_value_and_grad(self._input(input), target, *self._args())
        self._cache = (input, target)
        return out

    __call__ = forward

    def backward(self, dloss=1.0, doutput=None) -> np.ndarray:
        """The input's gradient of ``dloss * loss + sum(doutput * output)``; writes every parameter's ``.grad``."""
        if self._cache is None:
            raise v.BackwardBeforeForwardError(
                "AdaptiveLogSoftmaxWithLoss.backward() was called before forward(): call it on its inputs first"
            )
        pending, self._pending = self._pending, None
        if pending is not None and doutput is None:  # the gradients of the loss, from the forward pass: scaled
            dt = self.head_weight.data.dtype
            g = dloss if dloss.__class__ is float and dloss == 1.0 else v.check_dout(dloss, (), dt)
            if g != 1:  # d(0 L) = 0, even where the gradient of L is infinite
                pending = _scaled_all(pending, g)
            dx, dhw, dhb, dtails = pending
        else:
            args = (*self._cache, *self._args())
            dx, dhw, dhb, dtails = F.adaptive_log_softmax_with_loss_backward(dloss, doutput, *args)
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
