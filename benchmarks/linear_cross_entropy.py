"""Time and memory of the chunked linear cross-entropy (forward + backward) against PyTorch's chunked path.

    .venv/bin/python benchmarks/linear_cross_entropy.py --markdown BENCHMARKS.md

One call of ``linear_cross_entropy`` with its gradients for the input and the weight, float32,
``reduction='mean'``, N x D inputs and a C x D weight (the full logits would take N x C x 4
bytes): losslab's ``LinearCrossEntropyLoss`` path (``linear_cross_entropy_value_and_grad`` with
``LinearCrossEntropyOptions()``) and PyTorch's ``F.linear_cross_entropy(...,
options=LinearCrossEntropyOptions())`` then ``.backward()``, taking turns, ``--repeat`` times
each. losslab's peak extra memory is read with tracemalloc (NumPy reports its buffers to it): the
peak of a call (after a small one that loads the kernels) less the gradients it returns (the
input's and the weight's, which the caller keeps). The result goes between the
linear-cross-entropy markers of the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np
from _report import replace_section

from losslab.functional import LinearCrossEntropyOptions, linear_cross_entropy_value_and_grad

START, END = "<!-- linear-ce:start -->", "<!-- linear-ce:end -->"
MiB = 2**20


def run_losslab(x, w, t):
    t0 = time.perf_counter()
    out, grads = linear_cross_entropy_value_and_grad(1.0, x, w, t, options=LinearCrossEntropyOptions())
    return time.perf_counter() - t0, float(out), grads


def run_torch(torch, tx, tw, tt):
    tx.grad = tw.grad = None
    t0 = time.perf_counter()
    out = torch.nn.functional.linear_cross_entropy(tx, tw, tt, options=torch.nn.LinearCrossEntropyOptions())
    out.backward()
    return time.perf_counter() - t0, float(out.detach())


def _numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except (KeyError, TypeError):
        return "unknown"


def _torch_blas(torch) -> str:
    if torch is None:
        return "not installed"
    info = torch.__config__.show()
    return "MKL" if "BLAS_INFO=mkl" in info else "OpenBLAS" if "BLAS_INFO=open" in info else "its own"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--c", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--markdown", help="update the linear cross-entropy section of this report")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.d), dtype=np.float32)
    w = rng.standard_normal((args.c, args.d), dtype=np.float32) * np.float32(1 / np.sqrt(args.d))
    t = rng.integers(0, args.c, args.n)

    run_losslab(x[:256], w, t[:256])  # warm-up: the kernels load (numba's first use) outside the measured call
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    _, value, grads = run_losslab(x, w, t)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    returned = sum(g.nbytes for g in grads)
    extra = peak - returned
    del grads

    try:
        import torch
    except ImportError:
        torch = None
    ours, theirs, torch_value = [], [], None
    if torch is not None:
        torch.set_num_threads(args.threads)
        tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
        tt = torch.from_numpy(t)
        run_torch(torch, tx, tw, tt)  # warm-up: first-call set-up is not the steady cost
    for _ in range(args.repeat):
        ours.append(run_losslab(x, w, t)[0])
        if torch is not None:
            seconds, torch_value = run_torch(torch, tx, tw, tt)
            theirs.append(seconds)
    med = statistics.median(ours)
    lines = [
        f"losslab: median {med:.2f} s {sorted(round(s, 2) for s in ours)}; peak extra memory "
        f"{extra / MiB:.1f} MiB (peak {peak / MiB:.1f} MiB less the returned gradients {returned / MiB:.1f} MiB)"
    ]
    if theirs:
        tmed = statistics.median(theirs)
        lines.append(
            f"torch {torch.__version__}: median {tmed:.2f} s {sorted(round(s, 2) for s in theirs)}; "
            f"loss {torch_value:.6f} vs losslab {value:.6f}; ratio losslab / torch **{med / tmed:.2f}**"
        )
    print("\n".join(lines))
    if args.markdown:
        full = args.n * args.c * 4 / MiB
        rows = LinearCrossEntropyOptions().chunk_rows(args.n, args.d, args.c)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        section = "\n".join(
            [
                START,
                f"## Linear cross-entropy, chunked (N = {args.n}, D = {args.d}, C = {args.c}, float32)",
                "",
                f"Forward + backward (gradients for the input and the weight), `reduction='mean'`, "
                f"`LinearCrossEntropyOptions()` on both sides ({rows} rows a chunk); the full logits would take "
                f"{full:.0f} MiB. Goal: peak extra memory at most 128 MiB, time at most PyTorch's chunked path.",
                "",
                f"- Command: `.venv/bin/python benchmarks/linear_cross_entropy.py --repeat {args.repeat} "
                f"--markdown BENCHMARKS.md`",
                f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; machine: {os.cpu_count()} "
                f"cores, {platform.platform()}, Python {platform.python_version()}, NumPy {np.__version__}, "
                f"{args.threads} thread(s); load average (1 min) {load:.2f}",
                f"- BLAS: NumPy {_numpy_blas()}; PyTorch {_torch_blas(torch)}. The two sides take turns, so a "
                f"load from other processes falls on both.",
                *(f"- {line}" for line in lines),
                END,
            ]
        )
        replace_section(args.markdown, START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
