"""Regenerate tests/golden/torch_golden.npz: PyTorch's values and gradients for every registry case.

Run from the repository root with the torch extra installed:

    python tools/make_golden.py

The file stores each case's inputs, options, upstream gradient, PyTorch's output
and PyTorch's gradients, in float64 and float32, plus extreme-input cases
(logits of +-1e4 and +-700, probabilities of exactly 0 and 1). The default test
run compares losslab against it, so parity is checked without torch installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from _support import case_args, torch_forward_backward  # noqa: E402

from losslab.registry import LOSSES, Case, get  # noqa: E402

OUT = ROOT / "tests" / "golden" / "torch_golden.npz"


def extreme_cases() -> dict[str, list[Case]]:
    """Inputs at the edge of the floating-point range, where naive formulas overflow."""
    big = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1.0], [700.0, -700.0, 0.5], [-700.0, 700.0, 0.0]])
    labels = np.array([1, 0, 1, 2])
    binary = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    probs01 = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    return {
        "CrossEntropyLoss": [
            Case("extreme-index", {}, (big, labels), numeric=False),
            Case("extreme-smoothed", {"label_smoothing": 0.2}, (big, labels), numeric=False),
            Case("extreme-probs", {}, (big, np.full((4, 3), 1 / 3)), numeric=False),
        ],
        "BCEWithLogitsLoss": [Case("extreme", {"pos_weight": np.array([2.0, 0.5, 1.0])}, (big, binary), numeric=False)],
        "BCELoss": [
            Case("probs-0-and-1", {}, (probs01, binary), numeric=False),
            Case("probs-0-and-1-weighted", {"weight": np.array([0.5, 2.0, 1.0])}, (probs01, binary), numeric=False),
        ],
        # SoftMarginLoss is left out: PyTorch's log1p(exp(-y x)) overflows to inf there (losslab stays finite).
        "MultiLabelSoftMarginLoss": [Case("extreme", {}, (big, binary), numeric=False)],
        "PoissonNLLLoss": [
            Case(
                "extreme-log-input",
                {},
                (np.array([[-700.0, 30.0], [0.0, -30.0]]), np.array([[0.0, 3.0], [1.0, 0.0]])),
                numeric=False,
            )
        ],
    }


def main() -> None:
    arrays: dict[str, np.ndarray] = {}
    index = []
    extras = extreme_cases()
    rng = np.random.default_rng(2024)
    for spec in LOSSES:
        if spec.torch_name is None or spec.parameters:  # parameter-owning: tools/make_golden_projection.py
            continue
        for case in spec.make_cases() + extras.get(spec.name, []):
            for reduction in spec.reductions:
                for dtype in (np.float64, np.float32):
                    key = f"{spec.name}|{case.id}|{reduction}|{np.dtype(dtype).name}"
                    inputs, options = case_args(case, dtype)
                    shape = np.shape(get(spec.name).function(*inputs, **options, reduction=reduction))
                    dout = rng.uniform(0.5, 1.5, shape).astype(dtype)
                    out, grads = torch_forward_backward(spec, case, reduction, dtype, dout)
                    for i, a in enumerate(inputs):
                        arrays[f"{key}|input{i}"] = np.asarray(a)
                    scalar_opts = {}
                    for name, val in options.items():
                        if isinstance(val, np.ndarray):
                            arrays[f"{key}|option|{name}"] = val
                        else:
                            scalar_opts[name] = val
                    arrays[f"{key}|dout"] = dout
                    arrays[f"{key}|out"] = out
                    for j, g in enumerate(grads):
                        arrays[f"{key}|grad{j}"] = g
                    index.append(
                        {
                            "key": key,
                            "loss": spec.name,
                            "reduction": reduction,
                            "n_inputs": len(inputs),
                            "options": scalar_opts,
                            "array_options": [n for n, v in options.items() if isinstance(v, np.ndarray)],
                        }
                    )
    arrays["index"] = np.array(json.dumps({"torch": torch.__version__, "cases": index}))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(index)} cases to {OUT.relative_to(ROOT)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
