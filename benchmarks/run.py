"""losslab against PyTorch CPU, side by side: losses, the MLP epoch, imports, and the bandwidth floor.

Run from the repository root (see benchmarks/README.md for what each number means)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/run.py \\
        --json benchmarks/results/latest.json --markdown BENCHMARKS.md

For each thread count, one worker process per library (``losslab`` with the numba
kernels, ``losslab-numpy`` with the NumPy kernels only, ``torch``) is started with
its thread variables set; the workers take turns, one sample at a time, so every
library sees the same machine state, and each sample waits until the previous worker's
threads are idle (OpenBLAS's spin for about 0.1 s after a product). Each cell is the median of ``--repeats``
samples, with min and max. Without torch installed, losslab runs alone. Nothing
here runs in the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _cases as cases
import _report as report

HERE = Path(__file__).resolve().parent
LIBS = ("losslab", "losslab-numpy", "torch")


SETTLE_POLL = 0.005  # seconds between two reads of a worker's run time
SETTLE_IDLE = 0.1  # a worker using less of a core than this over a poll is idle
SETTLE_MAX = 0.5


def _run_ns(pid: int) -> int | None:
    """Nanoseconds the threads of process ``pid`` have run (Linux ``schedstat``); None where unreadable."""
    try:
        total = 0
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/schedstat") as f:
                total += int(f.read().split()[0])
        return total
    except (OSError, ValueError, IndexError):
        return None


class Worker:
    """One library at one thread count, in its own process."""

    def __init__(self, lib: str, threads: int) -> None:
        env = dict(os.environ)
        for var in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMBA_NUM_THREADS",
            "LOSSLAB_NUM_THREADS",
        ):
            env[var] = str(threads)
        env["LOSSLAB_NUMBA"] = "0" if lib == "losslab-numpy" else "1"
        self.lib, self.threads = lib, threads
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_worker.py"), lib, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.lib} ({self.threads} threads) died; request {request}")
        return json.loads(line)

    def settle(self) -> None:
        """Wait until this worker's threads stop running (at most :data:`SETTLE_MAX` seconds): OpenBLAS's threads
        spin for about 0.1 s after each product, so a sample the next library took meanwhile would have a core
        fewer. Where the threads' run times cannot be read (not Linux), return at once."""
        end = time.perf_counter() + SETTLE_MAX
        before = _run_ns(self.proc.pid)
        while before is not None and time.perf_counter() < end:
            time.sleep(SETTLE_POLL)
            now = _run_ns(self.proc.pid)
            if now is None or now - before < SETTLE_IDLE * SETTLE_POLL * 1e9:
                return
            before = now

    def close(self) -> None:
        try:
            self.ask(op="quit")
        except (BrokenPipeError, RuntimeError, json.JSONDecodeError):
            pass
        self.proc.wait(timeout=30)


def _stats(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}


def measure(tasks: dict[str, tuple[Worker, dict]], repeats: int, target: float, log) -> dict:
    """Interleaved samples of each task ``name -> (worker, case)``: ``{name: stats}``.

    A worker may run several tasks (the floor streams run in the losslab worker, in
    their own slots), so every library and the floor see the same machine state.
    """
    cleared = set()
    for name, (w, case) in tasks.items():
        w.ask(op="prepare", case=case, target=target, slot=name, clear=id(w) not in cleared)
        w.settle()
        cleared.add(id(w))
    samples = {name: [] for name in tasks}
    order = list(tasks)
    for rep in range(repeats):
        turn = order[rep % len(order) :] + order[: rep % len(order)]  # rotate who goes first
        for name in turn:
            worker = tasks[name][0]
            samples[name].append(worker.ask(op="sample", slot=name)["seconds"])
            worker.settle()
    out = {name: _stats(s) for name, s in samples.items()}
    case = next(iter(tasks.values()))[1]
    log(
        f"  {cases.label(case):28s} {case['dtype']:8s} "
        + "  ".join(f"{name} {report.fmt_time(st['median'])}" for name, st in out.items())
    )
    return out


# --------------------------------------------------------------------------- imports and first use

