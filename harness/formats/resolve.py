"""Find the producer of a format and the cached artifact of (source sha256, format)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.cache import atomic_target, cache_dir, remove, sha256_path, size_of
from harness.errors import FormatError
from harness.formats.base import SOURCE_FORMAT, Artifact, FormatProducer, container_of_path
from harness.registry import registry


def all_formats() -> dict[str, tuple[str, str]]:
    """Format name -> (producer name, description), `source` included."""
    out = {SOURCE_FORMAT: ("-", "the model file exactly as its source gives it")}
    for name in registry("formats").names():
        producer = registry("formats").get(name)
        for fmt, text in producer.formats.items():
            out[fmt] = (name, text)
    return out


def producer_for(fmt: str) -> type[FormatProducer]:
    for name in registry("formats").names():
        producer = registry("formats").get(name)
        if fmt in producer.formats:
            return producer
    raise FormatError(f"no producer makes format '{fmt}'")


def runnable_containers(formats: list[str], backends: Iterable[str]) -> set[str]:
    """The containers a model file may be in for a plan of these formats and backends: what
    a backend loads (as `source`), and what a listed format a backend loads is made from."""
    loaded = {c for name in backends for c in registry("backends").get(name).accepts}
    out = set(loaded)
    for fmt in (f for f in formats if f != SOURCE_FORMAT):
        producer = producer_for(fmt)
        if producer.container not in loaded:
            continue
        while producer.derives_from is not None:
            producer = producer_for(producer.derives_from)
        out.add(producer.source_container or producer.container)
    return out


def container_of(source: Path, fmt: str) -> str:
    if fmt == SOURCE_FORMAT:
        return container_of_path(source)
    return producer_for(fmt).container


def artifact_path(source: Path, source_sha256: str, fmt: str) -> Path:
    """Where the artifact lives (or will live) in the cache; the source itself for `source`."""
    if fmt == SOURCE_FORMAT:
        return source
    producer = producer_for(fmt)
    folder = cache_dir() / "artifacts" / source_sha256 / producer.version()
    return folder / f"{fmt}.{producer.container}"


def derive(source: Path, source_sha256: str, fmt: str) -> Path:
    """Derive `fmt` from `source` into the cache unless it is there already."""
    final = artifact_path(source, source_sha256, fmt)
    if final.exists():  # a file, or a folder for folder formats
        return final
    producer = producer_for(fmt)
    base = source
    if producer.derives_from is not None:
        base = derive(source, source_sha256, producer.derives_from)
    elif not producer.accepts_source(source):
        raise FormatError(
            f"format '{fmt}' is made from {producer.container} files; {source.name} is not one"
        )
    tmp = atomic_target(final)
    try:
        producer().derive(base, fmt, tmp)
        tmp.replace(final)
    finally:
        remove(tmp)
    return final


def describe(path: Path, fmt: str, source_sha256: str) -> Artifact:
    container = container_of(path, fmt)
    if fmt == SOURCE_FORMAT:
        producers = [registry("formats").get(n) for n in registry("formats").names()]
        inspector = next((p for p in producers if p.container == container), None)
    else:
        inspector = producer_for(fmt)
    quant, bpw, n_params = inspector().inspect(path) if inspector else ("unknown", 0.0, 0)
    return Artifact(
        path=str(path),
        format=fmt,
        container=container,
        sha256=sha256_path(path),
        source_sha256=source_sha256,
        size_bytes=size_of(path),
        quant_type=quant,
        bits_per_weight=round(bpw, 4),
        n_params=n_params,
    )
