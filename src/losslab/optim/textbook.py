r"""The textbook's optimizers (深度学习入门 / Deep Learning from Scratch, ch. 6), its interface and rules.

``opt.update(params, grads)`` takes two dicts keyed by parameter name (``"W1"``,
``"b1"`` ...) and updates the arrays of ``params`` in place. State (velocities,
accumulators, moments) lives in dicts keyed by the same names, created on first
use with the parameter's dtype. The defaults are the book's; the 1e-7 in
AdaGrad, RMSprop and Adam is the book's hard-coded constant.

How each rule compares with its :mod:`losslab.optim` (PyTorch-semantics) counterpart:

==========  ==========================================  ==================================================
textbook    textbook rule                               vs. the torch-like optimizer
==========  ==========================================  ==================================================
SGD         ``p -= lr*g``                               identical to ``SGD(params, lr)``
Momentum    ``v = m*v - lr*g; p += v``                  identical to ``Momentum(params, lr, momentum=m)``
                                                        for a constant lr (``v == -lr*b``, torch's buffer
                                                        ``b = m*b + g``); if lr changes between steps the
                                                        book's ``v`` keeps the steps taken with the old lr,
                                                        while torch rescales the whole buffer by the new lr
Nesterov    ``v = m*v - lr*g;``                         differs from ``Nesterov(params, lr)`` from the
            ``p += m*m*v - (1+m)*lr*g``                 first step: the book's ``m*m*v`` uses the velocity
                                                        *already updated*, so step 1 moves
                                                        ``-(1+m+m*m)*lr*g`` (2.71 lr g at m=0.9) against
                                                        torch's ``-(1+m)*lr*g``. Bengio et al.'s formula
                                                        (arXiv:1212.0901) uses the previous ``v`` and is
                                                        exactly torch's rule
AdaGrad     ``h += g*g; p -= lr*g/(sqrt(h) + 1e-7)``    ``Adagrad(params, lr, eps=1e-7)`` (torch's default
                                                        eps is 1e-10; no lr_decay, weight decay or
                                                        initial accumulator in the book)
RMSprop     ``h = r*h + (1-r)*g*g;``                    ``RMSprop(params, lr, alpha=r, eps=1e-7)``
            ``p -= lr*g/(sqrt(h) + 1e-7)``              (torch's default eps is 1e-8)
Adam        ``lr_t = lr*sqrt(1-b2**t)/(1-b1**t);``      eps placement: the book adds 1e-7 to ``sqrt(v)``
            ``m += (1-b1)*(g-m);``                      *before* bias correction, torch adds eps to
            ``v += (1-b2)*(g*g-v);``                    ``sqrt(v/(1-b2**t))`` after it; the book equals
            ``p -= lr_t*m/(sqrt(v) + 1e-7)``            ``Adam`` with a step-dependent
                                                        ``eps_t = 1e-7/sqrt(1-b2**t)`` (31.6x larger at
                                                        t=1 for b2=0.999), the same in the limit eps -> 0
==========  ==========================================  ==================================================

Example:
    >>> import numpy as np
    >>> from losslab.optim.textbook import SGD
    >>> params = {"x": np.array([-3.0, 4.0])}
    >>> opt = SGD(lr=0.1)
    >>> for _ in range(100):
    ...     opt.update(params, {"x": 2 * params["x"]})   # gradient of x0**2 + x1**2
    >>> bool(np.allclose(params["x"], 0.0, atol=1e-8))
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .. import _validation as v

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


class _TextbookOptimizer:
    """Shared door checks: ``lr > 0``; ``params``/``grads`` dicts with matching keys and shapes."""

    def __init__(self, lr: float) -> None:
        self.lr = v.check_scalar(lr, "lr", low=0.0, low_open=True)

    @staticmethod
    def _pairs(
        params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]
    ) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, param, grad)`` for every key of ``params``, all checked before any update."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of name -> array, got {type(params).__name__}")
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict of name -> array, got {type(grads).__name__}")
        pairs = []
        for key, p in params.items():
            if key not in grads:
                raise ValueError(
                    f"grads has no entry for params[{key!r}]; grads must hold a gradient for every "
                    f"key of params, got keys {sorted(map(str, grads))}"
                )
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(
                    f"params[{key!r}] must be a float NumPy array (it is updated in place), "
                    f"got {type(p).__name__}" + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else "")
                )
            g = np.asarray(grads[key])
            if g.shape != p.shape:
                raise ValueError(f"grads[{key!r}] must have the shape of params[{key!r}], {p.shape}, got {g.shape}")
            pairs.append((key, p, g))
        return pairs

    @staticmethod
    def _zeros(state: dict[str, np.ndarray], key: str, p: np.ndarray) -> np.ndarray:
        """``state[key]``, created on first use as zeros of ``p``'s shape and dtype."""
        a = state.get(key)
        if a is None:
            a = state[key] = np.zeros_like(p)
        return a


