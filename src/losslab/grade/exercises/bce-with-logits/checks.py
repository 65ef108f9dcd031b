"""The checks of bce-with-logits: inputs, probes and judge from :mod:`losslab.grade.exercises.functions`."""

from losslab.grade.exercises.functions import bce_cases as make_cases  # noqa: F401
from losslab.grade.exercises.functions import BCE_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.functions import judge_bce as judge  # noqa: F401
from losslab.grade.exercises.functions import detect_bce as detect  # noqa: F401
