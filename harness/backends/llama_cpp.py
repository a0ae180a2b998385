"""llama.cpp through llama-cpp-python's low-level (ctypes) API.

The timed paths call `llama_decode` directly with `llama_batch_get_one`, as
llama-bench does, so no Python sampling or bookkeeping lands inside a timing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy.special import log_softmax

from harness.backends.base import BackendConfig
from harness.backends.kv_cache import KvCacheBackend
from harness.errors import BackendError

_FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}


def cpu_has_amx() -> bool:
    """Whether this CPU reports AMX (Linux's /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return any(line.startswith("flags") and " amx_int8" in line for line in handle)
    except OSError:
        return False


_GGML_ELEMENT_BYTES = {0: 4, 1: 2, 30: 2}
"""ggml types of a KV cache (F32, F16, BF16) -> bytes per element; quantized caches have
blocks, not elements, and are left out."""


class LlamaCppConfig(BackendConfig):
    n_batch: int = Field(default=2048, ge=1, description="logical batch (llama-bench default)")
    n_ubatch: int = Field(default=512, ge=1, description="physical batch (llama-bench default)")
    flash_attn: Literal["auto", "on", "off"] = "auto"
    n_gpu_layers: int = Field(default=0, ge=-1, description="-1 offloads every layer")
    use_mmap: bool = True
    repack: Literal["auto", "on", "off"] = Field(
        default="auto", description="llama.cpp's extra weight buffers (repacked Q4_0 and, on "
        "CPUs with AMX, AMX tiles); auto: on, except on CPUs with AMX, where llama.cpp's AMX "
        "matmul crashes (llama.cpp issue 20824; seen on this project's VMs)")

    unlisted_defaults: ClassVar[dict] = {**BackendConfig.unlisted_defaults, "repack": "auto"}

    def extra_buffers(self) -> bool:
        """Whether the model loads with llama.cpp's extra buffer types (`use_extra_bufts`)."""
        return self.repack == "on" or (self.repack == "auto" and not cpu_has_amx())


class LlamaCppBackend(KvCacheBackend):
    accepts: ClassVar[tuple[str, ...]] = ("gguf",)
    config_cls: ClassVar[type[BackendConfig]] = LlamaCppConfig
    install_hint: ClassVar[str] = "pip install 'harness[llama]'"
    packages: ClassVar[tuple[str, ...]] = ("llama-cpp-python",)
    modules: ClassVar[tuple[str, ...]] = ("llama_cpp",)

    config: LlamaCppConfig

    def __init__(self, config: LlamaCppConfig) -> None:
        super().__init__(config)
        self._model = None
        self._ctx = None
        self._vocab = None
        self._batch = None

    def load(self, artifact: Path) -> None:
        import llama_cpp as lc

        self._lc = lc
        lc.llama_backend_init()
        mparams = lc.llama_model_default_params()
        mparams.n_gpu_layers = self.config.n_gpu_layers if self.config.n_gpu_layers >= 0 else 999
        mparams.use_mmap = self.config.use_mmap
        mparams.use_extra_bufts = self.config.extra_buffers()
        if not mparams.use_extra_bufts:
            print(f"llama.cpp extra buffers off (repack: {self.config.repack})", file=sys.stderr)
        self._model = lc.llama_model_load_from_file(str(artifact).encode(), mparams)
        if not self._model:
            raise BackendError(f"llama.cpp could not load {artifact} (see its log above)")
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = self.config.n_ctx
        cparams.n_batch = self.config.n_batch
        cparams.n_ubatch = min(self.config.n_ubatch, self.config.n_batch)
        cparams.n_threads = self.config.threads
        cparams.n_threads_batch = self.config.threads
        cparams.flash_attn_type = _FLASH_ATTN[self.config.flash_attn]
        cparams.no_perf = True
        self._kv_element_bytes = _GGML_ELEMENT_BYTES.get(int(cparams.type_k))
        self._ctx = lc.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            raise BackendError(f"llama.cpp could not create a context for {artifact}")
        self._vocab = lc.llama_model_get_vocab(self._model)
        self._n_vocab = lc.llama_vocab_n_tokens(self._vocab)
        self._batch = lc.llama_batch_init(self.config.n_batch, 0, 1)

    def unload(self) -> None:
        lc = getattr(self, "_lc", None)
        if lc is None:
            return
        if self._batch is not None:
            lc.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            lc.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            lc.llama_model_free(self._model)
            self._model = None

    @property
    def vocab_size(self) -> int:
        return self._n_vocab

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return vocab_tokenize(self._lc, self._vocab, text, add_bos, parse_special=False)

    def detokenize(self, tokens: Sequence[int]) -> str:
        out = bytearray()
        buf = ctypes.create_string_buffer(256)
        for token in tokens:
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            out += buf.raw[: max(n, 0)]
        return out.decode(errors="replace")

    def bos_token(self) -> int | None:
        token = int(self._lc.llama_vocab_bos(self._vocab))
        return token if token >= 0 else None

    def reset(self) -> None:
        self._lc.llama_memory_clear(self._lc.llama_get_memory(self._ctx), True)

    def prefill(self, tokens: Sequence[int]) -> None:
        lc = self._lc
        step = self.config.n_batch
        for start in range(0, len(tokens), step):
            chunk = tokens[start : start + step]
            arr = (lc.llama_token * len(chunk))(*chunk)
            self._check(lc.llama_decode(self._ctx, lc.llama_batch_get_one(arr, len(chunk))))
        lc.llama_synchronize(self._ctx)

    def decode_step(self, token: int) -> None:
        lc = self._lc
        arr = (lc.llama_token * 1)(token)
        self._check(lc.llama_decode(self._ctx, lc.llama_batch_get_one(arr, 1)))
        lc.llama_synchronize(self._ctx)

    def ends_generation(self, token: int) -> bool:
        return bool(self._lc.llama_vocab_is_eog(self._vocab, token))

    def kv_cache_usage(self) -> tuple[int, float] | None:
        """The size of the sequence's saved state: its KV cells, layer by layer, plus a few
        bytes per cell (position, sequence ids) and per layer (type, row size)."""
        if self._kv_element_bytes is None:
            return None
        return int(self._lc.llama_state_seq_get_size(self._ctx, 0)), self._kv_element_bytes

    def truncate(self, n_tokens: int) -> None:
        self._lc.llama_memory_seq_rm(self._lc.llama_get_memory(self._ctx), 0, n_tokens, -1)

    def piece_bytes(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[: max(n, 0)]

    _ROWS_PER_DECODE = 256
    """Logit rows per llama_decode: bounds the output buffer (rows x vocab floats)."""

    def _rows(self, tokens: Sequence[int], first: int) -> Iterator[tuple[int, np.ndarray]]:
        lc = self._lc
        offset = lc.llama_memory_seq_pos_max(lc.llama_get_memory(self._ctx), 0) + 1  # -1: empty
        batch = self._batch
        step = min(self.config.n_batch, self._ROWS_PER_DECODE)
        for start in range(0, len(tokens), step):
            chunk = tokens[start : start + step]
            batch.n_tokens = len(chunk)
            n_out = 0
            for i, token in enumerate(chunk):
                want = start + i >= first
                batch.token[i] = token
                batch.pos[i] = offset + start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = want
                n_out += want
            self._check(lc.llama_decode(self._ctx, batch))
            if n_out:
                logits = np.ctypeslib.as_array(lc.llama_get_logits(self._ctx),
                                               shape=(n_out, self._n_vocab))
                yield start + len(chunk) - n_out, log_softmax(logits, axis=1)

    def last_logits(self) -> np.ndarray:
        return np.ctypeslib.as_array(self._lc.llama_get_logits_ith(self._ctx, -1),
                                     shape=(self._n_vocab,))

    def settings(self) -> dict:
        info = super().settings()
        if getattr(self, "_lc", None) is not None:
            info["system_info"] = self._lc.llama_print_system_info().decode().strip()
        return info

    @staticmethod
    def _check(rc: int) -> None:
        if rc != 0:
            raise BackendError(f"llama_decode returned {rc}")


def vocab_tokenize(lc, vocab, text: str, add_bos: bool, parse_special: bool) -> list[int]:
    """Text -> token ids with a llama.cpp vocabulary (`lc` is the llama_cpp module)."""
    raw = text.encode()
    capacity = len(raw) + 8
    buf = (lc.llama_token * capacity)()
    n = lc.llama_tokenize(vocab, raw, len(raw), buf, capacity, add_bos, parse_special)
    if n < 0:
        raise BackendError(f"tokenizer needs {-n} slots, had {capacity}")
    return list(buf[:n])


class LlamaVocab:
    """A GGUF's tokenizer through llama.cpp, without the weights. Reads prompts as
    llama-cpp-python's server does (special tokens parsed, BOS as the model says)."""

    def __init__(self, path: Path) -> None:
        import llama_cpp as lc

        self._lc = lc
        lc.llama_backend_init()
        params = lc.llama_model_default_params()
        params.vocab_only = True
        self._model = lc.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise BackendError(f"llama.cpp could not read the vocabulary of {path}")
        self._vocab = lc.llama_model_get_vocab(self._model)
        self.n_tokens = lc.llama_vocab_n_tokens(self._vocab)
        self.bos = int(lc.llama_vocab_bos(self._vocab))
        self.adds_bos = bool(lc.llama_vocab_get_add_bos(self._vocab)) and self.bos >= 0
        self._pieces: dict[int, bytes] = {}

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        return vocab_tokenize(self._lc, self._vocab, text, add_bos, parse_special=True)

    def ends_generation(self, token: int) -> bool:
        return bool(self._lc.llama_vocab_is_eog(self._vocab, token))

    def piece(self, token: int) -> bytes:
        if token not in self._pieces:
            buf = ctypes.create_string_buffer(256)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            self._pieces[token] = buf.raw[: max(n, 0)]
        return self._pieces[token]

    def free(self) -> None:
        if self._model:
            self._lc.llama_model_free(self._model)
            self._model = None
