"""The backend extension point: what every engine has.

A backend is a typed config plus an implementation, registered under one name
(the entry-point name, the registry key and the YAML key are the same string; the
registry sets `name` from the entry point). What an engine can do beyond loading and
tokenizing (stream, time bare steps, score, serve) it declares by deriving from the
capability mixins in `harness.backends.capabilities`; suites name the mixins they use,
and the matrix skips a combination whose backend lacks one.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class BackendConfig(BaseModel):
    """Settings every backend understands; subclasses add engine-specific ones."""

    model_config = ConfigDict(extra="forbid")

    threads: int = Field(default_factory=physical_cores, ge=1, le=1024,
                         description="CPU threads; auto (the default): physical cores")
    n_ctx: int = Field(default=1024, ge=16, le=1 << 20, description="context length in tokens")
    n_batch: int = Field(default=512, ge=1, le=1 << 20,
                         description="tokens per prompt-processing batch")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="engines take 32-bit seeds")
    python: str | None = Field(
        default=None, description="interpreter, or executable wrapper script, that runs the "
        "cell's worker as `<python> -m harness.runner.worker ...` (a wrapper passes its "
        "arguments on to a real Python: exec /path/to/python \"$@\"); unset: the backend's own")

    @field_validator("threads", mode="before")
    @classmethod
    def _auto_threads(cls, value):
        return physical_cores() if value == "auto" else value

    @field_validator("python")
    @classmethod
    def _executable(cls, value: str | None) -> str | None:
        """The absolute path of an executable file (a bare name is looked up on PATH), so a
        resumed run or a worker started elsewhere runs the same program."""
        if value is None:
            return None
        import shutil

        path = Path(value).expanduser()
        if path.is_file():
            found = str(path) if os.access(path, os.X_OK) else None
        else:  # a bare name such as python3.12: on PATH, as a shell would find it
            found = shutil.which(value) if os.sep not in value else None
        if found is None:
            problem = ("is not executable" if path.is_file() else
                       "is a folder" if path.is_dir() else "does not exist")
            raise ValueError(f"{value!r} {problem}; fix: give the path of a Python interpreter "
                             "or of an executable wrapper script (chmod +x) that ends in "
                             "exec /path/to/python \"$@\"")
        return str(Path(found).absolute())

    unlisted_defaults: ClassVar[dict[str, Any]] = {"python": None}
    """Settings added after results were stored: at these values they stay out of the
    dumped settings, so a cell's key and match key (and every stored run's resume and
    comparison) stay what they were before the setting existed."""

    def extra_formats(self) -> list[str]:
        """Other formats of the cell's model these settings name (a draft model); the
        runner prepares them and the worker hands their paths to `with_artifacts`."""
        return []

    def with_artifacts(self, paths: dict[str, str]) -> BackendConfig:
        """These settings with the formats `extra_formats` named replaced by their paths."""
        return self

    @model_serializer(mode="wrap")
    def _without_unlisted_defaults(self, handler):
        data = handler(self)
        if isinstance(data, dict):
            for name, default in self.unlisted_defaults.items():
                if name in data and data[name] == default:
                    del data[name]
        return data


class Backend(ABC):
    """One inference engine. Instances live inside a cell's child process.

    Lifecycle: `__init__(config)` -> `load(path)` -> any of the methods -> `unload()`.
    Token ids are the model's own; text never enters a timed region.
    """

    name: ClassVar[str]
    """The registry key; set by the registry from the entry point (write it nowhere else)."""
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
    def lacks(cls, config: BackendConfig) -> frozenset[type]:
        """Capability mixins the class derives from that `config` switches off (e.g. an
        HTTP server asked for no prompt log-probabilities). Default: none."""
        return frozenset()

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
    def ends_generation(self, token: int) -> bool:
        """Whether `token` ends a generation (end of sequence / turn)."""

    def piece_bytes(self, token: int) -> bytes:
        """The raw bytes a token stands for (for bits-per-byte)."""
        return self.detokenize([token]).encode()

    def settings(self) -> dict:
        """What a fair comparison must know about how the engine was run."""
        return self.config.model_dump()
