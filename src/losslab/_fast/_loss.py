"""A loss object whose forward pass also computes the gradient, when a fused path takes the call."""

from __future__ import annotations

from ._dispatch import scale_by_dout


class FusedLoss:
    """Mixin placed before :class:`losslab.nn.Loss`: forward keeps the fused gradient for backward.

    A subclass implements ``_fused(*inputs)``, returning ``(out, grad)`` from
    :mod:`losslab._fast` or ``None``, and ``_fused_key()``, the options the
    gradient depends on. ``backward`` hands out the kept gradient (scaled by
    ``dout``) once, if the options are unchanged; otherwise, and on a second call,
    it goes through the pure backward function, which takes the same fused path
    and so returns the same numbers.
    """

    _rows = False     # True when the gradient has a class axis after the output's axes
    _pending = None   # (gradient, options key, output shape) from the last fused forward

    def _fused(self, *inputs):
        raise NotImplementedError

    def _fused_key(self):
        raise NotImplementedError

    def forward(self, *inputs):
        fused = self._fused(*inputs) if len(inputs) == len(self._inputs) else None
        if fused is None:
            self._pending = None
            return super().forward(*inputs)
        out, grad = fused
        self._cache = inputs
        self._pending = (grad, self._fused_key(), out.shape)
        return out

    def backward(self, dout=1.0):
        pending = self._pending
        if pending is None or pending[1] != self._fused_key():
            return super().backward(dout)
        self._pending = None  # the array is handed out: never hand it out twice
        grad, _, out_shape = pending
        return scale_by_dout(grad, dout, out_shape, self.reduction, rows=self._rows)
