"""losslab: loss functions done right, with exact hand-derived gradients, in NumPy."""

__version__ = "0.1.0"

from . import functional, nn

__all__ = ["__version__", "functional", "nn"]
