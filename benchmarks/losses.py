"""Every registered loss, on every option path, at every size: losslab against PyTorch and JAX.

Run from the repository root (see benchmarks/README.md)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/losses.py \\
        --json benchmarks/results/losses.json --markdown BENCHMARKS.md

The grid is read from the registry, never listed here: each loss's option paths are declared
beside its class (``paths=`` of its ``@registered`` entry, ``losslab.registry.LossSpec.make_paths``),
crossed with the batch sizes (``--sizes``: 1, the per-call overhead, to past the last-level cache)
and the dtypes. For each thread count, one worker process per library (``losslab`` with numba,
``losslab-numpy`` with ``LOSSLAB_NUMBA=0``, ``torch``, ``jax``) takes turns with the others, one
sample at a time; a cell is the median of ``--repeats`` samples. Each ratio is losslab's median
over the other library's, measured in the same run. The peak extra memory of one losslab call
(tracemalloc, which sees NumPy's buffers) is measured per path at one size.
``--quick`` (two sizes, float32) and ``--loss`` keep a run short.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

import _report as report
from run import Worker, _cpu_seconds, foreign_load, machine_info

HERE = Path(__file__).resolve().parent
LIBS = ("losslab", "losslab-numpy", "torch", "jax")
SIZES = (1, 256, 16384, 131072)  # 131072 x 100 float32 (52 MB) is past the 32 MiB last-level cache
QUICK_SIZES = (1, 16384)
MEMORY_SIZE = 16384
START, END = "<!-- registry-bench:start -->", "<!-- registry-bench:end -->"
# a run's record, kept by merge
RUN_KEYS = ("command", "date", "seconds", "machine", "settled", "warm", "pinned", "interrupted", "measured")


def grid(names: list[str] | None, sizes, dtypes) -> list[dict]:
    """The cases: every registered loss (or those named) x its declared paths x size x dtype."""
    from losslab import registry

    out = []
    for spec in registry.LOSSES:
        if names and spec.name not in names:
            continue
        for path in [c.id for c in spec.make_paths(1)]:
            for b in sizes:
                for dtype in dtypes:
                    out.append({"kind": "registry", "loss": spec.name, "path": path, "b": b, "dtype": dtype})
    return out


def key(case: dict) -> str:
    return f"{case['loss']}|{case['path']}|{case['b']}|{case['dtype']}"


def _stats(samples: list) -> dict | None:
    if not samples or samples[0] is None:
        return None
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def measure(workers: dict[str, Worker], case: dict, repeats: int, target: float, warm: float = 0.0) -> dict:
    """Interleaved samples of ``case`` in every worker: ``{lib: stats or None}`` (None: no such path). Each
    sample begins with ``warm`` seconds of untimed calls (see ``_worker.py``)."""
    present = {}
    for lib in list(workers):
        present[lib] = not _ask(workers, lib, op="prepare", case=case, target=target, slot="main", clear=True).get(
            "missing"
        )
        workers[lib].settle()
    names = [lib for lib, ok in present.items() if ok]
    samples: dict[str, list] = {lib: [] for lib in names}
    for rep in range(repeats):
        for lib in names[rep % len(names) :] + names[: rep % len(names)] if names else []:
            if present[lib]:
                seconds = _ask(workers, lib, op="sample", slot="main", warm=warm).get("seconds")
                workers[lib].settle()  # its threads idle before the next library's sample
                present[lib] = seconds is not None
                samples[lib].append(seconds)
    return {lib: _stats(samples[lib]) if present[lib] else None for lib in workers}


def _ask(workers: dict[str, Worker], lib: str, **request) -> dict:
    """``workers[lib].ask(**request)``; a worker that dies (out of memory, a crash in its library) gives
    ``{"missing": True}`` for this case, said on stderr, and is started again for the next one."""
    try:
        return workers[lib].ask(**request)
    except RuntimeError as error:
        print(f"{error}: its cell is '-'; starting it again", file=sys.stderr, flush=True)
        old = workers[lib]
        old.proc.kill()
        old.proc.wait()
        workers[lib] = Worker(lib, old.threads)
        return {"missing": True}


def ratio(stats: dict, lib: str, other: str) -> float | None:
    a, b = stats.get(lib), stats.get(other)
    return a["median"] / b["median"] if a and b and b["median"] else None


# --------------------------------------------------------------------------- report


def _fmt(r: float | None) -> str:
    if r is None:
        return "-"
    return f"**{r:.2f}**" if r > 1.0 else f"{r:.2f}"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _where(case: dict) -> str:
    return f"{case['loss']} [{case['path']}] B={case['b']} {case['dtype']}"


def summary(result: dict) -> dict:
    """Cells above 1.0 per column (losslab with numba and without, against PyTorch and JAX)."""
    out = {}
    for lib in ("losslab", "losslab-numpy"):
        for other in ("torch", "jax"):
            rs = [(ratio(c["stats"], lib, other), c) for c in result["cells"]]
            rs = [(r, c) for r, c in rs if r is not None]
            limit = 1.0 if lib == "losslab" else 2.0
            worst = sorted(rs, key=lambda rc: -rc[0])
            out[f"{lib}/{other}"] = {
                "cells": len(rs),
                "limit": limit,
                "over": sum(r > limit for r, _ in rs),
                "worst": [(r, _where(c["case"]), c["threads"]) for r, c in worst[:12]],
            }
    return out


def _run_header(run: dict) -> list[str]:
    """Command, date, machine and load of one run of the grid."""
    m = run["machine"]
    lines = [
        f"Command: `{run['command']}`  ",
        f"Date: {run['date']}; {run['seconds']:.0f} s.  ",
        f"Machine: {m['cpu']}, {m['affinity']} cores, L3 {m['caches'].get('L3 cache', '?')}; "
        f"{m['platform']}; Python {m['python']}.  ",
        f"Load average (1 min) before / after: {m['loadavg_start'][0]:.2f} / {m['loadavg_end'][0]:.2f}; "
        + (
            f"other processes used {m['foreign_load']['cores']:.2f} cores on average during the run.  "
            if m.get("foreign_load")
            else ""
        ),
    ]
    if m.get("NUMPY_MADVISE_HUGEPAGE") == "0":
        lines.append(
            "Every worker ran with `NUMPY_MADVISE_HUGEPAGE=0` (NumPy asks for no transparent huge pages; PyTorch "
            'and JAX never do): see benchmarks/README.md, "Stalls on large float64 arrays".  '
        )
    if not run.get("settled"):
        lines.append(
            "Samples did not wait for the previous worker's threads to idle (OpenBLAS's spin about 0.1 s after "
            "a product): its 2-thread cells of losses with matrix products may have had a core fewer.  "
        )
    if run.get("warm"):
        lines.append(
            f"Each sample began with {run['warm'] * 1e3:g} ms of untimed calls (none where one call takes longer): "
            "the steady state of back-to-back calls.  "
        )
    elif run.get("settled"):
        lines.append("Each sample began cold, right after the pause (see benchmarks/README.md).  ")
    if run.get("pinned"):
        lines.append("Every library's worker ran on the same cores, as many as its threads.  ")
    else:
        lines.append("Only the JAX worker was pinned to cores; the others ran wherever the kernel put them.  ")
    if run.get("interrupted"):
        lines.append(f"**Interrupted: {run.get('measured', '?')} cells of its grid were measured.**  ")
    # the CPU time other processes took during the run, where measured; else the (lagging) load average before it
    foreign = (m.get("foreign_load") or {}).get("cores")
    if (foreign > report.QUIET_FOREIGN) if foreign is not None else (m["loadavg_start"][0] > report.QUIET_LOAD):
        lines.append(
            "**Taken on a loaded machine: the ratios are noisy (each library saw the same load, in turns).**  "
        )
    return lines


def merge(results: list[dict]) -> dict:
    """One result of several runs of parts of the grid: a later run's cell replaces an earlier one's."""
    if len(results) == 1:
        return results[0]
    cells: dict[tuple, dict] = {}
    memory: dict = {}
    workers: dict = {}
    runs = []
    for r in results:
        for c in r["cells"]:
            cells[(key(c["case"]), c["threads"])] = c
        memory.update(r.get("memory") or {})
        workers.update(r.get("workers") or {})
        runs += r.get("runs") or [{k: r[k] for k in RUN_KEYS if k in r}]
    merged = {"runs": runs, "cells": list(cells.values()), "memory": memory, "workers": workers}
    merged["summary"] = summary(merged)
    return merged


def markdown(result: dict) -> str:
    threads = sorted({c["threads"] for c in result["cells"]})
    lines = [START, "## Every loss, every option path (from the registry)", ""]
    runs = result.get("runs") or [result]
    if len(runs) > 1:
        lines += [f"The grid was measured in {len(runs)} runs, each with its command, date and load:", ""]
    for run in runs:
        lines += _run_header(run)
        if len(runs) > 1:
            lines.append("")
    versions = {
        k: v
        for w in reversed(list(result["workers"].values()))
        for k, v in w.items()
        if k in ("numpy", "torch", "jax", "optax", "numba", "losslab")
    }
    lines += [
        f"Versions: {', '.join(f'{k} {v}' for k, v in sorted(versions.items()))}.",
        "",
        "Forward + backward, `reduction='mean'` (or the path's own). A cell is losslab's median time over "
        "the other library's, in the same run, the same thread count (workers take turns, each sample once "
        "the previous worker's threads are idle): below 1.0 "
        "losslab is faster; **bold** is slower. `numba`: losslab with its fast extra; `numpy`: "
        "`LOSSLAB_NUMBA=0`. `-`: the other library has no such loss or path. Sizes: B rows of C = 100 "
        "classes or D = 64 features (CTC: T = 50, C = 20, S <= 10, B / 64 sequences; segmentation: "
        "B images of 8 x 8; NT-Xent: at most 2048 pairs).",
        "",
    ]
    s = summary(result)
    lines += [
        "| column | cells | limit | over the limit | worst (ratio, loss [path] B dtype, threads) |",
        "|---|---|---|---|---|",
    ]
    for name, row in s.items():
        worst = "; ".join(f"{r:.2f} {k} ({n}t)" for r, k, n in row["worst"][:5] if r > row["limit"])
        lines.append(f"| {name} | {row['cells']} | {row['limit']:.1f} | {row['over']} | {worst or '-'} |")
    mem = result.get("memory") or {}
    if mem:
        lines += [
            "",
            f"Peak extra memory of one losslab call (forward + backward, float32, B = {MEMORY_SIZE}; "
            "tracemalloc's peak of NumPy's buffers, the returned gradients included), per loss its "
            "largest path, and that peak over the bytes of the inputs:",
            "",
            "| loss | path | peak | inputs | peak / inputs |",
            "|---|---|---|---|---|",
        ]
        per_loss: dict[str, tuple] = {}
        for k, v in mem.items():
            loss, path = k.split("|")[:2]
            if loss not in per_loss or v["peak"] > per_loss[loss][1]["peak"]:
                per_loss[loss] = (path, v)
        for loss, (path, v) in per_loss.items():
            lines.append(
                f"| {loss} | {path} | {_bytes(v['peak'])} | {_bytes(v['inputs'])} | "
                f"{v['peak'] / max(v['inputs'], 1):.1f} |"
            )
    head = (
        "| loss | path | B | dtype | "
        + " | ".join(f"numba/torch {n}t | numba/jax {n}t | numpy/torch {n}t | numpy/jax {n}t" for n in threads)
        + " |"
    )
    lines += ["", "<details><summary>Every cell</summary>", "", head, "|" + "---|" * (4 + 4 * len(threads))]
    by_case: dict[str, dict] = {}
    for c in result["cells"]:
        by_case.setdefault(key(c["case"]), {})[c["threads"]] = c
    for per in by_case.values():
        case = next(iter(per.values()))["case"]
        cells = []
        for n in threads:
            st = per[n]["stats"] if n in per else {}
            cells += [
                _fmt(ratio(st, "losslab", "torch")),
                _fmt(ratio(st, "losslab", "jax")),
                _fmt(ratio(st, "losslab-numpy", "torch")),
                _fmt(ratio(st, "losslab-numpy", "jax")),
            ]
        lines.append(f"| {case['loss']} | {case['path']} | {case['b']} | {case['dtype']} | " + " | ".join(cells) + " |")
    lines += ["", "</details>", END]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _run_grid(args, libs, names, cases, result, log) -> None:
    """Measure every case on every thread count into ``result`` (cells, workers, memory)."""
    for n in (int(t) for t in args.threads.split(",")):
        workers = {lib: Worker(lib, n) for lib in libs}
        try:
            for lib, w in workers.items():
                result["workers"][f"{lib}/{n}"] = w.ask(op="info")
            mem_worker = workers.get("losslab") or workers.get("losslab-numpy")
            if not args.no_memory and mem_worker and n == int(args.threads.split(",")[0]):
                for case in grid(names, (MEMORY_SIZE,), ("float32",)):
                    result["memory"][key(case)] = mem_worker.ask(op="memory", case=case)
            for i, case in enumerate(cases):
                stats = measure(workers, case, args.repeats, args.target, args.warm)
                result["cells"].append({"case": case, "threads": n, "stats": stats})
                r = [ratio(stats, "losslab", o) for o in ("torch", "jax")]
                log(f"[{n}t {i + 1}/{len(cases)}] {key(case):70s} numba/torch {_fmt(r[0]):>9s} numba/jax {_fmt(r[1])}")
        finally:
            for w in workers.values():
                w.close()


CHECK_SIZES = (4, 64)
CHECK_TOLERANCE = {"float32": 1e-4, "float64": 1e-9}


CHECK_FLOOR = 1e-2  # below this magnitude a difference is taken as absolute: a loss of 0 lands on +-1e-9


def relative_difference(value: float | None, reference: float | None) -> float:
    """``|value - reference|`` over the larger magnitude, at least :data:`CHECK_FLOOR` (0 where both are equal,
    inf where one is missing or not finite)."""
    if value is None or reference is None:
        return math.inf
    if value == reference:
        return 0.0
    if not (math.isfinite(value) and math.isfinite(reference)):
        return math.inf
    return abs(value - reference) / max(abs(value), abs(reference), CHECK_FLOOR)


def check(libs: list[str], cases: list[dict], log) -> int:
    """Measure nothing: each library's value of every case against losslab's; 1 if any differs beyond tolerance.

    The reference is the ``losslab`` worker (``losslab-numpy`` without it); every other library in ``libs``
    is held to it within :data:`CHECK_TOLERANCE` (relative, per dtype). A library without the path is counted,
    not compared.
    """
    reference = "losslab" if "losslab" in libs else "losslab-numpy"
    others = [lib for lib in libs if lib != reference]
    workers = {lib: Worker(lib, 1) for lib in [reference, *others]}
    counts = {lib: {"compared": 0, "missing": 0, "over": 0} for lib in others}
    bad = []
    try:
        for i, case in enumerate(cases):
            values = {}
            for lib, w in workers.items():
                ready = not w.ask(op="prepare", case=case, target=0.0, slot="main", clear=True).get("missing")
                values[lib] = w.ask(op="value", slot="main")["value"] if ready else None
            ref = values[reference]
            for lib in others:
                if values[lib] is None:
                    counts[lib]["missing"] += 1
                    continue
                counts[lib]["compared"] += 1
                rel = relative_difference(values[lib], ref)
                if rel > CHECK_TOLERANCE[case["dtype"]]:
                    counts[lib]["over"] += 1
                    bad.append(
                        f"{lib:13s} {_where(case)}: {reference} {ref!r}, {lib} {values[lib]!r}, relative {rel:.2e}"
                    )
            log(f"[check {i + 1}/{len(cases)}] {key(case)}")
    finally:
        for w in workers.values():
            w.close()
    for line in bad:
        print(line)
    for lib, c in counts.items():
        print(
            f"{lib}: {c['compared']} values compared with {reference}, {c['over']} over the tolerance, "
            f"{c['missing']} paths it does not have"
        )
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loss", default="", help="comma-separated loss names (default: every registered loss)")
    ap.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, float32 only")
    ap.add_argument("--sizes", default=None, help=f"comma-separated batch sizes (default {SIZES})")
    ap.add_argument("--dtypes", default=None, help="default float32,float64 (--quick: float32)")
    ap.add_argument(
        "--match",
        default=None,
        help="only the cases whose key 'Loss|path|B|dtype' matches this regular expression (e.g. 'kdim.*=0.1')",
    )
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--repeats", type=int, default=5, help="samples per cell (default 5)")
    ap.add_argument("--target", type=float, default=0.02, help="seconds per sample (default 0.02)")
    ap.add_argument(
        "--warm",
        type=float,
        default=0.005,
        help="seconds of untimed calls before each sample, none for a call longer than that (default 0.005; "
        "0: each sample starts cold, after the previous worker's pause)",
    )
    ap.add_argument("--libs", default=",".join(LIBS), help=f"subset of {','.join(LIBS)}")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    ap.add_argument("--json", default=str(HERE / "results" / "losses.json"), help="where to write the results")
    ap.add_argument("--markdown", default=None, help="also put the section in this report (e.g. BENCHMARKS.md)")
    ap.add_argument(
        "--check",
        action="store_true",
        help=f"measure nothing: compare every library's loss value with losslab's at B in {CHECK_SIZES} "
        "(relative tolerance 1e-4 float32, 1e-9 float64); exit 1 on any difference",
    )
    ap.add_argument(
        "--from-json",
        default=None,
        help="measure nothing: render the section from these results files (comma-separated: parts of the grid, "
        "a later file's cell replacing an earlier one's)",
    )
    args = ap.parse_args(argv)
    for name, value, ok, expected in (
        ("--repeats", args.repeats, args.repeats >= 1, "a count of at least 1"),
        ("--target", args.target, args.target > 0, "seconds above 0"),
        ("--warm", args.warm, args.warm >= 0, "seconds, 0 or more"),
    ):
        if not ok or not math.isfinite(value):
            ap.error(f"argument {name}: expected {expected}, got {value}")
    if args.from_json:
        result = merge([json.loads(Path(f).read_text()) for f in args.from_json.split(",") if f])
        text = markdown(result)
        print(text)
        if args.markdown:
            report.replace_section(args.markdown, START, END, text)
        return 0

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    default_sizes = CHECK_SIZES if args.check else (QUICK_SIZES if args.quick else SIZES)
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else default_sizes
    dtypes = tuple(args.dtypes.split(",")) if args.dtypes else (("float32",) if args.quick else ("float32", "float64"))
    names = [n for n in args.loss.split(",") if n]
    wanted = [lib for lib in args.libs.split(",") if lib]
    libs = [lib for lib in wanted if lib not in ("torch", "jax") or importlib.util.find_spec(lib) is not None]
    if "jax" in libs and importlib.util.find_spec("optax") is None:
        libs.remove("jax")
    if set(wanted) - set(libs):
        log(f"not installed, left out: {', '.join(sorted(set(wanted) - set(libs)))} (pip install -e '.[bench,torch]')")
    cases = grid(names, sizes, dtypes)
    if args.match:
        cases = [case for case in cases if re.search(args.match, key(case))]
    if args.check:
        return check(libs, cases, log)
    log(f"{len(cases)} cases x {len(args.threads.split(','))} thread counts, libraries {', '.join(libs)}")
    result = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": vars(args),
        "libs": libs,
        "workers": {},
        "cells": [],
        "memory": {},
        "settled": True,  # each sample waited for the previous worker's threads to idle (Worker.settle)
        "warm": args.warm,  # then ran calls untimed for this many seconds
        "pinned": True,  # every worker on the same first cores, as many as its threads (_worker.py)
    }
    started, cpu_start = time.perf_counter(), _cpu_seconds()
    try:
        _run_grid(args, libs, names, cases, result, log)
    except KeyboardInterrupt:  # Ctrl-C: keep and report the cells measured so far
        log(f"interrupted: the report holds the {len(result['cells'])} cells measured")
        result["interrupted"] = True
        result["measured"] = len(result["cells"])
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["machine"]["foreign_load"] = foreign_load(cpu_start, _cpu_seconds())
    result["seconds"] = time.perf_counter() - started
    result["summary"] = summary(result)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    text = markdown(result)
    if args.markdown:
        report.replace_section(args.markdown, START, END, text)
    for name, row in result["summary"].items():
        log(f"{name}: {row['over']} of {row['cells']} cells over {row['limit']}")
    log(f"wrote {out}" + (f" and {args.markdown}" if args.markdown else "") + f" in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
