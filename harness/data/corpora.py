"""Text corpora for perplexity and KL divergence.

The default is real prose that ships with every CPython: the language reference
topics behind `help()` (`pydoc_data.topics`), about 465 KB of English. A second built-in
text, `python-docstrings`, is the long docstrings of the standard library's top-level
modules (read with `ast`, nothing imported): different prose from the same place, used
to calibrate quantizers so that calibration never sees the evaluation text. A user names
a local text file, or a Hugging Face dataset (fetched only then, through `datasets`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict

DEFAULT_CORPUS = "python-docs"
CALIBRATION_CORPUS = "python-docstrings"
CODE_CORPUS = "python-source"
"""The standard library's own modules: real code for code-completion prompts."""


class HfCorpus(BaseModel):
    """A column of a Hugging Face dataset split, rows joined by blank lines."""

    model_config = ConfigDict(extra="forbid")

    hf_dataset: str
    config: str | None = None
    split: str = "test"
    column: str = "text"


CorpusSpec = str | HfCorpus


def load_text(spec: CorpusSpec) -> str:
    """The corpus text. Raises ValueError with the fix for a missing or empty source."""
    if isinstance(spec, HfCorpus):
        try:
            import datasets
        except ImportError:
            raise ValueError("a Hugging Face corpus needs the datasets package; "
                             "fix: pip install 'harness[quality]'") from None
        rows = datasets.load_dataset(spec.hf_dataset, spec.config, split=spec.split)
        return "\n\n".join(str(r) for r in rows[spec.column])
    if spec == DEFAULT_CORPUS:
        from pydoc_data.topics import topics

        return "\n\n".join(topics[key] for key in sorted(topics))
    if spec == CALIBRATION_CORPUS:
        return _stdlib_docstrings()
    if spec == CODE_CORPUS:
        return "\n\n".join(f.read_text(encoding="utf-8", errors="replace")
                           for f in _stdlib_modules())
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"no corpus file at {path}; fix: give a text file, "
                         f"'{DEFAULT_CORPUS}', '{CALIBRATION_CORPUS}' or '{CODE_CORPUS}'")
    return path.read_text(encoding="utf-8", errors="replace")


def describe(spec: CorpusSpec, text: str) -> dict:
    """What a result must record so two perplexities are known to be comparable."""
    name = spec if isinstance(spec, str) else f"hf:{spec.hf_dataset}/{spec.config}/{spec.split}"
    return {"corpus": name, "corpus_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "corpus_bytes": len(text.encode())}


def check_length(spec: CorpusSpec, min_tokens: int) -> None:
    """Fail early on a local corpus too short for even one window: a token is at least
    one byte, so fewer bytes than tokens needed cannot work."""
    if isinstance(spec, HfCorpus):
        return
    size = len(load_text(spec).encode())
    if size < min_tokens:
        raise ValueError(f"corpus {spec} has {size} bytes, fewer than the {min_tokens} tokens "
                         "one window needs; fix: use a longer text or a smaller n_ctx")


def _stdlib_modules() -> list[Path]:
    import sysconfig

    return sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


def _stdlib_docstrings(min_chars: int = 200) -> str:
    import ast

    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docs = []
    for file in _stdlib_modules():
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            doc = ast.get_docstring(node) if isinstance(node, kinds) else None
            if doc and len(doc) >= min_chars:
                docs.append(doc)
    return "\n\n".join(docs)
