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


# ----------------------------------------------------------------------------- the tests that ask PyTorch

def _asks_torch(item) -> bool:
    """Whether a test calls PyTorch: its code or its parameters name torch, or its module imports it."""
    import inspect

    if "torch" in item.nodeid.split("::", 1)[-1]:
        return True
    module = getattr(item, "module", None)
    if module is not None and getattr(module, "torch", None) is not None:
        return True
    function = getattr(item, "function", None)
    try:
        return function is not None and "torch" in inspect.getsource(function)
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config, items):
    """Mark every test that asks PyTorch ``torch``: with the oracle installed, CI reruns those (``-m torch``)."""
    import pytest

    for item in items:
        if _asks_torch(item):
            item.add_marker(pytest.mark.torch)
