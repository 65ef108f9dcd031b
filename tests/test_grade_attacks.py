"""The judge against hostile submissions: each attack is graded beside a correct classmate.

Every test here grades a submission written to cheat or to do harm, in the same run
as a correct solution (tests/grade_fixtures/level1_reference.py), and asserts that
the attacker gets no pass it did not earn, that the classmate passes, that no file
outside the sandbox changed (the class folder, losslab's own sources, a canary file)
and that no process of the attack outlives the run. What a submission saw inside
its sandbox comes back through the one channel a failing submission always has:
the message of an exception it raises, which the feedback quotes.

The attacks that need operating-system isolation run where it is available
(``losslab.grade._isolation.status()``); on a machine without it they are skipped
with the reason, and the judge says "isolation: none" (tested below too).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import stat
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from _support import grade_fixture

import losslab
from losslab.cli import main
from losslab.grade import SandboxConfig, _isolation, grade_dir, grade_file
from losslab.grade.sandbox import IsolationUnavailable

FOUND = _isolation.status()
GROUPS = _isolation.cgroups()
needs_isolation = pytest.mark.skipif(not FOUND.isolated, reason=f"no isolation here: {FOUND.detail}")
needs_cgroups = pytest.mark.skipif(GROUPS is None, reason="no cgroups this process may create")
CONFIG = SandboxConfig(timeout=10, isolation="required")
PACKAGE = Path(losslab.__file__).resolve().parent

WRONG = """

class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None

    def forward(self, x, t):
        self.loss = 0.0
        return 0.0


class MeanSquaredError:
    def __init__(self):
        self.loss = None

    def forward(self, y, t):
        self.loss = 0.0
        return 0.0
"""


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc}"


def snapshot(*roots: Path) -> dict:
    """Every file under ``roots``: its path and the hash of its contents."""
    out = {}
    for root in roots:
        if root.is_file():
            out[str(root)] = _digest(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                path = Path(dirpath) / name
                out[str(path)] = _digest(path)
    return out


def survivors(marker: str) -> list[str]:
    """Processes whose command line holds ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline!r}")
    return found


class Class:
    """A class folder with an attacker and a correct classmate, a canary outside it, and the checks
    made after every run."""

    def __init__(self, tmp_path: Path, attack: str, **tokens: str) -> None:
        self.folder = tmp_path / "class"
        self.folder.mkdir()
        outside = tmp_path / "outside"
        outside.mkdir()
        self.canary = outside / "canary.txt"
        self.canary.write_text("the grader's own file\n")
        self.report = outside / "grades.csv"
        self.marker = f"losslab-attack-{uuid.uuid4().hex}"
        self.classmate = self.folder / "classmate.py"
        shutil.copy(grade_fixture("level1_reference.py"), self.classmate)
        values = {
            "MARKER": self.marker,
            "CLASSMATE": str(self.classmate),
            "CANARY": str(self.canary),
            "REPORT": str(self.report),
            "PACKAGE": str(PACKAGE),
            "PYTHON": sys.executable,
            **tokens,
        }
        for key, value in values.items():
            attack = attack.replace(f"@{key}@", value)
        self.attacker = self.folder / "attacker.py"
        self.attacker.write_text(attack)
        self.before = snapshot(self.folder, PACKAGE, self.canary)

    def grade(self, config: SandboxConfig = CONFIG, jobs: int = 2) -> dict:
        reports = grade_dir(self.folder, seed=5, config=config, jobs=jobs)
        return {Path(r.path).name: r for r in reports}

    def check_harmless(self, reports: dict | None = None, wait: float = 0.0) -> None:
        """The classmate passed; nothing outside the sandbox changed; nothing of the attack runs on."""
        if reports is not None:
            assert reports["classmate.py"].passed, reports["classmate.py"]
        if wait:
            time.sleep(wait)
        assert snapshot(self.folder, PACKAGE, self.canary) == self.before
        assert survivors(self.marker) == []


def failure_text(report) -> str:
    if report.problem is not None:
        return report.problem.reason.text("en")
    return " | ".join(c.reason.text("en") for e in report.exercises for c in e.checks if not c.passed)


