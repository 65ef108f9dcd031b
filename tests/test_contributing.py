"""CONTRIBUTING.md's worked example stays true: its two code blocks, appended as written to a copy of
the package, add a loss that the registry, the CLI, the README table and the parametrized tests find."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
NAME = "SquaredHingeLoss"
ROW = "| `nn.SquaredHingeLoss` | `squared_hinge_loss` | **input**, target | reduction |"


def _blocks() -> dict[str, str]:
    """The guide's code blocks that open with ``# src/losslab/<path>``: path -> code."""
    found = re.findall(r"```python\n# (src/losslab/[\w/]+\.py)\n(.*?)```", GUIDE, re.S)
    return dict(found)


def test_the_guide_names_the_files_a_loss_touches():
    blocks = _blocks()
    assert set(blocks) == {"src/losslab/functional/margin.py", "src/losslab/nn/margin.py"}
    for path in ("src/losslab/functional/<family>.py", "src/losslab/nn/<family>.py", "README.md"):
        assert f"`{path}`" in GUIDE
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "CONTRIBUTING.md" in readme and "src/losslab/nn/<family>.py" in readme


@pytest.fixture(scope="module")
def package_with_the_example(tmp_path_factory) -> Path:
    """A copy of ``src/losslab`` with the guide's blocks appended to the files they name."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(
        ROOT / "src" / "losslab", site / "losslab", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc")
    )
    for path, code in _blocks().items():
        target = site / Path(path).relative_to("src")
        assert NAME not in target.read_text(encoding="utf-8")
        with target.open("a", encoding="utf-8") as f:
            f.write(code)
    return site


def _run(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), LOSSLAB_NUMBA="0")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_example_is_in_the_registry_cli_and_readme_table(package_with_the_example):
    site = package_with_the_example
    script = f"""
import losslab, numpy as np
from losslab import cli, registry, nn, functional as F
assert losslab.__file__.startswith({str(site)!r}), losslab.__file__
spec = registry.get({NAME!r})
assert spec.cls is nn.{NAME} and spec.function is F.squared_hinge_loss and spec.module == "margin"
assert spec.options == ("reduction",) and spec.differentiable == ("input",) and spec.torch_name is None
assert cli.build_parser().parse_args(["check", "--loss", {NAME!r}.lower()]).loss == [{NAME!r}]  # a CLI choice
loss = nn.{NAME}(reduction="sum")
x, y = np.array([0.0, 2.0, 0.5]), np.array([1.0, 1.0, -1.0])
assert loss(x, y) == 3.25 and loss.backward().tolist() == [-2.0, 0.0, 3.0]
print(registry.markdown_table())
"""
    done = _run(site, "-c", script)
    assert done.returncode == 0, done.stderr
    assert ROW in done.stdout
    listed = _run(site, "-m", "losslab", "losses", "--markdown")
    assert ROW in listed.stdout
    checked = _run(site, "-m", "losslab", "check", "--loss", NAME)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 of 1 gradients agree" in checked.stdout


def test_the_parametrized_tests_run_on_the_example_and_pass(package_with_the_example):
    done = _run(
        package_with_the_example,
        "-m",
        "pytest",
        "-q",
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-k",
        NAME,
        "tests/test_losses_common.py",
        "tests/test_array_api.py",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) >= 30, done.stdout[-2000:]


def _module_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(level, module, names)`` of each module-level ``from ... import`` of a source file."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(n.level, n.module or "", [a.name for a in n.names]) for n in tree.body if isinstance(n, ast.ImportFrom)]


def test_families_share_private_helpers_only_through_private_modules():
    """A family module takes no private name from another family module, and no nn module reads
    ``F._name`` from its functional twin: shared helpers live in the ``_``-prefixed modules."""
    src = ROOT / "src" / "losslab"
    for package in ("functional", "nn"):
        for path in sorted((src / package).glob("[a-z]*.py")):
            for level, module, names in _module_imports(path):
                borrowed = [n for n in names if n.startswith("_") and n != "__future__"]
                from_family = level == 1 and module and not module.startswith("_")
                from_functional_family = (
                    level == 2 and module.startswith("functional.") and not module.split(".")[1].startswith("_")
                )
                assert not ((from_family or from_functional_family) and borrowed), (path.name, module, borrowed)
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\bF\._[a-z]", text), f"{path.name} reads a private name of its functional module"
