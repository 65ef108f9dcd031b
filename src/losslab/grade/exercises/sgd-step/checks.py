"""The checks of sgd-step: inputs, probes and judge from :mod:`losslab.grade.exercises.optim`."""

from losslab.grade.exercises.optim import sgd_cases as make_cases  # noqa: F401
from losslab.grade.exercises.optim import SGD_PROBES as PROBES  # noqa: F401
from losslab.grade.exercises.optim import judge_sgd as judge  # noqa: F401
