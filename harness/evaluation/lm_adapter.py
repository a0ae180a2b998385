"""Any harness backend as an `lm_eval.api.model.LM`, so lm-eval scores it.

Token bookkeeping follows lm-eval's own HF model: trailing spaces of a context move
to its continuation, the pair is tokenized whole and split at the context's length,
and inputs longer than the context window keep their last tokens.
"""

from __future__ import annotations

from collections import defaultdict

from lm_eval.api.model import LM
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from harness.backends.base import Backend


class HarnessLM(LM):
    def __init__(self, backend: Backend, max_length: int, seed: int = 0) -> None:
        super().__init__()
        self.backend = backend
        self.max_length = max_length
        self.seed = seed
        self.scored_tokens = 0
        self.generated_tokens = 0

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            continuation = context[-spaces:] + continuation
            context = context[:-spaces]
        whole = self.backend.tokenize(context + continuation, add_bos=True)
        n_context = len(self.backend.tokenize(context, add_bos=True))
        prefix, cont = whole[:n_context], whole[n_context:]
        if not prefix:
            bos = self.backend.bos_token()
            prefix = [bos] if bos is not None else cont[:1]
            cont = cont if bos is not None else cont[1:]
        overflow = len(prefix) + len(cont) - self.max_length
        if overflow > 0:
            prefix = prefix[overflow:]
        return prefix, cont

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        encoded = [self._encode_pair(*req.args) for req in requests]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, (prefix, _) in enumerate(encoded):
            groups[tuple(prefix)].append(i)
        results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
        for prefix, members in groups.items():
            conts = [encoded[i][1] for i in members]
            scores = self.backend.continuation_logprobs(list(prefix), conts)
            for i, score in zip(members, scores, strict=True):
                results[i] = score
            self.scored_tokens += len(prefix) + sum(len(c) for c in conts)
        return results

    def loglikelihood_rolling(self, requests) -> list[float]:
        out = []
        prefix_token = self.backend.bos_token()
        for req in requests:
            tokens = self.backend.tokenize(req.args[0], add_bos=False)
            total = 0.0
            windows = get_rolling_token_windows(
                token_list=tokens, prefix_token=prefix_token if prefix_token is not None else 0,
                max_seq_len=self.max_length, context_len=1)
            for context, pred in map(make_disjoint_window, windows):
                total += self.backend.continuation_logprobs(context, [pred])[0][0]
                self.scored_tokens += len(context) + len(pred)
            out.append(total)
        return out

    def generate_until(self, requests) -> list[str]:
        out = []
        seen: dict[str, int] = defaultdict(int)
        for req in requests:
            context, kwargs = req.args
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.get("max_gen_toks", 256))
            sample = bool(kwargs.get("do_sample", False))
            temperature = float(kwargs.get("temperature", 0.0)) if sample else 0.0
            prompt = self.backend.tokenize(context, add_bos=True)
            prompt = prompt[-(self.max_length - max_new):]
            seed = self.seed + seen[context]  # repeats of one prompt get distinct seeds
            seen[context] += 1
            generated: list[int] = []
            text = ""
            for token in self.backend.generate(prompt, max_new, temperature, seed):
                generated.append(token)
                text = self.backend.detokenize(generated)
                if any(stop in text for stop in until):
                    break
            self.generated_tokens += len(generated)
            cut = min((text.index(s) for s in until if s in text), default=len(text))
            out.append(text[:cut])
        return out
