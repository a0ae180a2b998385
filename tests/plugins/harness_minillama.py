"""A second, real llama.cpp adapter, through llama-cpp-python's high-level `Llama` API.

Test-only, and the proof that an in-process engine is one module, one entry-point line
(`minillama` in this distribution's entry_points.txt) and one conformance row: it streams
through `Llama.generate` and gives log-probability rows through `logits_all`, so it
derives `Generating` and `RowScoring`, and the conformance checks follow from that.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from harness.backends.capabilities import Generating, RowScoring
from harness.errors import BackendError

_ROWS_PER_YIELD = 256


class MiniLlamaBackend(Generating, RowScoring):
    accepts: ClassVar[tuple[str, ...]] = ("gguf",)
    install_hint: ClassVar[str] = "pip install llama-cpp-python"
    packages: ClassVar[tuple[str, ...]] = ("llama-cpp-python",)
    modules: ClassVar[tuple[str, ...]] = ("llama_cpp",)

    def load(self, artifact: Path) -> None:
        import llama_cpp

        self._lc = llama_cpp
        c = self.config
        try:  # logits_all: every position's logits, which the rows are made of
            self._llm = llama_cpp.Llama(
                str(artifact), n_ctx=c.n_ctx, n_batch=c.n_batch, n_threads=c.threads,
                n_threads_batch=c.threads, seed=c.seed, logits_all=True, verbose=False)
        except ValueError as exc:
            raise BackendError(f"llama-cpp-python could not load {artifact}: {exc}") from exc

    def unload(self) -> None:
        if getattr(self, "_llm", None) is not None:
            self._llm.close()
            self._llm = None

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        return self._llm.tokenize(text.encode(), add_bos=add_bos)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._llm.detokenize(list(tokens)).decode(errors="replace")

    @property
    def vocab_size(self) -> int:
        return self._llm.n_vocab()

    def bos_token(self) -> int | None:
        bos = self._llm.token_bos()
        return bos if bos >= 0 else None

    def ends_generation(self, token: int) -> bool:
        # what Llama.create_completion stops on (end of sequence or of turn)
        return bool(self._lc.llama_vocab_is_eog(self._llm._model.vocab, token))

    def generate(self, prompt: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> Iterator[int]:
        self.check_fits(len(prompt))
        self._llm.set_seed(seed)
        # top_k 0, top_p 1 and min_p 0 switch those samplers off: softmax(logits / T) alone
        stream = self._llm.generate(list(prompt), temp=temperature, top_k=0, top_p=1.0,
                                    min_p=0.0, repeat_penalty=1.0)
        for _, token in zip(range(max_new_tokens), stream, strict=False):
            yield token
            if self.ends_generation(token):
                return

    def logprob_rows(self, tokens: Sequence[int], first: int = 0
                     ) -> Iterator[tuple[int, np.ndarray]]:
        self.check_fits(len(tokens))
        self._llm.reset()
        self._llm.eval(list(tokens))
        for start in range(max(first, 0), len(tokens), _ROWS_PER_YIELD):
            logits = self._llm.scores[start : min(start + _ROWS_PER_YIELD, len(tokens))]
            shifted = logits - logits.max(axis=1, keepdims=True)
            yield start, shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
