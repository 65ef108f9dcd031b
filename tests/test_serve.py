"""losslab serve: the JSON API, the pages, the queue and the commands, driven in-process (Starlette's TestClient),
and once against a real server process with a real grader process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="losslab serve needs the serve extra")
pytest.importorskip("sqlalchemy", reason="losslab serve needs the serve extra")
from starlette.testclient import TestClient

from losslab.cli import main
from losslab.grade.sandbox import SandboxConfig
from losslab.serve import queue
from losslab.serve.app import Limits, create_app
from losslab.serve.cli import add_students, create_class
from losslab.serve.db import Submission, engine_for
from losslab.serve.graders import GraderSettings, grade_one, store

EXERCISES = Path(__file__).resolve().parents[1] / "src" / "losslab" / "grade" / "exercises"
SOLUTION = (EXERCISES / "loss-forward" / "solution.py").read_text(encoding="utf-8")
WRONG = SOLUTION.replace("0.5 * ", "")  # the classic slip: the 0.5 of MSE dropped
assert WRONG != SOLUTION


@pytest.fixture
def klass(tmp_path):
    """A class with a teacher and two students, in a SQLite file: (db, {login: code})."""
    db = str(tmp_path / "class.db")
    teacher, tcode = create_class(db, "ml101")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nalice,Alice Liddell\nbob,Bob Marley\n", encoding="utf-8")
    codes = dict(add_students(db, "ml101", str(roster)))
    codes[teacher] = tcode
    return db, codes


def client_for(db: str, **limits) -> TestClient:
    return TestClient(
        create_app(db, limits=Limits(**{"max_code": 20_000, "rate": 5, **limits})), raise_server_exceptions=False
    )


def signed_in(db: str, login: str, code: str, **limits) -> TestClient:
    client = client_for(db, **limits)
    r = client.post("/api/login", json={"student_id": login, "code": code})
    assert r.status_code == 200, r.text
    return client


def grade_queued(db: str) -> int:
    """Grade every queued submission as a grader process does (claim, grade in the sandbox, store)."""
    engine = engine_for(db)
    settings = GraderSettings(db=db, config=SandboxConfig(timeout=20))
    n = 0
    while (row := queue.claim(engine, "test-grader")) is not None:
        assert store(engine, row.id, "test-grader", grade_one(row.id, row.exercise, row.source, settings))
        n += 1
    engine.dispose()
    return n


# ---------------------------------------------------------------------------------------------- sign-in
def test_login_gives_role_and_class(klass):
    db, codes = klass
    client = client_for(db)
    r = client.post("/api/login", json={"student_id": "alice", "code": codes["alice"]})
    assert r.status_code == 200 and r.json() == {"student_id": "alice", "role": "student", "class": "ml101"}
    assert "losslab_session" in r.cookies and codes["alice"] not in r.headers["set-cookie"]
    r = client.post("/api/login", json={"student_id": "teacher@ml101", "code": codes["teacher@ml101"]})
    assert r.json()["role"] == "teacher"


@pytest.mark.parametrize(
    "payload",
    [{"student_id": "alice", "code": "aaaa-bbbb-cccc-dddd"}, {"student_id": "mallory", "code": "aaaa-bbbb-cccc-dddd"}],
)
def test_login_refused_with_401(klass, payload):
    db, _ = klass
    r = client_for(db).post("/api/login", json=payload)
    assert r.status_code == 401 and r.json()["error"] == "unknown student id or wrong sign-in code"


def test_codes_are_stored_hashed(klass):
    db, codes = klass
    with open(db, "rb") as fh:
        raw = fh.read()
    for path in (db + "-wal",):
        if os.path.exists(path):
            raw += open(path, "rb").read()
    assert all(code.encode() not in raw for code in codes.values())
    assert b"$argon2id$" in raw


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"student_id": "alice"}, 422, "'code' must be a non-empty string, got nothing"),
        ({"student_id": 7, "code": "x"}, 422, "'student_id' must be a non-empty string, got a int"),
        ([1, 2], 422, "the body must be a JSON object, got list"),
    ],
)
def test_login_bad_body_is_422(klass, body, status, words):
    db, _ = klass
    r = client_for(db).post("/api/login", json=body)
    assert r.status_code == status and r.json()["error"] == words


def test_failed_sign_ins_from_one_address_are_429(klass):
    db, codes = klass
    app = create_app(db, limits=Limits(sign_ins=3, window=1.0))
    mallory = TestClient(app, raise_server_exceptions=False, client=("203.0.113.7", 4000))
    for guess in ("aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh", "iiii-jjjj-kkkk-llll"):
        assert mallory.post("/api/login", json={"student_id": "alice", "code": guess}).status_code == 401
    r = mallory.post("/api/login", json={"student_id": "alice", "code": codes["alice"]})  # even the right code
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "at most 3 every 1 seconds" in r.json()["error"]
    page = mallory.get("/login")  # the sign-in page says so too
    r = mallory.post("/login", data={"student_id": "alice", "code": codes["alice"], "csrf": csrf_of(page.text)})
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and "too many failed sign-ins" in r.text
    alice = TestClient(app, raise_server_exceptions=False, client=("198.51.100.2", 4000))  # another address
    assert alice.post("/api/login", json={"student_id": "alice", "code": codes["alice"]}).status_code == 200
    time.sleep(1.1)  # the window has passed
    assert mallory.post("/api/login", json={"student_id": "alice", "code": codes["alice"]}).status_code == 200


def test_successful_sign_ins_are_not_counted(klass):
    db, codes = klass
    client = client_for(db, sign_ins=2)
    for _ in range(4):
        assert client.post("/api/login", json={"student_id": "bob", "code": codes["bob"]}).status_code == 200
    assert client.post("/api/login", json={"student_id": "bob", "code": "x"}).status_code == 401


def test_sign_in_codes_are_checked_a_few_at_a_time(klass, monkeypatch):
    import asyncio
    import threading

    import httpx2

    from losslab.serve import app as app_module

    db, codes = klass
    inside, most, lock = 0, 0, threading.Lock()
    verify = app_module.verify_code

    def slow_verify(code_hash, code):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.2)  # long enough for every admitted check to be inside at once
        with lock:
            inside -= 1
        return verify(code_hash, code)

    monkeypatch.setattr(app_module, "verify_code", slow_verify)
    app = create_app(db, limits=Limits(sign_ins=100))

    async def flood():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://judge") as client:
            login = {"student_id": "alice", "code": "wrong"}
            return await asyncio.gather(*(client.post("/api/login", json=login) for _ in range(16)))

    answers = asyncio.run(flood())
    assert [r.status_code for r in answers] == [401] * 16
    assert most == app_module.VERIFY_AT_ONCE


def test_api_writes_need_json(klass):
    db, codes = klass
    client = client_for(db)
    r = client.post("/api/login", data={"student_id": "alice", "code": codes["alice"]})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    r = client.post("/api/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "the body is not valid JSON"


# ---------------------------------------------------------------------------------------------- exercises
def test_exercises_need_sign_in_then_list_the_catalog(klass):
    db, codes = klass
    assert client_for(db).get("/api/exercises").status_code == 401
    items = signed_in(db, "alice", codes["alice"]).get("/api/exercises").json()
    names = [e["name"] for e in items]
    assert "loss-forward" in names and "numerical-gradient" in names
    assert all(e["max_points"] > 0 and e["best"] is None for e in items)
    zh = signed_in(db, "alice", codes["alice"]).get("/api/exercises?lang=zh").json()
    assert any("损失" in e["title"] for e in zh)


# ---------------------------------------------------------------------------------------------- submissions
def test_submission_queued_then_graded(klass):
    db, codes = klass
    alice = signed_in(db, "alice", codes["alice"])
    r = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": SOLUTION})
    assert r.status_code == 201
    sid = r.json()["id"]
    assert alice.get(f"/api/submissions/{sid}").json()["status"] == "queued"
    wrong = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": WRONG}).json()["id"]
    assert grade_queued(db) == 2
    good = alice.get(f"/api/submissions/{sid}").json()
    assert good["status"] == "done" and good["passed"] == good["total"] == len(good["checks"]) > 0
    assert good["score"] == good["max_score"] and good["passed_all"] is True
    bad = alice.get(f"/api/submissions/{wrong}").json()
    assert bad["status"] == "done" and bad["passed"] < bad["total"]
    failed = [c for c in bad["checks"] if not c["passed"]]
    assert failed[0]["target"] == "MeanSquaredError.forward"
    assert "dropped the 0.5" in failed[0]["mistake_text"] and "expected" in failed[0]["reason"]
    assert [s["id"] for s in alice.get("/api/submissions").json()] == [wrong, sid]
    assert alice.get("/api/exercises").json()[0]["best"] == good["score"]
    zh = alice.get(f"/api/submissions/{wrong}?lang=zh").json()
    assert any(
        "0.5" in (c["mistake_text"] or "") and c["mistake_text"] != failed[0]["mistake_text"] for c in zh["checks"]
    )


def test_submission_needs_sign_in(klass):
    db, _ = klass
    client = client_for(db)
    assert client.post("/api/submissions", json={"exercise": "loss-forward", "source": "x"}).status_code == 401
    assert client.get("/api/submissions/1").status_code == 401
    assert client.get("/api/submissions").status_code == 401


@pytest.mark.parametrize(
    "body,words",
    [
        ({"exercise": "no-such", "source": "x = 1"}, "unknown exercise 'no-such': one of"),
        ({"source": "x = 1"}, "'exercise' must be a non-empty string, got nothing"),
        ({"exercise": "loss-forward"}, "'source' must be a non-empty string, got nothing"),
        ({"exercise": "loss-forward", "source": ["x"]}, "'source' must be a non-empty string, got a list"),
    ],
)
def test_bad_submission_is_422(klass, body, words):
    db, codes = klass
    r = signed_in(db, "alice", codes["alice"]).post("/api/submissions", json=body)
    assert r.status_code == 422 and r.json()["error"].startswith(words)


def test_code_over_the_size_limit_is_413(klass):
    db, codes = klass
    alice = signed_in(db, "alice", codes["alice"], max_code=1000)
    r = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": "#" * 1001})
    assert r.status_code == 413 and r.json()["error"] == "the code is too long: 1001 bytes, at most 1000"
    r = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": "#" * 100_000})
    assert r.status_code == 413  # refused from its Content-Length, before the body is read
    assert alice.post("/api/submissions", json={"exercise": "loss-forward", "source": "#" * 1000}).status_code == 201


def test_rate_limit_per_learner_is_429(klass):
    db, codes = klass
    alice = signed_in(db, "alice", codes["alice"], rate=3)
    for _ in range(3):
        assert alice.post("/api/submissions", json={"exercise": "loss-forward", "source": "x = 1"}).status_code == 201
    r = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": "x = 1"})
    assert r.status_code == 429 and r.headers["retry-after"] == "60" and "at most 3 every 60" in r.json()["error"]
    bob = signed_in(db, "bob", codes["bob"], rate=3)  # another learner is not held back
    assert bob.post("/api/submissions", json={"exercise": "loss-forward", "source": "x = 1"}).status_code == 201


def test_learner_sees_only_own_submissions(klass):
    db, codes = klass
    alice = signed_in(db, "alice", codes["alice"])
    sid = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": SOLUTION}).json()["id"]
    bob = signed_in(db, "bob", codes["bob"])
    for path in (f"/api/submissions/{sid}", f"/submissions/{sid}"):
        r = bob.get(path)
        assert r.status_code == 404 and SOLUTION[:40] not in r.text
    assert bob.get("/api/submissions").json() == []
    assert bob.get("/api/submissions/999").status_code == 404
    assert bob.get("/api/submissions/abc").status_code == 404
    teacher = signed_in(db, "teacher@ml101", codes["teacher@ml101"])
    data = teacher.get(f"/api/submissions/{sid}").json()
    assert data["student"] == "alice"
    assert "SoftmaxWithLoss" in teacher.get(f"/submissions/{sid}").text


def test_teacher_of_another_class_sees_nothing(klass, tmp_path):
    db, codes = klass
    _, code = create_class(db, "other")
    sid = (
        signed_in(db, "alice", codes["alice"])
        .post("/api/submissions", json={"exercise": "loss-forward", "source": "x = 1"})
        .json()["id"]
    )
    stranger = signed_in(db, "teacher@other", code)
    assert stranger.get(f"/api/submissions/{sid}").status_code == 404
    assert stranger.get("/api/gradebook").json()["students"] == []


# ---------------------------------------------------------------------------------------------- gradebook
def test_gradebook_is_for_the_teacher(klass):
    db, codes = klass
    assert client_for(db).get("/api/gradebook").status_code == 401
    r = signed_in(db, "alice", codes["alice"]).get("/api/gradebook")
    assert r.status_code == 403 and r.json()["error"] == "this page is for the class's teacher"


def test_gradebook_best_attempts_last_and_exports(klass):
    db, codes = klass
    alice = signed_in(db, "alice", codes["alice"])
    good = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": SOLUTION}).json()["id"]
    last = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": WRONG}).json()["id"]
    grade_queued(db)
    teacher = signed_in(db, "teacher@ml101", codes["teacher@ml101"])
    book = teacher.get("/api/gradebook").json()
    assert [s["student"] for s in book["students"]] == ["alice", "bob"]
    cell = book["students"][0]["exercises"]["loss-forward"]
    assert cell["attempts"] == 2 and cell["last"] == last and cell["best_id"] == good
    assert cell["best"] == cell["max_score"] == 11.0
    assert book["students"][1]["exercises"]["loss-forward"]["attempts"] == 0
    page = teacher.get("/teacher")
    assert page.status_code == 200 and "Alice Liddell" in page.text and f"/submissions/{last}" in page.text

    csv_text = teacher.get("/teacher/export/gradebook.csv").text.splitlines()
    assert csv_text[0] == "student,name,exercise,best_score,max_score,attempts,last_submission,last_status"
    assert f"alice,Alice Liddell,loss-forward,11,11,2,{last},done" in csv_text
    results = teacher.get("/teacher/export/gradescope.json").json()
    assert results["alice"]["score"] == 11.0 and results["bob"]["tests"] == []
    for test in results["alice"]["tests"]:
        assert {"name", "score", "max_score", "output", "visibility", "status"} <= set(test)
    root = ET.fromstring(teacher.get("/teacher/export/junit.xml").content)
    assert root.tag == "testsuites" and root.get("failures") == "0"
    assert [s.get("name") for s in root.iter("testsuite")] == ["alice-loss-forward"]
    assert teacher.get("/teacher/export/grades.pdf").status_code == 404
    for path in ("/teacher", "/teacher/export/gradebook.csv"):
        assert alice.get(path).status_code == 403


# ---------------------------------------------------------------------------------------------- pages
def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_pages_sign_in_submit_and_see_the_verdict(klass):
    db, codes = klass
    client = client_for(db)
    r = client.get("/exercises", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = client.get("/login")
    r = client.post("/login", data={"student_id": "alice", "code": "wrong", "csrf": csrf_of(page.text)})
    assert r.status_code == 401 and "wrong sign-in code" in r.text
    r = client.post(
        "/login", data={"student_id": "alice", "code": codes["alice"], "csrf": csrf_of(r.text)}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/exercises"
    assert "loss-forward" in client.get("/exercises").text
    page = client.get("/exercises/loss-forward")
    assert "/static/codemirror/codemirror.js" in page.text and "SoftmaxWithLoss.forward(x, t)" in page.text
    assert "########## Begin ##########" in page.text
    assert "Begin" in client.get("/exercises/loss-forward?lang=zh").text
    r = client.post(
        "/exercises/loss-forward", data={"source": WRONG, "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    sub = client.get(r.headers["location"])
    assert 'http-equiv="refresh"' in sub.text and "queued" in sub.text
    grade_queued(db)
    sub = client.get(r.headers["location"] + "?lang=en")
    assert "http-equiv" not in sub.text and "FAIL" in sub.text and "Likely mistake: dropped the 0.5" in sub.text
    assert r.headers["location"].split("/")[-1] in client.get("/submissions").text
    assert client.get("/exercises/no-such").status_code == 404


def test_forms_without_the_csrf_token_are_403(klass):
    db, codes = klass
    client = signed_in(db, "alice", codes["alice"])
    for path, data in (
        ("/exercises/loss-forward", {"source": "x = 1"}),
        ("/logout", {}),
        ("/login", {"student_id": "alice", "code": codes["alice"]}),
    ):
        r = client.post(path, data={**data, "csrf": "forged"})
        assert r.status_code == 403 and "did not come from this site" in r.text and "Traceback" not in r.text
    with engine_for(db).connect() as conn:
        assert conn.execute(Submission.__table__.select()).fetchall() == []


def test_error_pages_have_no_traceback(klass):
    db, codes = klass
    client = signed_in(db, "alice", codes["alice"])
    r = client.get("/teacher")
    assert r.status_code == 403 and "Not allowed" in r.text and "Traceback" not in r.text
    r = client.get("/nowhere")
    assert r.status_code == 404 and "Not found" in r.text
    r = client.put("/api/exercises")
    assert r.status_code == 405 and r.json()["status"] == 405


def test_editor_is_served_from_the_package(klass):
    db, _ = klass
    client = client_for(db)
    for name in ("codemirror.js", "codemirror.css", "python.js", "LICENSE"):
        assert client.get(f"/static/codemirror/{name}").status_code == 200
    assert (
        "MIT" in client.get("/static/codemirror/LICENSE").text
        or "Permission" in client.get("/static/codemirror/LICENSE").text
    )


def test_statement_formulas_become_mathml():
    from losslab.serve.pages import markdown

    html = markdown("The loss $E = \\frac{1}{2}\\sum_k (y_k - t_k)^2$ and <script>x</script>.")
    assert "<math" in html and "<mfrac>" in html and "<script>" not in html


# ---------------------------------------------------------------------------------------------- the queue
def test_claim_is_exclusive_and_requeue_recovers(klass):
    db, codes = klass
    alice = signed_in(db, "alice", codes["alice"])
    sid = alice.post("/api/submissions", json={"exercise": "loss-forward", "source": "x = 1"}).json()["id"]
    engine = engine_for(db)
    row = queue.claim(engine, "g1")
    assert row.id == sid and queue.claim(engine, "g2") is None
    assert alice.get(f"/api/submissions/{sid}").json()["status"] == "running"
    assert not queue.finish(engine, sid, "g2", {}, 0, 0, 0.0, 0.0)  # only the claim's holder stores a report
    assert queue.requeue(engine) == 1 and queue.counts(engine)["queued"] == 1
    again = queue.claim(engine, "g2")
    assert again.id == sid and again.attempts == 2
    assert not queue.finish(engine, sid, "g1", {}, 0, 0, 0.0, 0.0)  # g1's claim is gone
    engine.dispose()


def test_claims_racing_in_threads_grade_each_once(klass):
    from concurrent.futures import ThreadPoolExecutor

    db, codes = klass
    engine = engine_for(db)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        ids = [queue.enqueue(s, 2, "loss-forward", f"x = {i}") for i in range(40)]

    def worker(name):
        got = []
        while (row := queue.claim(engine, name)) is not None:
            got.append(row.id)
            assert queue.finish(engine, row.id, name, {}, 0, 0, 0.0, 0.0)
        return got

    with ThreadPoolExecutor(4) as pool:
        claimed = [i for got in pool.map(worker, ["a", "b", "c", "d"]) for i in got]
    assert sorted(claimed) == ids
    assert queue.counts(engine) == {"queued": 0, "running": 0, "done": 40}
    engine.dispose()


# ---------------------------------------------------------------------------------------------- commands
def test_class_commands_print_codes_and_refuse_clearly(tmp_path, capsys):
    db = str(tmp_path / "c.db")
    assert main(["class", "create", "ml", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "teacher sign-in: id teacher@ml  code " in out
    assert main(["class", "create", "ml", "--db", db]) == 2
    assert capsys.readouterr().err.strip() == f"losslab: error: class 'ml' already exists in {db}"
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\ns1,One\ns2,Two\n", encoding="utf-8")
    assert main(["class", "add-students", "ml", str(roster), "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "student_id,code" and [x.split(",")[0] for x in lines[2:]] == ["s1", "s2"]
    assert main(["class", "add-students", "ml", str(roster), "--db", db]) == 2
    assert "student id(s) already in use: s1, s2" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    for text, words in (
        ("id,name\nx,y\n", "the first line must name the columns, with 'student_id'"),
        ("student_id\na b\n", "line 2: student_id 'a b' must be"),
        ("student_id\nx\nx\n", "line 3: student_id 'x' appears twice"),
        ("student_id\n", "lists no student"),
    ):
        bad.write_text(text, encoding="utf-8")
        assert main(["class", "add-students", "ml", str(bad), "--db", db]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
    assert main(["class", "add-students", "nope", str(roster), "--db", db]) == 2
    assert "no class 'nope'" in capsys.readouterr().err
    assert main(["class", "create", "x", "--db", "nosuchdialect://x"]) == 2
    assert "cannot open the database" in capsys.readouterr().err


def test_serve_refuses_bad_options(tmp_path, capsys):
    assert main(["serve", "--db", str(tmp_path / "c.db"), "--exercises", str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["serve", "--graders", "0"]) == 2
    assert "expected at least 1" in capsys.readouterr().err


def test_import_losslab_loads_no_serve_dependency():
    code = (
        "import sys, losslab, losslab.cli; losslab.cli.build_parser(); "
        "print(sorted(m for m in ('starlette', 'sqlalchemy', 'alembic', 'jinja2', 'argon2', 'uvicorn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------------------- a real server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: str, port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "losslab",
            "serve",
            "--db",
            db,
            "--port",
            str(port),
            "--graders",
            "1",
            "--timeout",
            "20",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    import httpx2

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx2.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
    proc.kill()
    raise AssertionError("the server did not start in 60 s")


def stop_server(proc: subprocess.Popen) -> str:
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out


def test_real_server_and_grader_process_requeue_after_restart(klass):
    import httpx2

    db, codes = klass
    engine = engine_for(db)
    from sqlalchemy.orm import Session

    with Session(engine) as s:  # left by a server that died: one queued, one claimed by a dead grader
        queued = queue.enqueue(s, 2, "loss-forward", SOLUTION)
        orphan = queue.enqueue(s, 2, "loss-forward", WRONG)
    assert queue.claim(engine, "dead-grader").id == queued
    port = free_port()
    proc = start_server(db, port)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            assert c.post("/api/login", json={"student_id": "alice", "code": codes["alice"]}).status_code == 200
            fresh = c.post("/api/submissions", json={"exercise": "loss-forward", "source": SOLUTION}).json()["id"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                states = [c.get(f"/api/submissions/{i}").json() for i in (queued, orphan, fresh)]
                if all(s["status"] == "done" for s in states):
                    break
                time.sleep(0.3)
            assert [s["status"] for s in states] == ["done"] * 3
            assert [s["passed_all"] for s in states] == [True, False, True]
    finally:
        out = stop_server(proc)
    assert "1 submission(s) left running by the last run are queued again" in out
    assert "Traceback" not in out
    with Session(engine) as s:
        attempts = {r.id: r.attempts for r in s.query(Submission)}
    assert attempts == {queued: 2, orphan: 1, fresh: 1}  # the orphan's first claim died; each stored once
    engine.dispose()


def test_a_server_bug_is_a_page_without_traceback(klass, caplog):
    db, codes = klass
    client = signed_in(db, "alice", codes["alice"])
    with engine_for(db).begin() as conn:  # break the database under the running app
        conn.exec_driver_sql("ALTER TABLE submissions RENAME TO gone")
    r = client.get("/submissions")
    assert r.status_code == 500 and "Something went wrong" in r.text
    assert "Traceback" not in r.text and "gone" not in r.text and "sqlite" not in r.text.lower()
    r = client.get("/api/submissions")
    assert r.status_code == 500 and r.json()["error"].startswith("an error on the server")
    assert any("GET /api/submissions failed" in rec.getMessage() for rec in caplog.records)


def test_teachers_exercise_folder_with_a_hidden_check(klass, tmp_path, capsys):
    db, codes = klass
    folder = tmp_path / "mine"
    assert main(["exercise", "new", "mae", str(folder)]) == 0
    capsys.readouterr()
    exercise_dir = next(p.parent for p in folder.rglob("exercise.json"))
    app = create_app(db, exercises=(str(exercise_dir.parent),))
    alice = TestClient(app)
    assert alice.post("/api/login", json={"student_id": "alice", "code": codes["alice"]}).status_code == 200
    assert "mae" in [e["name"] for e in alice.get("/api/exercises").json()]
    template = (exercise_dir / "template.py").read_text(encoding="utf-8")
    sid = alice.post("/api/submissions", json={"exercise": "mae", "source": template}).json()["id"]
    engine = engine_for(db)
    settings = GraderSettings(db=db, config=SandboxConfig(timeout=20), exercises=(str(exercise_dir.parent),))
    row = queue.claim(engine, "g")
    assert store(engine, row.id, "g", grade_one(row.id, row.exercise, row.source, settings))
    mine = alice.get(f"/api/submissions/{sid}").json()
    hidden = [c for c in mine["checks"] if c["visibility"] == "hidden"]
    assert hidden and all(c["reason"] is None for c in hidden if not c["passed"])
    teacher = TestClient(app)
    teacher.post("/api/login", json={"student_id": "teacher@ml101", "code": codes["teacher@ml101"]})
    theirs = [c for c in teacher.get(f"/api/submissions/{sid}").json()["checks"] if c["visibility"] == "hidden"]
    assert any(c["reason"] for c in theirs if not c["passed"])
    engine.dispose()


def test_grade_one_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed", reason="--scheduler needs the distributed extra")
    settings = GraderSettings(db="unused", config=SandboxConfig(timeout=20))
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        good = grade_one(5, "loss-forward", SOLUTION, settings, client)
        bad = grade_one(6, "loss-forward", WRONG, settings, client)
    assert good.passed and good.seed == 5 and not bad.passed


def test_a_teachers_exercise_is_graded_on_a_dask_cluster(tmp_path, capsys):
    """serve --exercises DIR --scheduler: the folder's files travel with each task."""
    distributed = pytest.importorskip("distributed", reason="--scheduler needs the distributed extra")
    course = tmp_path / "course"
    assert main(["exercise", "new", "mae-loss", str(course)]) == 0
    solution = (course / "mae-loss" / "solution.py").read_text(encoding="utf-8")
    settings = GraderSettings(db="unused", config=SandboxConfig(timeout=20), exercises=(str(course),))
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        good = grade_one(7, "mae-loss", solution, settings, client)
        bad = grade_one(8, "mae-loss", solution.replace("np.mean", "np.sum"), settings, client)
    assert good.passed and good.score == (5.0, 5.0) and not bad.passed and not bad.problem


@pytest.mark.parametrize(
    "argv", [["class", "create", "x"], ["class", "add-students", "x", "roster.csv"], ["serve", "--port", "1"]]
)
def test_commands_without_the_serve_extra_say_so(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.setitem(sys.modules, "alembic", None)  # as if the extra were not installed
    assert main([*argv, "--db", str(tmp_path / "c.db")]) == 2
    err = capsys.readouterr().err
    assert "needs the serve extra (alembic is missing)" in err and "Traceback" not in err


def test_logout_ends_the_session(klass):
    db, codes = klass
    alice = signed_in(db, "alice", codes["alice"])
    assert alice.post("/api/logout", json={}).json() == {"signed_out": True}
    assert alice.get("/api/exercises").status_code == 401


def test_the_migrations_build_the_models_tables(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from losslab.serve.db import Base, migrate

    engine = engine_for(str(tmp_path / "fresh.db"))
    migrate(engine)
    migrate(engine)  # a second start finds nothing to do
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0001"
    engine.dispose()
