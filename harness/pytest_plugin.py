"""pytest fixture `harness_cell`: a loaded model/format/backend for pytest-benchmark tests.

Installed as a pytest plugin (entry point `pytest11`), so in any project with harness
installed::

    def test_decode(benchmark, harness_cell):
        cell = harness_cell("smollm2-135m", "q4_0", BACKEND, threads=2)
        benchmark.pedantic(cell.decode_step, rounds=5, iterations=32, warmup_rounds=1)

where BACKEND is any registered backend that can time bare steps (`harness list
backends`); it times one decode step per iteration, i.e. seconds per generated token,
the same unit as `harness export pytest-benchmark` gives decode tokens/s; the numbers land in
pytest-benchmark's own storage (`--benchmark-autosave`) and compare with its tools.
The backend runs in the test's process, unlike `harness run`, which isolates each cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest


class CellRunner:
    """Timed workloads on one loaded backend, with synthetic tokens as the suites use."""

    def __init__(self, backend, seed: int = 0) -> None:
        self.backend = backend
        self._rng = np.random.default_rng(seed)
        self._used = 0

    def _tokens(self, n: int) -> list[int]:
        tokens = self._rng.integers(0, self.backend.vocab_size, size=n).tolist()
        bos = self.backend.bos_token()
        if bos is not None and tokens:
            tokens[0] = bos
        return tokens

    def decode_step(self) -> None:
        """One token appended to the context; starts over when the context is full."""
        if self._used + 1 > self.backend.config.n_ctx:
            self.backend.reset()
            self._used = 0
        self.backend.decode_step(int(self._rng.integers(0, self.backend.vocab_size)))
        self._used += 1

    def prefill(self, n_tokens: int) -> None:
        """An empty context, then `n_tokens` of prompt evaluated."""
        self.backend.reset()
        self.backend.prefill(self._tokens(n_tokens))
        self._used = n_tokens


@pytest.fixture
def harness_cell() -> Iterator[Callable[..., CellRunner]]:
    """Factory: harness_cell(model, format, backend, **backend_config) -> CellRunner."""
    from harness.backends.capabilities import Stepped
    from harness.cache import sha256_path
    from harness.errors import UsageError
    from harness.formats import resolve
    from harness.registry import registry

    loaded = []

    def make(model: str, fmt: str, backend: str, **config) -> CellRunner:
        cls = registry("backends").get(backend)
        if not issubclass(cls, Stepped):
            raise UsageError(f"backend {backend} cannot time bare prefill and decode steps; "
                             "fix: use a backend that can (harness list backends)")
        source = registry("models").get(model).resolve()
        artifact = resolve.derive(source, sha256_path(source), fmt)
        instance = cls(cls.config_cls(**config))
        instance.load(artifact)
        loaded.append(instance)
        return CellRunner(instance)

    yield make
    for instance in loaded:
        instance.unload()
