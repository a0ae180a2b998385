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
    install_hint: ClassVar[str] = ""
    """How to install the engine, shown when `available()` is False."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """Engine version string, without loading anything (part of every cell key)."""

    @classmethod
    def available(cls) -> bool:
        """Whether the engine can be imported here."""
        return True

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

    @abstractmethod
    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Iterator[int]:
        """Greedy generation from an empty context, yielding each token as it is made.

        Stops after `max_new_tokens` or at end of sequence. The time to the first
        yield is the time to first token.
        """

    @abstractmethod
    def token_logprobs(self, tokens: Sequence[int]) -> np.ndarray:
        """log p(tokens[i] | tokens[:i]) for i in 1..len-1, from an empty context.

        Returns float64 of length len(tokens) - 1; the basis of perplexity and
        multiple-choice scoring.
        """

    def settings(self) -> dict:
        """What a fair comparison must know about how the engine was run."""
        return self.config.model_dump()