_FIRST_USE = """
import time, numpy as np
start = time.perf_counter()
import losslab
from losslab import nn, _fast
x = np.ones((32, 10), np.float32); t = np.zeros(32, np.int64)
imported = time.perf_counter()
loss = nn.{cls}()
loss(x, {target}); loss.backward()
done = time.perf_counter()
print(done - imported, _fast.backend())
"""


def _wall(code: str, env=None, runs: int = 7) -> dict:
    """Whole-process wall time of ``python -c code``, ``runs`` times after one warm-up run."""
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        samples.append(time.perf_counter() - start)
    return _stats(samples)


def _first_use(cls: str, target: str, env, runs: int = 7) -> dict:
    """Seconds of the first fused call (and its backward) in a fresh process, numba's cache warm."""
    code = _FIRST_USE.format(cls=cls, target=target)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    samples, backend = [], None
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
        seconds, backend = out.stdout.split()
        samples.append(float(seconds))
    return {**_stats(samples), "backend": backend}


def measure_imports(have_torch: bool, log) -> dict:
    log("imports and first use (fresh processes)")
    res = {
        "python": _wall("pass"),
        "numpy": _wall("import numpy"),
        "losslab": _wall("import losslab"),
        "losslab_imports_numba": subprocess.run(
            [sys.executable, "-c", "import sys, losslab; print('numba' in sys.modules)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        == "True",
    }
    if have_torch:
        res["torch"] = _wall("import torch")
    if importlib.util.find_spec("numba") is not None:
        res["numba"] = _wall("import numba")
    env = dict(os.environ, LOSSLAB_NUMBA="1")
    res["first_use_ce"] = _first_use("CrossEntropyLoss", "t", env)
    res["first_use_mse"] = _first_use("MSELoss", "x", env)
    res["first_use_ce_numpy"] = _first_use("CrossEntropyLoss", "t", dict(os.environ, LOSSLAB_NUMBA="0"))
    with tempfile.TemporaryDirectory() as cold:  # an empty numba cache: the one-off compile
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_USE.format(cls="CrossEntropyLoss", target="t")],
            check=True,
            capture_output=True,
            text=True,
            env=dict(env, NUMBA_CACHE_DIR=cold),
        )
        res["compile_ce_cold_cache"] = float(out.stdout.split()[0])
    for k, v in res.items():
        if isinstance(v, dict):
            log(f"  {k:24s} {report.fmt_time(v['median'])}")
    return res


# --------------------------------------------------------------------------- machine


def _cpu_seconds() -> dict | None:
    """Busy and steal CPU seconds of the whole machine, and this process tree's own CPU seconds."""
    import resource

    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    own = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    return {
        "busy": (user + nice + system + irq + softirq) / tick,
        "steal": steal / tick,
        "own": own,
        "wall": time.perf_counter(),
    }


def foreign_load(start: dict | None, end: dict | None) -> dict | None:
    """Average cores used by other work during the run: machine busy time minus this run's own."""
    if not start or not end:
        return None
    wall = end["wall"] - start["wall"]
    other = (end["busy"] - start["busy"]) - (end["own"] - start["own"])
    return {"cores": max(other, 0.0) / wall, "steal_cores": (end["steal"] - start["steal"]) / wall}


