"""The checks of loss-backward: inputs, probes and judge from :mod:`losslab.grade.exercises.losses`."""

from losslab.grade.exercises.losses import make_cases as make_cases  # noqa: F401
from losslab.grade.exercises.losses import BACKWARD_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.losses import judge_backward as judge  # noqa: F401
from losslab.grade.exercises.losses import detect_backward as detect  # noqa: F401
