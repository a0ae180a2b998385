"""Any OpenAI-compatible server over HTTP, or llama-cpp-python's server started here.

With `base_url` the backend talks to a server someone else runs (llama.cpp's server,
vLLM serve, Ollama's /v1, LM Studio); the artifact then only names what that server is
said to run. Without it, the backend starts `python -m llama_cpp.server` on the artifact
on 127.0.0.1 and stops it in `unload`. Everything is measured from the client: the
streamed chunks of /v1/completions, as a user of the server sees them.

Tokens are counted with the artifact's own vocabulary, read in-process by llama.cpp
(vocab only, a few MB): it is the tokenizer llama.cpp-based servers run, it works for
servers without tokenizer routes, and it never waits on the server, whose llama-cpp-python
routes queue behind a streaming request until it ends. Where the server has
`/extras/tokenize`, `load` checks that both read a text the same way.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from harness.backends.base import BackendConfig
from harness.backends.bundled_server import BundledServer
from harness.backends.capabilities import Generating, Serving, TokenLogprobs
from harness.backends.llama_cpp import LlamaVocab
from harness.backends.server_process import ServerProcess
from harness.errors import BackendError

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a log line per request

NEUTRAL_SAMPLING = {"top_p": 1.0, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}
"""llama-cpp-python's server defaults to top_k 40, min_p 0.05 and repeat_penalty 1.1,
which change even greedy output; these make temperature the only sampling setting."""

class OpenAIHttpConfig(BackendConfig):
    base_url: str | None = Field(
        default=None, description="an OpenAI-compatible server, e.g. http://host:8000; "
        "unset starts llama-cpp-python's server on the artifact")
    model: str | None = Field(default=None, description="model name sent in requests; "
                              "default: the first one /v1/models lists")
    api_key_env: str | None = Field(
        default=None, description="environment variable holding the server's API key "
        "(none is sent unless named: a key must not travel to a server it is not for)")
    timeout_s: float = Field(default=600, gt=0, description="per request")
    startup_timeout_s: float = Field(default=180, gt=0, description="bundled server start")
    prompt_logprobs: bool = Field(
        default=False, description="score text through echo log-probabilities "
        "(perplexity); the backend checks the server's alignment before trusting them")
    extra_body: dict[str, Any] = Field(
        default_factory=lambda: dict(NEUTRAL_SAMPLING),
        description="fields added to every completion request (replaces the default)")
    server_args: list[str] = Field(default=[], description="more llama_cpp.server arguments")


class OpenAIHttpBackend(Generating, Serving, TokenLogprobs):
    """Streams and serves; scores text only through echo log-probabilities, so only with
    `prompt_logprobs: true`. It cannot time bare steps or return full distributions."""

    accepts: ClassVar[tuple[str, ...]] = ("gguf",)
    config_cls: ClassVar[type[BackendConfig]] = OpenAIHttpConfig
    install_hint: ClassVar[str] = "pip install 'harness[serve]'"
    packages: ClassVar[tuple[str, ...]] = ("llama-cpp-python", "httpx")
    modules: ClassVar[tuple[str, ...]] = ("httpx", "httpx_sse", "llama_cpp", "fastapi",
                                          "uvicorn", "sse_starlette", "starlette_context")

    config: OpenAIHttpConfig
    keep_alive: ClassVar[bool] = True
    """Reuse connections between requests (a server that drops idle ones races with it)."""
    speculation_counters: ClassVar[dict[str, str]] = {}
    """`Serving.speculation`'s counters -> the Prometheus samples of /metrics that hold
    them (summed over labels); empty where the server has none."""

    @classmethod
    def lacks(cls, config: BackendConfig) -> frozenset[type]:
        if getattr(config, "prompt_logprobs", False):
            return frozenset()
        return frozenset({TokenLogprobs})

    def __init__(self, config: OpenAIHttpConfig) -> None:
        super().__init__(config)
        self._server: ServerProcess | None = None
        self._client = None
        self._echo_checked = False

    # -- lifecycle -------------------------------------------------------------------

    def load(self, artifact: Path) -> None:
        import httpx

        self._vocab = self._open_vocab(Path(artifact))
        try:
            if self.config.base_url is None:
                self._server = self._start_server(Path(artifact))
            url = self.config.base_url or self._server.url
            self._url = url.rstrip("/")
            env = self.config.api_key_env
            key = os.environ.get(env) if env else None
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            self._client = httpx.Client(
                base_url=self._url, headers=headers, timeout=self.config.timeout_s,
                # no pool limit: the load generator bounds the requests in flight itself
                limits=httpx.Limits(max_connections=None,
                                    max_keepalive_connections=20 if self.keep_alive else 0))
            models = [m["id"] for m in self._get("/v1/models").get("data", [])]
            if self.config.model is None and not models:
                raise BackendError(f"{self._url}/v1/models lists no model; fix: set model")
            self._model_name = self.config.model or models[0]
            self._server_info = self._describe_server()
            self._bos = self._vocab.bos if self._vocab.adds_bos else None
            self._check_same_tokenizer()
        except BaseException:
            self.unload()  # the runner unloads only what loaded: stop a started server here
            raise

    def _open_vocab(self, artifact: Path):
        """The artifact's vocabulary, read in-process (see the module's docstring)."""
        return LlamaVocab(artifact)

    def _start_server(self, artifact: Path) -> ServerProcess:
        """The server this backend starts when no base_url is given."""
        return BundledServer(artifact, self.config)

    def unload(self) -> None:
        if getattr(self, "_vocab", None) is not None:
            self._vocab.free()
            self._vocab = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def processes(self) -> list[int]:
        return [self._server.pid] if self._server is not None else []

    def _describe_server(self) -> dict:
        """What the server says it is (FastAPI servers such as llama-cpp-python's and
        vLLM's publish their title and version in /openapi.json)."""
        info: dict = {"base_url": self._url, "bundled": self._server is not None,
                      "model": self._model_name}
        try:
            spec = self._client.get("/openapi.json").json().get("info", {})
            info["server"] = f"{spec.get('title', '?')} {spec.get('version', '?')}"
        except Exception:  # not every server publishes one; the name is then unknown
            info["server"] = "unknown"
        return info

    # -- HTTP ------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        import httpx

        if self._client is None:
            raise BackendError("the openai_http backend is not loaded")
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise BackendError(f"no answer from {self._url}{path}: {exc}; fix: start the "
                               "server or correct base_url") from None
        if response.status_code != 200:
            raise BackendError(f"{self._url}{path} answered {response.status_code}: "
                               f"{response.text[:300]}")
        return response.json()

    def _get(self, path: str) -> dict:
        return self._request("GET", path)

    def _post(self, path: str, body: dict) -> dict:
        return self._request("POST", path, body)

    def _completion_body(self, prompt: str, max_tokens: int, **fields: Any) -> dict:
        return {**self.config.extra_body, "model": self._model_name, "prompt": prompt,
                "max_tokens": max_tokens, **fields}

    def _stream(self, body: dict) -> Iterator[str]:
        """Text of each streamed completion chunk, as it arrives."""
        for event in self._events("/v1/completions", {**body, "stream": True}):
            for choice in event.get("choices", []):
                if choice.get("text"):
                    yield choice["text"]

    def _events(self, path: str, body: dict) -> Iterator[dict]:
        """Each server-sent event of a streaming POST to `path`, parsed, until [DONE]."""
        import httpx
        from httpx_sse import connect_sse

        try:
            with connect_sse(self._client, "POST", path, json=body) as events:
                if events.response.status_code != 200:
                    events.response.read()
                    raise BackendError(f"{self._url}{path} answered "
                                       f"{events.response.status_code}: "
                                       f"{events.response.text[:300]}")
                for event in events.iter_sse():
                    if event.data.strip() == "[DONE]":
                        return
                    yield json.loads(event.data)
        except httpx.HTTPError as exc:
            raise BackendError(f"streaming from {self._url}{path} failed: {exc}") from None

    def speculation(self) -> dict[str, float] | None:
        if not self.speculation_counters or self._client is None:
            return None
        from prometheus_client.parser import text_string_to_metric_families

        response = self._client.get("/metrics")
        if response.status_code != 200:
            return None
        wanted = {sample: key for key, sample in self.speculation_counters.items()}
        out = dict.fromkeys(self.speculation_counters, 0.0)
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name in wanted:
                    out[wanted[sample.name]] += sample.value
        return out

    # -- tokens ----------------------------------------------------------------------

    def _check_same_tokenizer(self) -> None:
        """The server must read text as the artifact's vocabulary does (a base_url server
        may run another model than the artifact names)."""
        text = "The capital of France is Paris. Überprüfung: 3.14159!"
        served = self._served_tokens(text)
        if served is not None and served != self.tokenize(text):
            raise BackendError(f"the server at {self._url} tokenizes text differently from "
                               f"the artifact; fix: name the GGUF that server runs")

    def _served_tokens(self, text: str) -> list[int] | None:
        """How the server tokenizes `text`, BOS included where it adds one; None where it
        has no tokenizer route (llama-cpp-python's: /extras/tokenize)."""
        try:
            served = self._client.post("/extras/tokenize", json={"input": text})
        except Exception:  # no such route on this server: nothing to compare with
            return None
        return served.json().get("tokens") if served.status_code == 200 else None

    @property
    def vocab_size(self) -> int:
        return self._vocab.n_tokens

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return self._vocab.tokenize(text, add_bos)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self._vocab.piece(t) for t in tokens).decode(errors="replace")

    def piece_bytes(self, token: int) -> bytes:
        return self._vocab.piece(token)

    def bos_token(self) -> int | None:
        """The BOS token the server puts before every prompt (None if it adds none)."""
        return self._bos

    def ends_generation(self, token: int) -> bool:
        return self._vocab.ends_generation(token)

    def _prompt_text(self, tokens: Sequence[int]) -> str:
        """Token ids as prompt text (the server adds BOS itself). Ids that are not how the
        tokenizer reads their text (random ones, say) read back as a few % more tokens:
        then the text of the first as many re-read tokens goes, so that the server sees
        the same number of prompt tokens."""
        if tokens and self._bos is not None and tokens[0] == self._bos:
            tokens = tokens[1:]
        text = self.detokenize(tokens)
        again = self.tokenize(text, add_bos=False)
        if len(again) > len(tokens):
            text = self.detokenize(again[: len(tokens)])
        return text

    # -- generation ------------------------------------------------------------------

    def generate(self, prompt: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> Iterator[int]:
        """Streams from the server; each chunk's text is turned back into token ids."""
        body = self._completion_body(self._prompt_text(prompt), max_new_tokens,
                                     temperature=temperature, seed=seed)
        for text in self._stream(body):
            yield from self.tokenize(text, add_bos=False)

    def stream_completion(self, prompt: str, max_tokens: int) -> Iterator[int]:
        """One chunk is one token on llama-cpp-python's server, except that a character
        made of several tokens arrives as one chunk (then counted once)."""
        body = self._completion_body(prompt, max_tokens, temperature=0.0,
                                     min_tokens=max_tokens, ignore_eos=True)
        for _ in self._stream(body):
            yield 1

    # -- scoring through echo --------------------------------------------------------

    def token_logprobs(self, tokens: Sequence[int], first: int = 0) -> np.ndarray:
        """From `echo` log-probabilities. OpenAI's convention leaves the first prompt
        token without one, so with a server-added BOS position 0 cannot be scored."""
        if not self.config.prompt_logprobs:
            raise BackendError("token log-probabilities need prompt_logprobs: true "
                               "in the openai_http backend settings")
        self._check_echo_alignment()
        offset = 1 if self._bos is not None and tokens and tokens[0] == self._bos else 0
        values = self._echo_logprobs(tokens)
        out = np.empty(len(tokens) - 1 - first, dtype=np.float64)
        for k in range(len(out)):
            value = values[first + k + 1 - offset]
            if value is None:
                raise BackendError(f"the server gives no log-probability for token "
                                   f"{first + k + 1} (the first after BOS); fix: score "
                                   "from a later position (perplexity scheme llama.cpp)")
            out[k] = value
        return out

    def _echo_logprobs(self, tokens: Sequence[int]) -> list[float | None]:
        """The server's echo log-probability of each prompt token after any BOS it adds."""
        if self._bos is not None and tokens[:1] != [self._bos]:
            raise BackendError("the server puts BOS before every prompt, and these tokens "
                               "do not start with it; their scores would have other context")
        text = self._prompt_text(tokens)
        again = self.tokenize(text)
        if again != list(tokens):
            pairs = zip(again, tokens, strict=False)
            at = next((i for i, (a, b) in enumerate(pairs) if a != b),
                      min(len(again), len(tokens)))
            raise BackendError(f"the server reads the text of these {len(tokens)} tokens "
                               f"back as {len(again)} tokens (first difference at {at}); "
                               "its log-probabilities would score other tokens")
        body = self._completion_body(text, 1, temperature=0.0, echo=True, logprobs=0)
        choice = self._post("/v1/completions", body)["choices"][0]
        values = (choice.get("logprobs") or {}).get("token_logprobs")
        n_prompt = len(tokens) - (1 if tokens[:1] == [self._bos] and tokens else 0)
        if not values or len(values) < n_prompt:
            raise BackendError("the server returned no echo log-probabilities for the "
                               "prompt; it cannot score text")
        return values[:n_prompt]

    def _check_echo_alignment(self) -> None:
        """Echo log-probabilities must agree with the server's own log-probability of a
        token it generates. llama-cpp-python 0.3.36 shifts them by one position for
        models that add no BOS (each token is scored by the distribution after it)."""
        if self._echo_checked:
            return
        probe = self.tokenize("The capital of France is")
        body = self._completion_body(self._prompt_text(probe), 1, temperature=0.0,
                                     logprobs=0)
        choice = self._post("/v1/completions", body)["choices"][0]
        generated = self.tokenize(choice["text"], add_bos=False)
        expected = (choice.get("logprobs") or {}).get("token_logprobs") or [None]
        if len(generated) != 1 or expected[0] is None:
            raise BackendError("could not check the server's echo log-probabilities "
                               "(no single generated token with a log-probability)")
        got = self._echo_logprobs(probe + generated)[-1]
        if got is None or abs(got - expected[0]) > 0.05:
            raise BackendError(
                f"{self._server_info['server']} echoes log p = {got} for a token it "
                f"generated with log p = {expected[0]:.4f}: its prompt log-probabilities "
                "are misaligned (llama-cpp-python 0.3.36 shifts them by one token for "
                "models that add no BOS), so this server cannot score text")
        self._echo_checked = True

    def settings(self) -> dict:
        info = super().settings()
        info.pop("extra_body", None)
        info["request_fields"] = dict(self.config.extra_body)
        if getattr(self, "_server_info", None):
            info.update(self._server_info)
        return info
