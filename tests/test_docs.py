"""The README stays true: its loss table is the registry's, and it shows the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

from losslab import registry

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_loss_table_is_generated_from_the_registry():
    block = re.search(r"<!-- losses:start -->\n(.*?)\n<!-- losses:end -->", README, re.S)
    assert block, "README.md lacks the <!-- losses:start --> ... <!-- losses:end --> block"
    assert block.group(1).strip() == registry.markdown_table(), "run `losslab losses --markdown` and paste it"


def test_readme_shows_the_two_setup_commands():
    assert "make demo" in README and "make test" in README
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
