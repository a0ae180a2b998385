"""The answer a run report opens with: per model (and hardware profile), which format to run.

For each model on each hardware profile: its fastest and its smallest format (with the
backend that ran it), each with its ratios to the model's reference format and its share
of the decode roofline; the formats on the speed-quality Pareto front of each quality
metric; and the cells that failed or ran contended. Everything is found by declared kind
and chart style, never by metric name:

- speed: the speed metric the roofline chart draws (decode tokens/s), its median, at an
  empty context (rows tagged with a nonzero `depth` are left out); the best of a format's
  cells where several ran it on one backend (thread counts, runs);
- size: the median of the size metric (file bytes), else the size the artifact records;
- reference: the widest format of the model, by the bits per weight read from its file
  (`frames.format_order`, the order the charts draw formats in);
- roofline: `figures.roofline_limits` (read bandwidth / weight bytes per token);
- Pareto front: `figures.pareto_front` of the quality metric's mean against the speed.

`model_summary` is the computation (the run report and a published model page render
it); `harness.reports.summary_html.render` writes it as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.reports.charts import spec_rows, suite_specs
from harness.reports.figures import overall, pareto_front, roofline_limits
from harness.reports.frames import contention, format_order, numeric
from harness.results.identity import metric_label

KEY = ["model", "profile_id", "format", "backend"]


@dataclass(frozen=True)
class Pick:
    """One format of a model as one backend ran it, with what the summary says of it.
    Ratios are to the reference format on the same backend (else on its fastest one);
    None where either side was not measured."""

    format: str
    backend: str
    speed: float | None
    """Median of the roofline's speed metric (decode tokens/s)."""
    size_bytes: float | None
    bits_per_weight: float | None
    speed_ratio: float | None
    size_ratio: float | None
    roofline_share: float | None
    """speed / roofline limit (read bandwidth / weight bytes); None without a bandwidth."""
    contended: bool = False
    """The speed was timed while other work shared the machine."""


@dataclass(frozen=True)
class Front:
    """The formats no other format of the model beats on both speed and `metrics`."""

    metrics: tuple[str, ...]
    """The quality metrics that give this same front (perplexity and its per-token
    log-likelihood order formats alike): each its name, plus the tags that tell it from
    other metrics of that name here (mmlu_accuracy [shots=0])."""
    higher_is_better: bool
    points: tuple[tuple[str, str], ...]
    """(format, backend), fastest first."""


@dataclass(frozen=True)
class Flag:
    """A cell of the model the numbers above leave out (failed) or should be read with
    care (contended)."""

    format: str
    backend: str
    suite: str
    status: str
    """failed or contended."""
    why: str


@dataclass(frozen=True)
class ModelSummary:
    model: str
    profile_id: str
    speed_metric: str | None
    """The speed metric the picks are judged by (None: no roofline speed was measured)."""
    speed_unit: str | None
    reference: Pick | None
    """The reference format (widest by bits per weight) on its fastest backend."""
    fastest: Pick | None
    smallest: Pick | None
    fronts: tuple[Front, ...] = ()
    within_noise: tuple[tuple[str, str], ...] = ()
    """(format, backend) of the other timed cells whose speed's 95 % interval of the mean
    overlaps the fastest's: the run cannot tell them apart from it."""
    flags: tuple[Flag, ...] = ()


def model_summary(frame: pd.DataFrame, bandwidths: dict[str, float]) -> list[ModelSummary]:
    """One summary per (model, hardware profile) in `frame` (the long results frame of
    `harness.results.frame.load_frame`), sorted by model then profile. `bandwidths`:
    read bandwidth (GB/s) per hardware profile (`frames.profile_bandwidths`); a run's own
    re-measured bandwidth is used before it."""
    if frame.empty:
        return []
    frame = numeric(frame)
    speed, name, unit = _speeds(frame, bandwidths)
    cells = _cells(frame, speed)
    out = []
    for (model, profile), group in frame.groupby(["model", "profile_id"], sort=True):
        mine = cells[(cells["model"] == model) & (cells["profile_id"] == profile)]
        timed = _by_speed(mine)
        picks = _picks(mine, timed, format_order(group))
        out.append(ModelSummary(
            str(model), str(profile), name if speed is not None else None, unit,
            *picks, fronts=_fronts(group, mine), within_noise=_within_noise(timed),
            flags=_flags(group)))
    return out


