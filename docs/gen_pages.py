"""Generate the site's loss pages from the loss registry: docs/losses/index.md, one page per loss, its plot.

    python docs/gen_pages.py [--out DIR] [--no-plots]

Each page has the loss's summary, inputs and options (from the registry), its formula (the pure
function's docstring, rendered by mkdocstrings), its gradient derived step by step
(docs/derivations/, checked by tests/test_derivations.py), a plot of the loss and its gradient,
its PyTorch or peer equivalent, and an example whose printed numbers were computed by running it.

The registry is read through one adapter, :func:`loss_entries`: the rest of this file sees only
:class:`LossEntry` records.
"""

from __future__ import annotations

import argparse
import doctest
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DOCS = Path(__file__).resolve().parent

# Losses beyond torch.nn: the library a reader would otherwise reach for.
PEERS = {
    "NTXentLoss": "`optax.losses.ntxent` (JAX); SimCLR's NT-Xent",
    "NTXentGroupLoss": "`optax.losses.ntxent(embeddings, labels)` (JAX); supervised contrastive (Khosla et al. 2020)",
    "ContrastiveLoss": "`pytorch_metric_learning.losses.ContrastiveLoss` (margin form of Hadsell et al. 2006)",
    "SigmoidFocalLoss": "`torchvision.ops.sigmoid_focal_loss`",
    "FocalLoss": "`monai.losses.FocalLoss` (softmax form); Lin et al. 2017",
    "PolyLoss": "`optax.losses.poly_loss_cross_entropy` (epsilon = 1); Leng et al. 2022",
    "DiceLoss": "`monai.losses.DiceLoss`; `segmentation_models_pytorch.losses.DiceLoss`",
    "TverskyLoss": "`monai.losses.TverskyLoss`",
    "GeneralizedDiceLoss": "`monai.losses.GeneralizedDiceLoss`",
    "LogCoshLoss": "`tf.keras.losses.LogCosh`",
    "QuantileLoss": "`pytorch_forecasting.metrics.QuantileLoss`",
    "CharbonnierLoss": "the Charbonnier penalty of image restoration (e.g. LapSRN, BasicSR's `CharbonnierLoss`)",
    "SparsemaxLoss": "`optax.losses.sparsemax_loss`; Martins and Astudillo 2016",
    "MulticlassHingeLoss": "`optax.losses.multiclass_hinge_loss`; Crammer and Singer 2001",
}


@dataclass(frozen=True)
class LossEntry:
    """What the docs need to know about one registered loss."""

    name: str  # the class in losslab.nn
    function: str  # the pure function in losslab.functional
    summary: str
    inputs: tuple[str, ...]
    differentiable: tuple[str, ...]
    options: tuple[str, ...]
    reductions: tuple[str, ...]
    torch_name: str | None
    backward: Callable[..., Any]  # the pure backward: backward(dout, *inputs, **options)
    example: tuple[tuple, dict[str, Any]] | None  # (inputs, options) of a small sample call
    curve: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None  # xs -> (values, grads)
    parameters: tuple[str, ...] = ()  # inputs the class owns as parameters (its example is the pure pair)


def loss_entries() -> list[LossEntry]:
    """The one place that reads :mod:`losslab.registry`."""
    from losslab import registry

    entries = []
    for spec in registry.LOSSES:
        simple = [
            c
            for c in spec.make_cases(0)
            if all(v is None or isinstance(v, (bool, int, float, str, tuple, list)) for v in c.options.values())
        ]
        # the example prefers a call with the class's default options (FocalLoss with its gamma, not gamma=0)
        defaults = _defaults(spec.cls)
        default_calls = [c for c in simple if all(defaults.get(k, v) == v for k, v in c.options.items())]
        chosen = (default_calls or simple)[:1]
        example = (chosen[0].inputs, dict(chosen[0].options)) if chosen else None
        curve = (lambda xs, name=spec.name: registry.curve_values(name, xs)) if spec.curve else None

        def backward(*args, s=spec, **kwargs):
            return s.backward(*args, **kwargs)

        entries.append(
            LossEntry(
                spec.name,
                spec.function_name,
                spec.summary,
                spec.inputs,
                spec.differentiable,
                spec.options,
                spec.reductions,
                spec.torch_name,
                backward,
                example,
                curve,
                spec.parameters,
            )
        )
    return entries


def _defaults(cls) -> dict[str, Any]:
    """The default of each option: the constructor's, or for a class built from its parameters, the declared ones."""
    if getattr(cls, "_parameter_inputs", ()):
        return {o.name: o.default for o in cls._options}
    return {k: p.default for k, p in inspect.signature(cls).parameters.items()}


