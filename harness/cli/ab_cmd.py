"""`harness ab SUITE_A SUITE_B`: A/B on this machine; exit 0 clean, 1 B regressed, 2 bad input."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import PROFILES, RESULTS, console


def ab(
    suite_a: Path = typer.Argument(..., help="suite YAML of A (the reference)"),
    suite_b: Path = typer.Argument(..., help="suite YAML of B (judged against A)"),
    processes: int = typer.Option(5, "--processes", "-n", min=2, max=100,
                                  help="worker processes per timed cell and side"),
    threshold: list[str] = typer.Option(
        [], "--threshold", "-t", help="EXPR for every speed and latency metric (median:5%, "
        "auto) or METRIC=EXPR; default: A's regression: section"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
    show_all: bool = typer.Option(True, "--all/--changed", help="list unchanged metrics too"),
    html_out: Path = typer.Option(None, "--html", help="also write the comparison as HTML"),
    json_out: Path = typer.Option(None, "--json", help="also write the comparison as JSON"),
    lockstep: bool = typer.Option(
        True, "--lockstep/--no-lockstep", help="run process i of A and of B at once, taking "
        "turns repetition by repetition (default); --no-lockstep runs them one after the other"),
) -> None:
    """Run A's and B's cells together in one job and judge B against A, cell by cell.

    Cells pair by position (both files must expand to the same number of cells). Process i
    of an A cell runs beside process i of its B cell, by default in lockstep: both start
    together and hand the machine back and forth before every timed repetition, so each
    repetition of A sits next to one of B and the machine's drift cancels in their ratio.
    Each speed and latency metric gets a paired t interval of the log ratio B/A of
    per-process medians over the N processes. Exit 1 when B regressed."""
    from harness.cli.run_cmd import execute_together
    from harness.config import load_plan
    from harness.errors import UsageError
    from harness.matrix import expand
    from harness.regression.noise import NoiseFloor
    from harness.regression.paired import compare_paired
    from harness.results.query import load_run

    plan_a, plan_b = load_plan(suite_a), load_plan(suite_b)
    matrix_a, matrix_b = expand(plan_a), expand(plan_b)
    if len(matrix_a.cells) != len(matrix_b.cells):
        raise UsageError(f"{suite_a} has {len(matrix_a.cells)} cells and {suite_b} has "
                         f"{len(matrix_b.cells)}; fix: ab pairs cells by position: give two "
                         "suite files with the same number of cells")
    config = _config(plan_a.regression, threshold)
    summary_a, summary_b = execute_together([(plan_a, matrix_a), (plan_b, matrix_b)],
                                            results_dir, profiles_dir, processes, lockstep)
    a_cells = _in_matrix_order(load_run(summary_a.dir), matrix_a)
    b_cells = _in_matrix_order(load_run(summary_b.dir), matrix_b)
    noise = NoiseFloor.load(profiles_dir, summary_a.profile_id, plan_a.name, str(suite_a))
    comparison = compare_paired(a_cells, b_cells, config, noise)
    from harness.cli.compare_cmd import print_comparison, write_comparison

    for a, b in zip(matrix_a.cells, matrix_b.cells, strict=True):
        if a.label() != b.label():
            console.print(f"pair: A {a.label()} with B {b.label()}", highlight=False,
                          markup=False)
    console.print(f"A: {suite_a} run {summary_a.run_id}; B: {suite_b} run "
                  f"{summary_b.run_id}; {processes} processes "
                  f"{'in lockstep' if lockstep else 'interleaved'}",
                  highlight=False, markup=False)
    print_comparison(comparison, show_all)
    write_comparison(comparison, html_out, json_out, profiles_dir=profiles_dir)
    if comparison.regressed:
        raise typer.Exit(1)


def _in_matrix_order(cells, matrix) -> list:
    """The stored cells in the order of the plan's matrix (the last record of each)."""
    from harness.results.identity import label

    by_label = {label(cell): cell for cell in cells}
    return [by_label[c.label()] for c in matrix.cells if c.label() in by_label]


def _config(config, overrides: list[str]):
    """A's regression config with the --threshold overrides: EXPR for every sampled
    metric (and as `default`), or METRIC=EXPR for one."""
    from harness.errors import UsageError
    from harness.thresholds import is_auto, parse_auto, parse_threshold

    thresholds = dict(config.thresholds)
    for item in overrides:
        name, sep, expr = item.rpartition("=")
        try:
            parse_auto(expr) if is_auto(expr) else parse_threshold(expr)
        except ValueError as exc:
            raise UsageError(f"--threshold {item}: {exc}") from None
        if sep and not name:
            raise UsageError(f"--threshold {item!r}: no metric before '='; fix: e.g. "
                             "--threshold median:5% or decode_tokens_per_s=median:5%")
        if sep:
            thresholds[name] = expr
        else:  # named speed thresholds would otherwise still win over `default`
            thresholds = {"default": expr}
    return config.model_copy(update={"thresholds": thresholds})
