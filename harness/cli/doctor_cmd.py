"""`harness doctor`: is this machine quiet enough to time cells, and what to change."""

from __future__ import annotations

import typer

from harness.cli.options import console


def doctor(
    window: float = typer.Option(1.0, "--window", min=0.1, max=60,
                                 help="seconds to watch the other processes' CPU"),
    bandwidth: bool = typer.Option(True, "--bandwidth/--no-bandwidth",
                                   help="re-measure memory read bandwidth (about a second)"),
) -> None:
    """Check the machine as `harness run` does before timed cells (like `pyperf system`):
    other processes' CPU, steal, load, governor, turbo, memory bandwidth. Always exits 0."""
    from rich.table import Table
    from rich.text import Text

    from harness.hardware.quiet import busy_line, preflight

    pf = preflight(window, bandwidth=bandwidth)
    table = Table(title="machine check")
    for col in ("check", "value", "", "what to change"):
        table.add_column(col, overflow="fold")
    for f in pf["findings"]:
        mark = Text("ok", "green") if f["ok"] else Text("change", "yellow")
        table.add_row(f["name"], Text(f["value"]), mark, Text(f["fix"]))
    console.print(table)
    if pf["quiet"]:
        console.print(Text.assemble(("quiet", "green"), ": timed cells measured now would "
                                    "not be marked contended"), highlight=False, soft_wrap=True)
    else:
        console.print(Text.assemble(("busy", "red"), f": {busy_line(pf)}; timed cells "
                                    "measured now would be marked contended (harness run "
                                    "--wait-quiet SECONDS waits for a quiet machine)"),
                      highlight=False, soft_wrap=True)
