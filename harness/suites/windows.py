"""How a long token sequence is cut into scored windows (perplexity, KL divergence).

Two schemes:
- `llama.cpp`: exactly llama-perplexity's. Non-overlapping chunks of n_ctx tokens
  (as many as fit), the first token of each replaced by BOS when the model adds one,
  and only the second half scored: positions n_ctx/2 .. n_ctx-2 predict the tokens
  after them, so n_ctx/2 - 1 tokens per chunk.
- `rolling`: the sliding window of Hugging Face's perplexity guide. Windows of n_ctx
  tokens advancing by `stride`; each scores only the tokens no earlier window scored,
  every token but the first is scored once, with up to n_ctx - stride tokens of context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from harness.data.corpora import DEFAULT_CORPUS, CorpusSpec, check_length
from harness.suites.base import SuiteParams

Scheme = Literal["llama.cpp", "rolling"]


class WindowParams(SuiteParams):
    """Corpus and window settings shared by perplexity and KL divergence."""

    corpus: CorpusSpec = DEFAULT_CORPUS
    scheme: Scheme = "llama.cpp"
    n_ctx: int = Field(default=512, ge=8, description="window length in tokens")
    stride: int | None = Field(default=None, ge=1, description="rolling: default n_ctx / 2")
    max_tokens: int | None = Field(default=16384, ge=16,
                                   description="use only the corpus's first N tokens")

    @model_validator(mode="after")
    def _fits(self):
        if self.stride is not None and self.stride > self.n_ctx:
            raise ValueError(f"stride {self.stride} is larger than n_ctx {self.n_ctx}; "
                             "fix: use a stride of at most n_ctx")
        need = self.min_tokens()
        if self.max_tokens is not None and self.max_tokens < need:
            raise ValueError(f"max_tokens {self.max_tokens} is below the {need} tokens the "
                             f"{self.scheme} scheme needs with n_ctx {self.n_ctx}; fix: raise "
                             f"max_tokens to {need} or lower n_ctx")
        check_length(self.corpus, need)
        return self

    def min_tokens(self) -> int:
        return 2 * self.n_ctx if self.scheme == "llama.cpp" else self.n_ctx

    def required_context(self) -> int:
        return self.n_ctx

    def scheme_text(self) -> str:
        if self.scheme == "llama.cpp":
            return (f"llama.cpp: chunks of {self.n_ctx} tokens, BOS first, second half "
                    "scored")
        return f"rolling: windows of {self.n_ctx}, stride {self.effective_stride()}"

    def effective_stride(self) -> int:
        return self.stride or max(self.n_ctx // 2, 1)


@dataclass(frozen=True)
class Window:
    tokens: list[int]
    first: int
    """Scored rows are first .. len(tokens) - 2; row p predicts tokens[p + 1]."""

    def targets(self) -> list[int]:
        return self.tokens[self.first + 1 :]


def make_windows(tokens: Sequence[int], params: WindowParams, bos: int | None) -> list[Window]:
    """Cut `tokens`; raise ValueError (with the fix) when not even one window fits."""
    tokens = list(tokens[: params.max_tokens] if params.max_tokens else tokens)
    need = params.min_tokens()
    if len(tokens) < need:
        raise ValueError(f"the corpus gives {len(tokens)} tokens, fewer than the {need} the "
                         f"{params.scheme} scheme needs with n_ctx {params.n_ctx}; fix: use "
                         "a longer corpus or a smaller n_ctx")
    n = params.n_ctx
    if params.scheme == "llama.cpp":
        out = []
        for start in range(0, (len(tokens) // n) * n, n):
            chunk = tokens[start : start + n]
            if bos is not None:
                chunk[0] = bos
            out.append(Window(chunk, n // 2))
        return out
    stride, prev_end, out = params.effective_stride(), 0, []
    for begin in range(0, len(tokens), stride):
        end = min(begin + n, len(tokens))
        chunk = tokens[begin:end]
        out.append(Window(chunk, max(len(chunk) - (end - prev_end) - 1, 0)))
        prev_end = end
        if end == len(tokens):
            break
    return out
