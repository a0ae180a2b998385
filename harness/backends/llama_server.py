"""llama.cpp's own `llama-server`, a batching server, started for one cell on 127.0.0.1.

The binary is built from the llama.cpp tree vendored in the installed llama-cpp-python's
sdist, with that wheel's CMake configuration (harness.backends.llama_cpp_tools), and
cached outside the repository: the first cell that needs it builds it (minutes) or is
told how. It serves `parallel` slots at once with continuous batching, and can speculate
with a draft model or n-grams.

Requests go to the native `/completion` route, whose streamed events carry the token ids
of each chunk (so several tokens in one chunk, as speculation sends them, are counted
exactly) and whose last event carries the server's own `timings` of the request
(prompt and generation time, drafted and accepted tokens): `stream_completion` returns
them, and the serving suite keeps them beside the client's record.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from harness.backends.base import BackendConfig
from harness.backends.llama_cpp import cpu_has_amx
from harness.backends.openai_http import OpenAIHttpBackend, OpenAIHttpConfig
from harness.backends.server_process import ServerProcess, free_port
from harness.errors import BackendError

BINARY_ENV = "HARNESS_LLAMA_SERVER"
"""Names a llama-server binary to use instead of the one built from the vendored tree."""


class LlamaServerConfig(OpenAIHttpConfig):
    parallel: int = Field(default=4, ge=1, le=256, description="slots served at once (-np)")
    cont_batching: bool = Field(default=True, description="continuous batching (-cb)")
    n_ctx: int = Field(default=2048, ge=16, le=1 << 20,
                       description="KV cache tokens, shared by all slots (-c)")
    flash_attn: Literal["auto", "on", "off"] = "auto"
    cache_prompt: bool = Field(default=True, description="reuse a slot's cached prefix")
    draft: str | None = Field(default=None, description="a draft GGUF for speculative "
                              "decoding (-md): a path, or a format of the cell's model")
    spec_type: str | None = Field(default=None, description="--spec-type, e.g. ngram-simple "
                                  "(default with a draft: draft-simple)")
    draft_max: int = Field(default=16, ge=1, description="tokens drafted per step")
    draft_min: int = Field(default=0, ge=0)
    startup_timeout_s: float = Field(default=300, gt=0)
    server_args: list[str] = Field(default=[], description="more llama-server arguments")

    def extra_formats(self) -> list[str]:
        return [self.draft] if self.draft and not _is_path(self.draft) else []

    def with_artifacts(self, paths: dict[str, str]) -> LlamaServerConfig:
        if self.draft in paths:
            return self.model_copy(update={"draft": paths[self.draft]})
        return self


def _is_path(value: str) -> bool:
    return "/" in value or value.endswith(".gguf")


class LlamaServerBackend(OpenAIHttpBackend):
    """A `llama-server` process per cell; everything measured from the client."""

    config_cls: ClassVar[type[BackendConfig]] = LlamaServerConfig
    install_hint: ClassVar[str] = ("pip install 'harness[serve]'; llama-server is built from "
                                   "llama-cpp-python's sources on first use (cmake and a C++ "
                                   "compiler), or set HARNESS_LLAMA_SERVER to a binary")
    packages: ClassVar[tuple[str, ...]] = ("llama-cpp-python", "httpx")
    modules: ClassVar[tuple[str, ...]] = ("httpx", "httpx_sse", "llama_cpp",
                                          "prometheus_client")

    config: LlamaServerConfig
    keep_alive: ClassVar[bool] = False
    """llama-server (cpp-httplib) closes a connection idle for 5 s; a request sent on it
    at that moment fails with "Server disconnected without sending a response" (10 of
    about 400 requests of suites/serving.yaml did). A connection per request costs well
    under a millisecond on 127.0.0.1."""
    speculation_counters: ClassVar[dict[str, str]] = {
        "drafts": "llamacpp:spec_decode_num_drafts_total",
        "drafted": "llamacpp:spec_decode_num_draft_tokens_total",
        "accepted": "llamacpp:spec_decode_num_accepted_tokens_total"}

    @classmethod
    def lacks(cls, config: BackendConfig) -> frozenset[type]:
        from harness.backends.capabilities import TokenLogprobs

        return frozenset({TokenLogprobs})  # llama-server does not echo prompt log-probs

    def _start_server(self, artifact: Path) -> ServerProcess:
        if not artifact.is_file():
            raise BackendError(f"no GGUF file at {artifact} for llama-server")
        port = free_port()
        c = self.config
        args = [binary(), "--model", str(artifact), "--alias", artifact.name,
                "--host", "127.0.0.1", "--port", str(port), "--ctx-size", str(c.n_ctx),
                "--batch-size", str(c.n_batch), "--threads", str(c.threads),
                "--threads-batch", str(c.threads), "--parallel", str(c.parallel),
                "--cont-batching" if c.cont_batching else "--no-cont-batching",
                "--flash-attn", c.flash_attn, "--seed", str(c.seed), "--metrics",
                "--no-webui", "--cache-prompt" if c.cache_prompt else "--no-cache-prompt"]
        if cpu_has_amx():  # see harness.backends.llama_cpp.repack: AMX matmul crashes
            args.append("--no-repack")
        args += self._speculation(artifact)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_ARG_")}
        return ServerProcess([*args, *c.server_args], port, "llama-server",
                             c.startup_timeout_s, ready_path="/health", env=env)

    def _speculation(self, artifact: Path) -> list[str]:
        c = self.config
        args = []
        if c.draft:
            draft = Path(c.draft).expanduser()
            if not draft.is_file():
                raise BackendError(f"draft {c.draft!r} is neither a GGUF file nor a format "
                                   "the runner prepared; fix: give the path of a GGUF, or a "
                                   "format name such as q4_0 in a plan")
            args += ["--model-draft", str(draft), "--spec-draft-n-max", str(c.draft_max),
                     "--spec-draft-n-min", str(c.draft_min)]
        # llama-server loads a draft model but speculates only with a --spec-type
        spec_type = c.spec_type or ("draft-simple" if c.draft else None)
        if spec_type:
            args += ["--spec-type", spec_type]
        return args

    def _served_tokens(self, text: str) -> list[int] | None:
        served = self._client.post("/tokenize", json={"content": text, "add_special": True})
        return served.json().get("tokens") if served.status_code == 200 else None

    def stream_completion(self, prompt: str, max_tokens: int) -> Iterator[int]:
        """Tokens of each streamed chunk (llama-server sends their ids); returns the
        server's `timings` of the request."""
        body = {**self.config.extra_body, "prompt": prompt, "n_predict": max_tokens,
                "temperature": 0.0, "ignore_eos": True, "stream": True,
                "cache_prompt": self.config.cache_prompt, "return_tokens": True}
        timings = None
        for event in self._events("/completion", body):
            if event.get("tokens"):
                yield len(event["tokens"])
            if event.get("stop"):
                timings = event.get("timings")
        return timings

    def generate(self, prompt, max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> Iterator[int]:
        """The server's own token ids (the prompt sent as ids: no re-reading of text)."""
        body = {**self.config.extra_body, "prompt": list(prompt), "n_predict": max_new_tokens,
                "temperature": temperature, "seed": seed, "stream": True,
                "cache_prompt": self.config.cache_prompt, "return_tokens": True}
        for event in self._events("/completion", body):
            yield from event.get("tokens") or []



def binary() -> str:
    """The llama-server to run: $HARNESS_LLAMA_SERVER, else the one built from the
    installed llama-cpp-python's sources (built now if missing)."""
    given = os.environ.get(BINARY_ENV)
    if given:
        if not os.access(given, os.X_OK):
            raise BackendError(f"{BINARY_ENV}={given} is not an executable; fix: point it at "
                               "a llama-server binary or unset it")
        return given
    from harness.backends.llama_cpp_tools import locate_or_build

    try:
        return str(locate_or_build("llama-server"))
    except RuntimeError as exc:
        raise BackendError(f"{exc}; fix: install cmake and a C++ compiler, or set "
                           f"{BINARY_ENV} to a llama-server binary") from None
