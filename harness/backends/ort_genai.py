"""ONNX Runtime through onnxruntime-genai: folders made by its model builder (or Olive).

`Generator.append_tokens` evaluates tokens appended to the KV cache, which is exactly
prefill and a bare decode step; `rewind_to` drops cached tokens, so a reset and
shared-prefix scoring reuse one generator instead of allocating a new KV cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from harness.backends.base import BackendConfig
from harness.backends.kv_cache import KvCacheBackend
from harness.errors import BackendError


class OrtGenaiConfig(BackendConfig):
    device: Literal["cpu", "cuda"] = "cpu"
    """cuda needs the onnxruntime-genai-cuda package in place of onnxruntime-genai."""


class OrtGenaiBackend(KvCacheBackend):
    accepts: ClassVar[tuple[str, ...]] = ("onnx",)
    config_cls: ClassVar[type[BackendConfig]] = OrtGenaiConfig
    install_hint: ClassVar[str] = "pip install 'harness[onnx,torch]'"
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime-genai",)
    modules: ClassVar[tuple[str, ...]] = ("onnxruntime_genai",)

    config: OrtGenaiConfig
    _ROWS_PER_FORWARD = 256

    def load(self, artifact: Path) -> None:
        import onnxruntime_genai as og

        self._og = og
        self._generator = None
        if not (Path(artifact) / "genai_config.json").is_file():
            raise BackendError(f"{artifact} is not an onnxruntime-genai folder "
                               "(no genai_config.json)")
        try:
            config = og.Config(str(artifact))
            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": self.config.threads}}}}))
            if self.config.device == "cuda":
                config.clear_providers()
                config.append_provider("cuda")
            self._model = og.Model(config)
            self._tokenizer = og.Tokenizer(self._model)
            self._vocab = int(json.loads((Path(artifact) / "genai_config.json").read_text())
                              ["model"]["vocab_size"])
        except (RuntimeError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise BackendError(f"onnxruntime-genai could not load {artifact}: {exc}") from exc
        self._eos = {int(t) for t in self._tokenizer.eos_token_ids}
        self.reset()

    def unload(self) -> None:
        self._generator = None
        self._tokenizer = None
        self._model = None

    @property
    def vocab_size(self) -> int:
        return self._vocab

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        tokens = [int(t) for t in self._tokenizer.encode(text)]
        bos = self.bos_token()
        if not add_bos and tokens and tokens[0] == bos:
            tokens = tokens[1:]
        return tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._tokenizer.decode(np.asarray(tokens, dtype=np.int32))

    def bos_token(self) -> int | None:
        bos = int(self._tokenizer.bos_token_id)
        return bos if bos >= 0 else None

    def reset(self) -> None:
        if self._generator is None:
            params = self._og.GeneratorParams(self._model)
            params.set_search_options(max_length=self.config.n_ctx)
            self._generator = self._og.Generator(self._model, params)
        elif self._generator.token_count():
            self._generator.rewind_to(0)
        self._pos = 0

    def _append(self, tokens: Sequence[int]) -> None:
        self._generator.append_tokens(np.asarray(tokens, dtype=np.int32))
        self._pos += len(tokens)

    def prefill(self, tokens: Sequence[int]) -> None:
        self.check_fits(self._pos + len(tokens))
        for start in range(0, len(tokens), self.config.n_batch):
            self._append(tokens[start : start + self.config.n_batch])

    def decode_step(self, token: int) -> None:
        self.check_fits(self._pos + 1)
        self._append([token])

    def last_logits(self) -> np.ndarray:
        return np.array(self._generator.get_logits()[0, -1], dtype=np.float32)

    def ends_generation(self, token: int) -> bool:
        return token in self._eos

    def truncate(self, n_tokens: int) -> None:
        if self._pos > n_tokens:
            self._generator.rewind_to(n_tokens)
            self._pos = n_tokens

    def _rows(self, tokens: Sequence[int], first: int) -> Iterator[tuple[int, np.ndarray]]:
        step = min(self.config.n_batch, self._ROWS_PER_FORWARD)
        for start in range(0, len(tokens), step):
            chunk = tokens[start : start + step]
            self._append(chunk)
            keep = len(chunk) - max(first - start, 0)
            if keep > 0:
                # the decoder's "logits" output holds a row for every token of the chunk
                logits = np.asarray(self._generator.get_output("logits")[0, -keep:],
                                    dtype=np.float32)
                yield start + len(chunk) - keep, _log_softmax(logits)

    def settings(self) -> dict:
        info = super().settings()
        info["provider"] = self.config.device
        return info


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
