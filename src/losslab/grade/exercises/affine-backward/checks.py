"""The checks of affine-backward: inputs, probes and judge from :mod:`losslab.grade.exercises.layers`."""

from losslab.grade.exercises.layers import affine_cases as make_cases  # noqa: F401
from losslab.grade.exercises.layers import AFFINE_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.layers import judge_affine as judge  # noqa: F401
