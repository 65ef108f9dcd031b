"""Regenerate tests/golden/optim_golden.npz: torch.optim's trajectories for every optimizer case.

Run from the repository root with the torch extra installed:

    .venv/bin/python tools/make_golden_optim.py

For each case of ``CASES`` in tests/test_optim.py (optimizer, options) and each of
float64 and float32, torch.optim runs the tiny least-squares fit of that test
module for ``max(CHECKPOINTS)`` steps, each gradient computed analytically in
NumPy at torch's current parameters. The file stores the problem (X, Y and the
initial W0, b0, float64), torch's parameters [W.ravel(), b] at the CHECKPOINTS
steps (``trajectory_float64``, ``trajectory_float32``: one row per case) and a
JSON index (torch version, checkpoints, case ids, classes and options). The
default test run compares losslab against it, so parity is checked without torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from test_optim import CASES, CHECKPOINTS, make_problem, run_torch  # noqa: E402

OUT = ROOT / "tests" / "golden" / "optim_golden.npz"


def main() -> None:
    problem = make_problem()
    rows = np.array(CHECKPOINTS) - 1
    arrays: dict[str, np.ndarray] = dict(problem)
    for dtype in (np.float64, np.float32):
        trajectories = [run_torch(case, dtype, problem, steps=max(CHECKPOINTS))[rows] for case in CASES]
        arrays[f"trajectory_{np.dtype(dtype).name}"] = np.stack(trajectories).astype(dtype)
    index = {
        "torch": torch.__version__,
        "checkpoints": list(CHECKPOINTS),
        "cases": [{"id": c.id, "cls": c.cls, "options": c.options} for c in CASES],
    }
    arrays["index"] = np.array(json.dumps(index))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(CASES)} cases, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
