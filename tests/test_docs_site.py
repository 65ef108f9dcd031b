"""The documentation site: the derivations agree with the backward passes, every loss has its page.

docs/derivations/ holds each loss's gradient derived step by step and its final expression in
NumPy; here that expression is evaluated on random inputs and compared with the loss's
``_backward``. docs/gen_pages.py writes one page per registered loss; here its pages are compared
with the registry. The strict MkDocs build itself runs in CI (``make docs``).
"""

from __future__ import annotations

import importlib.util
import re
import sys

import numpy as np
import pytest
from _support import DOCS, load_docs_module

from losslab import registry

gen_pages = load_docs_module("losslab_docs_gen_pages", "gen_pages.py")
DERIVATIONS = gen_pages.load_derivations()
NAMESPACE = sys.modules["losslab_docs_derivations"].NAMESPACE
ENTRIES = {entry.name: entry for entry in gen_pages.loss_entries()}

# Registered losses whose gradient is not derived step by step yet. Shrinking only: the test below
# fails when a name here gains a derivation (remove it) or when a new loss has neither.
KNOWN_MISSING: frozenset[str] = frozenset()


def derivation_errors(name: str, derivation, seeds=range(6)) -> list[str]:
    """Where ``derivation``'s final expression disagrees with the backward of loss ``name``."""
    entry = ENTRIES[name]
    errors = []
    nonzero = False
    for seed in seeds:
        inputs = derivation.sample(np.random.default_rng(seed))
        grads = entry.backward(1.0, *inputs, **derivation.call)
        grads = grads if isinstance(grads, tuple) else (grads,)
        namespace = dict(NAMESPACE, **dict(zip(derivation.symbols, inputs)))
        namespace.update({k: v for k, v in derivation.call.items() if k != "reduction"})
        for name_, expression in derivation.let.items():
            namespace[name_] = eval(expression, namespace)
        nonzero = nonzero or any(np.any(np.asarray(g) != 0) for g in grads)
        for input_name, grad in zip(entry.differentiable, grads):
            expected = eval(derivation.final[input_name], namespace)
            if np.shape(expected) != np.shape(grad):
                errors.append(f"seed {seed}, d/d{input_name}: shape {np.shape(expected)} != {np.shape(grad)}")
            elif not np.allclose(grad, expected, rtol=1e-9, atol=1e-12):
                errors.append(f"seed {seed}, d/d{input_name}: max |diff| {np.max(np.abs(grad - expected)):.3g}")
    if not nonzero:
        errors.append("the samples give a zero gradient everywhere: they check nothing")
    return errors


@pytest.mark.parametrize("name", sorted(DERIVATIONS))
def test_derivation_final_expression_equals_the_backward(name):
    derivation = DERIVATIONS[name]
    assert set(derivation.final) == set(ENTRIES[name].differentiable), "one final expression per differentiable input"
    assert derivation.latex.count(r"\boxed{") == 1, "the final result is boxed once"
    assert derivation_errors(name, derivation) == []


def test_a_wrong_derivation_is_caught():
    """The check can fail: cross-entropy's gradient without the batch mean, or with the sign flipped."""
    import dataclasses

    right = DERIVATIONS["CrossEntropyLoss"]
    for wrong in ("softmax(x) - onehot(t, x.shape[1])", "(onehot(t, x.shape[1]) - softmax(x)) / x.shape[0]"):
        assert derivation_errors("CrossEntropyLoss", dataclasses.replace(right, final={"input": wrong}))
    bce = DERIVATIONS["BCELoss"]
    assert derivation_errors("BCELoss", dataclasses.replace(bce, final={"input": "(p - t) / p.size"}))
    # CTC: the partial derivative with each log-probability free (-gamma), not the one through the normalisation
    ctc = DERIVATIONS["CTCLoss"]
    free = "frame * -gamma / (len(L_n) * np.maximum(L_n, 1))[None, :, None]"
    assert derivation_errors("CTCLoss", dataclasses.replace(ctc, final={"log_probs": free}))


