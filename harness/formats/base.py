"""The format-producer extension point and the artifact record every result carries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

SOURCE_FORMAT = "source"
"""The artifact exactly as its model source gives it (e.g. the shipped Q4_1 GGUF)."""

FOLDER_MARKERS = {"genai_config.json": "onnx", "config.json": "hf"}
"""A model folder's container, by the first of these files it holds (an onnxruntime-genai
folder may also hold a config.json)."""


def container_of_path(path: Path) -> str:
    """The container of a model file (its suffix) or folder (its marker file); "" for a
    folder with no known marker."""
    path = Path(path)
    if path.is_dir():
        return next((c for marker, c in FOLDER_MARKERS.items() if (path / marker).is_file()),
                    "")
    return path.suffix.lstrip(".").lower()


@dataclass(frozen=True)
class Artifact:
    """One concrete model file in one format, with what a fair comparison needs to know."""

    path: str
    format: str
    container: str
    sha256: str
    source_sha256: str
    size_bytes: int
    quant_type: str
    bits_per_weight: float
    n_params: int

    def to_dict(self) -> dict:
        return asdict(self)


class FormatProducer(ABC):
    """Derives quant formats of one container (e.g. GGUF) from a source artifact.

    A producer is registered once under the `harness.formats` entry-point group and
    serves every format named in `formats`; format names are unique across producers.
    Producers import their engines inside methods so listing them stays cheap.
    """

    name: ClassVar[str]
    container: ClassVar[str]
    formats: ClassVar[dict[str, str]]
    """Format name -> one-line description."""

    packages: ClassVar[tuple[str, ...]] = ()
    """Distributions whose versions make up `version()`."""
    derives_from: ClassVar[str | None] = None
    """The format this producer's formats are made from (derived first and cached, then
    handed to `derive` as its source); None: made from the model's source file."""
    source_container: ClassVar[str | None] = None
    """The container of the model files it derives from (None: its own `container`)."""

    @classmethod
    def version(cls) -> str:
        """Version of the tooling that derives (part of the cache key)."""
        from harness.versions import package_versions

        return package_versions(cls.packages)

    @abstractmethod
    def derive(self, source: Path, fmt: str, out: Path) -> None:
        """Write `source` converted to `fmt` at `out`.

        Called in a child process; may be slow; must raise on failure and must not
        leave a partial file at `out` (the caller writes to a temp path and renames).
        """

    @abstractmethod
    def inspect(self, path: Path) -> tuple[str, float, int]:
        """(real quant type name, bits per weight over all tensors, parameter count)."""

    @classmethod
    def accepts_source(cls, path: Path) -> bool:
        return path.suffix.lstrip(".").lower() == (cls.source_container or cls.container)
