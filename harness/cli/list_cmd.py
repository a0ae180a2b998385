"""`harness list backends|suites|formats|models|reporters`."""

from __future__ import annotations

from enum import Enum

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.registry import registry

console = Console(emoji=False)  # a plan name such as "name:label:" is not an emoji code


class What(str, Enum):
    backends = "backends"
    suites = "suites"
    formats = "formats"
    models = "models"
    reporters = "reporters"


def list_(what: What = typer.Argument(..., help="which registry")) -> None:
    """Show what is registered, plugins from other installed packages included."""
    table = Table(title=what.value)
    if what is What.formats:
        from harness.formats.resolve import all_formats

        for col in ("format", "producer", "description"):
            table.add_column(col)
        for fmt, (producer, text) in all_formats().items():
            table.add_row(fmt, producer, text)
        console.print(table)
        return
    reg = registry(what.value)
    for col in ("name", "from", "details"):
        table.add_column(col)
    for name in reg.names():
        table.add_row(name, reg.origin(name), _details(what, reg, name))
    console.print(table)


def _details(what: What, reg, name: str) -> str:
    try:
        obj = reg.get(name)
    except Exception as exc:  # a broken plugin is listed with its cause, not a traceback
        return f"[red]cannot load: {escape(str(exc))}[/red]"
    if what is What.backends:
        state = (f"available, version {obj.version()}" if obj.available()
                 else f"[yellow]unavailable: {escape(obj.install_hint)}[/yellow]")
        return f"loads {', '.join(obj.accepts)}; {state}"
    if what is What.models:
        return obj.describe()
    if what is What.reporters:
        doc = (obj.__doc__ or "").strip().splitlines()
        return f"renders {obj.renders}: {doc[0] if doc else ''}"
    doc_lines = (obj.__doc__ or "").strip().splitlines()
    return getattr(obj, "description", "") or (doc_lines[0] if doc_lines else "")
