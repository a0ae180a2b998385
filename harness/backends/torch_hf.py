"""PyTorch through transformers: fp32, bf16 and dynamic-int8 folders, CPU or CUDA.

The KV cache is a transformers DynamicCache kept across calls, so prefill, decode
steps and shared-prefix scoring work like the llama.cpp backend's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from harness.backends.base import BackendConfig
from harness.backends.kv_cache import KvCacheBackend
from harness.errors import BackendError


class TransformersConfig(BackendConfig):
    device: Literal["cpu", "cuda"] = "cpu"


class TransformersBackend(KvCacheBackend):
    accepts: ClassVar[tuple[str, ...]] = ("hf",)
    config_cls: ClassVar[type[BackendConfig]] = TransformersConfig
    install_hint: ClassVar[str] = "pip install 'harness[torch]' (torch==2.13.0 is the CPU build)"
    packages: ClassVar[tuple[str, ...]] = ("transformers", "torch")
    modules: ClassVar[tuple[str, ...]] = ("torch", "transformers")

    config: TransformersConfig

    @classmethod
    def skip_reason(cls, fmt: str, config: BackendConfig) -> str | None:
        if fmt.startswith("hf-bnb") and config.device != "cuda":
            return "bitsandbytes formats run on CUDA only (set device: cuda on an NVIDIA GPU)"
        return super().skip_reason(fmt, config)
    _ROWS_PER_FORWARD = 256

    def load(self, artifact: Path) -> None:
        import torch
        from transformers import AutoTokenizer, DynamicCache

        from harness.backends.hf_loading import load_model

        self._torch = torch
        self._cache_cls = DynamicCache
        if not (Path(artifact) / "config.json").is_file():
            raise BackendError(f"{artifact} is not a transformers folder (no config.json)")
        try:
            self._model = load_model(artifact, self.config.threads, self.config.device)
            self._tokenizer = AutoTokenizer.from_pretrained(artifact)
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(f"transformers could not load {artifact}: {exc}") from exc
        eos = self._model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.reset()

    def unload(self) -> None:
        self._model = None
        self._cache = None

    @property
    def vocab_size(self) -> int:
        return int(self._model.config.vocab_size)

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=add_bos)["input_ids"])

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._tokenizer.decode(list(tokens))

    def bos_token(self) -> int | None:
        return self._tokenizer.bos_token_id

    def reset(self) -> None:
        self._cache = self._cache_cls()
        self._pos = 0
        self._last = None

    def _forward(self, tokens: Sequence[int], keep: int = 1):
        torch = self._torch
        ids = torch.tensor([list(tokens)], device=self.config.device)
        with torch.inference_mode():
            out = self._model(input_ids=ids, past_key_values=self._cache, use_cache=True,
                              logits_to_keep=keep)
        self._pos += len(tokens)
        self._last = out.logits[0, -1]
        return out.logits[0]

    def prefill(self, tokens: Sequence[int]) -> None:
        self.check_fits(self._pos + len(tokens))
        for start in range(0, len(tokens), self.config.n_batch):
            self._forward(tokens[start : start + self.config.n_batch])
        self._sync()

    def decode_step(self, token: int) -> None:
        self.check_fits(self._pos + 1)
        self._forward([token])
        self._sync()

    def last_logits(self) -> np.ndarray:
        return self._last.float().cpu().numpy()

    def ends_generation(self, token: int) -> bool:
        return token in self._eos

    def kv_cache_usage(self) -> tuple[int, float] | None:
        """The bytes of the DynamicCache's key and value tensors."""
        tensors = [t for layer in getattr(self._cache, "layers", [])
                   for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
                   if t is not None and hasattr(t, "nbytes")]
        if not tensors:
            return None
        return sum(t.nbytes for t in tensors), tensors[0].element_size()

    def truncate(self, n_tokens: int) -> None:
        extra = self._cache.get_seq_length() - n_tokens
        if extra > 0:  # transformers 5 crops by a negative count of tokens to drop
            self._cache.crop(-extra)
        self._pos = n_tokens

    def _rows(self, tokens: Sequence[int], first: int) -> Iterator[tuple[int, np.ndarray]]:
        torch = self._torch
        step = min(self.config.n_batch, self._ROWS_PER_FORWARD)
        for start in range(0, len(tokens), step):
            chunk = tokens[start : start + step]
            keep = len(chunk) - max(first - start, 0)
            logits = self._forward(chunk, keep=max(keep, 1))
            if keep > 0:
                rows = torch.log_softmax(logits[-keep:].float(), dim=-1).cpu().numpy()
                yield start + len(chunk) - keep, rows

    def _sync(self) -> None:
        if self.config.device == "cuda":
            self._torch.cuda.synchronize()

    def settings(self) -> dict:
        info = super().settings()
        if getattr(self, "_torch", None) is not None:
            info["torch_threads"] = self._torch.get_num_threads()
            info["dtype"] = str(next(self._model.parameters()).dtype)
        return info
