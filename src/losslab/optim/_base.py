"""The optimizer protocol: state lists aligned with the parameter list, updated in place."""

from __future__ import annotations

from collections.abc import Sequence

from .. import _validation as v
from ..layers._base import Parameter


class Optimizer:
    """Base class. ``step()`` updates every ``Parameter.data`` in place from ``Parameter.grad``.

    State (velocities, moment estimates) lives in lists aligned with ``params``:
    ``self.state[i]`` belongs to ``self.params[i]``. ``zero_grad()`` clears the gradients.
    """

    #: the learning rate used when ``lr`` is not given: one that trains the MNIST MLP well
    default_lr: float = 0.1

    def __init__(self, params: Sequence[Parameter], lr: float | None = None) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("params must hold at least one Parameter, got an empty list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"params[{i}] must be a losslab Parameter, got {type(p).__name__}")
        self.lr = v.check_scalar(self.default_lr if lr is None else lr, "lr", low=0.0, low_open=True)

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0, in place."""
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        """Update every parameter's ``data`` in place from its ``grad``, by the optimizer's rule."""
        raise NotImplementedError

    def __repr__(self) -> str:
        n = len(self.params)
        return f"{type(self).__name__}(lr={float(self.lr):g}, {n} parameter{'s' if n != 1 else ''})"
