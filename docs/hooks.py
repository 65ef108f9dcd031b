"""MkDocs hook: every public name has a docstring and every public module a reference page.

mkdocstrings renders a name without a docstring silently; this hook makes it a warning, which the
strict build (``make docs``) turns into a failure. A public name is one exported by ``__all__`` of a
module shown in docs/reference/ (``::: losslab.x`` lines), and the public methods of exported classes.

``KNOWN_UNDOCUMENTED`` lists the names that had no docstring when this check was introduced; a name
in it that gains a docstring, or disappears, is reported (at info level, so that documenting a name
never breaks the build) for removal from the list. Nothing is ever added to it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SRC = DOCS.parent / "src"
log = logging.getLogger("mkdocs.plugins.losslab_docstrings")

KNOWN_UNDOCUMENTED: frozenset[str] = frozenset()  # every public name has its docstring


def reference_modules(docs: Path = DOCS) -> list[str]:
    """The modules the API reference renders: each ``::: module`` line of docs/reference/*.md."""
    found = []
    for page in sorted((docs / "reference").glob("*.md")):
        found += re.findall(r"^::: ([\w.]+)\s*$", page.read_text(encoding="utf-8"), re.M)
    return found


def _is_documented(obj) -> bool:
    return bool(obj.docstring and obj.docstring.value.strip())


def _method_is_documented(cls, name: str) -> bool:
    """As ``inspect.getdoc``: a method without a docstring takes the one it overrides."""
    for klass in [cls, *cls.mro()]:
        member = klass.members.get(name)
        if member is not None and not member.is_alias and _is_documented(member):
            return True
    return False


def undocumented(package, modules: list[str]) -> list[str]:
    """The public names of ``modules`` (griffe objects under ``package``) without a docstring."""
    missing = []
    for dotted in modules:
        module = package if dotted == package.path else package[dotted.removeprefix(package.path + ".")]
        if not _is_documented(module):
            missing.append(dotted)
        for name in module.exports or []:
            name = name if isinstance(name, str) else name.name
            try:
                obj = module[name]
            except KeyError:  # provided by the module's __getattr__ (registry.LOSSES, read afresh on each access)
                continue
            target = obj.final_target if obj.is_alias else obj
            if not _is_documented(target):
                missing.append(f"{dotted}.{name}")
            if target.is_class:
                for member_name, member in target.members.items():
                    if member_name.startswith("_") or member.is_alias or not member.is_function:
                        continue
                    if not _method_is_documented(target, member_name):
                        missing.append(f"{dotted}.{name}.{member_name}")
    return sorted(set(missing))


def unreferenced(package, modules: list[str]) -> list[str]:
    """Public subpackages and modules of ``package`` (one level down) with no reference page."""
    shown = set(modules)
    return sorted(m.path for name, m in package.modules.items() if not name.startswith("_") and m.path not in shown)


def _load(src: Path):
    import griffe

    return griffe.load("losslab", search_paths=[str(src)], resolve_aliases=True)


def problems(src: Path = SRC, docs: Path = DOCS, known: frozenset[str] = KNOWN_UNDOCUMENTED) -> list[str]:
    """Every reason the API reference is incomplete; empty when it is complete."""
    package = _load(src)
    modules = reference_modules(docs)
    out = [
        f"{name} is public but has no docstring: document it"
        for name in undocumented(package, modules)
        if name not in known
    ]
    out += [
        f"{name} has no page in docs/reference/ (add a '::: {name}' page)" for name in unreferenced(package, modules)
    ]
    return out


def stale(src: Path = SRC, docs: Path = DOCS, known: frozenset[str] = KNOWN_UNDOCUMENTED) -> list[str]:
    """Names of ``known`` that are documented now, or gone: to be removed from KNOWN_UNDOCUMENTED."""
    return sorted(known - set(undocumented(_load(src), reference_modules(docs))))


def on_pre_build(config, **kwargs) -> None:  # MkDocs hook
    for problem in problems():
        log.warning(problem)
    for name in stale():  # not a failure: a docstring added elsewhere must not break this build
        log.info(f"{name} is documented now (or gone): remove it from KNOWN_UNDOCUMENTED in docs/hooks.py")


def loss_page_names(docs: Path = DOCS) -> list[str]:
    """The loss pages docs/gen_pages.py wrote, in the order of its index (the registry's)."""
    index = docs / "losses" / "index.md"
    if not index.is_file():
        return []
    return re.findall(r"^\| \[(\w+)\]\(\1\.md\) \|", index.read_text(encoding="utf-8"), re.M)


def _is_loss_page(entry) -> bool:
    """Whether a nav entry is one of the generated loss pages (the hook lists those itself)."""
    return isinstance(entry, dict) and any(str(page).startswith("losses/") for page in entry.values())


def on_config(config, **kwargs):  # MkDocs hook: the generated loss pages join the "Losses" section
    names = loss_page_names()
    if not names:
        log.warning("docs/losses/ is missing: run `python docs/gen_pages.py` (make docs does) before mkdocs")
    for section in config["nav"] or []:
        if isinstance(section, dict) and "Losses" in section:
            kept = [entry for entry in section["Losses"] if entry != "losses/index.md" and not _is_loss_page(entry)]
            section["Losses"] = ["losses/index.md", *kept] + [{name: f"losses/{name}.md"} for name in names]
    return config
