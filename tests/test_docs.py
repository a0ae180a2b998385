"""The docs cannot drift from the CLI: every `harness ...` command shown in README.md and
docs/*.md names a real subcommand and only options that command has, and a shown
`harness run FILE` of a suite file in this repository passes `--dry-run`."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, harness_cmd

DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "results" / "README.md", ROOT / "hardware_profiles" / "README.md"]
FENCE = re.compile(r"^\s*(```|~~~)")
SPAN = re.compile(r"`([^`]+)`")
# Shell separators between commands on one shown line; only the `harness` parts are checked.
SEPARATOR = re.compile(r"\s(?:\|\||&&|\||;)\s")


@dataclass(frozen=True)
class Shown:
    """One `harness ...` command as a doc shows it."""

    file: str
    line: int
    text: str

    def where(self) -> str:
        return f"{self.file}:{self.line}: `{self.text}`"

    def tokens(self) -> list[str]:
        return shlex.split(self.text, comments=True)


def _fenced(file: str, start: int, lines: list[str]) -> list[Shown]:
    """Commands in one fenced block; a trailing backslash continues a line."""
    shown, buffer, first = [], "", start
    for number, line in enumerate(lines, start):
        if not buffer:
            first = number
        buffer += line.rstrip("\\").strip() + " "
        if line.rstrip().endswith("\\"):
            continue
        text = buffer.strip().removeprefix("$ ")
        buffer = ""
        for part in SEPARATOR.split(text):
            part = part.strip()
            if part.startswith("harness "):
                shown.append(Shown(file, first, part))
    return shown


def _inline(file: str, text: str, line_of) -> list[Shown]:
    """Inline code spans that start with `harness ` (a span may wrap across lines)."""
    return [Shown(file, line_of(match.start()), " ".join(match.group(1).split()))
            for match in SPAN.finditer(text) if re.match(r"harness\s", match.group(1))]


def shown_commands(path: Path) -> list[Shown]:
    """Every `harness ...` command in a markdown file, with the line it starts on."""
    file = str(path.relative_to(ROOT))
    lines = path.read_text().splitlines()
    shown, block, prose, prose_lines = [], None, [], []
    for number, line in enumerate(lines, 1):
        if FENCE.match(line):
            if block is None:
                block = (number + 1, [])
            else:
                shown += _fenced(file, *block)
                block = None
        elif block is not None:
            block[1].append(line)
        else:
            prose.append(line)
            prose_lines.append(number)
    text = "\n".join(prose)
    starts = [m.start() for m in re.finditer(r"^", text, re.M)]

    def line_of(offset: int) -> int:
        return prose_lines[sum(1 for s in starts if s <= offset) - 1]

    return shown + _inline(file, text, line_of)


SHOWN = {str(path.relative_to(ROOT)): shown_commands(path) for path in DOC_FILES}


def _root_command():
    import typer.main

    from harness.cli.app import app

    return typer.main.get_command(app)


def _context(command):
    # typer may bring its own copy of click: use the command's own classes, not `click`'s
    return command.context_class(command, info_name=command.name)


def resolve(root, tokens: list[str]) -> tuple[object, list[str], list[str]]:
    """Walk the subcommand path of `harness ARGS...` through the click command tree:
    (command, its path, the rest). Raises LookupError naming the unknown subcommand."""
    command, path, rest = root, ["harness"], list(tokens[1:])
    while hasattr(command, "list_commands") and rest and not rest[0].startswith("-"):
        ctx = _context(command)
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            known = ", ".join(command.list_commands(ctx))
            raise LookupError(f"unknown subcommand {rest[0]!r} of `{' '.join(path)}` "
                              f"(it has: {known})")
        command = sub
        path.append(rest.pop(0))
    return command, path, rest


def option_names(command) -> set[str]:
    names = set()
    for param in command.get_params(_context(command)):
        if param.param_type_name == "option":
            names.update(param.opts, param.secondary_opts)
    return names


def problems(root, shown: Shown) -> list[str]:
    """What is wrong with one shown command: an unknown subcommand or option."""
    try:
        tokens = shown.tokens()
    except ValueError as exc:
        return [f"{shown.where()}: cannot be parsed as a shell line ({exc})"]
    try:
        command, path, rest = resolve(root, tokens)
    except LookupError as exc:
        return [f"{shown.where()}: {exc}"]
    known = option_names(command)
    found = []
    for token in rest:
        token = token.strip("[]")  # `[--option X]`: an optional part of a synopsis
        if not token.startswith("-") or token == "-" or re.fullmatch(r"-\d[\d.]*", token):
            continue
        name = token.split("=", 1)[0]
        if name not in known:
            found.append(f"{shown.where()}: unknown option {name} for `{' '.join(path)}` "
                         f"(it has: {', '.join(sorted(known))})")
    return found


def test_docs_show_commands() -> None:
    """The extraction finds what it must, so the checks below cannot pass vacuously."""
    readme = [" ".join(s.tokens()) for s in SHOWN["README.md"]]
    assert "harness run suites/demo.yaml" in readme, readme
    assert "harness run suites/demo.yaml --dry-run" in readme, readme
    for name in ("docs/plugins.md", "docs/regression.md", "docs/suite-files.md"):
        assert SHOWN.get(name), f"{name} shows no harness command"


def test_readme_quickstart_is_two_commands() -> None:
    """The README opens with exactly two commands, and CI runs its test command."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```\w*\n(.*?)```", text, re.S)
    assert block and text.index(block.group(0)) < text.index("\n## "), "no quickstart block"
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert lines == ["pip install -e '.[llama]' && harness run suites/demo.yaml",
                     "pip install -e '.[dev]' && pytest"], lines
    assert lines[1] in (ROOT / ".ci" / "run").read_text(), ".ci/run must run " + lines[1]


