"""Collection rules for the doctest run over src/: modules of optional extras are skipped when absent."""

import importlib.util

collect_ignore = []
# exercise folders: each holds its own template.py, solution.py and checks.py (data, loaded by the judge)
collect_ignore_glob = ["src/losslab/grade/exercises/*/*.py", "src/losslab/grade/templates/new/*.py",
                       "src/losslab/serve/migrations/*"]  # Alembic's environment and revisions, run by Alembic
if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("sqlalchemy") is None:
    collect_ignore_glob += ["src/losslab/serve/*.py"]  # losslab serve, the `serve` extra
if importlib.util.find_spec("numba") is None:  # the compiled kernels of the `fast` extra
    collect_ignore += ["src/losslab/_fast/_numba.py", "src/losslab/_fast/_vecmath.py"]
