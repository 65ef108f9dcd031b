"""Tables, goal checks and the BENCHMARKS.md report, all computed from one results JSON."""

from __future__ import annotations

import _cases as cases

PRIMARY = "losslab"  # the row the goals are judged on: losslab with its fast extra (numba)
NUMPY = "losslab-numpy"  # the fused paths on NumPy kernels only
TORCH = "torch"
FLOOR_SHARE = {"mse": 0.8, "l1": 0.8, "smooth_l1": 0.8, "huber": 0.8, "ce": 0.4, "bce_logits": 0.4}
QUIET_LOAD = 0.5  # 1-minute load average before the run (a lagging sign, used only without the next)
QUIET_FOREIGN = 0.1  # average cores used by other processes during the run


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def _cell(result, case, threads):
    want = cases.key(case)
    for c in result["cells"]:
        if c["threads"] == threads and cases.key(c["case"]) == want:
            return c["stats"]
    return None


def _median(stats, lib):
    return stats[lib]["median"] if stats and lib in stats else None


def _ratio(stats, lib, other=TORCH):
    a, b = _median(stats, lib), _median(stats, other)
    return a / b if a is not None and b else None


def _floor_share(result, cell, lib=PRIMARY, best=False):
    """Floor time / loss time (medians): 1.0 means the loss ran at the speed of the bare memory traffic.

    ``best``: against the floor's fastest sample instead of its median (the stricter reading).
    """
    stats = cell["stats"]
    floor = (stats["floor"]["min"] if best else stats["floor"]["median"]) if "floor" in stats else None
    t = _median(stats, lib)
    return floor / t if floor and t else None


def _loss_cells(result):
    return [c for c in result["cells"] if c["case"]["kind"] in cases.LOSS_KINDS]


def _required_ratio(case) -> tuple[float, str]:
    kind, shape = case["kind"], case["shape"]
    if kind == "ce" and shape[0] <= 32:
        return 0.2, "5x faster (B <= 32)"
    if kind == "ce" and shape[1] < 16:
        return 1 / 3, "3x faster (C < 16)"
    return 1.0, "as fast"


# --------------------------------------------------------------------------- goals


def goals(result) -> dict:
    out = {}
    misses, checked = [], 0
    worst_numpy = []
    for c in _loss_cells(result):
        need, why = _required_ratio(c["case"])
        r = _ratio(c["stats"], PRIMARY)
        if r is None:
            continue
        checked += 1
        if r > need:
            misses.append(
                {
                    "case": cases.label(c["case"]),
                    "dtype": c["case"]["dtype"],
                    "threads": c["threads"],
                    "ratio": r,
                    "required": need,
                    "why": why,
                }
            )
        rn = _ratio(c["stats"], NUMPY)
        if rn is not None and rn > need:
            worst_numpy.append(
                {
                    "case": cases.label(c["case"]),
                    "dtype": c["case"]["dtype"],
                    "threads": c["threads"],
                    "ratio": rn,
                    "required": need,
                    "why": why,
                }
            )
    out["1_speed_vs_torch"] = {
        "checked": checked,
        "met": checked > 0 and not misses,
        "misses": misses,
        "numpy_only_misses": worst_numpy,
    }
    floor_rows, floor_misses = [], []
    for c in _loss_cells(result):
        if not cases.is_large(c["case"]):
            continue
        share = _floor_share(result, c)
        if share is None:
            continue
        need = FLOOR_SHARE[c["case"]["kind"]]
        row = {
            "case": cases.label(c["case"]),
            "dtype": c["case"]["dtype"],
            "threads": c["threads"],
            "share": share,
            "required": need,
            "share_best_floor": _floor_share(result, c, best=True),
            "numpy_share": _floor_share(result, c, NUMPY),
        }
        floor_rows.append(row)
        if share < need:
            floor_misses.append(row)
    out["2_bandwidth_floor"] = {
        "met": (not floor_misses) if floor_rows else None,
        "rows": floor_rows,
        "misses": floor_misses,
    }
    mlp = [c for c in result["cells"] if c["case"]["kind"] == "mlp_epoch"]
    if mlp:
        threads = max(c["threads"] for c in mlp)
        rows = []
        for c in mlp:
            ref = _cell(result, c["case"], threads)
            torch_ref = _median(ref, TORCH)
            rows.append(
                {
                    "dtype": c["case"]["dtype"],
                    "threads": c["threads"],
                    "losslab": _median(c["stats"], PRIMARY),
                    "torch": _median(c["stats"], TORCH),
                    f"torch_{threads}_threads": torch_ref,
                }
            )
        f32 = [r for r in rows if r["dtype"] == "float32" and r[f"torch_{threads}_threads"]]
        acc = result.get("accuracy", {}).get("float32", {})
        acc_gap = abs(acc[PRIMARY] - acc[TORCH]) if PRIMARY in acc and TORCH in acc else None
        met = (
            bool(f32)
            and all(r["losslab"] <= r[f"torch_{threads}_threads"] for r in f32)
            and (acc_gap is not None and acc_gap <= 0.005)
        )
        out["3_training"] = {
            "met": met,
            "rows": rows,
            "accuracy": result.get("accuracy"),
            "accuracy_gap": acc_gap,
            "torch_threads": threads,
        }
    imp = result.get("imports")
    if imp:
        first = max(imp["first_use_ce"]["median"], imp["first_use_mse"]["median"])
        out["4_import"] = {
            "import_losslab": imp["losslab"]["median"],
            "first_use": first,
            "met_import": imp["losslab"]["median"] < 0.150 and not imp["losslab_imports_numba"],
            "met_first_use": first < 0.2,
        }
        out["4_import"]["met"] = out["4_import"]["met_import"] and out["4_import"]["met_first_use"]
    return out


