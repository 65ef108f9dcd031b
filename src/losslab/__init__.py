"""losslab: loss functions done right, with exact hand-derived gradients, in NumPy."""

__version__ = "0.1.0"
"""The version of losslab (PEP 440), the one source the wheel's metadata reads."""

from . import functional, nn  # noqa: E402  (after __version__ and its docstring: the version first)

__all__ = ["__version__", "functional", "nn"]