def revealed(report, tag: str) -> str:
    """What an attack reported from inside its sandbox: the text after ``tag:`` in its exception message."""
    match = re.search(re.escape(tag) + r":(.*)", failure_text(report))
    assert match, failure_text(report)
    return re.sub(r" \(line \d+\)$", "", match.group(1).split(" | ")[0])


# =========================================================================== full marks without solving


def test_the_reference_is_not_importable_inside_the_sandbox(tmp_path):
    """`from losslab.nn import SoftmaxWithLoss` would be the reference solution itself."""
    room = Class(tmp_path, "from losslab.nn import SoftmaxWithLoss, MeanSquaredError\n" + WRONG)
    reports = room.grade(SandboxConfig(timeout=10))  # true in every mode: the runner's path holds NumPy only
    assert not reports["attacker.py"].passed
    assert "no module named 'losslab'" in failure_text(reports["attacker.py"])
    room.check_harmless(reports)


FORGE = """
import json, os, struct, sys

def frame(message):
    data = json.dumps(message).encode()
    return struct.pack(">I", len(data)) + data

answers = int(sys.argv[2])  # the runner's answer channel, from its command line
os.write(answers, frame({"kind": "result", "ok": None}))
for _ in range(300):
    os.write(answers, frame({"kind": "result", "ok": {"ref": 1, "type": "type"}, "after": {}}))
    os.write(answers, frame({"kind": "result", "ok": {"num": 1.0}, "after": {}}))
os._exit(0)
"""


def test_forged_answers_on_the_channel_earn_nothing(tmp_path):
    room = Class(tmp_path, FORGE + WRONG)
    reports = room.grade()
    attacker = reports["attacker.py"]
    assert not attacker.passed
    assert all(
        not c.passed
        for e in attacker.exercises
        for c in e.checks
        if c.target.endswith(".forward") and "platform" in c.case.text("en")
    )
    room.check_harmless(reports)


SEARCH = """
import os, sys
found = [a for a in sys.argv if "seed" in a.lower() or "losslab" in a.lower() or "plan" in a.lower()]
found += [f"{k}={v}" for k, v in os.environ.items() if "losslab" in (k + v).lower()]
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        if "losslab" in cmd.lower() or "seed" in cmd.lower():
            found.append(cmd)
for top in os.listdir("/"):
    if top in ("proc", "sys", "dev"):
        continue
    for dirpath, dirnames, filenames in os.walk("/" + top):
        for name in dirnames + filenames:
            if "losslab" in name.lower() or name in ("plan.json", "results.jsonl"):
                found.append(os.path.join(dirpath, name))
raise RuntimeError("FOUND:" + repr(found[:10]))
"""


@needs_isolation
def test_nothing_of_the_judge_is_readable_inside_the_sandbox(tmp_path):
    """No seed, plan, expected value or losslab file anywhere the submission can look."""
    room = Class(tmp_path, SEARCH + WRONG)
    reports = room.grade(SandboxConfig(timeout=60, isolation="required"))  # it walks the whole file system
    assert revealed(reports["attacker.py"], "FOUND").strip() == "[]"
    room.check_harmless(reports)


PATCH_NUMPY = """
import numpy as np
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
np.array_equal = lambda *a, **k: True
np.abs = lambda x: 0 * x
np.max = lambda *a, **k: 0.0
np.testing.assert_allclose = lambda *a, **k: None
"""


def test_patching_numpy_in_the_submission_fools_no_check(tmp_path):
    room = Class(tmp_path, PATCH_NUMPY + WRONG)
    reports = room.grade(SandboxConfig(timeout=10))  # the comparisons run in the judge's process, in every mode
    attacker = reports["attacker.py"]
    values = [
        c for e in attacker.exercises for c in e.checks if not c.advisory and "self.loss" not in c.case.text("en")
    ]
    assert values and not any(c.passed for c in values)
    room.check_harmless(reports)


# =========================================================================== harm to others

HARM = """
import os
for target in ("@CLASSMATE@", "@CANARY@"):
    try:
        with open(target, "w") as fh:
            fh.write("broken")
    except OSError:
        pass
    try:
        os.remove(target)
    except OSError:
        pass
for dirpath, dirnames, filenames in os.walk("@PACKAGE@"):
    for name in filenames:
        try:
            with open(os.path.join(dirpath, name), "a") as fh:
                fh.write("\\n# tampered\\n")
        except OSError:
            pass
"""