# --------------------------------------------------------------------------- text


def _span(stats, lib):
    if not stats or lib not in stats:
        return "-"
    s = stats[lib]
    return f"{fmt_time(s['median'])} [{fmt_time(s['min'])}, {fmt_time(s['max'])}]"


def _rows(result, threads, libs):
    rows = []
    for c in _loss_cells(result):
        if c["threads"] != threads:
            continue
        st = c["stats"]
        share = _floor_share(result, c) if cases.is_large(c["case"]) else None
        rows.append(
            [cases.label(c["case"]), c["case"]["dtype"]]
            + [_span(st, lib) for lib in libs]
            + [
                f"{_ratio(st, lib):.3f}" if _ratio(st, lib) is not None else "-"
                for lib in libs
                if lib != TORCH and TORCH in libs
            ]
            + [f"{share:.0%}" if share is not None else ""]
        )
    return rows


def _headers(libs):
    return (
        ["case", "dtype"]
        + [f"{lib} median [min, max]" for lib in libs]
        + [f"{lib}/torch" for lib in libs if lib != TORCH and TORCH in libs]
        + ["floor/losslab"]
    )


def text_table(result) -> str:
    libs = result["libs"]
    lines = []
    for threads in sorted({c["threads"] for c in result["cells"]}):
        lines.append(f"\n{threads} thread(s)")
        rows = [_headers(libs)] + _rows(result, threads, libs)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    g = result.get("goals", {})
    verdict = {True: "met", False: "MISSED", None: "not measured"}
    lines.append("\ngoals: " + ", ".join(f"{k}: {verdict[v.get('met')]}" for k, v in g.items()))
    return "\n".join(lines)


# --------------------------------------------------------------------------- markdown


def _md_table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _blas(result) -> str:
    lines = []
    for name, info in result["workers"].items():
        pools = info.get("threadpools") or []
        desc = (
            "; ".join(
                f"{p['internal_api']} {p.get('version') or ''} kernel {p.get('architecture') or '-'} "
                f"({p['num_threads']} threads, {p['prefix']})"
                for p in pools
            )
            or "threadpoolctl not installed"
        )
        extra = ", ".join(
            f"{k} {info[k]}" for k in ("losslab_backend", "numba", "torch", "torch_threads") if info.get(k) is not None
        )
        lines.append(f"  - `{name}`: {desc}" + (f"; {extra}" if extra else ""))
    return "\n".join(lines)


def _hugepage_lines(m: dict) -> list[str]:
    """The machine's transparent huge pages and NumPy's use of them, where the run recorded them."""
    thp = m.get("transparent_hugepage")
    if thp is None:
        return []
    off = m.get("NUMPY_MADVISE_HUGEPAGE") == "0"
    return [
        f"- Transparent huge pages: enabled `{thp.get('enabled', '?')}`, defrag `{thp.get('defrag', '?')}`; "
        + (
            "every worker ran with `NUMPY_MADVISE_HUGEPAGE=0` (NumPy asks for no huge pages; PyTorch never does)"
            if off
            else "NumPy asked for them on arrays of 4 MiB and more (its default)"
        )
        + ': see benchmarks/README.md, "Stalls on large float64 arrays"'
    ]


