"""Stochastic gradient descent with PyTorch's semantics: SGD, Momentum, Nesterov.

``step()`` reads each ``Parameter.grad`` (never modifies it) and updates
``Parameter.data`` in place. The momentum buffers live in ``self.state``, a list
aligned with ``self.params``: ``self.state[i]["momentum_buffer"]`` belongs to
``self.params[i]`` (``None`` until the first step, as in ``torch.optim.SGD``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _validation as v
from ..layers._base import Parameter
from ._base import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum: ``torch.optim.SGD``.

    With learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau`
    and weight decay :math:`\lambda`, each step does, for every parameter :math:`\theta`::

        g   = -grad if maximize else grad
        g   = g + lambda * theta                      (if lambda != 0)
        b_t = g                                       (first step, if mu != 0)
        b_t = mu * b_{t-1} + (1 - tau) * g            (later steps)
        g   = g + mu * b_t  if nesterov  else  b_t    (if mu != 0)
        theta = theta - gamma * g

    The first step copies the gradient into the buffer (no dampening), so with
    ``momentum=0.9`` the first update is ``-lr * g`` exactly like plain SGD.

    Args:
        params: the Parameters to optimize (a non-empty sequence).
        lr: learning rate :math:`\gamma > 0`; by default the class's ``default_lr``
            (``SGD`` 0.1; ``Momentum`` and ``Nesterov`` 0.01).
        momentum: :math:`\mu \ge 0` (0 disables the buffer).
        dampening: :math:`\tau \in [0, 1]`, scales the gradient's share of the buffer.
        weight_decay: :math:`\lambda \ge 0`, the L2 penalty added to the gradient.
        nesterov: Nesterov momentum; requires ``momentum > 0`` and ``dampening == 0``.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: ``lr <= 0``, a negative ``momentum`` or ``weight_decay``,
            ``dampening`` outside ``[0, 1]``, ``nesterov`` without momentum or with
            dampening, an empty ``params``.
        TypeError: a non-Parameter in ``params``, a non-real option.

    Example:
        >>> import numpy as np
        >>> from losslab.optim import SGD, Parameter
        >>> w = Parameter(np.array([1.0, -2.0]))
        >>> opt = SGD([w], lr=0.1)
        >>> w.grad[...] = [0.5, 1.0]
        >>> opt.step()
        >>> w.data
        array([ 0.95, -2.1 ])
    """

    default_lr = 0.1

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float | None = None,
        *,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = float(v.check_scalar(momentum, "momentum", low=0.0))
        self.dampening = float(v.check_scalar(dampening, "dampening", low=0.0, high=1.0))
        self.weight_decay = float(v.check_scalar(weight_decay, "weight_decay", low=0.0))
        self.nesterov = v.check_bool(nesterov, "nesterov")
        self.maximize = v.check_bool(maximize, "maximize")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={momentum!r} and dampening={dampening!r}"
            )
        self.state: list[dict[str, np.ndarray | None]] = [{"momentum_buffer": None} for _ in self.params]

    def step(self) -> None:
        """One update of every parameter by the rule above (momentum buffers created on the first step);
        ``data`` changes in place, ``grad`` is only read."""
        lr, mu, wd = float(self.lr), self.momentum, self.weight_decay
        if mu == 0 and wd == 0:  # plain SGD: one product per parameter, no negated copy of the gradient
            for p in self.params:
                if self.maximize:
                    p.data += lr * p.grad
                else:
                    p.data -= lr * p.grad
            return
        for p, state in zip(self.params, self.state, strict=True):
            g = -p.grad if self.maximize else p.grad
            if wd != 0:
                g = g + wd * p.data
            if mu != 0:
                buf = state["momentum_buffer"]
                if buf is None:
                    buf = state["momentum_buffer"] = np.array(g, dtype=p.data.dtype, copy=True)
                else:
                    buf *= mu
                    if self.dampening == 0:
                        buf += g
                    else:
                        buf += (1.0 - self.dampening) * g
                g = g + mu * buf if self.nesterov else buf
            p.data -= lr * g


class Momentum(SGD):
    r"""SGD with heavy-ball momentum (``momentum=0.9`` by default): ``torch.optim.SGD(momentum=...)``.

    ``b_t = mu * b_{t-1} + (1 - tau) * g`` (``b_1 = g``), then ``theta -= lr * b_t``;
    see :class:`SGD` for weight decay and ``maximize``. For a constant learning rate
    this is the textbook's ``v = mu * v - lr * g; theta += v`` with ``v = -lr * b``.

    Example:
        >>> import numpy as np
        >>> from losslab.optim import Momentum, Parameter
        >>> w = Parameter(np.array([1.0]))
        >>> opt = Momentum([w], lr=0.1)
        >>> for _ in range(2):
        ...     w.grad[...] = 1.0
        ...     opt.step()
        >>> w.data  # 1 - 0.1 * 1 - 0.1 * (0.9 * 1 + 1)
        array([0.71])
    """

    default_lr = 0.01

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float | None = None,
        *,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )


class Nesterov(SGD):
    r"""SGD with Nesterov momentum: ``torch.optim.SGD(momentum=0.9, nesterov=True)``.

    ``b_t = mu * b_{t-1} + g`` (``b_1 = g``), then ``theta -= lr * (g + mu * b_t)``;
    this is Sutskever et al.'s look-ahead rule in Bengio et al.'s reformulation.
    Requires ``momentum > 0`` and ``dampening == 0``.

    Example:
        >>> import numpy as np
        >>> from losslab.optim import Nesterov, Parameter
        >>> w = Parameter(np.array([1.0]))
        >>> opt = Nesterov([w], lr=0.1)
        >>> w.grad[...] = 1.0
        >>> opt.step()
        >>> w.data  # 1 - 0.1 * (1 + 0.9 * 1)
        array([0.81])
    """

    default_lr = 0.01

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float | None = None,
        *,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=True,
            maximize=maximize,
        )
