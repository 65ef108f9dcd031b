"""Optimizers: PyTorch-semantics classes over Parameters, and the textbook's dict-based variants.

``SGD``, ``Momentum``, ``Nesterov``, ``Adagrad`` (alias ``AdaGrad``), ``RMSprop``,
``Adam`` and ``AdamW`` follow ``torch.optim``'s algorithms: ``step()`` updates each
``Parameter.data`` in place from ``Parameter.grad``, with state in lists aligned
with the parameter list. :mod:`losslab.optim.textbook` holds the book's
``update(params, grads)`` versions and a table of how their rules differ.
"""

from ..layers._base import Parameter
from . import textbook
from ._base import Optimizer
from .adaptive import AdaGrad, Adagrad, Adam, AdamW, RMSprop
from .sgd import SGD, Momentum, Nesterov

__all__ = [
    "Optimizer",
    "Parameter",
    "SGD",
    "Momentum",
    "Nesterov",
    "Adagrad",
    "AdaGrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "textbook",
]
