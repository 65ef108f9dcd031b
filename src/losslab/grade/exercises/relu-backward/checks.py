"""The checks of relu-backward: inputs, probes and judge from :mod:`losslab.grade.exercises.layers`."""

from losslab.grade.exercises.layers import activation_cases as make_cases  # noqa: F401
from losslab.grade.exercises.layers import RELU_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.layers import judge_relu as judge  # noqa: F401