def markdown(result) -> str:
    m = result["machine"]
    libs = result["libs"]
    g = result["goals"]
    load0 = m["loadavg_start"][0]
    foreign = m.get("foreign_load")
    # The load average trails the last minute (it counts work that ended before the run began);
    # the busy time measured during the run is the direct evidence, when there is one.
    quiet = foreign["cores"] < QUIET_FOREIGN if foreign else load0 < QUIET_LOAD
    parts = [
        "# Benchmarks: losslab against PyTorch CPU",
        "",
        "Generated by `benchmarks/run.py` from `benchmarks/results/latest.json`; do not edit by hand, re-run:",
        "",
        "```",
        "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/run.py \\",
        "    --json benchmarks/results/latest.json --markdown BENCHMARKS.md",
        "```",
        "",
        f"- Command as run: `{result['command']}`",
        f"- Date: {result['date']} ({result['seconds']:.0f} s)",
        f"- Machine: {m['cpu']}, {m['cpu_count']} cores ({m['affinity']} usable), "
        + ", ".join(f"{k} {v}" for k, v in m["caches"].items())
        + f"; {m['platform']}, Python {m['python']}",
        f"- `OPENBLAS_CORETYPE` was {'set to ' + repr(m['OPENBLAS_CORETYPE']) if m['OPENBLAS_CORETYPE'] else 'not set'}"
        f", `OPENBLAS_L2_SIZE` {'set to ' + repr(m['OPENBLAS_L2_SIZE']) if m['OPENBLAS_L2_SIZE'] else 'not set'} "
        "(the command unsets both; the test suite leaves them alone)"
        + (
            "; `PYTHONDONTWRITEBYTECODE` was set, so every import compiles its modules from source"
            if m.get("PYTHONDONTWRITEBYTECODE")
            else ""
        ),
        *_hugepage_lines(m),
        f"- Load average (1 min) {load0:.2f} at the start"
        + (
            f"; other work during the run: {foreign['cores']:.2f} cores on average (machine busy time minus "
            f"this run's own CPU time), steal {foreign['steal_cores']:.2f}"
            if foreign
            else ""
        )
        + ": "
        + (
            "quiet."
            if quiet
            else f"**not quiet: other work shared the {m['affinity']} cores; re-run on a quiet machine.**"
        ),
        "- Libraries and BLAS per worker process (threadpoolctl):",
        _blas(result),
        "",
        "Each cell: median of the samples with [min, max]; a sample times a loop of calls lasting about "
        f"{result['settings']['target']:g} s (one call when a call is longer). One process per library and "
        "thread count; the processes take turns sample by sample. A call is forward + backward, mean "
        "reduction: losslab's loss object `L(x, t); L.backward()`, PyTorch's functional loss and "
        "`loss.backward()` (the input's `.grad` reset to `None` each call). `losslab` uses the numba "
        "kernels (the `fast` extra), `losslab-numpy` the NumPy kernels only. Ratios below 1 favour losslab.",
        "",
        "## Goals",
        "",
    ]
    g1 = g.get("1_speed_vs_torch", {})
    parts.append(
        f"1. **Speed against PyTorch** ({g1.get('checked', 0)} cells): "
        + ("met." if g1.get("met") else f"missed in {len(g1.get('misses', []))} cells:")
    )
    for miss in g1.get("misses", []):
        parts.append(
            f"   - {miss['case']} {miss['dtype']}, {miss['threads']} thread(s): ratio {miss['ratio']:.3f}, "
            f"needs {miss['required']:.3f} ({miss['why']})"
        )
    nm = g1.get("numpy_only_misses", [])
    parts.append(
        f"   NumPy kernels alone (no numba): {len(nm)} cells short of the same bars"
        + (
            ": "
            + "; ".join(
                f"{x['case']} {x['dtype']} {x['threads']}t {x['ratio']:.2f} (needs {x['required']:.2f})" for x in nm
            )
            if nm
            else ""
        )
        + "."
    )
    g2 = g.get("2_bandwidth_floor", {})
    parts.append(
        "2. **Bandwidth floor** (large sizes, past the L3 cache): "
        + {True: "met.", False: "missed:", None: "not measured."}[g2.get("met")]
    )
    for row in g2.get("rows", []):
        flag = "" if row["share"] >= row["required"] else " **(short)**"
        numpy_share = f"; NumPy kernels {row['numpy_share']:.0%}" if row.get("numpy_share") else ""
        best = row.get("share_best_floor")
        best = f" ({best:.0%} against the floor's fastest sample)" if best else ""
        parts.append(
            f"   - {row['case']} {row['dtype']}, {row['threads']} thread(s): {row['share']:.0%} of the "
            f"floor{best}, needs {row['required']:.0%}{numpy_share}{flag}"
        )
    g3 = g.get("3_training")
    if g3:
        t = g3["torch_threads"]
        parts.append(
            f"3. **Training** (784-100-10 MLP epoch, 60,000 samples, against PyTorch on {t} threads): "
            + ("met." if g3["met"] else "missed.")
        )
        for r in g3["rows"]:
            parts.append(
                f"   - {r['dtype']}, losslab on {r['threads']} thread(s): {fmt_time(r['losslab'])} "
                f"(PyTorch on {r['threads']}: {fmt_time(r['torch'])}; on {t}: "
                f"{fmt_time(r[f'torch_{t}_threads'])})"
            )
        acc = g3.get("accuracy") or {}
        for dtype, per in acc.items():
            parts.append(
                f"   - test accuracy after {cases.MLP_EPOCHS_FOR_ACCURACY} epochs on the embedded 4,000 "
                f"digits, {dtype}: " + ", ".join(f"{lib} {a:.2%}" for lib, a in per.items())
            )
    g4 = g.get("4_import")
    if g4:
        imp = result["imports"]
        parts.append(
            f"4. **Import and first use**: `import losslab` {fmt_time(g4['import_losslab'])} whole process "
            f"({'met' if g4['met_import'] else 'MISSED'}: under 150 ms, numba not imported); first fused call "
            f"in a later process {fmt_time(g4['first_use'])} ({'met' if g4['met_first_use'] else 'MISSED'}: "
            "under 0.2 s)."
        )
        parts.append(
            f"   Whole processes: `python -c pass` {fmt_time(imp['python']['median'])}, `import numpy` "
            f"{fmt_time(imp['numpy']['median'])}"
            + (f", `import torch` {fmt_time(imp['torch']['median'])}" if "torch" in imp else "")
            + (f", `import numba` {fmt_time(imp['numba']['median'])}" if "numba" in imp else "")
            + ". First call with numba's cache warm: cross-entropy "
            f"{fmt_time(imp['first_use_ce']['median'])}, "
            f"MSE {fmt_time(imp['first_use_mse']['median'])}; NumPy kernels "
            f"{fmt_time(imp['first_use_ce_numpy']['median'])}; with an empty cache (the one-off compile) "
            f"{fmt_time(imp['compile_ce_cold_cache'])}."
        )
    parts += [
        "",
        "## The bandwidth floor",
        "",
        "The floor of a loss at a size is the time NumPy takes, on the same threads and in the same run, to "
        "stream the loss's inputs once and write one fresh array of the gradient's size: `np.negative(x)` "
        "for cross-entropy (read the logits, write the gradient), `np.subtract(x, t)` for the pointwise "
        "losses (read input and target, write the gradient), split over the threads, measured interleaved "
        "with the loss it bounds. A fresh array is part of the floor because every call returns a new "
        "gradient; the kernel's zeroing of fresh pages costs about as much as a write pass. The same "
        "stream into a preallocated array is shown for reference (no loss that returns a new gradient "
        "can reach it).",
        "",
    ]
    floor_rows = []
    for c in _loss_cells(result):
        if "floor" not in c["stats"]:
            continue
        case = c["case"]
        n = cases.size_of(case)
        itemsize = 4 if case["dtype"] == "float32" else 8
        streamed = (2 if case["kind"] == "ce" else 3) * n * itemsize  # reads + one write
        floor_rows.append(
            [
                cases.label(case),
                case["dtype"],
                str(c["threads"]),
                f"{streamed / 1e6:.0f} MB",
                _span(c["stats"], "floor"),
                f"{streamed / c['stats']['floor']['median'] / 1e9:.1f} GB/s",
                _span(c["stats"], "floor_pre"),
                f"{streamed / c['stats']['floor_pre']['median'] / 1e9:.1f} GB/s",
            ]
        )
    parts.append(
        _md_table(
            [
                "floor of",
                "dtype",
                "threads",
                "streamed",
                "fresh output: time",
                "rate",
                "preallocated output: time",
                "rate",
            ],
            floor_rows,
        )
    )
    for threads in sorted({c["threads"] for c in result["cells"]}):
        parts += ["", f"## Losses, {threads} thread(s)", "", _md_table(_headers(libs), _rows(result, threads, libs))]
    mlp = [c for c in result["cells"] if c["case"]["kind"] == "mlp_epoch"]
    if mlp:
        parts += [
            "",
            "## MLP epoch (784-100-10 ReLU, batch 100, SGD lr 0.1, 60,000 samples)",
            "",
            "losslab: `losslab.train.fit` for one epoch, its own timing of the training loop "
            "(`History.epoch_seconds`); PyTorch: the same loop (shuffled index batches, forward, "
            "`zero_grad`, `backward`, `step`). Same initial weights and batch order.",
            "",
            _md_table(
                ["dtype", "threads"]
                + [f"{lib} median [min, max]" for lib in libs]
                + [f"{lib}/torch" for lib in libs if lib != TORCH and TORCH in libs],
                [
                    [c["case"]["dtype"], str(c["threads"])]
                    + [_span(c["stats"], lib) for lib in libs]
                    + [
                        f"{_ratio(c['stats'], lib):.3f}" if _ratio(c["stats"], lib) else "-"
                        for lib in libs
                        if lib != TORCH and TORCH in libs
                    ]
                    for c in mlp
                ],
            ),
        ]
    parts += ["", "## Notes", "", NOTES]
    return "\n".join(parts) + "\n"