@needs_isolation
def test_classmates_files_and_the_judges_sources_are_out_of_reach(tmp_path):
    room = Class(tmp_path, HARM + WRONG)
    reports = room.grade()
    room.check_harmless(reports)


DAEMON = """
import os, subprocess, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        subprocess.Popen([sys.executable, "-c", "import time\\nfor _ in range(60):\\n    time.sleep(0.1)\\n"
                          "    try:\\n        open('@REPORT@', 'w').write('forged')\\n"
                          "    except OSError:\\n        pass\\n",
                          "@MARKER@"], start_new_session=True)
        os._exit(0)
    os._exit(0)
import time
time.sleep(0.5)
"""


@needs_isolation
def test_a_daemon_dies_with_the_run_and_cannot_rewrite_the_report(tmp_path, capsys):
    room = Class(tmp_path, DAEMON + WRONG)
    assert (
        main(
            [
                "grade",
                str(room.folder),
                "--seed",
                "5",
                "--report",
                str(room.report),
                "--isolation",
                "required",
                "--timeout",
                "10",
            ]
        )
        == 1
    )
    written = room.report.read_text(encoding="utf-8")
    room.check_harmless(wait=1.5)
    assert room.report.read_text(encoding="utf-8") == written
    assert "classmate.py" in written and "PASS" in written.split("classmate.py")[1].splitlines()[0]


SCRIBBLE = """
import glob, os
for path in glob.glob("/tmp/**", recursive=True) + glob.glob("@HOSTTMP@/losslab-*"):
    try:
        with open(path, "w") as fh:
            fh.write("garbage")
    except OSError:
        pass
import time
time.sleep(0.3)
"""


