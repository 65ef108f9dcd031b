"""The web application: pages for learners and teachers, and the JSON API beside them (Starlette).

It never runs a submission: it queues it in the database, where the grader pool finds it.

Security: sessions are signed cookies (``HttpOnly``, ``SameSite=Lax``, ``Secure`` with ``secure_cookies``);
every form carries a CSRF token tied to the session; the API's writes accept only ``application/json`` (which a
form on another site cannot send); learners see only their own submissions (another's is "not found");
teacher pages need the teacher's role; a source over ``max_code`` bytes is refused (413); a learner may submit
at most ``rate`` times per ``window`` seconds (429); an address may fail to sign in at most ``sign_ins`` times per
``window`` seconds (429, before any hash is computed), and at most ``VERIFY_AT_ONCE`` sign-in codes are checked at
once (each Argon2 check takes tens of milliseconds and 64 MiB); no secret travels in a URL; every error is a page (or a
JSON object under ``/api/``) without a traceback.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hmac
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import pages, queue
from .db import TEACHER, Klass, Person, Submission, engine_for, hash_code, migrate, now, person, setting, verify_code

__all__ = ["create_app", "Limits"]

HERE = Path(__file__).parent
log = logging.getLogger("losslab.serve")
LANGS = ("en", "zh")


VERIFY_AT_ONCE = 4  # sign-in codes checked at once: each Argon2 check holds 64 MiB
_ADDRESSES = 10_000  # client addresses with recent failed sign-ins kept before the stale ones are dropped


class Limits:
    """The size limit on a source (bytes), the rate limit on submissions (``rate`` per ``window`` seconds) and on
    failed sign-ins from one client address (``sign_ins`` per ``window`` seconds)."""

    def __init__(self, max_code: int = 64 * 1024, rate: int = 10, window: float = 60.0, sign_ins: int = 10) -> None:
        self.max_code, self.rate, self.window, self.sign_ins = max_code, rate, window, sign_ins


def create_app(
    db: str,
    *,
    exercises: tuple[str, ...] = (),
    limits: Limits | None = None,
    secure_cookies: bool = False,
    migrate_db: bool = True,
):
    """The ASGI application serving the class database ``db`` (a SQLAlchemy URL or a SQLite path)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.templating import Jinja2Templates

    from ..grade import catalog as catalog_module

    limits = limits or Limits()
    engine = engine_for(db)
    if migrate_db:
        migrate(engine)
    catalog = catalog_module.BUILTIN.with_folders(exercises) if exercises else catalog_module.BUILTIN
    with Session(engine) as s:
        secret = setting(s, "session_secret", lambda: secrets.token_hex(32))
    dummy = hash_code(secrets.token_hex(8))
    failed: dict[str, collections.deque[float]] = {}  # client address -> times of its recent failed sign-ins
    verifying = asyncio.Semaphore(VERIFY_AT_ONCE)
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    class Refused(HTTPException):
        """A refusal with a message for the person (and ``Retry-After`` for 429)."""

    # ------------------------------------------------------------------ helpers
    def lang_of(request: Request) -> str:
        asked = request.query_params.get("lang")
        if asked in LANGS:
            request.session["lang"] = asked
        return request.session.get("lang", "en")

    def csrf_token(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(32)
        return request.session["csrf"]

    def user(request: Request, s: Session) -> Person | None:
        pid = request.session.get("pid")
        return None if pid is None else s.get(Person, pid)

    def need_user(request: Request, s: Session) -> Person:
        me = user(request, s)
        if me is None:
            raise Refused(401, "sign in first")
        return me

    def need_teacher(request: Request, s: Session) -> Person:
        me = need_user(request, s)
        if me.role != TEACHER:
            raise Refused(403, "this page is for the class's teacher")
        return me

    def render(request: Request, name: str, status: int = 200, **context: Any):
        with Session(engine) as s:
            me = user(request, s)
            who = None if me is None else {"login": me.login, "teacher": me.role == TEACHER}
        return templates.TemplateResponse(
            request,
            name,
            {"me": who, "csrf": csrf_token(request), "lang": lang_of(request), **context},
            status_code=status,
        )

    async def form(request: Request) -> dict:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > 4 * limits.max_code + 4096:
            raise Refused(413, f"the code is too long: at most {limits.max_code} bytes")
        data = await request.form(max_part_size=4 * limits.max_code + 4096)
        token = data.get("csrf", "")
        if not isinstance(token, str) or not hmac.compare_digest(token, request.session.get("csrf", "")):
            raise Refused(403, "the form has expired or did not come from this site: reload the page and try again")
        return {k: v for k, v in data.items() if isinstance(v, str)}

    async def body(request: Request) -> dict:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Refused(415, "send a JSON body with Content-Type: application/json")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > 4 * limits.max_code + 4096:
            raise Refused(413, f"the code is too long: at most {limits.max_code} bytes")
        try:
            data = await request.json()
        except ValueError:
            raise Refused(422, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Refused(422, f"the body must be a JSON object, got {type(data).__name__}")
        return data

    def field(data: dict, key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or (key != "source" and not value.strip()):
            got = "nothing" if value is None else f"a {type(value).__name__}" if not isinstance(value, str) else "''"
            raise Refused(422, f"'{key}' must be a non-empty string, got {got}")
        return value

    def recent_failures(address: str, at: float) -> collections.deque[float]:
        times = failed.get(address, collections.deque())
        while times and times[0] <= at - limits.window:
            times.popleft()
        return times

    def refuse_if_failing(address: str) -> None:
        at = time.monotonic()
        times = recent_failures(address, at)
        if len(times) >= limits.sign_ins:
            wait = max(1, int(times[0] + limits.window - at + 1))
            raise Refused(
                429,
                f"too many failed sign-ins from this address: at most {limits.sign_ins} every {limits.window:g}"
                f" seconds; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def note_failure(address: str) -> None:
        at = time.monotonic()
        failed[address] = times = recent_failures(address, at)
        times.append(at)
        if len(failed) > _ADDRESSES:  # drop the addresses without a failure in the window
            for stale in [a for a, ts in failed.items() if not recent_failures(a, at)]:
                del failed[stale]

    async def sign_in(request: Request, login: str, code: str) -> Person:
        address = request.client.host if request.client else ""
        refuse_if_failing(address)  # before the hash: a flood of wrong codes costs no Argon2 work

        def check() -> Person | None:
            with Session(engine) as s:
                p = person(s, login.strip())
                if p is None:
                    verify_code(dummy, code)  # as long as for a known id: timing does not tell ids apart
                    return None
                return p if verify_code(p.code_hash, code) else None

        async with verifying:
            p = await run_in_threadpool(check)
        if p is None:
            note_failure(address)
            raise Refused(401, "unknown student id or wrong sign-in code")
        request.session.clear()
        request.session.update(pid=p.id, csrf=secrets.token_urlsafe(32))
        return p

    def submit(me: Person, exercise: str, source: str) -> int:
        if exercise not in catalog.names():
            raise Refused(422, f"unknown exercise '{exercise}': one of {', '.join(catalog.names())}")
        size = len(source.encode("utf-8"))
        if size > limits.max_code:
            raise Refused(413, f"the code is too long: {size} bytes, at most {limits.max_code}")
        with Session(engine) as s:
            since = now() - dt.timedelta(seconds=limits.window)
            recent = (
                s.scalar(
                    select(func.count())
                    .select_from(Submission)
                    .where(Submission.person_id == me.id, Submission.created > since)
                )
                or 0
            )
            if recent >= limits.rate:
                raise Refused(
                    429,
                    f"too many submissions: at most {limits.rate} every {limits.window:g} seconds; wait a moment",
                    headers={"Retry-After": str(int(limits.window))},
                )
            return queue.enqueue(s, me.id, exercise, source)

    def visible(s: Session, me: Person, sid: int) -> tuple[Submission, Person]:
        row = s.get(Submission, sid)
        owner = None if row is None else s.get(Person, row.person_id)
        if (
            row is None
            or owner is None
            or not (owner.id == me.id or (me.role == TEACHER and owner.class_id == me.class_id))
        ):
            raise Refused(404, f"no submission {sid} of yours")  # another's is not even said to exist
        return row, owner

    def exercise_list(s: Session | None, me: Person | None, lang: str) -> list[dict]:
        best: dict[str, tuple] = {}
        if s is not None and me is not None:
            for ex, score, mx in s.execute(
                select(Submission.exercise, Submission.score, Submission.max_score).where(
                    Submission.person_id == me.id, Submission.status == "done"
                )
            ):
                if ex not in best or (score or 0) > (best[ex][0] or 0):
                    best[ex] = (score, mx)
        return [
            {
                "name": e.name,
                "title": e.title(lang),
                "title_en": e.title("en"),
                "title_zh": e.title("zh"),
                "max_points": e.max_points(),
                "best": best.get(e.name, (None, None))[0],
            }
            for e in catalog.exercises
        ]

    def sid_of(request: Request) -> int:
        raw = request.path_params["sid"]
        if not raw.isdigit() or len(raw) > 18:
            raise Refused(404, f"no submission {raw[:20]!r}")
        return int(raw)

    # ------------------------------------------------------------------ JSON API
    async def api_login(request: Request):
        data = await body(request)
        p = await sign_in(request, field(data, "student_id"), field(data, "code"))
        with Session(engine) as s:
            klass = s.get(Klass, p.class_id)
            return JSONResponse({"student_id": p.login, "role": p.role, "class": klass.name if klass else None})

    async def api_logout(request: Request):
        request.session.clear()
        return JSONResponse({"signed_out": True})

    async def api_exercises(request: Request):
        with Session(engine) as s:
            me = need_user(request, s)
            return JSONResponse(exercise_list(s, me, lang_of(request)))

    async def api_submit(request: Request):
        with Session(engine) as s:
            me = need_user(request, s)
        data = await body(request)
        sid = submit(me, field(data, "exercise"), field(data, "source"))
        return JSONResponse({"id": sid, "status": "queued"}, status_code=201)

    async def api_submission(request: Request):
        with Session(engine) as s:
            me = need_user(request, s)
            row, owner = visible(s, me, sid_of(request))
            return JSONResponse(pages.submission_data(row, owner.login, lang_of(request), me.role == TEACHER))

    async def api_history(request: Request):
        with Session(engine) as s:
            me = need_user(request, s)
            rows = s.scalars(
                select(Submission).where(Submission.person_id == me.id).order_by(Submission.id.desc())
            ).all()
            return JSONResponse([pages.summary(r) for r in rows])

    async def api_gradebook(request: Request):
        with Session(engine) as s:
            me = need_teacher(request, s)
            return JSONResponse(pages.gradebook(s, me.class_id, catalog.names()))

    # ------------------------------------------------------------------ pages
    async def home(request: Request):
        with Session(engine) as s:
            me = user(request, s)
        if me is None:
            return RedirectResponse("/login", 303)
        return RedirectResponse("/teacher" if me.role == TEACHER else "/exercises", 303)

    async def login_page(request: Request):
        if request.method == "GET":
            return render(request, "login.html")
        data = await form(request)
        try:
            p = await sign_in(request, data.get("student_id", ""), data.get("code", ""))
        except Refused as exc:
            page = render(
                request, "login.html", status=exc.status_code, error=exc.detail, student_id=data.get("student_id", "")
            )
            page.headers.update(dict(exc.headers or {}))
            return page
        return RedirectResponse("/teacher" if p.role == TEACHER else "/exercises", 303)

    async def logout_page(request: Request):
        await form(request)
        request.session.clear()
        return RedirectResponse("/login", 303)

    async def exercises_page(request: Request):
        with Session(engine) as s:
            me = need_user(request, s)
            items = exercise_list(s, me, lang_of(request))
        return render(request, "exercises.html", exercises=items)

    async def exercise_page(request: Request):
        name = request.path_params["name"]
        with Session(engine) as s:
            me = need_user(request, s)
            if name not in catalog.names():
                raise Refused(404, f"no exercise '{name}'")
            if request.method == "POST":
                data = await form(request)
                sid = submit(me, name, data.get("source", ""))
                return RedirectResponse(f"/submissions/{sid}", 303)
            lang = lang_of(request)
            exercise = catalog.get(name)
            last = s.scalars(
                select(Submission.source)
                .where(Submission.person_id == me.id, Submission.exercise == name)
                .order_by(Submission.id.desc())
                .limit(1)
            ).first()
        return render(
            request,
            "exercise.html",
            exercise=exercise,
            title=exercise.title(lang),
            statement=pages.markdown(exercise.statement(lang)),
            source=last if last is not None else exercise.template(lang),
        )

    async def submission_page(request: Request):
        with Session(engine) as s:
            me = need_user(request, s)
            row, owner = visible(s, me, sid_of(request))
            data = pages.submission_data(row, owner.login, lang_of(request), me.role == TEACHER)
            source = row.source
        return render(request, "submission.html", sub=data, source=source)

    async def history_page(request: Request):
        with Session(engine) as s:
            me = need_user(request, s)
            rows = [
                pages.summary(r)
                for r in s.scalars(
                    select(Submission).where(Submission.person_id == me.id).order_by(Submission.id.desc())
                )
            ]
        return render(request, "history.html", subs=rows)

    async def gradebook_page(request: Request):
        with Session(engine) as s:
            me = need_teacher(request, s)
            book = pages.gradebook(s, me.class_id, catalog.names())
            klass = s.get(Klass, me.class_id)
        return render(request, "gradebook.html", book=book, klass=klass.name if klass else "")

    async def export_page(request: Request):
        fmt = request.path_params["fmt"]
        with Session(engine) as s:
            me = need_teacher(request, s)
            book = pages.gradebook(s, me.class_id, catalog.names())
            if fmt == "gradebook.csv":
                text, kind = pages.export_csv(book), "text/csv"
            elif fmt == "gradescope.json":
                text, kind = pages.export_gradescope(s, book, lang_of(request)), "application/json"
            elif fmt == "junit.xml":
                text, kind = pages.export_junit(s, book, lang_of(request)), "application/xml"
            else:
                raise Refused(404, f"no export '{fmt}': gradebook.csv, gradescope.json or junit.xml")
        return Response(text, media_type=kind, headers={"Content-Disposition": f'attachment; filename="{fmt}"'})

    # ------------------------------------------------------------------ errors
    WORDS = {
        400: "Bad request",
        401: "Please sign in",
        403: "Not allowed",
        404: "Not found",
        405: "Method not allowed",
        413: "Too large",
        415: "Unsupported body",
        422: "Cannot be processed",
        429: "Too many requests",
        500: "Something went wrong",
    }

    async def on_error(request: Request, exc: Exception):
        if not isinstance(exc, HTTPException):  # a bug: its traceback goes to the server's log, not the browser
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "an error on the server; it has been logged"
        headers = dict(getattr(exc, "headers", None) or {})
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail, "status": status}, status_code=status, headers=headers)
        if status == 401:
            return RedirectResponse("/login", 303)
        response = render(request, "error.html", status=status, word=WORDS.get(status, "Error"), detail=detail)
        response.headers.update(headers)
        return response

    async def health(request: Request):
        return PlainTextResponse("ok")

    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout_page, methods=["POST"]),
        Route("/exercises", exercises_page),
        Route("/exercises/{name}", exercise_page, methods=["GET", "POST"]),
        Route("/submissions", history_page),
        Route("/submissions/{sid}", submission_page),
        Route("/teacher", gradebook_page),
        Route("/teacher/export/{fmt}", export_page),
        Route("/health", health),
        Route("/api/login", api_login, methods=["POST"]),
        Route("/api/logout", api_logout, methods=["POST"]),
        Route("/api/exercises", api_exercises),
        Route("/api/submissions", api_submit, methods=["POST"]),
        Route("/api/submissions", api_history, methods=["GET"]),
        Route("/api/submissions/{sid}", api_submission),
        Route("/api/gradebook", api_gradebook),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie="losslab_session",
            same_site="lax",
            https_only=secure_cookies,
            max_age=12 * 3600,
        )
    ]
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: on_error, Exception: on_error}
    )
    app.state.engine = engine
    return app
