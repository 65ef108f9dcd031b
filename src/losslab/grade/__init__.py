"""An exercise judge for the book's loss functions and layers, with feedback that names the mistake.

``losslab exercise start NAME`` writes a template and a statement (English or Chinese);
``losslab grade FILE`` runs the file in an isolated process (bubblewrap namespaces on
Linux, see :mod:`losslab.grade._isolation`) and checks it from the judge's own process: first the
online judge's own test (random inputs against the reference within 1e-5), then what
that test misses (batch size 1, large logits, float32, one-hot labels, the learner's
arrays left intact, a gradient check of every backward), naming the likely mistake
when the numbers show one. See :mod:`losslab.grade.catalog` for the exercises,
:mod:`losslab.grade.sandbox` for the sandbox and its limits, :mod:`losslab.grade.checks`
for the tolerances.
"""

from ._i18n import LANGS, Msg
from .catalog import EXERCISES, Exercise, detect, get, names
from .checks import ATOL, GRAD_RTOL, RTOL, RTOL_FLOAT32, Check
from .grader import ExerciseReport, FileReport, grade_dir, grade_file, grade_source
from .sandbox import IsolationUnavailable, SandboxConfig, isolation_for, run_probes

__all__ = [
    "EXERCISES",
    "Exercise",
    "get",
    "names",
    "detect",
    "grade_file",
    "grade_source",
    "grade_dir",
    "FileReport",
    "ExerciseReport",
    "Check",
    "Msg",
    "SandboxConfig",
    "IsolationUnavailable",
    "isolation_for",
    "run_probes",
    "ATOL",
    "RTOL",
    "RTOL_FLOAT32",
    "GRAD_RTOL",
    "LANGS",
]
