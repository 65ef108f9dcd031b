"""Every registered loss declares its option paths (the benchmarks' grid), and every path runs forward + backward."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from losslab import registry

SPECS = registry.LOSSES

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench_module(name: str, argv: list[str] | None = None):
    """A module of benchmarks/ (``_worker`` reads its library and threads from ``sys.argv``)."""
    saved = sys.argv
    sys.path.insert(0, str(BENCH))
    try:
        sys.argv = argv or saved
        return importlib.import_module(name)
    finally:
        sys.argv = saved
        sys.path.remove(str(BENCH))


def _result(name: str) -> dict:
    """A committed results file of benchmarks/results/."""
    return json.loads((BENCH / "results" / name).read_text())


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_every_loss_declares_its_paths(spec):
    assert spec.paths is not None, f"{spec.name}: pass paths= to its @registered entry"
    small, larger = spec.make_paths(1), spec.make_paths(3)
    ids = [c.id for c in small]
    assert ids, f"{spec.name} declares no path"
    assert len(set(ids)) == len(ids), f"{spec.name}: path ids repeat: {ids}"
    assert ids == [c.id for c in larger], "a path's id must not depend on the batch size"
    for case in small:
        assert [c.id for c in spec.make_paths(1, only=case.id)] == [case.id]
        assert set(case.options) <= set(spec.options), f"{spec.name} {case.id}: unknown option"
        assert len(case.inputs) == len(spec.inputs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_every_path_runs_forward_and_backward(spec, dtype):
    for b in (1, 5):
        for case in spec.make_paths(b):
            inputs = tuple(a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a for a in case.inputs)
            options = {
                k: (val.astype(dtype) if isinstance(val, np.ndarray) else val) for k, val in case.options.items()
            }
            options.setdefault("reduction", "mean")
            loss, args = spec.build(inputs, options)
            out = spec.call(loss, args)
            grads = spec.gradients(loss)
            assert np.isfinite(out), f"{spec.name} {case.id} b={b}"
            assert np.asarray(out).dtype == dtype
            assert len(grads) == len(spec.differentiable)
            for name, g in zip(spec.differentiable, grads):
                assert g.shape == inputs[spec.inputs.index(name)].shape
                assert g.dtype == dtype and np.isfinite(g).all(), f"{spec.name} {case.id} b={b} {name}"


def test_a_report_of_several_runs_says_which_waited_for_idle_threads():
    """``benchmarks/losses.py --from-json`` merges runs: each run's header says whether its samples waited for the
    previous worker's threads to idle, from that run's own record."""
    losses = _bench_module("losses")
    old, new = _result("losses_b1.json"), _result("losses_s30_near.json")
    assert "settled" not in old and new["settled"] is True
    merged = losses.merge([old, new])
    assert [run.get("settled") for run in merged["runs"]] == [None, True]
    headers = [losses._run_header(run) for run in merged["runs"]]
    assert [any("did not wait" in line for line in h) for h in headers] == [True, False]


def test_a_sample_begins_with_the_untimed_calls_that_fit_in_its_warm_up():
    """``_worker.sample``: as many untimed calls as fit in ``warm`` seconds at one call's time, then ``reps`` timed
    ones; none before a call longer than ``warm``; a call that times itself runs once."""
    worker = _bench_module("_worker", ["_worker.py", "losslab", "1"])
    calls = []

    def call():
        calls.append(1)
        return 0.25

    for once, warm, expected in ((0.001, 0.0055, 5 + 3), (0.01, 0.005, 3), (0.001, 0.0, 3)):
        calls.clear()
        assert worker.sample(call, 3, False, once, warm) >= 0.0
        assert len(calls) == expected, (once, warm)
    calls.clear()
    assert worker.sample(call, 3, True, 0.25, 1.0) == 0.25 and len(calls) == 1


def test_a_report_says_which_runs_warmed_each_sample():
    losses = _bench_module("losses")
    cold = _result("losses_s30_near.json")
    warm = dict(cold, warm=0.005)
    merged = losses.merge([cold, warm])
    assert [run.get("warm") for run in merged["runs"]] == [None, 0.005]
    headers = ["".join(losses._run_header(run)) for run in merged["runs"]]
    assert "untimed calls" not in headers[0] and "began cold" in headers[0]
    assert "5 ms of untimed calls" in headers[1]


def test_a_report_says_which_runs_pinned_every_worker_to_the_same_cores():
    losses = _bench_module("losses")
    unpinned = _result("losses_s30_near.json")
    merged = losses.merge([unpinned, dict(unpinned, pinned=True)])
    assert [run.get("pinned") for run in merged["runs"]] == [None, True]
    headers = ["".join(losses._run_header(run)) for run in merged["runs"]]
    assert "Only the JAX worker was pinned" in headers[0]
    assert "same cores" in headers[1] and "Only the JAX" not in headers[1]


@pytest.mark.parametrize(
    "option, value", [("--warm", "-0.001"), ("--warm", "nan"), ("--target", "0"), ("--repeats", "0")]
)
def test_a_bad_sampling_option_is_refused_by_name(capsys, option, value):
    losses = _bench_module("losses")
    with pytest.raises(SystemExit) as exit_:
        losses.main([option, value, "--loss", "L1Loss", "--json", "/nonexistent/never-written.json"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected" in err and f"got {float(value) if option != '--repeats' else 0}" in err
