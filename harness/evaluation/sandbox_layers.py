"""The operating-system layers of the sandbox: bubblewrap's command line, the rlimits and
parent-death signal set between fork and exec, the pids cgroup, and the check of which
namespaces really applied."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import sysconfig
import time
import uuid
from pathlib import Path

from harness.evaluation.sandbox_guard import GUARD

NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup")
PR_SET_PDEATHSIG = 1
TMP_BYTES = 64 << 20  # the private /tmp is memory: cap it
_LIBC = ctypes.CDLL(None, use_errno=True)


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None. HARNESS_BWRAP overrides the lookup (tests use a
    path that does not exist to see the refusal)."""
    override = os.environ.get("HARNESS_BWRAP")
    if override is not None:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    return shutil.which("bwrap")


def python_paths() -> tuple[str, list[str], list[str]]:
    """(interpreter, paths to bind read-only, site-packages folders to hide): the base
    interpreter, its shared library and its standard library, never a virtual environment."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    binds = [exe, stdlib]
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    for name in {sysconfig.get_config_var("INSTSONAME"), sysconfig.get_config_var("LDLIBRARY")}:
        lib = os.path.join(libdir, name or "")
        if name and ".so" in name and os.path.isfile(lib) and not lib.startswith("/usr/lib"):
            binds.append(lib)  # a shared libpython outside /usr/lib (pyenv, conda)
    hide = [p for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
            if os.path.realpath(p).startswith(stdlib + "/") and os.path.isdir(p)]
    return exe, binds, [os.path.realpath(p) for p in hide]


def bwrap_argv(bwrap: str, rootful: bool, token_fd: int, info_fd: int, audit: bool
               ) -> list[str]:
    """bwrap's command line. As root, bwrap makes the namespaces with real privileges and
    the guard drops to uid 65534 (a user namespace made by root would map the program to
    host uid 0); otherwise an unprivileged user namespace maps it to uid 65534 inside."""
    exe, binds, hide = python_paths()
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--hostname", "sandbox", "--info-fd", str(info_fd)]
    if rootful:
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
    for top in ("/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for lib in ("/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32"):
        argv += ["--ro-bind-try", lib, lib]
    parents = {str(a) for path in binds for a in Path(path).parents if str(a) != "/"}
    for path in sorted(parents, key=lambda a: a.count("/")):
        argv += ["--perms", "0755", "--dir", path]  # else bwrap copies /root's 0700
    for path in binds:
        argv += ["--ro-bind", path, path]
    for path in hide:
        argv += ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp", "--chdir", "/tmp",
             "--", exe, "-I", "-S", "-B", "-c", GUARD]
    return argv + [str(token_fd), "/tmp", "1", "1" if audit else "0"]


def applied_namespaces(info: bytes) -> list[str]:
    """The namespaces bwrap reports (--info-fd) that differ from this process's own."""
    try:
        child = json.loads(info.decode())
    except (UnicodeDecodeError, ValueError):
        return []
    done = []
    for ns in NAMESPACES:
        theirs = child.get(f"{ns}-namespace")
        try:
            ours = os.stat(f"/proc/self/ns/{ns}").st_ino
        except OSError:
            continue
        if isinstance(theirs, int) and theirs != ours:
            done.append(f"{ns}ns")
    return done


def confine(limits, cgroup: Path | None, parent: int) -> None:
    """Runs in the child between fork and exec: joins the cgroup, sets the rlimits, and asks
    for SIGKILL when the parent dies (so a killed worker leaves no sandbox behind)."""
    if cgroup:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    for res, value in ((resource.RLIMIT_AS, limits.memory_bytes),
                       (resource.RLIMIT_CPU, limits.cpu_s),
                       (resource.RLIMIT_FSIZE, limits.file_bytes),
                       (resource.RLIMIT_NOFILE, limits.open_files),
                       (resource.RLIMIT_NPROC, limits.processes),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl: do not run orphaned
        os._exit(1)


def pids_cgroup(limit: int) -> Path | None:
    if os.geteuid() != 0:
        return None
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (base / "cgroup.procs").exists() and os.access(base, os.W_OK):
            _sweep(base)
            path = base / f"harness-sandbox-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                return path
            except OSError:
                remove_cgroup(path)
    return None


def _sweep(base: Path) -> None:
    """Remove cgroups left by a killed worker: only old ones (a new one may be about to be
    joined), and rmdir refuses any that still holds a process."""
    for old in base.glob("harness-sandbox-*"):
        try:
            if time.time() - old.stat().st_ctime > 60:
                old.rmdir()
        except OSError:
            pass


def kill_cgroup(cgroup: Path | None) -> None:
    if not cgroup:
        return
    try:
        for pid in (cgroup / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    except OSError:
        pass


def remove_cgroup(path: Path) -> None:
    for _ in range(100):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
