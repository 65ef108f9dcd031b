"""Adaptive learning-rate optimizers with PyTorch's semantics: Adagrad, RMSprop, Adam, AdamW.

``step()`` reads each ``Parameter.grad`` (never modifies it) and updates
``Parameter.data`` in place. Per-parameter state lives in ``self.state``, a list
aligned with ``self.params`` (the keys are torch's: ``"sum"``, ``"square_avg"``,
``"exp_avg"`` ...); state arrays have their parameter's dtype, so float32 stays
float32. ``self.step_count`` is the step number ``t`` (all parameters step together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import _validation as v
from ..layers._base import Parameter
from ._base import Optimizer


def _check_betas(betas) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    beta1, beta2 = (
        float(v.check_scalar(b, f"betas[{i}]", low=0.0, high=1.0, high_open=True)) for i, b in enumerate(betas)
    )
    return beta1, beta2


class Adagrad(Optimizer):
    r"""Adagrad: ``torch.optim.Adagrad``.

    With :math:`\gamma` = lr, :math:`\eta` = lr_decay, :math:`\lambda` = weight_decay,
    ``sum_0 = initial_accumulator_value``, step :math:`t = 1, 2, \dots`::

        g     = -grad if maximize else grad
        g     = g + lambda * theta                  (if lambda != 0)
        clr   = gamma / (1 + (t - 1) * eta)
        sum_t = sum_{t-1} + g * g
        theta = theta - clr * g / (sqrt(sum_t) + eps)

    Example:
        >>> import numpy as np
        >>> from losslab.optim import Adagrad, Parameter
        >>> w = Parameter(np.array([1.0, 1.0]))
        >>> opt = Adagrad([w], lr=0.1, eps=0.0)
        >>> w.grad[...] = [2.0, -0.5]
        >>> opt.step()
        >>> w.data  # 1 - 0.1 * g / |g|
        array([0.9, 1.1])
    """

    default_lr = 0.01

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float | None = None,
        *,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.lr_decay = float(v.check_scalar(lr_decay, "lr_decay", low=0.0))
        self.weight_decay = float(v.check_scalar(weight_decay, "weight_decay", low=0.0))
        init = float(v.check_scalar(initial_accumulator_value, "initial_accumulator_value", low=0.0))
        self.initial_accumulator_value = init
        self.eps = float(v.check_scalar(eps, "eps", low=0.0))
        self.maximize = v.check_bool(maximize, "maximize")
        self.state = [{"sum": np.full_like(p.data, init)} for p in self.params]
        self.step_count = 0

    def step(self) -> None:
        """One update of every parameter by the rule above, the step count advanced by one; ``data`` and the
        state change in place, ``grad`` is only read."""
        self.step_count += 1
        clr = float(self.lr) / (1 + (self.step_count - 1) * self.lr_decay)
        for p, state in zip(self.params, self.state, strict=True):
            g = -p.grad if self.maximize else p.grad
            if self.weight_decay != 0:
                g = g + self.weight_decay * p.data
            state["sum"] += g * g
            std = np.sqrt(state["sum"])
            std += self.eps
            p.data -= clr * (g / std)


AdaGrad = Adagrad
"""The textbook's spelling of :class:`Adagrad` (the same class)."""


class RMSprop(Optimizer):
    r"""RMSprop: ``torch.optim.RMSprop``.

    With :math:`\gamma` = lr, :math:`\alpha` = alpha, :math:`\mu` = momentum, all state zero at start::

        g     = -grad if maximize else grad
        g     = g + lambda * theta                           (if weight_decay != 0)
        v_t   = alpha * v_{t-1} + (1 - alpha) * g * g
        v~    = v_t
        a_t   = alpha * a_{t-1} + (1 - alpha) * g            (if centered)
        v~    = v_t - a_t * a_t                              (if centered)
        b_t   = mu * b_{t-1} + g / (sqrt(v~) + eps)          (if mu > 0)
        theta = theta - gamma * b_t                          (if mu > 0)
        theta = theta - gamma * g / (sqrt(v~) + eps)         (otherwise)

    Note: ``v_t - a_t**2`` is a variance, non-negative in exact arithmetic; rounding
    can push it a hair below zero (e.g. after thousands of identical gradients),
    where torch returns NaN. Here it is clamped at 0 first.

    Example:
        >>> import numpy as np
        >>> from losslab.optim import RMSprop, Parameter
        >>> w = Parameter(np.array([1.0]))
        >>> opt = RMSprop([w], lr=0.01, eps=0.0)
        >>> w.grad[...] = 3.0
        >>> opt.step()
        >>> w.data  # 1 - 0.01 * 3 / sqrt(0.01 * 9)
        array([0.9])
    """

    default_lr = 0.01

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float | None = None,
        *,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.alpha = float(v.check_scalar(alpha, "alpha", low=0.0, high=1.0))
        self.eps = float(v.check_scalar(eps, "eps", low=0.0))
        self.weight_decay = float(v.check_scalar(weight_decay, "weight_decay", low=0.0))
        self.momentum = float(v.check_scalar(momentum, "momentum", low=0.0))
        self.centered = v.check_bool(centered, "centered")
        self.maximize = v.check_bool(maximize, "maximize")
        self.state = []
        for p in self.params:
            state = {"square_avg": np.zeros_like(p.data)}
            if self.momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if self.centered:
                state["grad_avg"] = np.zeros_like(p.data)
            self.state.append(state)
        self.step_count = 0

    def step(self) -> None:
        """One update of every parameter by the rule above, the step count advanced by one; ``data`` and the
        state change in place, ``grad`` is only read."""
        self.step_count += 1
        lr, alpha = float(self.lr), self.alpha
        for p, state in zip(self.params, self.state, strict=True):
            g = -p.grad if self.maximize else p.grad
            if self.weight_decay != 0:
                g = g + self.weight_decay * p.data
            square_avg = state["square_avg"]
            square_avg *= alpha
            square_avg += (1 - alpha) * g * g
            if self.centered:
                grad_avg = state["grad_avg"]
                grad_avg += (1 - alpha) * (g - grad_avg)
                avg = np.sqrt(np.maximum(square_avg - grad_avg * grad_avg, 0))
            else:
                avg = np.sqrt(square_avg)
            avg += self.eps
            if self.momentum > 0:
                buf = state["momentum_buffer"]
                buf *= self.momentum
                buf += g / avg
                p.data -= lr * buf
            else:
                p.data -= lr * (g / avg)


