"""`harness` console script: typer app, one-line errors, exit codes."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from harness.cli import list_cmd, profile_cmd, regression_cmd, report_cmd, run_cmd
from harness.errors import HarnessError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Benchmark local LLMs across models x quant formats x backends.")
app.command("run")(run_cmd.run)
app.command("profile")(profile_cmd.profile)
app.command("report")(report_cmd.report)
app.command("list")(list_cmd.list_)
app.command("compare")(regression_cmd.compare)
app.command("nightly")(regression_cmd.nightly)
app.command("trend")(regression_cmd.trend)
app.add_typer(regression_cmd.baseline_app, name="baseline")
app.add_typer(regression_cmd.export_app, name="export")

err_console = Console(stderr=True)


def main() -> None:
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
