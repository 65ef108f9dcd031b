"""Loss objects with PyTorch's class names and options: ``out = L(*inputs)``, ``L.backward(dout)``.

Each family module lists its classes in ``__all__``; this package re-exports them all,
so a loss added to a family module is public without a line here.
"""

# ruff: noqa: I001  (the families' import order is the order they register in: the README table's)

from ._base import Loss, registered
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

from . import classification, ctc, embedding, focal, margin, metric, projection, regression, robust, segmentation
from . import sparse, textbook

# the family modules
FAMILIES = (
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

__all__ = ["Loss", "registered"] + [name for family in FAMILIES for name in family.__all__]