class Adam(Optimizer):
    r"""Adam (and AMSGrad): ``torch.optim.Adam``.

    With :math:`\gamma` = lr, ``betas = (b1, b2)``, :math:`\lambda` = weight_decay,
    ``m_0 = v_0 = vmax_0 = 0``, step :math:`t = 1, 2, \dots`::

        g     = -grad if maximize else grad
        g     = g + lambda * theta                 (L2 penalty, if lambda != 0)
        theta = theta * (1 - gamma * lambda)       (instead, if decoupled_weight_decay)
        m_t   = b1 * m_{t-1} + (1 - b1) * g
        v_t   = b2 * v_{t-1} + (1 - b2) * g * g
        m^    = m_t / (1 - b1**t)
        vmax_t = max(vmax_{t-1}, v_t)              (if amsgrad)
        v^    = vmax_t / (1 - b2**t)  if amsgrad  else  v_t / (1 - b2**t)
        theta = theta - gamma * m^ / (sqrt(v^) + eps)

    ``eps`` is added *after* the bias correction of ``v``; the textbook adds it before
    (see :mod:`losslab.optim.textbook`).

    Example:
        >>> import numpy as np
        >>> from losslab.optim import Adam, Parameter
        >>> w = Parameter(np.array([1.0, 1.0]))
        >>> opt = Adam([w], lr=0.1, eps=0.0)
        >>> w.grad[...] = [4.0, -0.01]
        >>> opt.step()
        >>> w.data  # the first step is -lr * sign(g): m^ = g, v^ = g * g
        array([0.9, 1.1])
    """

    default_lr = 0.001

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float | None = None,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.betas = _check_betas(betas)
        self.eps = float(v.check_scalar(eps, "eps", low=0.0))
        self.weight_decay = float(v.check_scalar(weight_decay, "weight_decay", low=0.0))
        self.amsgrad = v.check_bool(amsgrad, "amsgrad")
        self.maximize = v.check_bool(maximize, "maximize")
        self.decoupled_weight_decay = v.check_bool(decoupled_weight_decay, "decoupled_weight_decay")
        self.state = []
        for p in self.params:
            state = {"exp_avg": np.zeros_like(p.data), "exp_avg_sq": np.zeros_like(p.data)}
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
            self.state.append(state)
        self.step_count = 0

    def step(self) -> None:
        """One update of every parameter by the rule above, the step count advanced by one; ``data`` and the
        state change in place, ``grad`` is only read."""
        self.step_count += 1
        t, lr, wd = self.step_count, float(self.lr), self.weight_decay
        beta1, beta2 = self.betas
        step_size = lr / (1 - beta1**t)
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
        for p, state in zip(self.params, self.state, strict=True):
            g = -p.grad if self.maximize else p.grad
            if wd != 0:
                if self.decoupled_weight_decay:
                    p.data *= 1 - lr * wd
                else:
                    g = g + wd * p.data
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg += (1 - beta1) * (g - exp_avg)
            exp_avg_sq *= beta2
            exp_avg_sq += (1 - beta2) * g * g
            if self.amsgrad:
                np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                exp_avg_sq = state["max_exp_avg_sq"]
            denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt
            denom += self.eps
            p.data -= step_size * (exp_avg / denom)


class AdamW(Adam):
    r"""Adam with decoupled weight decay: ``torch.optim.AdamW``.

    The rule of :class:`Adam`, except that weight decay never enters the gradient
    (nor ``m``, nor ``v``): each step first shrinks the parameter,
    ``theta = theta * (1 - lr * weight_decay)``, then takes the Adam step.
    Same as ``Adam(..., decoupled_weight_decay=True)``; the default decay is 1e-2.

    Example:
        >>> import numpy as np
        >>> from losslab.optim import AdamW, Parameter
        >>> w = Parameter(np.array([2.0]))
        >>> opt = AdamW([w], lr=0.1, eps=0.0, weight_decay=0.5)
        >>> w.grad[...] = 1.0
        >>> opt.step()
        >>> w.data  # 2 * (1 - 0.1 * 0.5) - 0.1 * 1
        array([1.8])
    """

    default_lr = 0.001

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float | None = None,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
