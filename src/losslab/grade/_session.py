"""The channel between the judge and one running submission: its process, its frames, its objects.

:class:`Session` starts the runner (:mod:`losslab.grade._runner`) in the sandbox of
:mod:`losslab.grade._isolation`, sends it requests over two pipes the judge owns, and
turns what comes back into plain data, or :class:`Remote` handles for the objects that
stay in the submission's process. A call's argument that the learner changed comes back
too, and the judge's copy is made to hold it. Everything a submission can send is
bounded (frame size, nesting, array size) and checked; anything else stops the session.
See :mod:`losslab.grade.sandbox` for how the probes use it.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _isolation
from ._runner import HEADER, MAX_FRAME, ProtocolError, decode, encode, parse
from .checks import Foreign
from .exercises._probe import MissingName

if TYPE_CHECKING:
    from .sandbox import SandboxConfig

__all__ = ["Session", "Remote", "LearnerError", "Stopped", "printable"]


def printable(text, limit: int = 300) -> str:
    """``text`` (from a submission) safe to print: control and format characters escaped, at most ``limit``."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# =========================================================================== the learner's objects, seen from here


class Remote(Foreign):
    """An object living in the submission's process (a class, an instance, a generator ...).

    Attribute access builds a longer path without asking anything; calling it sends
    the call. ``type`` is the object's type name, as the submission reported it.
    """

    __slots__ = ("_session", "_ref", "_path")
    _session: Session
    _ref: int
    _path: tuple

    def __init__(self, session: Session, ref: int, path: tuple = (), type: str = "object") -> None:
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "type", type)

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("__"):  # NumPy and copy ask for __array__ and the like: not the learner's
            raise AttributeError(name)
        return Remote(self._session, self._ref, self._path + (name,), "attribute")

    def __call__(self, *args, **kwargs):
        return self._session.call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self.type} of the submission>"


class LearnerError(Exception):
    """The learner's code raised (or called ``sys.exit``) in the call in progress: ``error`` says how."""

    def __init__(self, error: dict) -> None:
        super().__init__(error.get("exc"))
        self.error = error


