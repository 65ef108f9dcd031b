"""Networks built from layers: a plain chain (``Sequential``) and the book's ``MultiLayerNet``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _validation as v
from ._base import Layer, Parameter
from .activation import Relu, Sigmoid, Tanh
from .affine import INITS, Affine, _float_dtype, _generator, _positive_int
from .regularization import BatchNorm, Dropout

__all__ = ["Sequential", "MultiLayerNet"]

ACTIVATIONS: dict[str, type[Layer]] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


class Sequential(Layer):
    """Layers applied in order: forward through each, backward through them in reverse.

    ``parameters()`` concatenates the layers' parameters in layer order;
    ``train()`` / ``eval()`` set the mode of every layer. A layer whose backward
    returns ``None`` (an :class:`Affine` with ``input_grad=False``) ends the
    backward pass; this is only allowed when no earlier layer has parameters.

    :meth:`state_dict` names each array ``"layer{i}.{name}"``, ``i`` the position
    in this chain and ``name`` the parameter's (``W``, ``b``, ``weight``, ``bias``)
    or buffer's (``running_mean``, ``running_var``) name; a nested ``Sequential``
    adds its own ``layer{j}.`` level.

    >>> import numpy as np
    >>> net = Sequential(Affine(np.eye(2), np.zeros(2)), Relu())
    >>> net(np.array([[1.0, -1.0]]))
    array([[1., 0.]])
    >>> net.backward(np.ones((1, 2)))
    array([[1., 0.]])
    >>> sorted(net.state_dict())
    ['layer0.W', 'layer0.b']
    """

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes losslab Layers, got {type(layer).__name__} at position {i}")
        self.layers: list[Layer] = list(layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def forward(self, x):
        """Each layer's forward in order, the output of one the input of the next."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        """Each layer's backward in reverse order; the gradient with respect to the first input, or None when a
        layer made with ``input_grad=False`` ends the chain (``ValueError`` if a layer before it has parameters)."""
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self.layers[i].backward(dout)
            if dout is None:
                needy = [j for j in range(i) if self.layers[j].parameters()]
                if needy:
                    raise ValueError(
                        f"layer {i} ({type(self.layers[i]).__name__}) returned no input gradient "
                        f"(input_grad=False), but layer {needy[-1]} before it has parameters to train"
                    )
                return None
        return dout

    def parameters(self) -> list[Parameter]:
        """Every layer's parameters, layer by layer, in order."""
        return [p for layer in self.layers for p in layer.parameters()]

    def train(self, mode: bool = True) -> Sequential:
        """Set the mode of this container and of every layer in it; returns self."""
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    # ----------------------------------------------------------------------- state

    def _named_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Every parameter and buffer by state-dict name: the live arrays, not copies."""
        named: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            stem = f"{prefix}layer{i}."
            if isinstance(layer, Sequential):
                named.update(layer._named_arrays(stem))
                continue
            entries = [(p.name or str(k), p.data) for k, p in enumerate(layer.parameters())]
            buffers = getattr(layer, "buffers", None)
            if callable(buffers):
                entries += list(buffers().items())
            for name, arr in entries:
                if stem + name in named:
                    raise ValueError(f"layer {i} ({type(layer).__name__}) has two arrays named {name!r}")
                named[stem + name] = arr
        return named

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by stable name (``"layer0.W"``, ...)."""
        return {name: arr.copy() for name, arr in self._named_arrays().items()}

    def load_state_dict(self, state: dict) -> None:
        """Copy ``state`` into the parameters and buffers, in place (optimizers keep their references).

        Strict: the names must be exactly those of :meth:`state_dict` (a missing or
        an unexpected name raises ``ValueError``), each shape must match
        (``ValueError``) and each dtype too (``TypeError``). Everything is checked
        before anything is written.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of name -> array, got {type(state).__name__}")
        named = self._named_arrays()
        missing = [k for k in named if k not in state]
        extra = [k for k in state if k not in named]
        if missing or extra:
            raise ValueError(f"state dict does not match the network: missing {missing}, unexpected {extra}")
        values = {}
        for name, target in named.items():
            value = np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(f"state[{name!r}] has shape {value.shape}, expected {target.shape}")
            if value.dtype != target.dtype:
                raise TypeError(
                    f"state[{name!r}] has dtype {value.dtype}, expected {target.dtype}; "
                    f"cast it with .astype(np.{target.dtype})"
                )
            values[name] = value
        for name, target in named.items():
            np.copyto(target, values[name])

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


class MultiLayerNet:
    """A fully connected network ending in a loss: the book's ``MultiLayerNet(Extend)``.

    The stack is ``Affine -> [BatchNorm] -> activation -> [Dropout]`` once per
    hidden size, then a last ``Affine`` that produces the raw scores, then the loss
    object ``loss`` (any losslab loss: ``loss(y, t)`` then ``loss.backward()``;
    default ``losslab.nn.CrossEntropyLoss()``, i.e. softmax + cross-entropy on the
    scores). The layers are ``self.layers``, a :class:`Sequential`.

    Options: ``activation`` ``"relu"``, ``"sigmoid"`` or ``"tanh"``; ``init``
    ``"he"`` (std ``sqrt(2/n)``), ``"xavier"`` (``sqrt(1/n)``, the book's) or a
    float std, by default He for ReLU and Xavier otherwise; ``rng`` a
    ``np.random.Generator`` or an integer seed, drawing the weights and then the
    dropout masks; ``dtype`` float32 (default) or float64 for every parameter,
    activation and gradient (inputs are cast to it); ``dropout`` the drop
    probability after each hidden activation (0: no Dropout layers);
    ``batchnorm`` a :class:`BatchNorm` after each hidden Affine.

    ``input_grad=False`` (the default) builds the first Affine with
    ``input_grad=False``: nothing needs the gradient with respect to the input
    when training, and skipping it saves a large matrix product per step. With
    ``input_grad=True``, :meth:`backward` also stores that gradient in ``x_grad``.

    Modes: the network starts in training mode; ``train()`` / ``eval()`` switch
    every layer. :meth:`loss` and :meth:`gradient` run in the current mode;
    :meth:`predict` and :meth:`accuracy` always run in evaluation mode (no dropout,
    BatchNorm's running statistics, which they leave unchanged) and restore the
    mode afterwards, as the book's ``predict(x, train_flg=False)`` does. They
    also overwrite the layers' caches, so call :meth:`backward` right after
    :meth:`loss` (or use :meth:`gradient`, which does both).

    >>> import numpy as np
    >>> import losslab
    >>> net = MultiLayerNet(4, [8, 8], 3, rng=0, loss=losslab.nn.MSELoss())
    >>> x, t = np.ones((5, 4), dtype=np.float32), np.zeros((5, 3), dtype=np.float32)
    >>> grads = net.gradient(x, t)
    >>> [g.shape for g in grads]
    [(4, 8), (8,), (8, 8), (8,), (8, 3), (3,)]
    >>> sorted(net.state_dict())[:3], grads[0].dtype
    (['layer0.W', 'layer0.b', 'layer2.W'], dtype('float32'))
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: Sequence[int],
        output_size: int,
        *,
        activation: str = "relu",
        init=None,
        loss=None,
        rng,
        dtype=np.float32,
        dropout: float = 0.0,
        batchnorm: bool = False,
        input_grad: bool = False,
    ) -> None:
        n_in = _positive_int(input_size, "input_size")
        n_out = _positive_int(output_size, "output_size")
        if isinstance(hidden_sizes, (str, bytes)) or not isinstance(hidden_sizes, Sequence):
            raise TypeError(
                f"hidden_sizes must be a sequence of positive integers such as [100, 50], got {hidden_sizes!r}"
            )
        hidden = [_positive_int(h, f"hidden_sizes[{i}]") for i, h in enumerate(hidden_sizes)]
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, got {activation!r}")
        if init is None:
            init = "he" if activation == "relu" else "xavier"
        elif isinstance(init, str) and init not in INITS:
            raise ValueError(f"init must be one of {', '.join(map(repr, INITS))} or a positive std, got {init!r}")
        dt = _float_dtype(dtype)
        p = float(v.check_scalar(dropout, "dropout", low=0.0, high=1.0, high_open=True))
        use_bn = v.check_bool(batchnorm, "batchnorm")
        self.input_grad = v.check_bool(input_grad, "input_grad")
        gen = _generator(rng)
        if loss is None:
            from ..nn import CrossEntropyLoss  # lazy: the classification losses import nothing from here

            loss = CrossEntropyLoss()
        if not (callable(loss) and callable(getattr(loss, "backward", None))):
            raise TypeError(
                f"loss must be a losslab loss object (called as loss(y, t), then loss.backward()), "
                f"got {type(loss).__name__}"
            )

        sizes = [n_in, *hidden, n_out]
        layers: list[Layer] = []
        for k in range(len(sizes) - 1):
            layers.append(
                Affine.create(
                    sizes[k], sizes[k + 1], rng=gen, init=init, dtype=dt, input_grad=self.input_grad if k == 0 else True
                )
            )
            if k == len(sizes) - 2:
                break
            if use_bn:
                layers.append(BatchNorm(sizes[k + 1], dtype=dt))
            layers.append(ACTIVATIONS[activation]())
            if p > 0:
                layers.append(Dropout(p, rng=gen))
        self.layers = Sequential(*layers)
        self.loss_fn = loss
        self.dtype = dt
        self.activation, self.init, self.dropout, self.batchnorm = activation, init, p, use_bn
        self.training = True
        self.x_grad: np.ndarray | None = None
        self._ready = False

    # ----------------------------------------------------------------------- modes

    def train(self, mode: bool = True) -> MultiLayerNet:
        """Training mode (Dropout drops, BatchNorm uses the batch's statistics) or, with ``False``, evaluation
        mode; returns self."""
        self.training = bool(mode)
        self.layers.train(mode)
        return self

    def eval(self) -> MultiLayerNet:
        """Evaluation mode: ``train(False)``; returns self."""
        return self.train(False)

    # ----------------------------------------------------------------------- passes

    def forward(self, x) -> np.ndarray:
        """The raw scores in the current mode, caching for :meth:`backward` (no loss)."""
        return self.layers.forward(x)

    def predict(self, x) -> np.ndarray:
        """The raw scores (before any softmax) in evaluation mode, whatever the current mode."""
        modes = [layer.training for layer in self.layers]
        self.layers.eval()
        try:
            return self.layers.forward(x)
        finally:
            for layer, mode in zip(self.layers, modes, strict=True):
                layer.train(mode)

    def loss(self, x, t):
        """Forward through the layers and the loss, in the current mode; returns the loss value."""
        self._ready = False
        out = self.loss_fn(self.layers.forward(x), t)
        self._ready = True
        return out

    def backward(self) -> None:
        """Fill every ``Parameter.grad`` with the gradient of the last :meth:`loss` call."""
        if not self._ready:
            raise v.BackwardBeforeForwardError(
                "MultiLayerNet.backward() was called before loss(x, t): run the forward pass first"
            )
        dx = self.layers.backward(self.loss_fn.backward())
        self.x_grad = dx if self.input_grad else None

    def gradient(self, x, t) -> list[np.ndarray]:
        """:meth:`loss` then :meth:`backward`; the gradients, aligned with :meth:`parameters`.

        The arrays are the parameters' ``.grad`` (fresh arrays from this pass: a
        later call does not overwrite them).
        """
        self.loss(x, t)
        self.backward()
        return [p.grad for p in self.parameters()]

    def accuracy(self, x, t) -> float:
        """The fraction of samples whose largest score is the target class (evaluation mode).

        ``t`` holds class indices ``(N,)`` or one-hot rows ``(N, C)``.
        """
        scores = self.predict(x)
        t = np.asarray(t)
        n, c = scores.shape
        if t.shape == (n, c):
            labels = t.argmax(axis=1)
        elif t.shape == (n,):
            labels = v.as_class_indices(t, "t", c)
        else:
            raise ValueError(
                f"t must hold class indices of shape ({n},) or one-hot rows of shape ({n}, {c}), got shape {t.shape}"
            )
        return float(np.mean(scores.argmax(axis=1) == labels))

    # ----------------------------------------------------------------------- state

    def parameters(self) -> list[Parameter]:
        """Every trainable parameter (weights and biases, BatchNorm scales and shifts), layer by layer."""
        return self.layers.parameters()

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and BatchNorm statistic, by name; see :meth:`Sequential.state_dict`."""
        return self.layers.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Strictly restore a :meth:`state_dict`; see :meth:`Sequential.load_state_dict`."""
        self.layers.load_state_dict(state)

    def __repr__(self) -> str:
        sizes = [p.data.shape for p in self.parameters() if p.data.ndim == 2]
        arch = "-".join(str(n) for n in [sizes[0][0], *(s[1] for s in sizes)])
        extras = "".join([f", dropout={self.dropout}" if self.dropout else "", ", batchnorm" if self.batchnorm else ""])
        loss = getattr(self.loss_fn, "short_name", type(self.loss_fn).__name__)
        return f"MultiLayerNet({arch}, {self.activation}{extras}, loss={loss}, dtype={self.dtype.name})"
