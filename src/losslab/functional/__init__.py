"""Pure loss functions and their backward passes.

Each loss ``name(inputs..., *, options)`` has ``name_backward(dout, inputs..., *, options)``
beside it, returning the gradient of ``sum(dout * name(...))`` with respect to
the differentiable inputs. Grouped by family: classification, regression, margin,
embedding, metric learning, sequence (CTC), focal, segmentation, robust regression,
sparse (sparsemax), and the textbook's functions. Each family module lists its
functions in ``__all__``; this package re-exports them all, each returning Dask arrays whose
tasks compute as quietly as the NumPy call would (see ``_array_api.silent``).
"""

# ruff: noqa: I001  (the families' import order is the order they register in: the README table's)

import functools as _functools

from .. import _array_api as _xpa
from .activation import *  # noqa: F403
from .classification import *  # noqa: F403
from .regression import *  # noqa: F403
from .margin import *  # noqa: F403
from .embedding import *  # noqa: F403
from .textbook import *  # noqa: F403
from .ctc import *  # noqa: F403
from .metric import *  # noqa: F403
from .focal import *  # noqa: F403
from .segmentation import *  # noqa: F403
from .robust import *  # noqa: F403
from .sparse import *  # noqa: F403
from .projection import *  # noqa: F403

from . import activation, classification, ctc, embedding, focal, margin, metric, projection, regression, robust
from . import segmentation, sparse, textbook

# the family modules
FAMILIES = (
    activation,
    classification,
    regression,
    margin,
    embedding,
    textbook,
    ctc,
    metric,
    focal,
    segmentation,
    robust,
    sparse,
    projection,
)

__all__ = [name for family in FAMILIES for name in family.__all__]


def _silent_on_dask(function):
    """``function``, its Dask results computing without NumPy's floating-point warnings."""

    @_functools.wraps(function)
    def call(*args, **kwargs):
        return _xpa.silent(function(*args, **kwargs))

    return call


# bound in the family modules too, so that the loss classes (and the registry) call the same objects
for _family in FAMILIES:
    for _name in _family.__all__:
        if isinstance(getattr(_family, _name), type):  # a class (an options record): kept as it is
            continue
        _silent = _silent_on_dask(getattr(_family, _name))
        setattr(_family, _name, _silent)
        globals()[_name] = _silent
del _family, _name, _silent
