"""llama-cpp-python's own OpenAI-compatible server, started for one cell on 127.0.0.1
(harness.backends.server_process: its own process group, dies with the cell, stopped
whole)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.backends.llama_cpp import cpu_has_amx
from harness.backends.server_process import ServerProcess, free_port
from harness.errors import BackendError

_LAUNCH = (
    "import runpy, sys\n"
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
"""Runs llama-cpp-python's server, without llama.cpp's extra weight buffers where asked."""


class BundledServer(ServerProcess):
    """`python -m llama_cpp.server` on a GGUF, ready to answer at `url` once built."""

    def __init__(self, artifact: Path, config) -> None:
        """`config`: the openai_http backend's settings (threads, n_ctx, n_batch, seed,
        prompt_logprobs, server_args, startup_timeout_s)."""
        if not artifact.is_file():
            raise BackendError(f"no GGUF file at {artifact} for the bundled server")
        port = free_port()
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
        command = [sys.executable, "-c", _LAUNCH,
                   "no-extra-buffers" if cpu_has_amx() else "extra-buffers", *args]
        super().__init__(command, port, "llama-cpp-python's server", c.startup_timeout_s,
                         env=env)
