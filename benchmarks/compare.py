"""losslab against an earlier revision of itself: the same cells, interleaved sample by sample.

Run from the repository root::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/compare.py REV \\
        [--threads 1] [--repeats 9] [--markdown BENCHMARKS.md]

``REV`` (a commit) is exported with ``git archive`` into a temporary directory; one worker
process per source tree and kernel set (``losslab``: numba, ``losslab-numpy``: NumPy
kernels) runs the loss cells of ``run.py`` (``--quick`` sizes by default: the per-call
overhead shows at the small ones), each worker importing its own tree (``PYTHONPATH``).
The workers take turns sample by sample, so both revisions see the same machine state,
which makes the comparison fair on a shared machine where absolute times are not. Nothing
here runs in the test suite. With ``--markdown``, the table replaces the section between
``<!-- compare:start -->`` and ``<!-- compare:end -->`` of that file (which ``run.py`` keeps).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import _cases as cases
import _report as report
from run import Worker, _cpu_seconds, foreign_load, machine_info, measure

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARKERS = ("<!-- compare:start -->", "<!-- compare:end -->")


class TreeWorker(Worker):
    """A :class:`run.Worker` importing losslab from the source tree ``src``."""

    def __init__(self, lib: str, threads: int, src: Path) -> None:
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(src) + (os.pathsep + old if old else "")
        try:
            super().__init__(lib, threads)
        finally:
            if old is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = old


def export(rev: str, into: Path) -> Path:
    """``src/`` of ``rev``, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tar = into / "src.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into / "src"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev", help="the earlier revision (a commit)")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts (default 1)")
    ap.add_argument("--repeats", type=int, default=9, help="samples per cell (default 9)")
    ap.add_argument("--target", type=float, default=0.05, help="seconds per sample (default 0.05)")
    ap.add_argument("--libs", default="losslab,losslab-numpy")
    ap.add_argument("--only", default=",".join(cases.LOSS_KINDS), help="loss kinds to run")
    ap.add_argument("--dtypes", default=",".join(cases.DTYPES))
    ap.add_argument("--full", action="store_true", help="also the largest sizes (default: run.py's --quick grid)")
    ap.add_argument("--markdown", default=None, help="write the table into this file's compare section")
    ap.add_argument("--note", default="", help="a sentence for the section (e.g. the machine's state)")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True).stdout
    now_label = head.strip() + (" (uncommitted changes)" if dirty.strip() else "")
    loss_list = cases.loss_cases(tuple(args.only.split(",")), tuple(args.dtypes.split(",")), not args.full)
    machine = machine_info()
    started, cpu_start = time.perf_counter(), _cpu_seconds()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": export(args.rev, Path(tmp)), "after": ROOT / "src"}
        for n in (int(t) for t in args.threads.split(",")):
            for lib in args.libs.split(","):
                log(f"== {lib}, {n} thread(s)")
                workers = {side: TreeWorker(lib, n, src) for side, src in trees.items()}
                try:
                    for case in loss_list:
                        stats = measure(
                            {side: (w, case) for side, w in workers.items()}, args.repeats, args.target, log
                        )
                        rows.append((lib, n, case, stats["before"], stats["after"]))
                finally:
                    for w in workers.values():
                        w.close()
    load = foreign_load(cpu_start, _cpu_seconds())
    seconds = time.perf_counter() - started
    ratios = [after["median"] / before["median"] for *_, before, after in rows]
    lines = [
        MARKERS[0],
        "## The loss calls against an earlier revision",
        "",
        "`benchmarks/compare.py`: the same loss cells (forward + backward of the loss object, mean "
        "reduction) on two revisions of losslab, one worker process per revision, interleaved sample by "
        "sample. Each cell: median [min, max]; ratio = now / before (below 1: faster now).",
        "",
        f"- Command: `{' '.join(shlex.quote(a) for a in ['python', *sys.argv])}`",
        f"- Before: `{args.rev}`; now: `{now_label}`",
        f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')} ({seconds:.0f} s)",
        f"- Machine: {machine['cpu']}, {machine['cpu_count']} cores, {machine['platform']}, "
        f"Python {machine['python']}; load average (1 min) {machine['loadavg_start'][0]:.2f} at the start; "
        f"other work during the run: {(load or {}).get('cores', 0.0):.2f} cores on average",
        f"- Ratios: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f} "
        f"over {len(ratios)} cells",
        *([f"- {args.note}"] if args.note else []),
        "",
        "| kernels | threads | case | dtype | before | now | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for lib, n, case, before, after in rows:
        lines.append(
            f"| {'numba' if lib == 'losslab' else 'NumPy'} | {n} | {cases.label(case)} | {case['dtype']} | "
            f"{report.fmt_time(before['median'])} [{report.fmt_time(before['min'])}, "
            f"{report.fmt_time(before['max'])}] | {report.fmt_time(after['median'])} "
            f"[{report.fmt_time(after['min'])}, {report.fmt_time(after['max'])}] | "
            f"{after['median'] / before['median']:.3f} |"
        )
    lines.append(MARKERS[1])
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        report.replace_section(args.markdown, *MARKERS, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
