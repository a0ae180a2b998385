"""The script that runs inside the sandbox before, around and after the untrusted program.

It is the last layer, not the wall: bubblewrap, the unprivileged uid, the rlimits and the
pids cgroup hold without it. Started as `python -I -S -B -c GUARD TOKEN_FD ROOT DROP HOOK`,
it drops root to uid/gid 65534 when DROP is 1 (failing closed if any capability
survives), reads the program from stdin, and installs an audit hook that holds the
per-run token (read from a pipe, which is then empty and closed) and, when HOOK is 1,
refuses sockets, subprocesses, ctypes, /proc, writes outside ROOT, dir_fd tricks and the
audited ways to reach frames (tracebacks, generators, gc, settrace). The program runs in
a fresh module that replaces `__main__`, so the guard's names are in no module. When it
returns, the guard raises an audit event; the hook prints the token only when that event
comes from the guard's own frame (the program cannot run code in that frame), so a
`sys.exit(0)` or `os._exit(0)` never passes. The token is in no frame the program can
walk to; it stays reachable through unaudited CPython routes (a signal handler running
while the hook runs sees the hook's frame), so it stops accidental and naive early
exits, not a determined forger (who could as well return objects equal to anything).
"""

GUARD = r'''
def _hook(token, me, root, audit):
    import os, sys
    ROOT = os.path.realpath(root)
    BLOCKED = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
               "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "ctypes.", "os.kill",
               "os.killpg", "signal.pthread_kill", "shutil.rmtree", "webbrowser.open",
               "sys._current_frames", "sys._current_exceptions", "sys.settrace",
               "sys.setprofile", "gc.get_", "sys.addaudithook")
    FRAME_ATTRS = frozenset(("tb_frame", "gi_frame", "cr_frame", "ag_frame"))
    WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    DIR_FD = {"os.mkdir": (2,), "os.remove": (1,), "os.rmdir": (1,), "os.rename": (2, 3),
              "os.link": (2, 3), "os.symlink": (2,), "os.chmod": (2,), "os.chown": (3,),
              "os.utime": (3,), "os.truncate": ()}
    realpath, isdir, fsdecode, write, getframe = (
        os.path.realpath, os.path.isdir, os.fsdecode, os.write, sys._getframe)

    def inside(path):
        try:
            path = realpath(fsdecode(path))
        except TypeError:
            return False  # a file descriptor: refuse, its target is unknown here
        return path == ROOT or path.startswith(ROOT + "/")

    def hook(event, args):
        if event == "harness.sandbox.done" and getframe(1) is me:
            write(1, b"\\n" + token + b"\\n")
        if not audit:
            return
        if event.startswith(BLOCKED):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "object.__getattr__" and args[1] in FRAME_ATTRS:
            raise PermissionError("sandbox: frame introspection is not allowed")
        if event == "import" and args[0] in ("signal", "_signal", "gc"):
            raise ImportError(f"sandbox: importing {args[0]} is not allowed")
        if event == "open" and isinstance(args[0], (str, bytes)):
            path = fsdecode(args[0])
            if realpath(path).startswith(("/proc", "/dev/mem", "/sys")):
                raise PermissionError(f"sandbox: reading {path} is not allowed")
            mode, flags = args[1], args[2]
            writes = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITES)
            if writes and not inside(path):
                raise PermissionError(f"sandbox: writing {path} is not allowed")
            if mode is None and not inside(path) and isdir(path):
                raise PermissionError("sandbox: directory descriptors outside are not allowed")
        if event in DIR_FD:
            if any(args[i] not in (None, -100) for i in DIR_FD[event] if i < len(args)):
                raise PermissionError(f"sandbox: {event} with dir_fd is not allowed")
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
            if not all(map(inside, paths)):
                raise PermissionError(f"sandbox: {event} outside {ROOT} is not allowed")

    return hook


def _guard():
    import os, sys, types
    fd, root, drop, audit = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
    if drop and os.getuid() == 0:
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
    with open("/proc/self/status") as status:
        caps = [ln.split()[1] for ln in status if ln.startswith(("CapEff", "CapPrm", "CapAmb"))]
    if drop and (os.getuid() == 0 or any(int(c, 16) for c in caps)):
        os.write(2, b"sandbox: could not drop privileges\\n")
        os._exit(113)
    code = compile(sys.stdin.buffer.read(), "program.py", "exec")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(root)
    for name in ("signal", "_signal", "gc"):
        sys.modules.pop(name, None)
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    del sys.argv[1:], status, caps, null
    sys.addaudithook(_hook(os.read(fd, 128).strip(), sys._getframe(), root, audit))
    os.close(fd)
    exec(code, main.__dict__)
    sys.stdout.flush()
    sys.audit("harness.sandbox.done")


_guard()
'''
