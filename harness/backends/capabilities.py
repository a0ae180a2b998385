"""Capabilities: small abstract mixins a backend derives from for what it can do.

A suite names the mixins it uses (`Suite.requires`); the matrix skips a combination whose
backend lacks one, saying "<backend> cannot <capability>". Detection is `issubclass`, and
`has()` adds the one thing a class cannot say: a setting that switches a capability off
(`Backend.lacks`). An engine never defines a method only to raise: what it cannot do, it
does not derive.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np

from harness.backends.base import Backend, BackendConfig


class Generating(Backend):
    """Streams generated tokens."""

    capability: ClassVar[str] = "stream generated tokens (generate)"

    @abstractmethod
    def generate(self, prompt: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> Iterator[int]:
        """Generation from an empty context, yielding each token id as it is made.

        Greedy when `temperature` is 0, else sampled from softmax(logits / temperature)
        with `seed`. Stops after `max_new_tokens` tokens, or after yielding a token for
        which `ends_generation` is true. The time to the first yield is the time to first
        token; a caller may abandon the iterator at any point.
        """


class Stepped(Generating):
    """Evaluates tokens on top of a KV cache one call at a time, so prefill and a single
    decode step can be timed bare (no sampling inside a timing, as llama-bench does)."""

    capability: ClassVar[str] = (
        "time prefill and single decode steps on its own (prefill, decode_step)")

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
        Synchronised like `prefill`.
        """

    @abstractmethod
    def last_logits(self) -> np.ndarray:
        """Logits (vocab_size floats) after the last evaluated token."""

    def kv_cache_usage(self) -> tuple[int, float] | None:
        """(bytes the engine's KV cache holds for the tokens now cached, as the engine
        reports them; bytes per element of that cache), or None where it cannot say."""
        return None

    def generate(self, prompt: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> Iterator[int]:
        """Built on `reset`, `prefill`, `decode_step`, `last_logits` and `ends_generation`."""
        rng = np.random.default_rng(seed)
        self.reset()
        self.prefill(prompt)
        for _ in range(max_new_tokens):
            token = pick_token(self.last_logits(), temperature, rng)
            yield token
            if self.ends_generation(token):
                return
            self.decode_step(token)


class TokenLogprobs(Backend):
    """Gives the log-probability of each token of a text (perplexity)."""

    capability: ClassVar[str] = (
        "give log-probabilities of a text's own tokens (token_logprobs)")

    @abstractmethod
    def token_logprobs(self, tokens: Sequence[int], first: int = 0) -> np.ndarray:
        """log p(tokens[p + 1] | tokens[:p + 1]) for p in first..len(tokens) - 2, each from
        an empty context: float64 of length len(tokens) - 1 - first, out[k] belonging to
        position first + k. Raises BackendError if `tokens` exceed the context."""


class LogprobRows(TokenLogprobs):
    """Gives the full next-token distribution at every position of a text (KL divergence);
    token log-probabilities follow from it."""

    capability: ClassVar[str] = (
        "give full-vocabulary log-probabilities of a text (logprob_rows)")

    @abstractmethod
    def logprob_rows(self, tokens: Sequence[int], first: int = 0
                     ) -> Iterator[tuple[int, np.ndarray]]:
        """Evaluate `tokens` from an empty context and yield next-token log-probabilities.

        Yields (position, rows): rows[i] is the log-softmax over the vocabulary after
        tokens[:position + i + 1], float32 of shape (m, vocab_size), for every position
        from `first` to len(tokens) - 1, in order and in bounded-size chunks.
        """

    def token_logprobs(self, tokens: Sequence[int], first: int = 0) -> np.ndarray:
        """Picked out of `logprob_rows`."""
        out = np.empty(len(tokens) - 1 - first, dtype=np.float64)
        for pos, rows in self.logprob_rows(tokens, first=first):
            for i, row in enumerate(rows):
                if pos + i + 1 < len(tokens):
                    out[pos + i - first] = row[tokens[pos + i + 1]]
        return out


class Scoring(Backend):
    """Scores candidate continuations of one prefix (multiple choice, lm-eval requests)."""

    capability: ClassVar[str] = "give log-probabilities of continuations (continuation_logprobs)"

    @abstractmethod
    def continuation_logprobs(self, prefix: Sequence[int],
                              continuations: Sequence[Sequence[int]]
                              ) -> list[tuple[float, bool]]:
        """For each continuation, in order: (sum of the log-probabilities of its tokens
        after `prefix` + the continuation's earlier tokens, whether every one of its tokens
        is the greedy choice there). With an empty `prefix` the first continuation token has
        no context and is not scored."""


class RowScoring(LogprobRows, Scoring):
    """Scoring from full-vocabulary rows, one evaluation of prefix + continuation each;
    engines that can reuse the prefix's KV cache override `continuation_logprobs`."""

    def continuation_logprobs(self, prefix: Sequence[int],
                              continuations: Sequence[Sequence[int]]
                              ) -> list[tuple[float, bool]]:
        out = []
        for cont in continuations:
            whole = list(prefix) + list(cont)
            out.append(score_rows(self.logprob_rows(whole, first=max(len(prefix) - 1, 0)),
                                  whole))
        return out


class Serving(Backend):
    """Serves concurrent streaming completion requests (a server process, local or not)."""

    capability: ClassVar[str] = (
        "serve concurrent streaming completion requests (stream_completion)")

    @abstractmethod
    def stream_completion(self, prompt: str, max_tokens: int) -> Iterator[int]:
        """Send one streaming completion request for `prompt` and yield, as each streamed
        chunk arrives, how many generated tokens it carries.

        Greedy; asks the server to ignore end of sequence where it can, so most requests
        run to `max_tokens`. Called from many threads at once by the serving suite.
        """

    @abstractmethod
    def processes(self) -> list[int]:
        """Ids of processes this backend started that hold the model (its server), empty
        for a server someone else runs: their memory is the engine's, so the memory suite
        samples them too."""

    def speculation(self) -> dict[str, float] | None:
        """The server's speculative-decoding counters since it started: `drafts`
        (verification steps), `drafted` and `accepted` tokens; None where it reports none."""
        return None


def capabilities_of(backend_cls: type[Backend]) -> list[type[Backend]]:
    """The capability mixins `backend_cls` derives from: the classes of its MRO that
    declare a `capability` text (those above, or a plugin's own)."""
    return [c for c in backend_cls.__mro__ if "capability" in vars(c)]


def has(backend_cls: type[Backend], config: BackendConfig, capability: type[Backend]) -> bool:
    """Whether `backend_cls`, configured by `config`, can do what `capability` stands for.
    Switching a capability off also switches off the ones derived from it."""
    return issubclass(backend_cls, capability) and not any(
        issubclass(capability, off) for off in backend_cls.lacks(config))


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
