"""The backend extension point.

A backend is a typed config plus an implementation, registered under one name
(the entry-point name, the registry key and the YAML key are the same string).
Suites drive it only through the methods below, so the same suite measures
every engine the same way.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

CAPABILITIES = {
    "steps": "time prefill and single decode steps on its own (prefill, decode_step)",
    "generate": "stream generated tokens (generate)",
    "logprob_rows": "full-vocabulary log-probabilities of a text (logprob_rows)",
    "scoring": "log-probabilities of continuations (continuation_logprobs)",
    "token_logprobs": "give log-probabilities of a text's own tokens (token_logprobs)",
    "serving": "serve concurrent streaming completion requests (stream_completion)",
}
"""Capability name -> what it means. In-process engines have all but "serving"; an
engine behind an HTTP API may have only some."""

IN_PROCESS = frozenset(CAPABILITIES) - {"serving"}


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class BackendConfig(BaseModel):
    """Settings every backend understands; subclasses add engine-specific ones."""

    model_config = ConfigDict(extra="forbid")

    threads: int = Field(default_factory=physical_cores, ge=1, description="CPU threads")
    n_ctx: int = Field(default=1024, ge=16, description="context length in tokens")
    n_batch: int = Field(default=512, ge=1, description="tokens per prompt-processing batch")
    seed: int = Field(default=0, ge=0)


class Backend(ABC):
    """One inference engine. Instances live inside a cell's child process.

    Lifecycle: `__init__(config)` -> `load(path)` -> any of the methods -> `unload()`.
    Token ids are the model's own; text never enters a timed region.
    """

    name: ClassVar[str]
    accepts: ClassVar[tuple[str, ...]]
    """Artifact containers this backend loads (e.g. ("gguf",))."""
    config_cls: ClassVar[type[BackendConfig]] = BackendConfig
    excludes: ClassVar[dict[str, str]] = {}
    """Formats of an accepted container the engine still cannot run -> why (skipped)."""
    install_hint: ClassVar[str] = ""
    """How to install the engine, shown when `available()` is False."""
    packages: ClassVar[tuple[str, ...]] = ()
    """Distributions whose versions make up `version()`."""
    modules: ClassVar[tuple[str, ...]] = ()
    """Modules that must be importable for `available()`."""
    capabilities: ClassVar[frozenset[str]] = IN_PROCESS
    """What the engine can do (see CAPABILITIES); a suite needing more is skipped."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @classmethod
    def version(cls) -> str:
        """Engine version string, without loading anything (part of every cell key)."""
        from harness.versions import package_version, package_versions

        if len(cls.packages) == 1:
            return package_version(cls.packages[0])
        return package_versions(cls.packages)

    @classmethod
    def skip_reason(cls, fmt: str, config: BackendConfig) -> str | None:
        """Why the engine, so configured, cannot honestly run format `fmt` (None: it can)."""
        return cls.excludes.get(fmt)

    @classmethod
    def capabilities_for(cls, config: BackendConfig) -> frozenset[str]:
        """What the engine can do under `config` (a setting may switch a capability on)."""
        return cls.capabilities

    @classmethod
    def available(cls) -> bool:
        """Whether the engine can be imported here."""
        from importlib.util import find_spec

        return all(find_spec(module) is not None for module in cls.modules)

    @classmethod
    def interpreter(cls) -> str:
        """The Python that runs this backend's cells: this one, unless the engine lives in
        an environment of its own because its pins clash with the harness's."""
        import sys

        return sys.executable

    def check_fits(self, n_tokens: int) -> None:
        """Refuse work that would overflow the configured context."""
        from harness.errors import BackendError

        if n_tokens > self.config.n_ctx:
            raise BackendError(f"{n_tokens} tokens exceed n_ctx={self.config.n_ctx}")

    @abstractmethod
    def load(self, artifact: Path) -> None:
        """Load the model file; raise BackendError with the engine's cause on failure."""

    @abstractmethod
    def unload(self) -> None:
        """Free the model and its context."""

    @abstractmethod
    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        """Text -> token ids."""

    @abstractmethod
    def detokenize(self, tokens: Sequence[int]) -> str:
        """Token ids -> text."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of token ids."""

    def bos_token(self) -> int | None:
        """The beginning-of-sequence token, if the model has one."""
        return None

    @abstractmethod
    def reset(self) -> None:
        """Clear the KV cache, so the next call starts from an empty context."""

    @abstractmethod
    def prefill(self, tokens: Sequence[int]) -> None:
        """Evaluate `tokens` appended to the current context (the timed prompt step).

        Must return only when the engine has finished the work (synchronised).
        """

    @abstractmethod
    def decode_step(self, token: int) -> None:
        """Evaluate one token appended to the current context (the timed decode step).

        No sampling happens here: like llama-bench, throughput is the engine's cost.
        """

    def generate(self, prompt: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> Iterator[int]:
        """Generation from an empty context, yielding each token as it is made.

        Greedy when `temperature` is 0, else sampled from softmax(logits / temperature)
        with `seed`. Stops after `max_new_tokens` or at end of sequence. The time to the
        first yield is the time to first token. Built on `prefill`, `decode_step`,
        `last_logits` and `ends_generation`; an engine that streams on its own overrides it.
        """
        rng = np.random.default_rng(seed)
        self.reset()
        self.prefill(prompt)
        for _ in range(max_new_tokens):
            token = pick_token(self.last_logits(), temperature, rng)
            yield token
            if self.ends_generation(token):
                return
            self.decode_step(token)

    @abstractmethod
    def last_logits(self) -> np.ndarray:
        """Logits (vocab_size floats) after the last evaluated token."""

    @abstractmethod
    def ends_generation(self, token: int) -> bool:
        """Whether `token` ends a generation (end of sequence / turn)."""

    @abstractmethod
    def logprob_rows(self, tokens: Sequence[int], first: int = 0
                     ) -> Iterator[tuple[int, np.ndarray]]:
        """Evaluate `tokens` from an empty context and yield next-token log-probabilities.

        Yields (position, rows): rows[i] is the log-softmax over the vocabulary after
        tokens[:position + i + 1], float32 of shape (m, vocab_size), for every position
        from `first` to len(tokens) - 1, in order and in bounded-size chunks. The basis
        of perplexity, KL divergence and multiple-choice scoring.
        """

    def token_logprobs(self, tokens: Sequence[int], first: int = 0) -> np.ndarray:
        """log p(tokens[p + 1] | tokens[:p + 1]) for p in first..len-2, from an empty
        context: out[k] belongs to position first + k (the "token_logprobs" capability)."""
        out = np.empty(len(tokens) - 1 - first, dtype=np.float64)
        for pos, rows in self.logprob_rows(tokens, first=first):
            for i, row in enumerate(rows):
                if pos + i + 1 < len(tokens):
                    out[pos + i - first] = row[tokens[pos + i + 1]]
        return out

    def stream_completion(self, prompt: str, max_tokens: int) -> Iterator[int]:
        """Send one streaming completion request for `prompt` and yield, as each streamed
        chunk arrives, how many generated tokens it carries (the "serving" capability).

        Greedy; asks the server to ignore end of sequence where it can, so most requests
        run to `max_tokens`. Called from many threads at once by the serving suite.
        """
        from harness.errors import BackendError

        raise BackendError(f"backend {self.name} does not serve completion requests")

    def processes(self) -> list[int]:
        """Ids of processes this backend started that hold the model (e.g. a server):
        their memory is the engine's, so the memory suite samples them too."""
        return []

    def continuation_logprobs(self, prefix: Sequence[int],
                              continuations: Sequence[Sequence[int]]
                              ) -> list[tuple[float, bool]]:
        """For each continuation: (sum of its log-probabilities after `prefix`, whether
        every one of its tokens is the greedy choice). Engines with a reusable KV cache
        override this to evaluate the shared prefix once."""
        out = []
        for cont in continuations:
            whole = list(prefix) + list(cont)
            out.append(score_rows(self.logprob_rows(whole, first=len(prefix) - 1), whole))
        return out

    def piece_bytes(self, token: int) -> bytes:
        """The raw bytes a token stands for (for bits-per-byte)."""
        return self.detokenize([token]).encode()

    def settings(self) -> dict:
        """What a fair comparison must know about how the engine was run."""
        return self.config.model_dump()


def score_rows(rows: Iterator[tuple[int, np.ndarray]], seq: Sequence[int]) -> tuple[float, bool]:
    """(sum of log p of each token of `seq` the rows predict, whether each was the argmax)."""
    total, greedy = 0.0, True
    for pos, block in rows:
        for i, row in enumerate(block):
            target = pos + i + 1
            if target < len(seq):
                total += float(row[seq[target]])
                greedy &= int(row.argmax()) == seq[target]
    return total, greedy


def pick_token(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Greedy at temperature 0, else a draw from softmax(logits / temperature)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


class KvCacheBackend(Backend):
    """An engine that evaluates tokens on top of a KV cache it can cut back to a length:
    log-probability rows come chunk by chunk on top of the cache, and the continuations of
    one prefix reuse the prefix's cache instead of evaluating it again."""

    @abstractmethod
    def _rows(self, tokens: Sequence[int], first: int) -> Iterator[tuple[int, np.ndarray]]:
        """Evaluate `tokens` appended to the cache; yield (index into tokens, log-softmax
        rows) for indices >= first, in bounded chunks."""

    @abstractmethod
    def truncate(self, n_tokens: int) -> None:
        """Keep the first `n_tokens` of the cache and drop the rest."""

    def logprob_rows(self, tokens: Sequence[int], first: int = 0
                     ) -> Iterator[tuple[int, np.ndarray]]:
        self.check_fits(len(tokens))
        self.reset()
        yield from self._rows(tokens, max(first, 0))

    def continuation_logprobs(self, prefix: Sequence[int],
                              continuations: Sequence[Sequence[int]]
                              ) -> list[tuple[float, bool]]:
        if not prefix:
            return super().continuation_logprobs(prefix, continuations)
        self.check_fits(len(prefix) + max((len(c) for c in continuations), default=0))
        self.reset()
        self.prefill(prefix[:-1])
        out = []
        for cont in continuations:
            self.truncate(len(prefix) - 1)
            seq = [prefix[-1], *cont]
            out.append(score_rows(self._rows(seq, 0), seq))
        return out
