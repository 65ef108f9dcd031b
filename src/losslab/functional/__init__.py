"""Pure loss functions and their backward passes.

Each loss ``name(inputs..., *, options)`` has ``name_backward(dout, inputs..., *, options)``
beside it, returning the gradient of ``sum(dout * name(...))`` with respect to
the differentiable inputs. Grouped by family: classification, regression, margin,
embedding, metric learning, sequence (CTC), focal, segmentation, robust regression,
sparse (sparsemax), and the textbook's functions. Each family module lists its
functions in ``__all__``; this package re-exports them all.
"""

from .activation import *  # noqa: F401,F403
from .classification import *  # noqa: F401,F403
from .regression import *  # noqa: F401,F403
from .margin import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .textbook import *  # noqa: F401,F403
from .ctc import *  # noqa: F401,F403
from .metric import *  # noqa: F401,F403
from .focal import *  # noqa: F401,F403
from .segmentation import *  # noqa: F401,F403
from .robust import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .projection import *  # noqa: F401,F403

from . import activation, classification, ctc, embedding, focal, margin, metric, regression, robust, segmentation, sparse
from . import projection, textbook

# the family modules
FAMILIES = (activation, classification, regression, margin, embedding, textbook, ctc, metric, focal, segmentation,
            robust, sparse, projection)

__all__ = [name for family in FAMILIES for name in family.__all__]
