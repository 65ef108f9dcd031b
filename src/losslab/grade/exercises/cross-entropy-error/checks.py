"""The checks of cross-entropy-error: inputs, probes and judge from :mod:`losslab.grade.exercises.functions`."""

from losslab.grade.exercises.functions import cee_cases as make_cases  # noqa: F401
from losslab.grade.exercises.functions import CEE_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.functions import judge_cee as judge  # noqa: F401
