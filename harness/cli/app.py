"""`harness` console script: typer app, one-line errors, exit codes.

Each command module imports what its command needs inside the command, so `harness
--help` and every command's start stay cheap (no pandas, plotly, scipy or engine here).
"""

from __future__ import annotations

import logging
import sys

import typer

from harness.cli import (
    baseline_cmd,
    compare_cmd,
    export_cmd,
    list_cmd,
    nightly_cmd,
    profile_cmd,
    report_cmd,
    run_cmd,
    trend_cmd,
)
from harness.errors import HarnessError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Benchmark local LLMs across models x quant formats x backends.")
app.command("run")(run_cmd.run)
app.command("profile")(profile_cmd.profile)
app.command("report")(report_cmd.report)
app.command("list")(list_cmd.list_)
app.command("compare")(compare_cmd.compare)
app.command("nightly")(nightly_cmd.nightly)
app.command("trend")(trend_cmd.trend)
app.add_typer(baseline_cmd.baseline_app, name="baseline")
app.add_typer(export_cmd.export_app, name="export")


def main() -> None:
    from rich.console import Console

    err_console = Console(stderr=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = app(standalone_mode=False)
    except HarnessError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's own usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
