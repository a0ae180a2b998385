"""`harness compare BASELINE [CANDIDATE]`: exit 0 clean, 1 something regressed, 2 bad input."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from harness.cli.options import PROFILES, RESULTS, console, manifest


def compare(
    baseline: str = typer.Argument(..., help="run id, run folder, 'latest' or 'baseline'"),
    candidate: str = typer.Argument("latest", help="run id, run folder, 'latest' or 'baseline'"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
    suite_file: Path = typer.Option(None, help="take thresholds from this suite file's "
                                               "regression: section (default: the candidate's)"),
    threshold: list[str] = typer.Option([], "--threshold", "-t",
                                        help="METRIC=EXPR, e.g. decode_tokens_per_s=median:5% "
                                             "or =auto (from harness calibrate's noise floor)"),
    html_out: Path = typer.Option(None, "--html", help="also write the comparison as HTML"),
    json_out: Path = typer.Option(None, "--json", help="also write the comparison as JSON"),
    show_all: bool = typer.Option(False, "--all", help="list unchanged metrics too"),
) -> None:
    """Compare two runs cell by cell; exit 1 when a metric regressed.

    `auto` thresholds and the MDE column (minimum detectable effect of one run against
    one run, at the regression config's false_alarm rate and 90 % power) come from the
    noise floor `harness calibrate` stored in the candidate's hardware profile."""
    from harness.regression.compare import compare_runs
    from harness.regression.noise import NoiseFloor
    from harness.results.query import load_run, resolve_run

    cand_dir = resolve_run(candidate, results_dir)
    cand_manifest = manifest(cand_dir)
    base_dir = resolve_run(baseline, results_dir, cand_manifest.get("profile_id"))
    config = _config(cand_dir, suite_file, threshold)
    cand_cells = load_run(cand_dir)
    noise = NoiseFloor.load(profiles_dir, cand_cells[0].profile_id if cand_cells else "",
                            str(cand_manifest.get("plan_name") or ""),
                            str(suite_file or cand_manifest.get("plan_file") or ""))
    comparison = compare_runs(load_run(base_dir), cand_cells, config, noise)
    print_comparison(comparison, show_all)
    write_comparison(comparison, html_out, json_out)
    if comparison.regressed:
        raise typer.Exit(1)


def print_comparison(comparison, show_all: bool = False) -> None:
    from rich.markup import escape
    from rich.table import Table

    from harness.reports.comparison import format_change, format_interval

    for warning in comparison.warnings:
        console.print(f"[bold red]warning:[/bold red] {escape(warning)}", highlight=False)
    for line in comparison.thresholds:
        console.print(f"threshold {line}", highlight=False, markup=False)
    # cells, metrics and run ids come from results files: never read them as Rich markup
    table = Table(title=escape(f"{comparison.candidate_run} vs {comparison.baseline_run}"))
    mde = any(row.mde is not None for row in comparison.rows)
    for col in ("verdict", "cell", "metric", "baseline", "candidate", "change", "interval", "p",
                *(["MDE"] if mde else [])):
        table.add_column(col)
    style = {"regressed": "bold red", "improved": "green", "inconclusive": "yellow",
             "unchanged": "dim"}
    for row in comparison.rows:
        if row.verdict == "unchanged" and not show_all:
            continue
        table.add_row(f"[{style[row.verdict]}]{row.verdict}[/]", escape(row.cell),
                      escape(row.metric),
                      f"{row.base:.4g}", f"{row.cand:.4g}", format_change(row),
                      format_interval(row), "-" if row.p_value is None else f"{row.p_value:.3g}",
                      *([("-" if row.mde is None else f"{row.mde * 100:.1f}%")] if mde else []))
    console.print(table)
    for failure in comparison.newly_failed:
        console.print(f"[bold red]regressed[/bold red] (failed, ok in baseline): "
                      f"{escape(failure)}", highlight=False)
    for side, cells in (("baseline", comparison.only_baseline),
                        ("candidate", comparison.only_candidate)):
        for cell in cells:
            console.print(f"only in the {side}: {cell}", highlight=False, markup=False)
    counts = ", ".join(f"{n} {v}" for v, n in comparison.counts().items())
    console.print(f"{len(comparison.rows)} metrics compared: {counts}"
                  + (f"; {len(comparison.newly_failed)} cells newly failed"
                     if comparison.newly_failed else ""))


def write_comparison(comparison, html_out: Path | None, json_out: Path | None,
                     reporter_name: str = "comparison-html",
                     profiles_dir: Path = Path("hardware_profiles")) -> None:
    if html_out is not None:
        from harness.reports.base import ComparisonReporter, reporter

        page = reporter(reporter_name, ComparisonReporter, profiles_dir)
        title = f"{comparison.candidate_run} vs baseline {comparison.baseline_run}"
        console.print(f"comparison report -> {page.render(comparison, html_out, title)}",
                      markup=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(comparison.to_dict(), indent=2))
        console.print(f"comparison json -> {json_out}", markup=False)


def _config(run_dir: Path, suite_file: Path | None, overrides: list[str]):
    from harness.errors import UsageError
    from harness.thresholds import RegressionConfig, is_auto, parse_auto, parse_threshold

    if suite_file is not None:
        from harness.config import load_plan

        config = load_plan(suite_file).regression
    else:
        from pydantic import ValidationError

        try:
            config = RegressionConfig.model_validate(manifest(run_dir).get("regression") or {})
        except ValidationError as exc:
            problem = " ".join(str(exc.errors()[0]["msg"]).split()).partition("; fix:")[0]
            raise UsageError(f"{run_dir / 'run.json'}: regression: {problem}; fix: give the "
                             "thresholds with --suite-file or --threshold") from None
    thresholds = dict(config.thresholds)
    for item in overrides:
        name, sep, expr = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--threshold {item!r}: not METRIC=EXPR; fix: e.g. "
                             "--threshold decode_tokens_per_s=median:5%")
        try:
            parse_auto(expr) if is_auto(expr) else parse_threshold(expr)
        except ValueError as exc:
            raise UsageError(f"--threshold {name}: {exc}") from None
        thresholds[name] = expr
    quality = {k: v for k, v in config.quality.items() if k not in thresholds}
    return config.model_copy(update={"thresholds": thresholds, "quality": quality})
