"""Locate or build llama.cpp programs (llama-server, llama-bench, llama-perplexity, ...)
from the *same* llama.cpp source tree that the installed llama-cpp-python wheel was
built from, with the same CMake configuration, so that tool timings are comparable
with llama-cpp-python's shared library.

How it works
------------
1. ``<cache>/bin/<tool>`` exists and is executable -> return it.
2. Otherwise download the llama-cpp-python sdist of the matching version with pip
   (``pip download --no-deps --no-binary :all:``), extract it, and configure the
   sdist's *top-level* CMakeLists.txt (the one scikit-build-core uses when pip builds
   the wheel).  That file forces BUILD_SHARED_LIBS=ON, LLAMA_BUILD_COMMON=ON and
   LLAMA_CURL=OFF and adds vendor/llama.cpp as a subproject, so everything that is
   not passed explicitly (GGML_NATIVE, GGML_OPENMP, GGML_LLAMAFILE, CPU_REPACK, ...)
   gets exactly the same default as in the wheel build.  On top we only add:

   * CMAKE_BUILD_TYPE=Release      (scikit-build-core's default build type)
   * LLAMA_BUILD_TOOLS=ON          (the wheel build leaves it OFF; needed for the tools)
   * LLAVA_BUILD=OFF               (tools/ already adds mtmd; avoids a duplicate target)
   * LLAMA_BUILD_SERVER=ON         (llama-server, the llama_server backend's engine)
   * LLAMA_BUILD_TESTS/EXAMPLES=OFF (not needed)
   * CMAKE_BUILD_RPATH_USE_ORIGIN=ON (binaries find their .so files via $ORIGIN)
   * whatever is in $CMAKE_ARGS, which scikit-build-core also honours, so a wheel
     installed with e.g. CMAKE_ARGS="-DGGML_BLAS=ON" is mirrored when the same
     environment variable is set here.

3. ``cmake --build <build> --target <tool> -j <nproc>``, then copy the tool and the
   shared libraries next to it (libllama, libggml*, libllama-common, ...) into
   ``<cache>/bin``.

Cache: ``harness.cache.cache_dir()/llama.cpp-tools/<version>/`` (~/.cache/harness on Linux).

CLI: ``python -m harness.backends.llama_cpp_tools llama-server [llama-bench ...]``
prints one path per tool.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tarfile
import time

log = logging.getLogger(__name__)

DIST_NAME = "llama-cpp-python"

# Options passed on top of llama-cpp-python's own CMakeLists.txt (see module docstring).
EXTRA_CMAKE_DEFINES: dict[str, str] = {
    "CMAKE_BUILD_TYPE": "Release",
    "LLAMA_BUILD_TOOLS": "ON",
    "LLAVA_BUILD": "OFF",
    "LLAMA_BUILD_TESTS": "OFF",
    "LLAMA_BUILD_EXAMPLES": "OFF",
    "LLAMA_BUILD_SERVER": "ON",
    "LLAMA_CURL": "OFF",
    "CMAKE_BUILD_RPATH_USE_ORIGIN": "ON",
}


def cache_root() -> pathlib.Path:
    from harness.cache import cache_dir

    return cache_dir() / "llama.cpp-tools"


def _nproc() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _is_exe(p: pathlib.Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def _run(step: str, cmd: list[str], logfile: pathlib.Path, cwd: pathlib.Path | None = None) -> None:
    """Run *cmd*, appending its output to *logfile*; RuntimeError naming *step* on failure."""
    log.info("%s: %s", step, shlex.join(cmd))
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as fh:
        fh.write(f"\n$ {shlex.join(cmd)}\n".encode())
        fh.flush()
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
        except OSError as e:
            raise RuntimeError(f"llama.cpp tools: {step} failed: {e}") from e
    if proc.returncode != 0:
        tail = ""
        with contextlib.suppress(OSError):
            lines = logfile.read_text(errors="replace").strip().splitlines()
            tail = lines[-1].strip()[:200] if lines else ""
        raise RuntimeError(
            f"llama.cpp tools: {step} failed (exit {proc.returncode}); see {logfile}"
            + (f": {tail}" if tail else "")
        )


@contextlib.contextmanager
def _lock(path: pathlib.Path):
    """Exclusive inter-process lock (POSIX); no-op where fcntl is unavailable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _find_sdist(sdist_dir: pathlib.Path, version: str) -> pathlib.Path | None:
    if not sdist_dir.is_dir():
        return None
    for pattern in (f"llama_cpp_python-{version}.tar.gz", f"llama-cpp-python-{version}.tar.gz",
                    f"llama_cpp_python-{version}.*", f"llama-cpp-python-{version}.*"):
        hits = sorted(sdist_dir.glob(pattern))
        if hits:
            return hits[0]
    return None


def _get_sdist(root: pathlib.Path, version: str, logfile: pathlib.Path) -> pathlib.Path:
    sdist_dir = root / "sdist"
    found = _find_sdist(sdist_dir, version)
    if found:
        log.info("using cached sdist %s", found)
        return found
    sdist_dir.mkdir(parents=True, exist_ok=True)
    _run("pip download of the llama-cpp-python sdist",
         [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
          f"{DIST_NAME}=={version}", "-d", str(sdist_dir)], logfile)
    found = _find_sdist(sdist_dir, version)
    if not found:
        raise RuntimeError(f"llama.cpp tools: pip download produced no sdist for "
                           f"{DIST_NAME}=={version} in {sdist_dir}")
    return found


