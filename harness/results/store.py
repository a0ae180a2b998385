"""Append-only result store: `results/<profile_id>/<run_id>/` holds `cells.jsonl` and
`run.json` (runs of older versions sit flat in `results/<run_id>/` and still read).

A cell's line is validated, written, flushed and fsynced the moment the cell ends, so an
interrupted run loses nothing that finished; a write that fails (disk full, file-size
limit) is cut back so the file never holds a fragment. Lines that cannot be read are
never dropped silently: reading names them, and `repair` (run before a resumed run
appends) moves them to `cells.quarantine.jsonl` beside the cells. A failed cell that
`--retry-failed` runs again leaves its old line in `cells.attempts.jsonl`, so each cell
key appears in `cells.jsonl` at most once.
"""

from __future__ import annotations

import codecs
import errno
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from harness.errors import UsageError
from harness.schema import CellResult

log = logging.getLogger(__name__)

CELLS_FILE = "cells.jsonl"
RUN_FILE = "run.json"
QUARANTINE_FILE = "cells.quarantine.jsonl"
ATTEMPTS_FILE = "cells.attempts.jsonl"
_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class StoreWriteError(UsageError):
    """The store could not write (disk full, file-size limit); nothing stored is lost."""


class UnstorableResult(ValueError):
    """A record that would not read back as written (the runner stores a failed cell)."""


def new_run_id(plan_name: str) -> str:
    """`<UTC stamp>-<plan>` (`RunStore.create` numbers a second start in the same second)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{plan_name}"


def run_dir(root: Path, profile_id: str, run_id: str) -> Path:
    """Where a new run of `profile_id` lives."""
    return Path(root) / profile_id / run_id


class RunStore:
    """One run's folder. Opening an existing run appends to it (resume)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.run_id = self.dir.name

    @property
    def cells_path(self) -> Path:
        return self.dir / CELLS_FILE

    @classmethod
    def create(cls, root: Path, manifest: dict) -> RunStore:
        """A new run folder under `root` for `manifest` (which names run_id, profile_id).
        When that folder exists already (the same plan started in the same second), a
        fresh run id is taken: `mkdir` is atomic, so two starts never share a folder."""
        base = manifest["run_id"]
        parent = run_dir(root, manifest["profile_id"], base).parent
        for attempt in range(1000):
            run_id = base if attempt == 0 else f"{base}-{attempt + 1}"
            directory = parent / run_id
            try:
                if not parent.is_dir():
                    parent.mkdir(parents=True, exist_ok=True)
                directory.mkdir()
            except FileExistsError:
                if parent.is_dir():
                    continue
                raise StoreWriteError(f"{parent}: not a folder; fix: pass a --results-dir "
                                      "that is a folder (or a new path)") from None
            except OSError as exc:
                raise StoreWriteError(f"{directory}: cannot create the run folder "
                                      f"({exc.strerror}); fix: pass a writable "
                                      "--results-dir") from None
            write_manifest(directory, {**manifest, "run_id": run_id})
            return cls(directory)
        raise UsageError(f"{run_dir(root, manifest['profile_id'], base)}: 1000 runs started "
                         "in one second; fix: start fewer runs at once")

    def manifest(self) -> dict:
        return read_manifest(self.dir)

    def append(self, result: CellResult) -> None:
        """Store one finished cell: validated before it is written, durable when this
        returns; on a failed write the file is cut back to what it held before."""
        line = result_line(result)
        fd = _open_append(self.cells_path)
        try:
            size = os.fstat(fd).st_size
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as exc:
                _cut_back(fd, size)
                raise _write_error(self.cells_path, exc, result) from None
        finally:
            os.close(fd)

    def supersede(self, result: CellResult) -> None:
        """Store `result` in place of the stored line of the same cell key (a failed cell
        run again): the old line goes to cells.attempts.jsonl, then cells.jsonl is
        rewritten whole (temporary file, fsync, rename), so a kill at any point leaves each
        key in it once."""
        scan = scan_cells(self.cells_path)
        old = [raw for _, raw, cell in scan.good if cell.cell_key == result.cell_key]
        if not old:
            self.append(result)
            return
        _append_lines(self.dir / ATTEMPTS_FILE, old, result)
        keep = [raw for _, raw, cell in scan.good if cell.cell_key != result.cell_key]
        _rewrite(self.cells_path, [*keep, result_line(result)], result)

    def results(self) -> list[CellResult]:
        return list(read_cells(self.cells_path))

    def finished_keys(self, include_failed: bool = True) -> set[str]:
        return {r.cell_key for r in self.results() if include_failed or r.status == "ok"}

    def repair(self) -> list[str]:
        """Before appending to an existing run: move every line that cannot be read (a
        last line cut short by a kill, a damaged or foreign line, a second line of one
        cell key) to cells.quarantine.jsonl; complete a whole last line that only lacks
        its newline. Returns one warning per line moved."""
        scan = scan_cells(self.cells_path)
        bad = list(scan.bad)
        good, seen = [], set()
        for lineno, raw, cell in scan.good:
            if cell.cell_key in seen:
                bad.append((lineno, raw, f"a second line of cell {cell.cell_key}"))
                continue
            seen.add(cell.cell_key)
            good.append(raw)
        if not bad and scan.ends_with_newline:
            return []
        quarantine = self.dir / QUARANTINE_FILE
        if bad:
            _append_lines(quarantine, [raw for _, raw, _ in bad], None)
        _rewrite(self.cells_path, good, None)
        return [f"{self.cells_path}:{lineno}: {reason}; moved to {quarantine}"
                for lineno, _, reason in sorted(bad)]


