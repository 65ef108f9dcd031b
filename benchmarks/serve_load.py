"""Load on `losslab serve`: 50 learners at once submit 200 solutions (correct, wrong, hanging, hostile), with a
server restart in the middle; every submission must be graded exactly once and none lost.

    .venv/bin/python benchmarks/serve_load.py --markdown BENCHMARKS.md

A class of `--learners` students is created in a fresh SQLite database and `losslab serve` is started as a real
process (`--graders` grader processes, the sandbox's 5 s time limit). Each learner is a thread with its own
HTTP client: it signs in, then submits its share of the `--submissions` one after another, each time polling
the API until the verdict is there. When half the submissions are in, the server is stopped (SIGINT, as Ctrl-C:
graders still grading are terminated and leave their submission `running`) and started again on the same
database; learners whose requests fail meanwhile retry. At the end the database is checked: every submission
accepted is `done`, with one stored report, and the verdicts are those expected of its kind.

Time to feedback is the database's `finished - created` of each submission (what a learner polling every second
sees, within a second). Throughput is submissions graded per minute of wall time, from the first submission to
the last verdict, restart included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2
from _report import replace_section

from losslab.grade import catalog
from losslab.serve.cli import add_students, create_class
from losslab.serve.db import Submission, engine_for

START, END = "<!-- serve-load:start -->", "<!-- serve-load:end -->"
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "grade_fixtures"
LEVEL1 = (catalog.get("loss-forward").folder / "solution.py").read_text(encoding="utf-8")

HOSTILE = [  # each runs before the learner's classes are defined, inside the sandbox
    "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",  # fork bomb
    "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n",  # network
    "import os\nfor root, _, files in os.walk('/'):\n    for f in files:\n        try:\n"
    "            open(os.path.join(root, f), 'a').write('x')\n        except OSError:\n            pass\n",  # vandal
    "blob = bytearray(4 << 30)\n",  # memory
    "open('/tmp/fill', 'wb').write(b'0' * (512 << 20))\n",  # disk
]


def workload(n: int) -> list[tuple[str, str, str]]:
    """``n`` submissions (kind, exercise, source): half correct, a quarter wrong, an eighth hanging, an eighth
    hostile, interleaved."""
    correct = [(e.name, (Path(str(e.folder)) / "solution.py").read_text(encoding="utf-8")) for e in catalog.EXERCISES]
    wrong = [
        ("loss-forward" if p.name.startswith("level1") else "loss-backward", p.read_text(encoding="utf-8"))
        for p in sorted(FIXTURES.glob("level*.py"))
    ]
    hang = ("loss-forward", (FIXTURES / "hang_forward.py").read_text(encoding="utf-8"))
    hostile = [("loss-forward", code + LEVEL1) for code in HOSTILE]
    out = []
    for i in range(n):
        slot = i % 8
        if slot < 4:
            out.append(("correct", *correct[i % len(correct)]))
        elif slot < 6:
            out.append(("wrong", *wrong[i % len(wrong)]))
        elif slot == 6:
            out.append(("hanging", *hang))
        else:
            out.append(("hostile", *hostile[i % len(hostile)]))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: str, port: int, graders: int) -> None:
        self.db, self.port, self.graders = db, port, graders
        self.proc: subprocess.Popen | None = None
        self.log: list[str] = []

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "losslab",
                "serve",
                "--db",
                self.db,
                "--port",
                str(self.port),
                "--graders",
                str(self.graders),
                "--rate",
                "1000",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        self.log.append(out)


def learner(base: str, login: str, code: str, jobs: list, results: list, accepted: threading.Semaphore) -> None:
    client = httpx2.Client(base_url=base, timeout=30)

    def call(method: str, path: str, **kw):
        while True:  # the server may be restarting: retry until it answers
            try:
                r = client.request(method, path, **kw)
                if r.status_code < 500:
                    return r
            except httpx2.HTTPError:
                pass
            time.sleep(0.5)

    assert call("POST", "/api/login", json={"student_id": login, "code": code}).status_code == 200
    for kind, exercise, source in jobs:
        r = call("POST", "/api/submissions", json={"exercise": exercise, "source": source})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        accepted.release()
        while (data := call("GET", f"/api/submissions/{sid}").json())["status"] != "done":
            time.sleep(1.0)
        results.append((sid, kind, data["passed_all"]))
    client.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=50)
    ap.add_argument("--submissions", type=int, default=200)
    ap.add_argument("--graders", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--markdown", help="update the serve-load section of this report (e.g. BENCHMARKS.md)")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "class.db")
        create_class(db, "load")
        roster = Path(tmp) / "roster.csv"
        roster.write_text("student_id\n" + "".join(f"s{i:03d}\n" for i in range(args.learners)), encoding="utf-8")
        codes = add_students(db, "load", str(roster))
        work = workload(args.submissions)
        shares = [work[i :: args.learners] for i in range(args.learners)]
        server = Server(db, free_port(), args.graders)
        server.start()
        base = f"http://127.0.0.1:{server.port}"
        results: list = []
        accepted = threading.Semaphore(0)
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=learner, args=(base, login, code, share, results, accepted))
            for (login, code), share in zip(codes, shares, strict=True)
        ]
        for t in threads:
            t.start()
        for _ in range(args.submissions // 2):
            accepted.acquire()
        restart_at = time.monotonic() - t0
        server.stop()
        engine = engine_for(db)
        with engine.connect() as conn:
            left = conn.execute(
                Submission.__table__.select().where(Submission.status.in_(("queued", "running")))
            ).fetchall()
        left_running = sum(r.status == "running" for r in left)
        time.sleep(1.0)
        server.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        server.stop()
        with engine.connect() as conn:
            rows = conn.execute(Submission.__table__.select()).fetchall()
        load_after = os.getloadavg()
    kinds = {sid: (kind, passed) for sid, kind, passed in results}
    assert len(rows) == args.submissions == len(kinds), (len(rows), len(kinds))
    assert all(r.status == "done" and r.report is not None for r in rows), "a submission was not graded"
    expected = {"correct": True, "wrong": False, "hanging": False, "hostile": None}
    for sid, (kind, passed) in kinds.items():
        assert expected[kind] is None or passed is expected[kind], (sid, kind, passed)
    hostile_passed = sum(passed for kind, passed in kinds.values() if kind == "hostile")
    feedback = sorted((r.finished - r.created).total_seconds() for r in rows)
    p95 = feedback[int(round(0.95 * (len(feedback) - 1)))]
    per_kind = {
        k: statistics.median((r.finished - r.created).total_seconds() for r in rows if kinds[r.id][0] == k)
        for k in expected
    }
    grading = statistics.median((r.finished - r.started).total_seconds() for r in rows)
    reclaimed = sum(r.attempts > 1 for r in rows)
    rate = len(rows) / wall * 60
    lines = [
        f"{len(rows)} submissions from {args.learners} learners, {args.graders} grader processes: "
        f"{rate:.0f} submissions a minute over {wall:.0f} s (restart included)",
        f"time to feedback: median {statistics.median(feedback):.1f} s, p95 {p95:.1f} s, max {feedback[-1]:.1f} s",
        "median by kind: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in per_kind.items())
        + f"; of which grading itself (claimed to stored): median {grading:.1f} s, the rest waiting in the queue",
        f"restart after {restart_at:.0f} s with {len(left)} waiting ({left_running} running, claimed again: "
        f"{reclaimed}); all {len(rows)} done, each with one report; hostile submissions that passed: "
        f"{hostile_passed} of {sum(k == 'hostile' for k, _ in kinds.values())}",
        f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}",
    ]
    print("\n".join(lines))
    if args.markdown:
        busy = max(load_before[0], load_after[0]) > (os.cpu_count() or 1)
        section = "\n".join(
            [
                START,
                "## losslab serve under load",
                "",
                f"{args.learners} learners at once, each a thread with its own HTTP client, submit {args.submissions} "
                "solutions over the JSON API to a real `losslab serve` process (SQLite, "
                f"{args.graders} grader processes, bubblewrap isolation, 5 s limit): half correct, a quarter wrong "
                "(named mistakes), an eighth hanging (an infinite loop, graded at the time limit), an eighth hostile "
                "(a fork bomb, a network call, a file vandal, a 4 GiB allocation, a disk filler). When half are in, "
                "the server is stopped with SIGINT and started again; learners retry meanwhile. Time to feedback is "
                "`finished - created` in the database.",
                "",
                "- Command: `.venv/bin/python benchmarks/serve_load.py --markdown BENCHMARKS.md`",
                f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; machine: "
                f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
                f"- Load average (1 min): {load_before[0]:.2f} before, {load_after[0]:.2f} after"
                + (
                    " (the machine was shared with other work during the run: the numbers are pessimistic)"
                    if busy
                    else ""
                ),
                *(f"- {line[0].upper() + line[1:]}" for line in lines[:4]),
                f"- Throughput: **{rate:.0f} submissions a minute**; time to feedback p95: **{p95:.1f} s**",
                END,
            ]
        )
        replace_section(args.markdown, START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