def _speeds(frame: pd.DataFrame, bandwidths: dict[str, float]
            ) -> tuple[pd.DataFrame | None, str | None, str | None]:
    """Per cell key, the best median of the speed metric the roofline chart draws, with its
    roofline share and contention; plus the metric's name and unit."""
    found = [(suite, spec) for suite, specs in suite_specs(frame).items() for spec in specs
             if spec.kind == "speed" and any(c.style == "roofline" for c in spec.charts)]
    parts = [overall(spec_rows(frame, suite, spec)) for suite, spec in found]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return None, None, None
    rows = _empty_context(pd.concat(parts))
    if rows.empty:
        return None, None, None
    rows = roofline_limits(rows, bandwidths)
    rows = rows.assign(share=rows["median"] / rows["limit"],
                       contended=[contention(h) is not None for h in rows["health"]])
    best = rows.sort_values("median", ascending=False, kind="stable").drop_duplicates(KEY)
    spec = found[0][1]
    columns = KEY + ["median", "ci_low", "ci_high", "share", "contended"]
    return best[columns], spec.name, spec.unit


def _empty_context(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows timed from an empty KV cache (no `depth` tag, or depth 0)."""
    keep = [not (isinstance(t, dict) and t.get("depth")) for t in rows["metric_tags"]]
    return rows[keep]


def _cells(frame: pd.DataFrame, speed: pd.DataFrame | None) -> pd.DataFrame:
    """One row per cell key that has a successful result: speed, share, contended, size
    and bits per weight."""
    ok = frame[frame["status"] == "ok"]
    art = ok.groupby(KEY, sort=False).agg(
        artifact_size=("artifact_size_bytes", "max"),
        bits_per_weight=("artifact_bits_per_weight", "max")).reset_index()
    sized = ok[ok["kind"] == "size"].groupby(KEY, sort=False)["median"].min()
    cells = art.merge(sized.rename("measured_size").reset_index(), on=KEY, how="left")
    cells["size"] = cells["measured_size"].fillna(cells["artifact_size"])
    if speed is None:
        return cells.assign(median=float("nan"), ci_low=float("nan"), ci_high=float("nan"),
                            share=float("nan"), contended=False)
    cells = cells.merge(speed, on=KEY, how="left")
    return cells.assign(contended=cells["contended"].eq(True))


def _picks(cells: pd.DataFrame, timed: pd.DataFrame, order: list[str]
           ) -> tuple[Pick | None, Pick | None, Pick | None]:
    """(reference, fastest, smallest) of one model's cells; `timed`: those cells by speed
    (`_by_speed`); `order`: widest format first."""
    if cells.empty:
        return None, None, None
    reference = next((f for f in order if f in set(cells["format"])), None)
    ref = cells[cells["format"] == reference]
    ref_best = ref.sort_values("median", ascending=False, na_position="last").iloc[0]
    fastest = None if timed.empty else timed.iloc[0]
    sized = cells.dropna(subset=["size"])
    smallest = None
    if not sized.empty:
        smallest = sized.sort_values(["size", "median"], ascending=[True, False],
                                     na_position="last", kind="stable").iloc[0]
    return tuple(None if row is None else _pick(row, ref, ref_best)
                 for row in (ref_best, fastest, smallest))


def _by_speed(cells: pd.DataFrame) -> pd.DataFrame:
    """The timed cells, fastest first (the smaller of equally fast ones first)."""
    return cells.dropna(subset=["median"]).sort_values(
        ["median", "size"], ascending=[False, True], kind="stable")


def _within_noise(timed: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """Of the timed cells (`_by_speed`), those after the fastest whose interval overlaps
    the fastest's; none where the fastest has no interval (one sample)."""
    if len(timed) < 2 or pd.isna(timed["ci_low"].iloc[0]):
        return ()
    rest = timed.iloc[1:]
    close = rest[rest["ci_high"] >= timed["ci_low"].iloc[0]]
    return tuple(zip(close["format"].astype(str), close["backend"].astype(str), strict=True))


def _pick(row: pd.Series, ref: pd.DataFrame, ref_best: pd.Series) -> Pick:
    same = ref[ref["backend"] == row["backend"]]
    base_speed = same["median"].max() if not same["median"].isna().all() \
        else ref_best["median"]
    return Pick(
        str(row["format"]), str(row["backend"]), _value(row["median"]), _value(row["size"]),
        _value(row["bits_per_weight"]), _ratio(row["median"], base_speed),
        _ratio(row["size"], ref["size"].min()), _value(row["share"]), bool(row["contended"]))


def _value(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _ratio(value, base) -> float | None:
    value, base = _value(value), _value(base)
    return None if value is None or base is None or base <= 0 else value / base


def _fronts(group: pd.DataFrame, cells: pd.DataFrame) -> tuple[Front, ...]:
    """Per quality metric (overall rows, by label) measured on at least two timed formats,
    the Pareto front of its mean against the speed; metrics giving the same front share
    one entry."""
    timed = cells.dropna(subset=["median"])[KEY + ["median"]]
    quality = overall(group[(group["status"] == "ok") & (group["kind"] == "quality")])
    short = _short_labels(quality)
    fronts: dict[tuple, tuple[list[str], bool]] = {}
    for label, rows in quality.groupby("metric_label", sort=True):
        rows = rows.sort_values("run_id").drop_duplicates(KEY, keep="last")
        joined = rows[KEY + ["mean", "higher_is_better"]].merge(timed, on=KEY)
        joined = joined.dropna(subset=["mean"])
        if len(joined) < 2:
            continue
        higher = bool(joined["higher_is_better"].iloc[0])
        on = joined[pareto_front(list(joined["median"]), list(joined["mean"]), higher)]
        on = on.sort_values("median", ascending=False)
        points = tuple(zip(on["format"], on["backend"], strict=True))
        fronts.setdefault((points, higher), ([], higher))[0].append(short[label])
    return tuple(Front(tuple(labels), higher, points)
                 for (points, _), (labels, higher) in fronts.items())


def _short_labels(rows: pd.DataFrame) -> dict[str, str]:
    """metric label -> its name plus only the tags whose values differ between the labels
    of that name in `rows`."""
    out = {}
    for name, same in rows.groupby("metric_name", sort=False):
        tags = {label: t if isinstance(t, dict) else {}
                for label, t in zip(same["metric_label"], same["metric_tags"], strict=True)}
        keys = {k for t in tags.values() for k in t}
        varying = {k for k in keys if len({str(t.get(k)) for t in tags.values()}) > 1}
        for label, t in tags.items():
            out[label] = metric_label(str(name), {k: v for k, v in t.items() if k in varying})
    return out


def _flags(group: pd.DataFrame) -> tuple[Flag, ...]:
    """Failed cells, then contended ones, of one model on one profile."""
    cells = group.drop_duplicates("cell_key")
    failed = [Flag(str(r["format"]), str(r["backend"]), str(r["suite"]), "failed",
                   str(r["error"] or ""))
              for _, r in cells[cells["status"] == "failed"].iterrows()]
    busy = [Flag(str(r["format"]), str(r["backend"]), str(r["suite"]), "contended",
                 why or "the machine was busy")
            for _, r in cells[cells["status"] == "ok"].iterrows()
            if (why := contention(r["health"])) is not None]
    return tuple(failed + busy)
