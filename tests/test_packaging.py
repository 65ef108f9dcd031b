"""What a packager relies on: the licence files, every package-data file declared, one version, a changelog.

The built wheel itself is checked by tools/check_dist.sh (`make dist`, run by CI): it builds the sdist
and the wheel, finds these files inside them and smoke-tests the installed wheel.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

import losslab

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the CI's Python has it

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE = ROOT / "src" / "losslab"


def test_licence_is_an_spdx_expression_and_its_files_exist():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT AND CC-BY-SA-3.0"
    assert set(project["license-files"]) == {"LICENSE", "src/losslab/data/MNIST_PROVENANCE.md"}
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "The losslab authors" in licence
    notice = (PACKAGE / "data" / "MNIST_PROVENANCE.md").read_text(encoding="utf-8")
    assert "CC BY-SA 3.0" in notice and "LeCun" in notice


def test_build_backend_accepts_spdx_licence_strings():
    requires = PYPROJECT["build-system"]["requires"]
    setuptools = [r for r in requires if r.startswith("setuptools")]
    assert setuptools, requires
    floor = re.search(r">=\s*(\d+)", setuptools[0])
    assert floor and int(floor.group(1)) >= 77, f"PEP 639 licence strings need setuptools>=77, got {setuptools[0]}"


def _package_data_patterns() -> list[str]:
    return PYPROJECT["tool"]["setuptools"]["package-data"]["losslab"]


def test_every_data_file_of_the_package_is_declared_package_data():
    """A file under src/losslab that is not Python and matches no package-data glob would be missing from the wheel."""
    patterns = _package_data_patterns()
    undeclared = []
    for path in PACKAGE.rglob("*"):
        if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        if not any(fnmatch.fnmatchcase(rel, pattern) for pattern in patterns):
            undeclared.append(rel)
    assert not undeclared, f"add these to [tool.setuptools.package-data] in pyproject.toml: {undeclared}"


def test_the_mnist_notice_is_package_data_beside_the_data():
    patterns = _package_data_patterns()
    assert any(fnmatch.fnmatchcase("data/MNIST_PROVENANCE.md", p) for p in patterns)
    assert any(fnmatch.fnmatchcase("data/mnist_5k.npz", p) for p in patterns)


def test_version_is_single_sourced():
    assert "version" not in PYPROJECT["project"], "the version lives in losslab.__version__ only"
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "losslab.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.dev\d+)?", losslab.__version__)


def test_changelog_has_a_section_for_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "Keep a Changelog" in changelog
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(losslab.__version__)}\] - ", changelog, re.M), (
        f"CHANGELOG.md has no '## [{losslab.__version__}] - DATE' section"
    )


def test_only_numpy_is_required():
    assert PYPROJECT["project"]["dependencies"] == ["numpy>=1.23"]
    assert not any(d.split("[")[0].split("=")[0].split(">")[0] == "torch" for d in PYPROJECT["project"]["dependencies"])
