"""In-process engines that evaluate tokens on top of a KV cache they can cut back."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np

from harness.backends.capabilities import RowScoring, Stepped, score_rows


class KvCacheBackend(Stepped, RowScoring):
    """An engine that evaluates tokens on top of a KV cache it can cut back to a length:
    log-probability rows come chunk by chunk on top of the cache, and the continuations of
    one prefix reuse the prefix's cache instead of evaluating it again.

    Implementations add `_rows` and `truncate` to the stepped methods (reset, prefill,
    decode_step, last_logits) and get generate, logprob_rows, token_logprobs and
    continuation_logprobs.
    """

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
