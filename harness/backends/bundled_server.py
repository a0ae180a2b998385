"""llama-cpp-python's own OpenAI-compatible server, started for one cell on 127.0.0.1.

It runs in its own process group, dies with the cell process that started it (a crashed
or killed cell must not leave a server running beside the next cell), and is stopped as
a whole group: SIGTERM (uvicorn shuts down cleanly), then SIGKILL if it lingers.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.backends.llama_cpp import cpu_has_amx
from harness.errors import BackendError

log = logging.getLogger(__name__)

_LAUNCH = (
    "import ctypes, os, runpy, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"  # PR_SET_PDEATHSIG: die with the cell
    "if os.getppid() != int(sys.argv.pop(1)):\n"
    "    sys.exit('the harness process that started this server is gone')\n"
    "if sys.argv.pop(1) == 'no-extra-buffers':\n"  # see harness.backends.llama_cpp.repack
    "    import llama_cpp.llama_cpp as lc\n"
    "    defaults = lc.llama_model_default_params\n"
    "    def without_extra_buffers():\n"
    "        params = defaults()\n"
    "        params.use_extra_bufts = False\n"
    "        return params\n"
    "    lc.llama_model_default_params = without_extra_buffers\n"
    "sys.argv[0] = 'llama_cpp.server'\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)
"""Runs llama-cpp-python's server so that it is killed if the cell process dies
(a crashed or killed cell must not leave a server running beside the next cell)."""


class BundledServer:
    """`python -m llama_cpp.server` on a GGUF, ready to answer at `url` once built."""

    def __init__(self, artifact: Path, config) -> None:
        """`config`: the openai_http backend's settings (threads, n_ctx, n_batch, seed,
        prompt_logprobs, server_args, startup_timeout_s)."""
        if not artifact.is_file():
            raise BackendError(f"no GGUF file at {artifact} for the bundled server")
        port = _free_port()
        c = config
        args = ["--model", str(artifact), "--model_alias", artifact.name,
                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(c.n_ctx),
                "--n_batch", str(c.n_batch), "--n_threads", str(c.threads),
                "--n_threads_batch", str(c.threads), "--seed", str(c.seed),
                # echo log-probabilities need every position's logits; otherwise computing
                # them would slow every prompt the serving suite sends
                "--logits_all", str(c.prompt_logprobs),
                # the default cancels a streaming request when another one arrives
                "--interrupt_requests", "False", "--verbose", "False", *c.server_args]
        env = {k: v for k, v in os.environ.items()
               if k.upper() not in ("HOST", "PORT", "CONFIG_FILE", "MODEL")}
        # a file without a name (O_TMPFILE): a killed cell leaves no log behind
        self._log = tempfile.TemporaryFile(prefix="harness-server-", suffix=".log")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, str(os.getpid()),
             "no-extra-buffers" if cpu_has_amx() else "extra-buffers", *args], stdout=self._log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, preexec_fn=_die_with_parent())
        self.url = f"http://127.0.0.1:{port}"
        self.pid = self._proc.pid
        try:
            self._wait_until_ready(c.startup_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout_s: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BackendError(f"llama-cpp-python's server exited with code "
                                   f"{self._proc.returncode}: {self._tail(1)}")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BackendError(f"llama-cpp-python's server did not answer within "
                           f"{timeout_s:g} s: {self._tail(1)}")

    def _tail(self, n: int) -> str:
        if self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - (64 << 10))
        text = os.pread(fd, size - start, start).decode(errors="replace")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return " | ".join(lines[-n:])

    def stop(self) -> None:
        """Stop the whole process group; log the server's last lines and drop its log."""
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self._proc.wait()
        if not self._log.closed:
            log.info("server log, last lines: %s", self._tail(5))
            self._log.close()


def _die_with_parent():
    """A preexec_fn that sets PR_SET_PDEATHSIG in the server before it execs: from its
    first instruction it dies with the cell process (the launcher checks the parent too).
    libc's prctl is looked up here, before the fork."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
