"""Time `losslab grade DIR` on a class of 200 submissions, with bubblewrap isolation and without it.

    .venv/bin/python benchmarks/grading.py --markdown BENCHMARKS.md

A class is 200 files cycled from the built-in exercises' reference solutions and
tests/grade_fixtures/ (every named mistake, the crashes; not the infinite loop, whose 5 s
would measure the time limit).
Each mode grades the whole class `--repeat` times, the modes taking turns, with `--jobs`
submissions at once (default: the CPU count), in one process through `grade_dir`; the
median wall time of each mode and their ratio go between the grading markers of the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _report import replace_section

from losslab.grade import SandboxConfig, _isolation, catalog, grade_dir

START, END = "<!-- grading:start -->", "<!-- grading:end -->"
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "grade_fixtures"  # the named mistakes and crashes
LEFT_OUT = {"hang_forward.py", "conftest.py"}


def make_class(folder: Path, size: int) -> None:
    solutions = [Path(str(e.folder)) / "solution.py" for e in catalog.EXERCISES]
    sources = solutions + sorted(p for p in FIXTURES.glob("*.py") if p.name not in LEFT_OUT)
    for i in range(size):
        source = sources[i % len(sources)]
        name = source.parent.name if source.name == "solution.py" else source.stem
        shutil.copy(source, folder / f"student{i:03d}_{name}.py")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--markdown", help="update the grading section of this report (e.g. BENCHMARKS.md)")
    args = ap.parse_args(argv)
    found = _isolation.status()
    if not found.isolated:
        print(f"no isolation on this machine ({found.detail}): nothing to compare", file=sys.stderr)
        return 1
    times: dict[str, list[float]] = {"required": [], "none": []}
    verdicts = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_class(folder, args.size)
        for _ in range(args.repeat):
            for mode in times:
                t0 = time.perf_counter()
                reports = grade_dir(folder, seed=1, jobs=args.jobs, config=SandboxConfig(isolation=mode))
                times[mode].append(time.perf_counter() - t0)
                verdicts[mode] = [(Path(r.path).name, r.passed) for r in reports]
    assert verdicts["required"] == verdicts["none"], "the two modes disagree on a verdict"
    iso, plain = statistics.median(times["required"]), statistics.median(times["none"])
    passed = sum(p for _, p in verdicts["none"])
    load = os.getloadavg()[0]
    section = "\n".join(
        [
            START,
            "## Grading a class: isolation's cost",
            "",
            f"`grade_dir` on {args.size} submissions ({passed} pass, the others fail with named mistakes or crash), "
            f"{args.jobs} at a time, with bubblewrap isolation (`--isolation required`) and without "
            "(`--isolation none`); each mode graded the class "
            f"{args.repeat} times, the modes taking turns. The same verdicts in both modes.",
            "",
            f"- Command: `.venv/bin/python benchmarks/grading.py --repeat {args.repeat} --markdown BENCHMARKS.md`",
            f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; machine: {os.cpu_count()} "
            f"cores, {platform.platform()}, Python {platform.python_version()}; load average (1 min) {load:.2f}",
            f"- Isolation: {found.describe()}",
            f"- With isolation: median {iso:.1f} s [{min(times['required']):.1f}, {max(times['required']):.1f}] "
            f"({iso / args.size * 1000:.0f} ms a submission)",
            f"- Without: median {plain:.1f} s [{min(times['none']):.1f}, {max(times['none']):.1f}]",
            f"- Ratio: **{iso / plain:.2f}** (the goal: at most 1.5)",
            END,
        ]
    )
    print(section)
    if args.markdown:
        replace_section(args.markdown, START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