def test_every_registered_loss_has_a_derivation_or_is_known_missing():
    names = set(registry.names())
    assert set(DERIVATIONS) <= names, f"derivations of unregistered losses: {set(DERIVATIONS) - names}"
    assert KNOWN_MISSING <= names, f"KNOWN_MISSING names no registered loss: {KNOWN_MISSING - names}"
    derived_now = KNOWN_MISSING & set(DERIVATIONS)
    assert not derived_now, f"derived now, remove from KNOWN_MISSING: {derived_now}"
    assert names == set(DERIVATIONS) | KNOWN_MISSING, (
        f"new losses without a derivation: {names - set(DERIVATIONS) - KNOWN_MISSING}"
    )


def test_the_adapter_sees_the_whole_registry():
    assert list(ENTRIES) == registry.names()
    for entry in ENTRIES.values():
        spec = registry.get(entry.name)
        assert (entry.function, entry.inputs, entry.differentiable) == (
            spec.function_name,
            spec.inputs,
            spec.differentiable,
        )


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "losses"
    # also runs each page's example as a doctest; plots where matplotlib (the plot extra) is installed
    gen_pages.generate(out, plots=importlib.util.find_spec("matplotlib") is not None)
    return out


def test_loss_pages_cover_the_registry(pages):
    written = {p.stem for p in pages.glob("*.md")} - {"index"}
    assert written == set(registry.names())
    index = (pages / "index.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| \[(\w+)\]\(\1\.md\) \|", index, re.M) == registry.names()


def test_each_loss_page_has_formula_derivation_equivalent_and_example(pages):
    for name in registry.names():
        page = (pages / f"{name}.md").read_text(encoding="utf-8")
        spec = registry.get(name)
        assert f"::: losslab.functional.{spec.function_name}\n" in page, name
        assert "## The gradient, derived step by step" in page
        if name in DERIVATIONS:
            assert DERIVATIONS[name].latex.strip() in page
            for expression in DERIVATIONS[name].final.values():
                assert expression in page
        else:
            assert "Not written out yet" in page
        assert "## Equivalent" in page
        assert (f"`torch.nn.{spec.torch_name}`" in page) if spec.torch_name else ("Not in `torch.nn`" in page)
        if spec.parameters:  # built from its parameters; the example is the pure pair
            assert f">>> loss = nn.{name}.from_inputs(" in page and f">>> round(float(F.{spec.function_name}(" in page
        else:
            assert f">>> loss = nn.{name}(" in page and ">>> round(float(loss(" in page


def test_a_page_example_that_does_not_reproduce_stops_the_generation():
    with pytest.raises(SystemExit, match="does not reproduce"):
        gen_pages.check_example(">>> 1 + 1\n3\n", "arithmetic")


def test_each_loss_page_shows_its_plot(pages):
    pytest.importorskip("matplotlib")
    for name in registry.names():
        page = (pages / f"{name}.md").read_text(encoding="utf-8")
        assert f"![{name} and its gradient, against one scalar input](img/{name}.png)" in page
        assert (pages / "img" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_site_nav_lists_every_loss_page(pages):
    hooks = load_docs_module("losslab_docs_hooks_nav", "hooks.py")
    assert hooks.loss_page_names(pages.parent) == registry.names()


HANDWRITTEN = sorted(
    p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in {"losses", "reference", "derivations"}
)


@pytest.mark.parametrize("page", HANDWRITTEN, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_handwritten_pages_run_as_doctests(page):
    import doctest

    result = doctest.testfile(
        str(page), module_relative=False, verbose=False, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    )
    assert result.failed == 0


def test_the_tutorial_and_the_guides_exist_in_english_and_chinese():
    for page in ("index.md", "tutorial/textbook.md", "guide/learners.md", "guide/teachers.md"):
        english, chinese = DOCS / page, DOCS / "zh" / page
        assert english.is_file() and chinese.is_file(), page
        assert len(re.findall(r"[\u4e00-\u9fff]", chinese.read_text(encoding="utf-8"))) > 200, page
