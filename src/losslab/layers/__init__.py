"""Computational-graph layers with exact backward passes, and networks built from them.

Each layer follows the protocol of :mod:`losslab.layers._base`: ``forward`` caches,
``backward(dout)`` returns the input gradient and writes ``Parameter.grad``.
"""

from ._base import Layer, Parameter
from .activation import Relu, Sigmoid, Softmax, Tanh
from .affine import Affine, init_std
from .basic import AddLayer, MulLayer
from .network import MultiLayerNet, Sequential
from .regularization import BatchNorm, Dropout

__all__ = [
    "Layer",
    "Parameter",
    "AddLayer",
    "MulLayer",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Affine",
    "init_std",
    "Dropout",
    "BatchNorm",
    "Sequential",
    "MultiLayerNet",
]