def load_derivations() -> dict:
    """docs/derivations/__init__.py's DERIVATIONS: loss name -> Derivation."""
    spec = importlib.util.spec_from_file_location("losslab_docs_derivations", DOCS / "derivations" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.DERIVATIONS


# ----------------------------------------------------------------------------- the example


def _round_inputs(inputs: tuple) -> tuple:
    return tuple(np.round(a, 2) if np.issubdtype(np.asarray(a).dtype, np.floating) else np.asarray(a) for a in inputs)


def _literal(a: np.ndarray) -> str:
    return repr(np.asarray(a)).replace("\n", "\n... ")


def example_block(entry: LossEntry) -> str:
    """A doctest: the sample call through the class, its value and gradients, computed here by running it.

    A class that owns parameters takes sizes, not arrays: its example is the pure pair, on the
    parameters as inputs (``loss = nn.Name.from_inputs(...)`` builds the module from the same arrays).
    """
    from losslab import functional, nn

    inputs, options = entry.example
    inputs = _round_inputs(inputs)
    cls = getattr(nn, entry.name)
    defaults = _defaults(cls)
    opts = {k: v for k, v in options.items() if k not in defaults or defaults[k] != v}
    args = ", ".join(f"{k}={v!r}" for k, v in opts.items())
    lines = [">>> import numpy as np", ">>> from losslab import functional as F, nn"]
    for name, a in zip(entry.inputs, inputs, strict=True):
        lines.append(f">>> {name} = np.{_literal(a)}")
    if entry.parameters:
        function = getattr(functional, entry.function)
        value = function(*inputs, **opts)
        grads = getattr(functional, f"{entry.function}_backward")(1.0, *inputs, **opts)
        call = ", ".join(list(entry.inputs) + [f"{k}={v!r}" for k, v in opts.items()])
        params = ", ".join(entry.parameters)
        lines.append(f">>> loss = nn.{entry.name}.from_inputs({params}{', ' + args if args else ''})")
        lines.append(f">>> round(float(F.{entry.function}({call})), 4)")
        lines.append(repr(round(float(value), 4)))
        lines.append(f">>> grads = F.{entry.function}_backward(1.0, {call})")
    else:
        loss = cls(**opts)
        value = loss(*inputs)
        grads = loss.backward()
        lines.append(f">>> loss = nn.{entry.name}({args})")
        lines.append(f">>> round(float(loss({', '.join(entry.inputs)})), 4)")
        lines.append(repr(round(float(value), 4)))
        lines.append(">>> grads = loss.backward()" if isinstance(grads, tuple) else ">>> grad = loss.backward()")
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, (name, g) in enumerate(zip(entry.differentiable, grads, strict=True)):
        expr = f"grads[{i}]" if len(grads) > 1 else "grad"
        lines.append(f">>> {expr}.round(4)   # d loss / d {name}")
        shown = "\n".join(line or "<BLANKLINE>" for line in repr(np.round(g, 4)).split("\n"))
        lines.append(shown)  # as the doctest prints it
    return "\n".join(lines)


def check_example(text: str, name: str) -> None:
    """Run the example as a doctest; a mismatch stops the generation."""
    test = doctest.DocTestParser().get_doctest(text, {}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    runner.run(test, out=lambda s: sys.stderr.write(s))
    if runner.failures:
        raise SystemExit(f"the generated example of {name} does not reproduce its own output")


# ----------------------------------------------------------------------------- the pages


def loss_page(entry: LossEntry, derivation, plot: str | None) -> str:
    ins = ", ".join(f"`{n}`" for n in entry.inputs)
    grads = ", ".join(f"`{n}`" for n in entry.differentiable)
    opts = ", ".join(f"`{o}`" for o in entry.options)
    reds = ", ".join(f"`'{r}'`" for r in entry.reductions)
    out = [
        f"# {entry.name}",
        "",
        entry.summary[0].upper() + entry.summary[1:] + ".",
        "",
        "| | |",
        "| --- | --- |",
        f"| class | `losslab.nn.{entry.name}` |",
        f"| pure function and backward | `losslab.functional.{entry.function}`, "
        f"`losslab.functional.{entry.function}_backward` |",
        f"| inputs | {ins} |",
        f"| gradient for | {grads} |",
        f"| options | {opts} |",
        f"| reductions | {reds} |",
        "",
    ]
    out += [
        "## Formula",
        "",
        "The definition, options and shapes, from the function's docstring:",
        "",
        f"::: losslab.functional.{entry.function}",
        "    options:",
        "      show_root_heading: false",
        "      heading_level: 3",
        "",
    ]
    out += ["## The gradient, derived step by step", ""]
    if derivation is None:
        out += [
            '!!! note "Not written out yet"',
            f"    The step-by-step derivation of this gradient is not on this page yet. The backward, "
            f"`{entry.function}_backward`, is checked against fourth-order central differences in float64 "
            f"for every option combination" + (" and against PyTorch" if entry.torch_name else "") + ".",
            "",
        ]
    else:
        out += [f"*Setting:* {derivation.setting}.", "", derivation.latex.strip(), ""]
        out += [
            "In NumPy, the final expression reads (evaluated against "
            f"`{entry.function}_backward` on random inputs by the test suite; `softmax` and `onehot(t, C)` "
            "act on rows, `rownorm(v)` is each row's Euclidean norm as a column):",
            "",
            "```python",
        ]
        out.append(f"# {', '.join(derivation.symbols)} = {', '.join(entry.inputs)}")
        opts = {k: v for k, v in derivation.call.items() if k != "reduction"}
        if opts:
            out.append("# " + ", ".join(f"{k} = {v!r}" for k, v in opts.items()))
        out += [f"{name} = {expr}" for name, expr in derivation.let.items()]
        out += [f"d_{name} = {expr}" for name, expr in derivation.final.items()]
        out += ["```", ""]
    if plot:
        out += [
            "## The loss and its gradient",
            "",
            f"![{entry.name} and its gradient, against one scalar input]({plot})",
            "",
            "Drawn by `losslab plot loss " + entry.name + "`: the gradient is the analytic backward.",
            "",
        ]
    out += ["## Equivalent", ""]
    if entry.torch_name and entry.parameters:
        out += [
            f"`torch.nn.{entry.torch_name}` (PyTorch 2.13): `losslab.nn.{entry.name}` takes its constructor "
            "(sizes, then options) and holds its parameters; the pure function above takes them as inputs "
            f"(`{', '.join(entry.parameters)}`). The same numbers, checked by the test suite against committed "
            "golden values and, where PyTorch is installed, live.",
            "",
        ]
    elif entry.torch_name:
        out += [
            f"`torch.nn.{entry.torch_name}` (PyTorch 2.13): the same options and the same numbers, "
            "checked by the test suite against committed golden values and, where PyTorch is installed, "
            "live.",
            "",
        ]
    else:
        peer = PEERS.get(entry.name, "no PyTorch loss")
        out += [f"Not in `torch.nn`. Peer: {peer}.", ""]
    if entry.example is not None:
        out += ["## Example", "", "```python", example_block(entry), "```", ""]
    return "\n".join(out)


def index_page(entries: list[LossEntry], derivations: dict) -> str:
    rows = [
        "# Losses",
        "",
        "Every registered loss has a page: its formula, a plot of the loss and its gradient, its PyTorch or "
        "peer equivalent and an example; "
        f"{sum(e.name in derivations for e in entries)} of the {len(entries)} also derive the gradient step by "
        "step (the others say so). These pages are generated from the loss registry (`losslab.registry`), "
        "so a new loss gets its page with the next build.",
        "",
        "| loss | what it is | derivation |",
        "| --- | --- | --- |",
    ]
    for e in entries:
        done = "step by step" if e.name in derivations else "not written out yet"
        rows.append(f"| [{e.name}]({e.name}.md) | {e.summary} | {done} |")
    return "\n".join(rows) + "\n"


def generate(out: Path, *, plots: bool = True) -> list[Path]:
    """Write docs/losses/ (or ``out``): the index, one page per loss, and their plots."""
    entries = loss_entries()
    derivations = load_derivations()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.md"):
        old.unlink()
    written = []
    if plots:
        import matplotlib

        matplotlib.use("Agg")
        from losslab.viz import plot_loss

        (out / "img").mkdir(exist_ok=True)
    for entry in entries:
        plot = None
        if plots and entry.curve is not None:
            plot_loss([entry.name], out / "img" / f"{entry.name}.png")
            plot = f"img/{entry.name}.png"
        text = loss_page(entry, derivations.get(entry.name), plot)
        if entry.example is not None:
            check_example(text.split("```python\n")[-1].split("```")[0], entry.name)
        path = out / f"{entry.name}.md"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    (out / "index.md").write_text(index_page(entries, derivations), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "losses")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    written = generate(args.out, plots=not args.no_plots)
    print(f"wrote {len(written)} loss pages to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