@needs_isolation
def test_concurrent_runs_cannot_touch_each_others_files(tmp_path):
    """Two grading runs at once: one grades the attacker, the other a correct file; the correct one passes."""
    room = Class(tmp_path, SCRIBBLE.replace("@HOSTTMP@", os.path.realpath(os.environ.get("TMPDIR", "/tmp"))) + WRONG)
    solo = tmp_path / "solo"
    solo.mkdir()
    shutil.copy(grade_fixture("level1_reference.py"), solo / "correct.py")
    results = {}

    def run(name, folder):
        results[name] = grade_dir(folder, seed=5, config=CONFIG, jobs=2)

    threads = [
        threading.Thread(target=run, args=("class", room.folder)),
        threading.Thread(target=run, args=("solo", solo)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.passed for r in results["solo"]] == [True]
    room.check_harmless({Path(r.path).name: r for r in results["class"]})


NETWORK = """
import socket
reached = []
for port in (@PORT@,):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(b"stolen answers")
        reached.append(port)
    except OSError as exc:
        pass
raise RuntimeError("REACHED:" + repr(reached))
"""


@needs_isolation
def test_no_network(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    room = Class(tmp_path, NETWORK + WRONG, PORT=str(server.getsockname()[1]))
    reports = room.grade()
    try:
        conn, _ = server.accept()
        conn.close()
        accepted = True
    except OSError:
        accepted = False
    finally:
        server.close()
    assert not accepted
    assert revealed(reports["attacker.py"], "REACHED").strip() == "[]"
    room.check_harmless(reports)


FILL = """
import os
total = 0
for k, folder in enumerate(("/tmp", "/dev/shm", "/dev", "/", "/var/tmp", "/sandbox", os.path.expanduser("~"))):
    for i in range(8):
        try:
            with open(os.path.join(folder, "fill-@MARKER@-%d-%d" % (k, i)), "wb") as fh:
                for _ in range(16):
                    fh.write(b"x" * (1 << 20))
                    total += 1
        except OSError:
            break
raise RuntimeError("WROTE:%d" % total)
"""


@needs_isolation
def test_writes_outside_a_small_private_tmp_fail(tmp_path):
    room = Class(tmp_path, FILL + WRONG)
    reports = room.grade()
    assert int(revealed(reports["attacker.py"], "WROTE")) <= _isolation.TMPFS_BYTES >> 20
    for folder in ("/tmp", "/dev/shm", "/", "/var/tmp", os.path.expanduser("~")):
        assert not [n for n in os.listdir(folder) if room.marker in n], folder
    room.check_harmless(reports)


# =========================================================================== limits that hold

RAISE = """
import resource
seen = []
for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC"):
    limit = getattr(resource, name)
    try:
        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        seen.append(name + "=raised")
    except (ValueError, OSError):
        seen.append(name + "=refused")
raise RuntimeError("LIMITS:" + ",".join(seen))
"""


@needs_isolation
def test_resource_limits_cannot_be_raised(tmp_path):
    room = Class(tmp_path, RAISE + WRONG)
    reports = room.grade()
    seen = revealed(reports["attacker.py"], "LIMITS").split(",")
    assert seen and all(s.endswith("=refused") for s in seen), seen
    room.check_harmless(reports)


CHILDREN = """
import os, time
import numpy as np
r, w = os.pipe()
for _ in range(3):
    if os.fork() == 0:
        try:
            block = np.ones(800 << 17)  # 800 MiB, each page touched
            os.write(w, b"1")
            time.sleep(2)
        finally:
            os._exit(0)
os.close(w)
done = b""
deadline = time.time() + 6
while time.time() < deadline:
    chunk = os.read(r, 3)
    if not chunk:
        break
    done += chunk
raise RuntimeError("CHILDREN:%d" % len(done))
"""


@needs_isolation
@needs_cgroups
def test_memory_is_counted_across_children(tmp_path):
    """Three children of 800 MiB each (each within its own address-space limit) under a 1024 MiB limit:
    never all three at once."""
    room = Class(tmp_path, CHILDREN + WRONG)
    reports = room.grade(SandboxConfig(timeout=15, memory_mb=1024, isolation="required"), jobs=1)
    text = failure_text(reports["attacker.py"])
    assert "ran out of memory" in text or int(revealed(reports["attacker.py"], "CHILDREN")) < 3, text
    room.check_harmless(reports)


MEMFD = """
import os
total = 0
try:
    for i in range(60):
        fd = os.memfd_create("m%d" % i)
        for _ in range(16):
            os.write(fd, b"x" * (1 << 20))
            total += 1
except OSError:
    pass
raise RuntimeError("MEMFD:%d" % total)
"""


@needs_isolation
@needs_cgroups
def test_memfd_memory_counts(tmp_path):
    room = Class(tmp_path, MEMFD + WRONG)
    reports = room.grade(SandboxConfig(timeout=15, memory_mb=512, isolation="required"), jobs=1)
    text = failure_text(reports["attacker.py"])
    assert "ran out of memory" in text or int(revealed(reports["attacker.py"], "MEMFD")) < 512, text
    room.check_harmless(reports)


FORK_BOMB = """
import os, time
n = 0
try:
    for _ in range(400):
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        n += 1
except OSError:
    pass
raise RuntimeError("FORKED:%d" % n)
"""


@needs_isolation
@pytest.mark.skipif(
    GROUPS is None and os.geteuid() == 0,
    reason="as root, only a cgroup can count processes (RLIMIT_NPROC does not bind root)",
)
def test_process_count_is_limited(tmp_path):
    room = Class(tmp_path, FORK_BOMB + WRONG)
    reports = room.grade()
    assert int(revealed(reports["attacker.py"], "FORKED")) < _isolation.PROCESSES
    room.check_harmless(reports)


# =========================================================================== the judge never dies or hangs


def test_special_and_vanishing_files_fail_alone(tmp_path):
    """A FIFO, a link to /dev/zero, a folder named .py, a huge file, a non-.py file: each gets its own row."""
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(grade_fixture("level1_reference.py"), folder / "classmate.py")
    os.mkfifo(folder / "fifo.py")
    os.symlink("/dev/zero", folder / "zero.py")
    (folder / "folder.py").mkdir()
    (folder / "huge.py").write_bytes(b"#" * (2 << 20))
    (folder / "notes.txt").write_text("not a submission")
    reports = {Path(r.path).name: r for r in grade_dir(folder, seed=5, config=SandboxConfig(timeout=10))}
    assert reports["classmate.py"].passed
    assert "a FIFO" in failure_text(reports["fifo.py"])
    assert "a device" in failure_text(reports["zero.py"])
    assert "larger than" in failure_text(reports["huge.py"])
    assert reports["folder.py"].skipped is not None and reports["notes.txt"].skipped is not None
    assert set(reports) == {"classmate.py", "fifo.py", "zero.py", "folder.py", "huge.py", "notes.txt"}


def test_files_the_parser_cannot_build_fail_alone_as_not_compiling(tmp_path):
    """Nesting past the parser's recursion limit, side by side with classmates graded in parallel threads
    (whose parses must not disturb one another): the file does not compile, nothing else changes."""
    folder = tmp_path / "class"
    folder.mkdir()
    for i in range(6):
        shutil.copy(grade_fixture("level1_reference.py"), folder / f"classmate{i}.py")
    (folder / "deep.py").write_text("x = 1" + "+0" * 200_000 + "\n")
    (folder / "parens.py").write_text("x = " + "(" * 5000 + ")" * 5000 + "\n")
    reports = {Path(r.path).name: r for r in grade_dir(folder, seed=5, config=SandboxConfig(timeout=10), jobs=4)}
    assert all(reports[f"classmate{i}.py"].passed for i in range(6))
    assert "does not compile: too deeply nested" in failure_text(reports["deep.py"])
    assert "does not compile" in failure_text(reports["parens.py"])


def test_a_file_deleted_during_the_run_is_graded_as_read(tmp_path):
    """Files are read before anything runs: deleting one (or all) later changes no verdict."""
    room = Class(tmp_path, "import os\ntry:\n    os.remove('@CLASSMATE@')\nexcept OSError:\n    pass\n" + WRONG)
    reports = room.grade(SandboxConfig(timeout=10), jobs=1)  # without isolation too: the bytes were read first
    assert reports["classmate.py"].passed and not reports["attacker.py"].passed
    if not room.classmate.exists():
        shutil.copy(grade_fixture("level1_reference.py"), room.classmate)
    room.check_harmless()


GARBAGE = {
    "oversized": "import os, sys\nos.write(int(sys.argv[2]), b'\\xff\\xff\\xff\\xff' + b'x' * 64)\n",
    "not_json": "import os, sys, struct\nos.write(int(sys.argv[2]), struct.pack('>I', 5) + b'{{{{{')\n",
    "wrong_shape": (
        "import json, os, struct, sys\nd = json.dumps({'kind': 'result', 'ok': {'nd': 'AAAA', 'dtype': "
        "'<f8', 'shape': [1000, 1000]}}).encode()\n"
        "os.write(int(sys.argv[2]), struct.pack('>I', len(d)) + d)\n"
    ),
    "object_array": (
        "import json, os, struct, sys\nd = json.dumps({'kind': 'result', 'ok': {'nd': 'AAAA', 'dtype': "
        "'|O', 'shape': [1]}}).encode()\nos.write(int(sys.argv[2]), struct.pack('>I', len(d)) + d)\n"
    ),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_malformed_answers_fail_that_file_only(tmp_path, kind, capsys):
    room = Class(tmp_path, GARBAGE[kind] + WRONG)
    assert main(["grade", str(room.folder), "--seed", "5", "--timeout", "10", "--json"]) == 1  # not 2
    reports = room.grade(SandboxConfig(timeout=10))
    assert not reports["attacker.py"].passed
    room.check_harmless(reports)


def test_broken_return_values_are_reasons_not_crashes(tmp_path):
    source = """
import numpy as np

class Weird(np.ndarray):
    def __array_finalize__(self, obj):
        raise RuntimeError("no copies")

class Loop(list):
    pass

class SoftmaxWithLoss:
    def forward(self, x, t):
        out = Loop()
        out.append(out)
        return out

class MeanSquaredError:
    def forward(self, y, t):
        return np.zeros(3).view(Weird) if False else (x for x in [])
"""
    room = Class(tmp_path, source)
    reports = room.grade(SandboxConfig(timeout=10))
    assert not reports["attacker.py"].passed
    text = failure_text(reports["attacker.py"])
    assert "not a number or a NumPy array" in text
    room.check_harmless(reports)


def test_terminal_control_sequences_are_escaped(tmp_path, capsys):
    room = Class(tmp_path, 'raise RuntimeError("\\x1b[2J\\x1b[1;32mPASS  every check\\x07" + "A" * 5000)\n' + WRONG)
    (room.folder / "evil\x1b[31m.py").write_text("\x1b]0;owned\x07 = 1\n")
    assert main(["grade", str(room.folder), "--seed", "5", "--timeout", "10"]) == 1
    out = capsys.readouterr()
    assert "\x1b" not in out.out and "\x07" not in out.out and "\x1b" not in out.err
    assert "\\x1b[2J" in out.out
    assert max(len(line) for line in out.out.splitlines()) < 1000


# =========================================================================== the mode is always said


def test_every_run_says_its_isolation(tmp_path, capsys):
    shutil.copy(grade_fixture("level1_reference.py"), tmp_path / "mine.py")
    assert main(["grade", str(tmp_path / "mine.py"), "--seed", "1", "--json"]) == 0
    out = capsys.readouterr()
    assert out.err.startswith("isolation: ")
    import json

    data = json.loads(out.out)
    assert data["isolation"] == FOUND.describe()
    assert (
        main(["grade", str(tmp_path), "--seed", "1", "--isolation", "none", "--report", str(tmp_path / "r.csv")]) == 0
    )
    out = capsys.readouterr()
    assert out.err.startswith("isolation: none (run only trusted files)")
    assert "none (run only trusted files)" in (tmp_path / "r.csv").read_text(encoding="utf-8")


def test_required_isolation_refuses_where_there_is_none(tmp_path, capsys, monkeypatch):
    shutil.copy(grade_fixture("level1_reference.py"), tmp_path / "mine.py")
    monkeypatch.setattr(_isolation, "_found", _isolation.Isolation("none", "bwrap not found (for this test)"))
    with pytest.raises(IsolationUnavailable, match="bwrap not found"):
        grade_file(tmp_path / "mine.py", config=SandboxConfig(isolation="required"))
    assert main(["grade", str(tmp_path / "mine.py"), "--isolation", "required"]) == 2
    err = capsys.readouterr().err
    assert "isolation is required but not available here" in err and "Traceback" not in err
    report = grade_file(tmp_path / "mine.py", seed=1, config=SandboxConfig(timeout=10))
    assert report.passed and report.isolation.startswith("none (run only trusted files)")


# =========================================================================== as an unprivileged user


def _nobody_python() -> str | None:
    """A Python with NumPy that the user nobody can run, and the system's bwrap, or None."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or not python or not shutil.which("setpriv") or not os.path.exists("/usr/bin/bwrap"):
        return None
    import subprocess

    src = str(PACKAGE.parent)
    probe = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            python,
            "-c",
            f"import sys; sys.path.insert(0, {src!r}); import numpy, losslab.grade",
        ],
        capture_output=True,
        timeout=60,
    )
    return python if probe.returncode == 0 else None


NOBODY = _nobody_python() if sys.platform.startswith("linux") else None


@pytest.mark.skipif(
    NOBODY is None,
    reason="needs root, setpriv, /usr/bin/bwrap and a system Python with NumPy that the user nobody can run",
)
def test_isolation_as_an_unprivileged_user():
    """The same judge run as nobody: bubblewrap in an unprivileged user namespace, where the kernel allows."""
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="losslab-nobody-"))  # pytest's own tmp_path is private to root
    try:
        _run_as_nobody(shared)
    finally:
        shutil.rmtree(shared)


def _run_as_nobody(tmp_path: Path) -> None:
    import subprocess

    room = Class(tmp_path, SEARCH + WRONG)
    for path in (tmp_path, room.folder, room.attacker, room.classmate):
        os.chmod(path, os.stat(path).st_mode | stat.S_IROTH | stat.S_IXOTH)
    src = str(PACKAGE.parent)
    done = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            NOBODY,
            "-c",
            f"import sys; sys.path.insert(0, {src!r}); from losslab.cli import main; sys.exit(main(sys.argv[1:]))",
            "grade",
            str(room.folder),
            "--seed",
            "5",
            "--isolation",
            "required",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert done.returncode == 1, done.stderr
    import json

    assert done.stdout, done.stderr
    reports = {Path(r["file"]).name: r for r in json.loads(done.stdout)}
    assert reports["classmate.py"]["passed"] and not reports["attacker.py"]["passed"]
    assert "FOUND:[]" in reports["attacker.py"]["problem"]["reason"]
    assert done.stderr.startswith("isolation: bubblewrap")
    room.check_harmless()
