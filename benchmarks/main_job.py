"""Time the README's main command (`losslab train`, defaults) and record it in BENCHMARKS.md.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/main_job.py --markdown BENCHMARKS.md

Runs the command as a user would (a fresh process, wall-clock time including start-up, data
loading, training, evaluation and writing the plots), `--repeat` times, and writes the median
wall time and the test accuracy between the main-job markers of the report.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import replace_section

START, END = "<!-- main-job:start -->", "<!-- main-job:end -->"


def run_once(out: Path) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "losslab", "train", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    rows = list(csv.DictReader(open(out / "history.csv")))
    train_s = sum(float(r["seconds"]) for r in rows)
    return wall, train_s, float(rows[-1]["test_accuracy"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", help="update the main-job section of this report (e.g. BENCHMARKS.md)")
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            results.append(run_once(Path(tmp) / f"run{i}"))
    walls, trains, accs = zip(*results, strict=True)
    load = os.getloadavg()[0]
    section = "\n".join(
        [
            START,
            "## The main job (`make demo`)",
            "",
            "`losslab train` with its defaults: a 784-100-10 ReLU network, softmax cross-entropy, SGD (lr 0.1), "
            "batch 100, 20 epochs, float32, on the embedded MNIST subset (4,000 training and 1,000 test images), "
            "including start-up, data loading, evaluation after every epoch and writing the history, model and plots.",
            "",
            "- Command: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/main_job.py "
            f"--repeat {args.repeat} --markdown BENCHMARKS.md`",
            f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; machine: {os.cpu_count()} "
            f"cores, {platform.platform()}, Python {platform.python_version()}; load average (1 min) {load:.2f}",
            f"- Wall time of the whole command: median {statistics.median(walls):.2f} s "
            f"[{min(walls):.2f}, {max(walls):.2f}] over {len(walls)} runs (the goal: under 30 s)",
            f"- Training time (sum of the epochs): median {statistics.median(trains):.2f} s",
            f"- Test accuracy after 20 epochs: {accs[0]:.2%} (the same in every run: the seed is fixed; the goal: "
            "at least 90%)",
            END,
        ]
    )
    print(section)
    if args.markdown:
        replace_section(args.markdown, START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
