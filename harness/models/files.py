"""What is wrong with a model path a suite file gives, found before any cell runs.

Only what is cheap to see is checked here (the path, the file's size and first bytes); a
GGUF file cut off inside its tensor data is found by the engine and fails its cells.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from harness.formats.base import FOLDER_MARKERS, container_of_path

GGUF_MAGIC = b"GGUF"


def model_path_problem(path: Path, accepted: Collection[str]) -> tuple[str, str] | None:
    """(problem, fix) for a model path that cannot be a model, or None. `accepted`: the
    containers the plan's backends load (a file of any other kind would only be skipped)."""
    try:
        return _problem(path, accepted)
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long, no permission
        reason = getattr(exc, "strerror", None) or str(exc)
        return f"{path} cannot be used ({reason})", "fix the path"


def _problem(path: Path, accepted: Collection[str]) -> tuple[str, str] | None:
    if path.is_dir():
        if not container_of_path(path):
            return (f"{path} is a folder without {' or '.join(FOLDER_MARKERS)}",
                    "give a model file or a model folder (Hugging Face or ONNX)")
        return None
    if not path.exists():
        return (f"no model file at {path}",
                "fix the path (relative paths start at the suite file's folder)")
    if not path.is_file():
        return f"{path} is not a regular file", "give a model file or a model folder"
    container = container_of_path(path)
    if accepted and container not in accepted:
        return (f"{path.name} is not a model file any backend of this plan loads "
                f"(they load {', '.join(sorted(accepted))})",
                "give a .gguf file, or a Hugging Face or ONNX model folder")
    if container != "gguf":
        return None
    with path.open("rb") as handle:
        head = handle.read(len(GGUF_MAGIC))
    if not head:
        return f"{path} is empty (0 bytes)", "give the model file itself (it was not copied?)"
    if head != GGUF_MAGIC:
        return (f"{path} is not a GGUF file (it starts with {head!r}, not {GGUF_MAGIC!r})",
                "give a GGUF model file (an interrupted download? fetch it again)")
    return None
