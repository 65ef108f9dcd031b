"""The checks of loss-forward: inputs, probes and judge from :mod:`losslab.grade.exercises.losses`."""

from losslab.grade.exercises.losses import make_cases as make_cases  # noqa: F401
from losslab.grade.exercises.losses import FORWARD_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.losses import judge_forward as judge  # noqa: F401
from losslab.grade.exercises.losses import detect_forward as detect  # noqa: F401
