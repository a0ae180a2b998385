"""The user cache directory (derived models, fetched wheels, built tools) and sha256 memo."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import platformdirs

from harness.errors import UsageError


def cache_dir() -> Path:
    """`$HARNESS_CACHE_DIR`, else the platform's user cache dir (~/.cache/harness on Linux)."""
    root = Path(os.environ.get("HARNESS_CACHE_DIR") or platformdirs.user_cache_dir("harness"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: Path, trust_memo: bool = True) -> str:
    """sha256 of a file, memoised so big models hash once. The memo is keyed on the
    file's identity and change time as well as its size and mtime: restoring an edited
    file's mtime (`touch -r`, a copy with `cp -p`) does not restore its ctime.
    `trust_memo=False` hashes the bytes again (and refreshes the memo)."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_file = cache_dir() / "sha256-memo.json"
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}|{stat.st_ctime_ns}"
    memo = _read_memo(memo_file)
    if trust_memo and key in memo:
        return memo[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    memo[key] = digest.hexdigest()
    tmp = memo_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(memo, indent=0))
    tmp.replace(memo_file)
    return memo[key]


def verify_pinned(path: Path, sha256: str) -> Path:
    """`path` if its bytes hash to the pinned `sha256`; else a one-line UsageError that
    names the file and the fix. Hashes the whole file every time: a byte flipped on disk
    keeps size and mtime, so no memo can vouch for a cached copy."""
    got = sha256_file(path, trust_memo=False)
    if got != sha256:
        raise UsageError(f"{path}: cached copy is damaged (sha256 {got[:16]}..., pinned "
                         f"{sha256[:16]}...); fix: delete {path} so it is fetched again")
    return path


def _read_memo(memo_file: Path) -> dict:
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # a damaged memo only costs hashing again
    return memo if isinstance(memo, dict) else {}


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder: its relative file names and their sha256s."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def size_of(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def remove(path: Path) -> None:
    """Remove a file or a folder, if there."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def atomic_target(final: Path) -> Path:
    """A sibling temp path to write to and then `replace()` onto `final`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.with_name(f".{final.name}.{os.getpid()}.partial")