@pytest.mark.parametrize("doc", sorted(SHOWN))
def test_commands_and_options_exist(doc: str) -> None:
    root = _root_command()
    found = [problem for shown in SHOWN[doc] for problem in problems(root, shown)]
    assert not found, "\n".join(found)


def _planned_runs() -> list[tuple[Shown, list[str]]]:
    """Unique `harness run FILE ...` commands whose FILE is in this repository."""
    runs, seen = [], set()
    for shown in (s for doc in SHOWN.values() for s in doc):
        try:
            tokens = shown.tokens()
        except ValueError:
            continue  # reported by test_commands_and_options_exist
        if tokens[1:2] != ["run"] or len(tokens) < 3 or not (ROOT / tokens[2]).is_file():
            continue
        args = tokens[1:] + ([] if "--dry-run" in tokens else ["--dry-run"])
        if tuple(args) not in seen:
            seen.add(tuple(args))
            runs.append((shown, args))
    return runs


PLANNED = _planned_runs()


def _unavailable_backends(suite_file: Path) -> list[str]:
    """Backends a suite file requires (not `optional: true`) that cannot run here."""
    import yaml

    from harness.registry import registry

    backends = (yaml.safe_load(suite_file.read_text()) or {}).get("backends") or {}
    required = [name for name, values in backends.items() if not (values or {}).get("optional")]
    return [name for name in required if not registry("backends").get(name).available()]


def test_some_runs_are_planned() -> None:
    assert len(PLANNED) >= 3, [shown.where() for shown, _ in PLANNED]


@pytest.mark.parametrize("shown,args", PLANNED,
                         ids=[f"{s.file}:{s.line}" for s, _ in PLANNED])
def test_shown_runs_plan(shown: Shown, args: list[str]) -> None:
    missing = _unavailable_backends(ROOT / args[1])
    proc = harness_cmd(*args, timeout=300)
    if missing:  # where its engine is missing the harness refuses it, naming the install
        assert proc.returncode == 2 and "not installed" in proc.stderr, (
            f"{shown.where()}: needs {', '.join(missing)} (missing here), yet "
            f"`harness {' '.join(args)}` exited {proc.returncode}\n{proc.stderr}")
        return
    assert proc.returncode == 0, (f"{shown.where()}: `harness {' '.join(args)}` exited "
                                  f"{proc.returncode}\n{proc.stdout}{proc.stderr}")


@pytest.mark.parametrize("doc", DOC_FILES, ids=[str(p.relative_to(ROOT)) for p in DOC_FILES])
def test_relative_links_resolve(doc: Path) -> None:
    """Every relative link of a doc page names a file of this repository."""
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text())
    missing = [link for link in links if "://" not in link
               and not (doc.parent / link).exists()]
    assert not missing, f"{doc.relative_to(ROOT)}: links to missing files: {missing}"
