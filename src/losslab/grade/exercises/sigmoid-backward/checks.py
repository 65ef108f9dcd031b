"""The checks of sigmoid-backward: inputs, probes and judge from :mod:`losslab.grade.exercises.layers`."""

from losslab.grade.exercises.layers import activation_cases as make_cases  # noqa: F401
from losslab.grade.exercises.layers import SIGMOID_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.layers import judge_sigmoid as judge  # noqa: F401