def result_line(result: CellResult) -> bytes:
    """The stored line of `result`, checked to read back (NaN and infinities included)
    before anything is written; UnstorableResult when it would not."""
    try:
        line = result.model_dump_json()
        CellResult.model_validate_json(line)
    except (ValueError, PydanticSerializationError) as exc:
        raise UnstorableResult(str(exc).splitlines()[0][:200]) from None
    return line.encode("utf-8") + b"\n"


@dataclass
class Scan:
    """A cells file read line by line: the records, and the lines that are not."""

    good: list[tuple[int, bytes, CellResult]] = field(default_factory=list)
    bad: list[tuple[int, bytes, str]] = field(default_factory=list)
    torn: tuple[int, bytes, str] | None = None
    """The last line when it lacks its newline and does not read: cut short mid-write."""
    ends_with_newline: bool = True


def scan_cells(path: Path) -> Scan:
    """Read `path` as bytes, so a line cut inside a multi-byte character is a bad line
    rather than a decoding error of the whole file."""
    scan = Scan()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return scan
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror}); fix: check its "
                         "permissions") from None
    if data.startswith(codecs.BOM_UTF8):  # an editor's byte-order mark is not damage
        data = data[len(codecs.BOM_UTF8):]
    lines = data.split(b"\n")
    scan.ends_with_newline = lines[-1] == b""
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            scan.good.append((lineno, raw, CellResult.model_validate_json(raw)))
        except ValidationError as exc:
            entry = (lineno, raw, _reason(exc))
            if lineno == len(lines) and not scan.ends_with_newline:
                scan.torn = (lineno, raw, "a last line cut short (the run was killed while "
                             "writing it)")
                scan.bad.append(scan.torn)
            else:
                scan.bad.append(entry)
    return scan


def read_cells(path: Path) -> Iterable[CellResult]:
    """Every record of a cells file. A damaged line is an error naming it; a last line cut
    short by a kill is left out with a warning (the run's `--resume` quarantines it)."""
    scan = scan_cells(path)
    damaged = [entry for entry in scan.bad if entry is not scan.torn]
    if damaged:
        lineno, _, reason = damaged[0]
        raise UsageError(f"{path}:{lineno}: not a result line ({reason}); fix: delete that "
                         "line, or resume its run (`harness run SUITE --resume`), which moves "
                         f"it to {QUARANTINE_FILE}")
    if scan.torn is not None:
        log.warning("%s:%d: left out a last line cut short by a kill; resuming the run moves "
                    "it to %s", path, scan.torn[0], QUARANTINE_FILE)
    for _, _, cell in scan.good:
        yield cell


def write_manifest(directory: Path, manifest: dict) -> None:
    """Write `run.json` whole or not at all (temporary file, fsync, rename)."""
    path = Path(directory) / RUN_FILE
    tmp = path.with_name(f".{RUN_FILE}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(manifest, indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreWriteError(f"{path}: could not be written ({exc.strerror}); fix: free disk "
                              "space, then run again") from None


def read_manifest(directory: Path) -> dict:
    """`run.json` as a dict ({} when absent); a damaged one is a UsageError naming it."""
    path = Path(directory) / RUN_FILE
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as exc:
        problem = getattr(exc, "msg", None) or getattr(exc, "strerror", None) or "not UTF-8"
        raise UsageError(f"{path}: not a readable run manifest ({problem}); fix: restore it "
                         "or delete that run folder") from None
    if not isinstance(manifest, dict):
        raise UsageError(f"{path}: not a run manifest (a JSON {type(manifest).__name__}, not "
                         "an object); fix: restore it or delete that run folder")
    return manifest


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    text = f"{where}: {first['msg']}" if where else first["msg"]
    return text.replace("\n", " ")[:120]


def _open_append(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreWriteError(f"{path}: cannot be opened for writing ({exc.strerror}); fix: "
                              "check the results folder's permissions and free space, then "
                              "run again with --resume") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _cut_back(fd: int, size: int) -> None:
    """Drop the fragment a failed write left (truncating never needs space)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        log.warning("could not cut a partial line back; resuming the run quarantines it")


def _write_error(path: Path, exc: OSError, result: CellResult | None) -> StoreWriteError:
    what = f"the result of cell {result.cell_key}" if result is not None else "the cells"
    cause = "free disk space (or raise the file-size limit, `ulimit -f`)" \
        if exc.errno in _SPACE else "fix the cause"
    return StoreWriteError(f"{path}: could not store {what} ({exc.strerror}); every cell "
                           f"stored before it is kept; fix: {cause}, then run again with "
                           "--resume")


def _append_lines(path: Path, lines: list[bytes], result: CellResult | None) -> None:
    fd = _open_append(path)
    try:
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, b"".join(line.rstrip(b"\n") + b"\n" for line in lines))
            os.fsync(fd)
        except OSError as exc:
            _cut_back(fd, size)
            raise _write_error(path, exc, result) from None
    finally:
        os.close(fd)


def _rewrite(path: Path, lines: list[bytes], result: CellResult | None) -> None:
    """Replace `path` by `lines` whole or not at all (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(b"".join(line.rstrip(b"\n") + b"\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, exc, result) from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