NOTES = """\
- What runs: `losslab._fast` fuses the forward and backward of cross-entropy (2-D logits, class
  indices, no weight or label smoothing), MSE, L1, smooth L1, Huber and BCE-with-logits (no weights)
  into one pass that returns the loss and keeps the gradient for `backward`. Other options and losses
  take the reference path. With numba installed (`pip install losslab[fast]`) the kernels are compiled
  on first use and cached on disk; without it the blocked NumPy kernels run. Large calls (about
  200,000 elements for cross-entropy and BCE-with-logits, 800,000 for the others) are split over the threads
  (`LOSSLAB_NUM_THREADS`, default: the usable cores); waking a thread costs about 40 us here.
- Small calls are bounded by Python: PyTorch spends 15-30 us per loss call in its dispatcher and
  autograd; losslab's fused call is a few type checks, two `np.empty` and one compiled call (~3 us).
  The NumPy kernels need 15-20 NumPy calls of about 1 us each, so alone they do not reach 5x at B <= 32.
- Cross-entropy and BCE-with-logits are bounded by their transcendentals, not by memory. numba has no
  SVML here, so `math.exp`/`math.log1p` would be scalar libm calls; the kernels use their own
  vectorisable `exp` (Cody-Waite reduction, a polynomial, the exponent added to the bits; about
  0.15 ns per float32 element in cache, NumPy's SIMD `exp` 0.35 ns), an atanh series for `log1p`,
  and an integer max-reduction over order-preserving bit patterns (numba puts no fast-math flags on
  comparisons). float64 BCE-with-logits on one thread is the tightest: about 1.5 ns per element in
  cache for `exp` plus a 17-term `log1p` series, so it sits near 40% of the floor.
- The floor at 2 threads is noisy: two threads faulting in the pages of one fresh array contend, and
  the same stream measured at different moments of the run varies by up to 2x (memory bandwidth is
  shared with the host's other tenants). Each share compares medians measured interleaved with the
  case itself; shares above 100% mean the loss ran as fast as NumPy streaming the same bytes.
- First use in a later process is bounded by numba itself: importing numba (see `import numba`
  above, which includes Python and NumPy) and rebuilding its typing context cost about 0.25-0.3 s on
  this machine before the cached machine code runs, whatever the kernel. The NumPy kernels have no
  such cost; `LOSSLAB_NUMBA=0` selects them.
- The training epoch is bounded by the two matrix products per layer (OpenBLAS); the fused loss is a
  few microseconds of each step, and the first layer skips its input gradient.
"""