def _thp() -> dict:
    """Linux's transparent huge page settings (the bracketed choice of each), where the machine has them: with
    ``defrag`` at ``madvise``, NumPy's request for huge pages on arrays of 4 MiB and more can make a page fault
    wait for the kernel to compact memory (see benchmarks/README.md)."""
    out = {}
    for name in ("enabled", "defrag"):
        try:
            with open(f"/sys/kernel/mm/transparent_hugepage/{name}") as f:
                text = f.read()
        except OSError:
            continue
        chosen = [w[1:-1] for w in text.split() if w.startswith("[")]
        out[name] = chosen[0] if chosen else text.strip()
    return out


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    caches = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        caches = {
            k.strip(): v.strip()
            for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)
            if k.strip() in ("L1d cache", "L2 cache", "L3 cache")
        }
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "affinity": affinity,
        "caches": caches,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "NUMPY_MADVISE_HUGEPAGE": os.environ.get("NUMPY_MADVISE_HUGEPAGE"),
        "transparent_hugepage": _thp(),
        "loadavg_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--repeats", type=int, default=7, help="samples per cell (default 7)")
    ap.add_argument("--target", type=float, default=0.05, help="seconds per sample (default 0.05)")
    ap.add_argument("--libs", default=",".join(LIBS), help=f"subset of {','.join(LIBS)}")
    ap.add_argument("--only", default=",".join(cases.LOSS_KINDS), help="loss kinds to run")
    ap.add_argument("--dtypes", default=",".join(cases.DTYPES))
    ap.add_argument("--quick", action="store_true", help="skip the largest sizes (a smoke run)")
    ap.add_argument("--no-mlp", action="store_true")
    ap.add_argument("--no-imports", action="store_true")
    ap.add_argument("--json", default=str(HERE / "results" / "latest.json"), help="where to write the results")
    ap.add_argument("--markdown", default=None, help="also write the report (e.g. BENCHMARKS.md)")
    ap.add_argument("--from-json", default=None, help="measure nothing: re-render the report of this results file")
    args = ap.parse_args(argv)
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        result["goals"] = report.goals(result)
        print(report.text_table(result))
        if args.markdown:
            report.write_markdown(args.markdown, report.markdown(result))
        return 0

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    have_torch = importlib.util.find_spec("torch") is not None
    libs = [lib for lib in args.libs.split(",") if lib and (lib != "torch" or have_torch)]
    if "torch" in args.libs.split(",") and not have_torch:
        log("torch is not installed: losslab only")
    threads = [int(n) for n in args.threads.split(",")]
    dtypes = tuple(d for d in args.dtypes.split(",") if d)
    loss_list = cases.loss_cases(tuple(args.only.split(",")), dtypes, args.quick)
    result = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": vars(args),
        "libs": libs,
        "workers": {},
        "cells": [],
        "accuracy": {},
    }
    started = time.perf_counter()
    cpu_start = _cpu_seconds()
    for n in threads:
        log(f"== {n} thread(s)")
        workers = {lib: Worker(lib, n) for lib in libs}
        try:
            for lib, w in workers.items():
                result["workers"][f"{lib}/{n}"] = w.ask(op="info")
            floor_worker = workers.get("losslab") or workers[libs[0]]
            for case in loss_list:
                tasks = {lib: (w, case) for lib, w in workers.items()}
                if cases.is_large(case):  # the floor, interleaved with the losses it bounds
                    for name, stream in cases.floor_cases(case):
                        tasks[name] = (floor_worker, stream)
                result["cells"].append(
                    {"case": case, "threads": n, "stats": measure(tasks, args.repeats, args.target, log)}
                )
            if not args.no_mlp:
                for dtype in dtypes:
                    case = {"kind": "mlp_epoch", "shape": [cases.MLP_SAMPLES, 784], "dtype": dtype, "repeat": 15}
                    tasks = {lib: (w, case) for lib, w in workers.items()}
                    result["cells"].append(
                        {
                            "case": case,
                            "threads": n,
                            "stats": measure(tasks, max(3, args.repeats // 2), args.target, log),
                        }
                    )
                if n == threads[0]:
                    for dtype in dtypes:
                        result["accuracy"][dtype] = {
                            lib: w.ask(op="accuracy", dtype=dtype, epochs=cases.MLP_EPOCHS_FOR_ACCURACY)["accuracy"]
                            for lib, w in workers.items()
                        }
                        log(f"  accuracy {dtype}: {result['accuracy'][dtype]}")
        finally:
            for w in workers.values():
                w.close()
    if not args.no_imports:
        result["imports"] = measure_imports(have_torch, log)
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["machine"]["foreign_load"] = foreign_load(cpu_start, _cpu_seconds())
    result["seconds"] = time.perf_counter() - started
    result["goals"] = report.goals(result)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(report.text_table(result))
    if args.markdown:
        report.write_markdown(args.markdown, report.markdown(result))
    log(f"wrote {out}" + (f" and {args.markdown}" if args.markdown else "") + f" in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
