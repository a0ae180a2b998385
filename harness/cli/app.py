"""`harness` console script: typer app, one-line errors, exit codes.

Each command module imports what its command needs inside the command, so `harness
--help` and every command's start stay cheap (no pandas, plotly, scipy or engine here).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from harness.cli import (
    ab_cmd,
    baseline_cmd,
    calibrate_cmd,
    compare_cmd,
    doctor_cmd,
    export_cmd,
    fleet_cmd,
    list_cmd,
    nightly_cmd,
    profile_cmd,
    publish_cmd,
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
app.command("calibrate")(calibrate_cmd.calibrate)
app.command("ab")(ab_cmd.ab)
app.command("nightly")(nightly_cmd.nightly)
app.command("trend")(trend_cmd.trend)
app.command("doctor")(doctor_cmd.doctor)
app.command("publish")(publish_cmd.publish)
app.add_typer(baseline_cmd.baseline_app, name="baseline")
app.add_typer(export_cmd.export_app, name="export")
app.add_typer(fleet_cmd.fleet_app, name="fleet")


def main() -> None:
    from rich.console import Console

    err_console = Console(stderr=True, emoji=False)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        code, line = _error_line(exc)
        # markup=False: an error quotes user text (paths, YAML), and "[/x]" in it would
        # otherwise be read as Rich markup
        line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(line.split()))
        err_console.print("error: " + line, style="red", markup=False,
                          emoji=False, highlight=False, soft_wrap=True)
        sys.exit(code)
    sys.exit(code if isinstance(code, int) else 0)


def _error_line(exc: Exception) -> tuple[int, str]:
    """(exit code, one line with the fix) for anything that ends a command; re-raises what
    is neither the user's input nor the environment, with HARNESS_DEBUG=1."""
    if isinstance(exc, HarnessError):
        return exc.exit_code, str(exc)
    usage = _click_error(exc)
    if usage is not None:
        return usage
    if isinstance(exc, OSError):  # a folder that is a file, no permission, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        return 2, (f"{where}{exc.strerror or exc}; fix: check that path (a folder the "
                   "harness can write to, or a file it can read) and the free disk space")
    if os.environ.get("HARNESS_DEBUG"):
        raise exc
    return 1, (f"internal error ({type(exc).__name__}: {exc}); fix: this is a bug in the "
               "harness: rerun with HARNESS_DEBUG=1 for the traceback and report it")


def _click_error(exc: Exception) -> tuple[int, str] | None:
    """Click's own errors (bad option, missing argument, bad choice), which arrive here in
    non-standalone mode; typer vendors click in recent versions, so both are checked."""
    if isinstance(exc, typer.Exit):
        sys.exit(getattr(exc, "exit_code", 0))
    if isinstance(exc, typer.Abort):
        sys.exit(130)
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            errors = importlib.import_module(module)
        except ImportError:
            continue
        exit_cls, abort_cls = getattr(errors, "Exit", ()), getattr(errors, "Abort", ())
        if isinstance(exc, exit_cls):
            sys.exit(exc.exit_code)
        if isinstance(exc, abort_cls):
            sys.exit(130)
        if isinstance(exc, errors.ClickException):
            message = exc.format_message().replace("Value error, ", "").rstrip(".")
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx else "harness"
            code = 2 if isinstance(exc, errors.UsageError) else (exc.exit_code or 1)
            return code, f"{message}; fix: see {command} --help"
    return None