# --------------------------------------------------------------------------- kept sections

KEPT = (
    ("<!-- main-job:start -->", "<!-- main-job:end -->"),  # benchmarks/main_job.py
    ("<!-- compare:start -->", "<!-- compare:end -->"),  # benchmarks/compare.py
    ("<!-- grading:start -->", "<!-- grading:end -->"),  # benchmarks/grading.py
    ("<!-- serve-load:start -->", "<!-- serve-load:end -->"),  # benchmarks/serve_load.py
    ("<!-- linear-ce:start -->", "<!-- linear-ce:end -->"),  # benchmarks/linear_cross_entropy.py
    ("<!-- registry-bench:start -->", "<!-- registry-bench:end -->"),
)  # benchmarks/losses.py


def write_markdown(path, text: str) -> None:
    """Write the report to ``path``, keeping the sections that main_job.py, compare.py, grading.py and
    serve_load.py maintain."""
    from pathlib import Path

    path = Path(path)
    old = path.read_text() if path.exists() else ""
    text = text.rstrip("\n") + "\n"
    for start, end in KEPT:
        if start in old and end in old:
            text += "\n" + old[old.index(start) : old.index(end) + len(end)] + "\n"
    path.write_text(text)


def replace_section(path, start: str, end: str, section: str) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``) in the report at ``path``: in
    place of the old one, or at the end."""
    from pathlib import Path

    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if start in old and end in old:
        new = old[: old.index(start)] + section + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new)