class Stopped(Exception):
    """The submission's process is gone (time limit, death, malformed data): nothing more can run."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


def _mirror(local: np.ndarray, new) -> None:
    """Make the judge's copy ``local`` of an argument hold what the call left in the learner's."""
    if isinstance(new, np.ndarray) and new.shape == local.shape and new.dtype == local.dtype:
        np.copyto(local, new)
    elif local.size:  # reshaped or retyped in place: make the judge's copy differ from the original
        if local.dtype.kind in "fc":
            local[...] = np.nan
        elif local.dtype.kind == "b":
            np.logical_not(local, out=local)
        else:
            local += 1


class Session:
    """One running submission: start it, send requests, end it."""

    def __init__(self, config: SandboxConfig, isolation: _isolation.Isolation, hide: tuple = ()) -> None:
        self.config = config
        self.hide = hide
        self.isolation = isolation
        self.deadline = math.inf
        self.proc: subprocess.Popen | None = None
        self.callbacks: dict[int, Callable[..., Any]] = {}
        self.groups = _isolation.cgroups() if isolation.isolated else None
        self.made: dict[str, str] = {}
        self.cleanup: list[str] = []
        self.stopped: Stopped | None = None

    # ---------------------------------------------------------------- process
    def _limits(self) -> dict:
        limits = {
            "RLIMIT_AS": self.config.memory_mb << 20,
            "RLIMIT_CPU": int(math.ceil(self.config.timeout)) + 1,
            "RLIMIT_FSIZE": _isolation.FILE_BYTES,
            "RLIMIT_NOFILE": _isolation.OPEN_FILES,
            "RLIMIT_CORE": 0,
        }
        if self.isolation.isolated:  # counted per user: only inside its own user namespace is it the submission's
            limits["RLIMIT_NPROC"] = _isolation.PROCESSES
        return limits

    def start(self) -> None:
        self.deadline = time.monotonic() + self.config.timeout
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        err_fd, err_path = tempfile.mkstemp(prefix="losslab-stderr-")
        self.err_path = err_path
        self.cleanup.append(err_path)
        args = [str(req_r), str(resp_w), json.dumps(self._limits())]
        keep = [req_r, resp_w]
        executable = None
        if self.isolation.isolated:
            # bwrap reads its options from a pipe (so that nothing of the judge shows in the sandbox's
            # /proc/1/cmdline), reports the sandbox's first process on an info pipe, and waits on a block pipe
            # until that process has joined the submission's cgroups: everything it starts is counted there.
            full = _isolation.bwrap_argv(
                _isolation.bwrap_path() or "bwrap",
                _isolation.runner_command("/sandbox/runner.py", _isolation.SITE, *args),
                hide=self.hide,
            )
            executable = full[0]
            args_r, args_w = os.pipe()
            self.info_r, info_w = os.pipe()
            block_r, self.block_w = os.pipe()
            split = full.index("--")
            options = ["--info-fd", str(info_w), "--block-fd", str(block_r), *full[1:split]]
            os.write(args_w, b"".join(a.encode("utf-8") + b"\0" for a in options))
            os.close(args_w)
            keep += [args_r, info_w, block_r]
            argv = ["bwrap", "--args", str(args_r), *full[split:]]
            cwd, env = "/", _isolation.child_env("/tmp")
            if self.groups is not None:
                self.made = self.groups.create(self.config.memory_mb << 20)
        else:
            site = _isolation.none_site()
            self.cleanup.append(site)
            work = tempfile.mkdtemp(prefix="losslab-work-")
            self.cleanup.append(work)
            argv = _isolation.runner_command(str(_isolation.RUNNER), site, *args)
            cwd, env = work, _isolation.child_env(work)
        spawn: dict[str, Any] = (
            {"start_new_session": True}
            if os.name == "posix"
            else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        )
        try:
            self.proc = subprocess.Popen(
                argv,
                executable=executable,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err_fd,
                cwd=cwd,
                env=env,
                pass_fds=tuple(keep),
                **spawn,
            )
        finally:
            for fd in (*keep, err_fd):
                os.close(fd)
        if self.isolation.isolated:
            self._release(self.proc)
        os.set_blocking(self.req_w, False)
        os.set_blocking(self.resp_r, False)
        first = self._receive()
        if first.get("kind") == "broken":
            raise Stopped("broken", printable(first.get("msg", "")))
        if first.get("kind") != "ready":
            raise Stopped("protocol", "the runner did not start")

    def _release(self, proc: subprocess.Popen) -> None:
        """Put the sandbox's first process in the cgroups, then let it start the runner."""
        os.set_blocking(self.info_r, False)
        info = b""
        while True:
            self._wait(self.info_r, False, self.deadline)
            try:
                chunk = os.read(self.info_r, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            info += chunk
        os.close(self.info_r)
        try:
            child = int(json.loads(info.decode("utf-8"))["child-pid"])
        except (ValueError, KeyError, TypeError):
            raise self._stop("died") from None
        for procs in self.groups.procs_files(self.made) if self.groups is not None else ():
            for pid in (proc.pid, child):
                with open(procs, "w", encoding="ascii") as fh:
                    fh.write(str(pid))
        os.write(self.block_w, b"1")
        os.close(self.block_w)

    def close(self) -> str | None:
        """End the process and everything it started; None, or why cleaning up failed."""
        problem = None
        if self.proc is not None and self.proc.poll() is None and self.stopped is None:
            try:
                self._send({"op": "end"}, deadline=time.monotonic() + 0.5)
                self.proc.wait(timeout=0.5)
            except (Stopped, subprocess.TimeoutExpired):
                pass
        self._kill()
        for fd in (getattr(self, "req_w", None), getattr(self, "resp_r", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self.made and self.groups is not None and not self.groups.remove(self.made):
            problem = "a process of the submission could not be stopped"
        for path in self.cleanup:
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    _remove_tree(path)
                elif os.path.lexists(path):
                    os.unlink(path)
            except OSError as exc:
                problem = problem or f"could not remove the submission's temporary files ({exc})"
        return problem

    def _kill(self) -> None:
        if self.proc is None:
            return
        if os.name == "posix":
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        elif self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stderr_tail(self) -> str:
        try:
            with open(self.err_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 4000))
                lines = fh.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return printable(lines[-1]) if lines else ""

    def out_of_memory(self) -> bool:
        return bool(self.made) and self.groups is not None and self.groups.out_of_memory(self.made)

    # ---------------------------------------------------------------- channel
    def _stop(self, kind: str, detail: str = "") -> Stopped:
        self.stopped = Stopped(kind, detail)
        if kind == "died" and self.proc is not None:  # let it report its own exit status first
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        return self.stopped

    def _wait(self, fd: int, writing: bool, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._stop("timeout")
        poller = select.poll()
        poller.register(fd, select.POLLOUT if writing else select.POLLIN)
        if not poller.poll(max(1, int(left * 1000))):
            raise self._stop("timeout")

    def _send(self, message: dict, deadline: float | None = None) -> None:
        if self.stopped is not None:
            raise self.stopped
        data = json.dumps(message, separators=(",", ":")).encode("utf-8")
        view = memoryview(HEADER.pack(len(data)) + data)
        while view:
            self._wait(self.req_w, True, deadline or self.deadline)
            try:
                view = view[os.write(self.req_w, view) :]
            except BlockingIOError:
                continue
            except OSError:  # the process is gone
                raise self._stop("died") from None

    def _read(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            self._wait(self.resp_r, False, self.deadline)
            try:
                chunk = os.read(self.resp_r, min(left, 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:
                raise self._stop("died")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _receive(self) -> dict:
        if self.stopped is not None:
            raise self.stopped
        (size,) = HEADER.unpack(self._read(HEADER.size))
        if size > MAX_FRAME:
            raise self._stop("protocol", f"it sent {size} bytes at once (at most {MAX_FRAME})")
        try:
            message = parse(self._read(size))
        except ProtocolError as exc:
            raise self._stop("protocol", str(exc)) from None
        if not isinstance(message, dict):
            raise self._stop("protocol", "a message that is not an object")
        return message

    # ---------------------------------------------------------------- values
    def _out(self, value):
        """Encode an argument: plain data, a handle of the submission's, or one of the judge's functions."""

        def other(v):
            if isinstance(v, Remote) and v._session is self and not v._path:
                return {"ref": v._ref}
            if callable(v) and not isinstance(v, Remote):
                key = len(self.callbacks) + 1
                self.callbacks[key] = v
                return {"callback": key}
            raise TypeError(f"cannot send a {type(v).__name__} to the submission")

        return encode(value, other)

    def _in(self, data):
        def other(d):
            if "ref" in d:
                return Remote(self, int(d["ref"]), (), printable(d.get("type", "object"), 100))
            if "large" in d:
                return Foreign(f"ndarray of shape {tuple(int(n) for n in d['large'])} (too large to report)")
            raise ProtocolError(f"an unexpected value {sorted(d)!r}")

        try:
            return decode(data, other)
        except ProtocolError as exc:
            raise self._stop("protocol", str(exc)) from None
        except (TypeError, ValueError, KeyError) as exc:
            raise self._stop("protocol", f"a malformed value ({exc})") from None

    def request(self, message: dict) -> dict:
        """Send ``message`` and return the reply, answering the submission's calls of the judge's functions."""
        self._send(message)
        while True:
            reply = self._receive()
            kind = reply.get("kind")
            if kind == "result":
                return reply
            if kind != "callback" or reply.get("id") not in self.callbacks:
                raise self._stop("protocol", f"an unexpected message {str(kind)[:40]!r}")
            args = self._in(reply.get("args"))
            try:
                with np.errstate(all="ignore"):
                    value = self.callbacks[reply["id"]](*(args if isinstance(args, list) else [args]))
                answer = {"ok": self._out(value)}
            except Exception as exc:  # the learner passed something the function cannot take
                answer = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            self._send(answer)

    @staticmethod
    def _error(reply: dict) -> dict:
        error = reply.get("error")
        if not isinstance(error, dict):
            return {"kind": "raised", "exc": "Error", "msg": printable(error)}
        clean = {k: printable(v, 300) if isinstance(v, str) else v for k, v in error.items()}
        line = clean.get("line")
        clean["line"] = line if isinstance(line, int) and not isinstance(line, bool) else None
        return clean

    def import_source(self, source: str) -> None:
        reply = self.request({"op": "import", "source": source})
        if "error" in reply:
            raise LearnerError(self._error(reply))

    def need(self, name: str) -> Remote:
        """The object the file defines under ``name`` (:class:`MissingName` if none)."""
        reply = self.request({"op": "lookup", "name": name})
        if "error" in reply:
            raise LearnerError(self._error(reply))
        if reply.get("missing"):
            raise MissingName(name)
        value = self._in(reply.get("ok"))
        if not isinstance(value, Remote):
            raise self._stop("protocol", "a malformed answer")
        return value

    def get(self, obj: Remote, name: str, default=None):
        reply = self.request({"op": "get", "ref": obj._ref, "path": [*obj._path, name]})
        if "error" in reply:
            raise LearnerError(self._error(reply))
        return default if reply.get("missing") else self._in(reply.get("ok"))

    def call(self, fn: Remote, args: tuple, kwargs: dict):
        if fn._session is not self:
            raise TypeError("an object of another submission")
        try:
            message = {
                "op": "call",
                "ref": fn._ref,
                "path": list(fn._path),
                "args": self._out(list(args)),
                "kwargs": self._out(dict(kwargs)),
            }
        except TypeError as exc:
            raise ProtocolError(str(exc)) from None
        reply = self.request(message)
        if "error" in reply:
            raise LearnerError(self._error(reply))
        after = reply.get("after") or {}
        if not isinstance(after, dict):
            raise self._stop("protocol", "a malformed answer")
        for key, state in after.items():
            target = args[int(key)] if str(key).isdigit() and int(key) < len(args) else kwargs.get(key)
            self._apply(target, state)
        return self._in(reply.get("ok"))

    def _apply(self, target, state) -> None:
        """Make the judge's argument ``target`` hold what the learner's call left in it."""
        if isinstance(target, np.ndarray):
            _mirror(target, self._in(state))
        elif isinstance(target, dict) and isinstance(state, dict):
            items = self._in(state.get("items"))
            same = state.get("same") or {}
            for key, member in (state.get("members") or {}).items():
                if isinstance(target.get(key), np.ndarray):
                    _mirror(target[key], self._in(member))
            if not isinstance(items, dict):
                raise self._stop("protocol", "a malformed answer")
            for key in list(target):
                if key not in items:
                    del target[key]
            for key, value in items.items():
                if not (same.get(key) is True and key in target):
                    target[key] = value


def _remove_tree(path: str) -> None:
    """Remove ``path``, making read-only folders writable on the way (a submission may have left some)."""
    import shutil
    import stat

    def retry(func, p, _exc):
        parent = os.path.dirname(p)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        func(p)

    shutil.rmtree(path, onerror=retry)