def _extract(sdist: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    """Extract *sdist* into <root>/src and return the project dir (has vendor/llama.cpp)."""
    src_root = root / "src"
    done = src_root / ".extracted"
    if not done.exists():
        log.info("extracting %s", sdist.name)
        if src_root.exists():
            shutil.rmtree(src_root)
        src_root.mkdir(parents=True)
        try:
            with tarfile.open(sdist) as tf:
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(src_root, filter="data")
                else:  # pragma: no cover - old Python
                    tf.extractall(src_root)
        except (tarfile.TarError, OSError) as e:
            raise RuntimeError(f"llama.cpp tools: extracting {sdist} failed: {e}") from e
        done.touch()
    for cand in sorted(src_root.iterdir()):
        vendored = cand / "vendor" / "llama.cpp" / "CMakeLists.txt"
        if vendored.is_file() and (cand / "CMakeLists.txt").is_file():
            return cand
    raise RuntimeError(
        f"llama.cpp tools: extracting sdist failed: no vendor/llama.cpp found under {src_root}")


def cmake_configure_args(project: pathlib.Path, build: pathlib.Path) -> list[str]:
    args = ["cmake", "-S", str(project), "-B", str(build)]
    if shutil.which("ninja") and not (build / "CMakeCache.txt").exists():
        args += ["-G", "Ninja"]  # scikit-build-core also prefers Ninja
    args += [f"-D{k}={v}" for k, v in EXTRA_CMAKE_DEFINES.items()]
    # scikit-build-core appends $CMAKE_ARGS; do the same so custom wheel builds are mirrored.
    args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
    return args


def _options_digest(project: pathlib.Path, build: pathlib.Path) -> str:
    import hashlib

    args = [a for a in cmake_configure_args(project, build) if a.startswith("-D")]
    return hashlib.sha256("\n".join(args).encode()).hexdigest()[:12]


def _install(build: pathlib.Path, tool: str, bin_dir: pathlib.Path) -> pathlib.Path:
    out_dir = build / "bin"
    exe = out_dir / tool
    if not _is_exe(exe):
        raise RuntimeError(f"llama.cpp tools: build finished but {exe} is missing")
    bin_dir.mkdir(parents=True, exist_ok=True)
    # Shared libraries first (keep symlink chains libfoo.so -> libfoo.so.0 -> ...).
    for lib in sorted(out_dir.glob("lib*.so*")) + sorted(out_dir.glob("lib*.dylib")):
        dest = bin_dir / lib.name
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        if lib.is_symlink():
            os.symlink(os.readlink(lib), dest)
        else:
            shutil.copy2(lib, dest)
    # Executable last, via atomic rename, so <bin>/<tool> existing implies a complete install.
    tmp = bin_dir / f".{tool}.tmp"
    shutil.copy2(exe, tmp)
    os.replace(tmp, bin_dir / tool)
    return bin_dir / tool


def locate_or_build(tool: str, version: str | None = None) -> pathlib.Path:
    """Return the path of llama.cpp tool *tool* (e.g. "llama-bench") built from the
    llama.cpp sources of llama-cpp-python *version* (default: the installed one)."""
    if not tool or "/" in tool or tool.startswith("."):
        raise RuntimeError(f"llama.cpp tools: invalid tool name {tool!r}")
    if version is None:
        try:
            version = importlib.metadata.version(DIST_NAME)
        except importlib.metadata.PackageNotFoundError as e:
            raise RuntimeError(
                f"llama.cpp tools: {DIST_NAME} is not installed and no version was given") from e

    root = cache_root() / version
    bin_dir = root / "bin"
    target = bin_dir / tool
    if _is_exe(target):
        log.debug("found %s", target)
        return target

    with _lock(root / ".lock"):
        if _is_exe(target):  # built by a concurrent process while we waited
            return target
        logfile = root / "build.log"
        log.info("building %s from llama-cpp-python %s sources (log: %s)", tool, version, logfile)
        t0 = time.monotonic()
        sdist = _get_sdist(root, version, logfile)
        project = _extract(sdist, root)
        build = root / "build"
        # configured with these very options (an older cache may lack the server)
        configured = build / f".configured-{_options_digest(project, build)}"
        if not (build / "CMakeCache.txt").exists() or not configured.exists():
            _run("cmake configure", cmake_configure_args(project, build), logfile)
            configured.touch()
        _run(f"cmake build of target {tool}",
             ["cmake", "--build", str(build), "--config", "Release", "--target", tool,
              "-j", str(_nproc())],
             logfile)
        path = _install(build, tool, bin_dir)
        log.info("built %s in %.0f s -> %s", tool, time.monotonic() - t0, path)
        return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tools", nargs="+", help="tool names, e.g. llama-bench llama-perplexity")
    ap.add_argument("--version", default=None, help="llama-cpp-python version (default: installed)")
    ap.add_argument("-q", "--quiet", action="store_true")
    ns = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if ns.quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        for t in ns.tools:
            print(locate_or_build(t, ns.version))
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
