"""The checks of numerical-gradient: inputs, probes and judge from :mod:`losslab.grade.exercises.functions`."""

from losslab.grade.exercises.functions import ng_cases as make_cases  # noqa: F401
from losslab.grade.exercises.functions import NG_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.functions import judge_ng as judge  # noqa: F401
