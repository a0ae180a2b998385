"""vLLM's OpenAI-compatible server, a batching server, started for one cell on 127.0.0.1.

It runs with the Python of vLLM's own environment (harness.backends.vllm: `nox -s vllm`
builds one, $HARNESS_VLLM_PYTHON names another) on a Hugging Face folder; this process
stays the client and needs no vLLM. Every streamed chunk carries the request's running
token count (`continuous_usage_stats`), so tokens per chunk are the server's own count,
as `vllm bench serve` reads them. Text is read with the folder's own tokenizer
(transformers), checked against the server's /tokenize when loading. Speculation
(`speculative_config`, e.g. `{method: ngram, num_speculative_tokens: 4,
prompt_lookup_max: 4}`) is vLLM's own, counted by its /metrics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.backends.base import BackendConfig
from harness.backends.openai_http import OpenAIHttpBackend, OpenAIHttpConfig
from harness.backends.server_process import ServerProcess, free_port
from harness.backends.vllm import PYTHON_ENV, VllmBackend, _probe
from harness.errors import BackendError


class VllmServerConfig(OpenAIHttpConfig):
    max_num_seqs: int = Field(default=256, ge=1, description="requests batched at once")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    kv_cache_space_gib: float = Field(default=1.0, gt=0, description="KV cache on CPU "
                                      "(VLLM_CPU_KVCACHE_SPACE)")
    enforce_eager: bool = Field(default=True, description="no torch.compile / CUDA graphs")
    prefix_caching: bool = Field(default=True, description="reuse the KV blocks of a "
                                 "repeated prompt prefix (vLLM's default)")
    speculative_config: dict[str, Any] | None = Field(
        default=None, description="vLLM's --speculative-config, e.g. {method: ngram, "
        "num_speculative_tokens: 4, prompt_lookup_max: 4}")
    startup_timeout_s: float = Field(default=600, gt=0, description="server start")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="fields added "
                                       "to every completion request")
    server_args: list[str] = Field(default=[], description="more `vllm serve` arguments")


class HfVocab:
    """A Hugging Face folder's tokenizer, read as LlamaVocab reads a GGUF's vocabulary."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer, GenerationConfig

        self._tok = AutoTokenizer.from_pretrained(folder)
        self.n_tokens = len(self._tok)
        bos = self._tok.bos_token_id
        self.bos = -1 if bos is None else int(bos)
        probe = self._tok("a", add_special_tokens=True).input_ids
        self.adds_bos = self.bos >= 0 and probe[:1] == [self.bos]
        try:
            eos = GenerationConfig.from_pretrained(folder).eos_token_id
        except OSError:
            eos = None
        self._ends = {self._tok.eos_token_id, *(eos if isinstance(eos, list) else [eos])}
        self._ends.discard(None)

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        ids = self._tok(text, add_special_tokens=False).input_ids
        return [self.bos, *ids] if add_bos and self.adds_bos else ids

    def decode(self, tokens: Sequence[int]) -> str:
        return self._tok.decode(list(tokens))

    def piece(self, token: int) -> bytes:
        return self._tok.decode([token]).encode()

    def ends_generation(self, token: int) -> bool:
        return token in self._ends

    def free(self) -> None:
        self._tok = None


class VllmServerBackend(OpenAIHttpBackend):
    """`vllm serve` per cell; everything measured from the client."""

    accepts: ClassVar[tuple[str, ...]] = ("hf",)
    excludes: ClassVar[dict[str, str]] = VllmBackend.excludes
    config_cls: ClassVar[type[BackendConfig]] = VllmServerConfig
    install_hint: ClassVar[str] = VllmBackend.install_hint
    packages: ClassVar[tuple[str, ...]] = ("httpx",)
    modules: ClassVar[tuple[str, ...]] = ("httpx", "httpx_sse", "transformers",
                                          "prometheus_client")
    speculation_counters: ClassVar[dict[str, str]] = {
        "drafts": "vllm:spec_decode_num_drafts_total",
        "drafted": "vllm:spec_decode_num_draft_tokens_total",
        "accepted": "vllm:spec_decode_num_accepted_tokens_total"}

    config: VllmServerConfig

    @classmethod
    def available(cls) -> bool:
        env = _probe(VllmBackend.interpreter())
        return super().available() and bool(env and env["vllm"])

    @classmethod
    def version(cls) -> str:
        return VllmBackend.version()

    def _open_vocab(self, artifact: Path):
        if not (artifact / "config.json").is_file():
            raise BackendError(f"{artifact} is not a Hugging Face model folder (no "
                               "config.json); fix: give vllm_server an hf format")
        return HfVocab(artifact)

    def _start_server(self, artifact: Path) -> ServerProcess:
        c = self.config
        port = free_port()
        args = [VllmBackend.interpreter(), "-m", "vllm.entrypoints.openai.api_server",
                "--model", str(artifact), "--served-model-name", artifact.name,
                "--host", "127.0.0.1", "--port", str(port), "--dtype", c.dtype,
                "--max-model-len", str(c.n_ctx), "--max-num-seqs", str(c.max_num_seqs),
                "--max-num-batched-tokens", str(max(c.n_batch, c.n_ctx)),
                "--seed", str(c.seed), "--disable-uvicorn-access-log",
                "--enable-prefix-caching" if c.prefix_caching else "--no-enable-prefix-caching"]
        if c.enforce_eager:
            args.append("--enforce-eager")
        if c.speculative_config:
            args += ["--speculative-config", json.dumps(c.speculative_config)]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": f"{c.kv_cache_space_gib:g}",
               "OMP_NUM_THREADS": str(c.threads)}
        env.pop(PYTHON_ENV, None)
        return ServerProcess([*args, *c.server_args], port, "vllm serve",
                             c.startup_timeout_s, ready_path="/health", env=env)

    def _served_tokens(self, text: str) -> list[int] | None:
        served = self._client.post("/tokenize", json={"model": self._model_name,
                                                      "prompt": text})
        return served.json().get("tokens") if served.status_code == 200 else None

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._vocab.decode(tokens)

    def stream_completion(self, prompt: str, max_tokens: int) -> Iterator[int]:
        """Tokens of each chunk: the difference of its running completion-token count."""
        body = self._completion_body(
            prompt, max_tokens, temperature=0.0, ignore_eos=True, min_tokens=max_tokens,
            stream=True, stream_options={"include_usage": True,
                                         "continuous_usage_stats": True})
        seen = 0
        for event in self._events("/v1/completions", body):
            usage = event.get("usage") or {}
            count = usage.get("completion_tokens", seen)
            if count > seen:
                yield count - seen
                seen = count