class SGD(_TextbookOptimizer):
    """Stochastic gradient descent: ``p -= lr * g``.

    >>> import numpy as np
    >>> params = {"W": np.array([1.0, -2.0])}
    >>> SGD(lr=0.1).update(params, {"W": np.array([0.5, 1.0])})
    >>> params["W"]
    array([ 0.95, -2.1 ])
    """

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update each array of ``params`` in place by the rule above, ``g`` its entry in ``grads`` (same keys
        and shapes as ``params``, all checked before anything changes)."""
        for _, p, g in self._pairs(params, grads):
            p -= self.lr * g


class Momentum(_TextbookOptimizer):
    """Momentum: ``v = momentum * v - lr * g``, then ``p += v`` (``v`` starts at 0).

    >>> import numpy as np
    >>> params = {"W": np.array([1.0])}
    >>> opt = Momentum(lr=0.1)
    >>> for _ in range(2):
    ...     opt.update(params, {"W": np.array([1.0])})
    >>> params["W"]  # v1 = -0.1, v2 = 0.9 * -0.1 - 0.1 = -0.19; 1 - 0.1 - 0.19
    array([0.71])
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = v.check_scalar(momentum, "momentum", low=0.0)
        self.v: dict[str, np.ndarray] = {}

    def update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update each array of ``params`` in place by the rule above, ``g`` its entry in ``grads`` (same keys
        and shapes as ``params``, all checked before anything changes)."""
        for key, p, g in self._pairs(params, grads):
            vel = self._zeros(self.v, key, p)
            vel *= self.momentum
            vel -= self.lr * g
            p += vel


class Nesterov(_TextbookOptimizer):
    """The book's Nesterov: ``v = momentum * v - lr * g``, then ``p += momentum**2 * v - (1 + momentum) * lr * g``.

    ``v`` in the second line is the velocity just updated (the book's code), so the
    first step is ``-(1 + m + m**2) * lr * g``, not torch's ``-(1 + m) * lr * g``.

    >>> import numpy as np
    >>> params = {"W": np.array([1.0])}
    >>> Nesterov(lr=0.1).update(params, {"W": np.array([1.0])})
    >>> params["W"]  # 1 - (1 + 0.9 + 0.81) * 0.1
    array([0.729])
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = v.check_scalar(momentum, "momentum", low=0.0)
        self.v: dict[str, np.ndarray] = {}

    def update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update each array of ``params`` in place by the rule above, ``g`` its entry in ``grads`` (same keys
        and shapes as ``params``, all checked before anything changes)."""
        m = self.momentum
        for key, p, g in self._pairs(params, grads):
            vel = self._zeros(self.v, key, p)
            vel *= m
            vel -= self.lr * g
            p += m * m * vel
            p -= (1 + m) * self.lr * g


class AdaGrad(_TextbookOptimizer):
    """AdaGrad: ``h += g * g``, then ``p -= lr * g / (sqrt(h) + 1e-7)``.

    >>> import numpy as np
    >>> params = {"W": np.array([1.0])}
    >>> AdaGrad(lr=0.1).update(params, {"W": np.array([2.0])})
    >>> params["W"]  # 1 - 0.1 * 2 / (2 + 1e-7)
    array([0.9])
    """

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)
        self.h: dict[str, np.ndarray] = {}

    def update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update each array of ``params`` in place by the rule above, ``g`` its entry in ``grads`` (same keys
        and shapes as ``params``, all checked before anything changes)."""
        for key, p, g in self._pairs(params, grads):
            h = self._zeros(self.h, key, p)
            h += g * g
            p -= self.lr * g / (np.sqrt(h) + 1e-7)


class RMSprop(_TextbookOptimizer):
    """RMSprop: ``h = decay_rate * h + (1 - decay_rate) * g * g``, then ``p -= lr * g / (sqrt(h) + 1e-7)``.

    >>> import numpy as np
    >>> params = {"W": np.array([1.0])}
    >>> RMSprop(lr=0.01).update(params, {"W": np.array([3.0])})
    >>> params["W"]  # h = 0.01 * 9 = 0.09; 1 - 0.01 * 3 / (0.3 + 1e-7)
    array([0.9])
    """

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = v.check_scalar(decay_rate, "decay_rate", low=0.0, high=1.0, high_open=True)
        self.h: dict[str, np.ndarray] = {}

    def update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update each array of ``params`` in place by the rule above, ``g`` its entry in ``grads`` (same keys
        and shapes as ``params``, all checked before anything changes)."""
        for key, p, g in self._pairs(params, grads):
            h = self._zeros(self.h, key, p)
            h *= self.decay_rate
            h += (1 - self.decay_rate) * g * g
            p -= self.lr * g / (np.sqrt(h) + 1e-7)


class Adam(_TextbookOptimizer):
    """The book's Adam: with ``t`` the update count,

    ``lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``,
    ``m += (1 - beta1) * (g - m)``, ``v += (1 - beta2) * (g * g - v)``,
    ``p -= lr_t * m / (sqrt(v) + 1e-7)``.

    >>> import numpy as np
    >>> params = {"W": np.array([1.0])}
    >>> Adam(lr=0.1).update(params, {"W": np.array([4.0])})
    >>> params["W"]  # lr_t * 0.4 / (sqrt(0.016) + 1e-7), lr_t = 0.1 * sqrt(0.001) / 0.1
    array([0.9])
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1 = v.check_scalar(beta1, "beta1", low=0.0, high=1.0, high_open=True)
        self.beta2 = v.check_scalar(beta2, "beta2", low=0.0, high=1.0, high_open=True)
        self.iter = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update each array of ``params`` in place by the rule above, ``g`` its entry in ``grads`` (same keys
        and shapes as ``params``, all checked before anything changes)."""
        pairs = self._pairs(params, grads)
        self.iter += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key, p, g in pairs:
            m, vv = self._zeros(self.m, key, p), self._zeros(self.v, key, p)
            m += (1 - self.beta1) * (g - m)
            vv += (1 - self.beta2) * (g * g - vv)
            p -= lr_t * m / (np.sqrt(vv) + 1e-7)
