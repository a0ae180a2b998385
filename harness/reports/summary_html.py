"""The summary of `harness.reports.summary` as an HTML section: one table row per model
(and hardware profile). Every stored string is escaped here; links point at the run
report's failed and contended sections (ids `failed-cells` and `contended-cells`), which
a page without them simply does not scroll to."""

from __future__ import annotations

from harness.reports.escaping import text
from harness.reports.summary import Flag, Front, ModelSummary, Pick

TITLE = "Which format to run"
ANCHORS = {"failed": "failed-cells", "contended": "contended-cells"}
"""Flag status -> id of the section of the run report that lists such cells."""
FLAGS_SHOWN = 3
"""Cells named per status; the rest are counted (the linked section lists them all)."""
STYLE = ("<style>table.summary td{vertical-align:top;line-height:1.45}"
         " table.summary td.pick{white-space:nowrap}</style>")


def render(summaries: list[ModelSummary]) -> str:
    """The section: a heading, how to read it, and the table (nothing when empty)."""
    if not summaries:
        return ""
    profiles = len({s.profile_id for s in summaries}) > 1
    fronts = any(s.fronts for s in summaries)
    flags = any(s.flags for s in summaries)
    metric = next((s.speed_metric for s in summaries if s.speed_metric), None)
    head = ["model", *(["hardware profile"] if profiles else []), "reference", "fastest",
            "smallest", *(["on the speed–quality Pareto front"] if fronts else []),
            *(["flagged"] if flags else [])]
    rows = []
    for s in summaries:
        own = _backends(s)
        cells = [f"<td class=l><b>{text(s.model)}</b>",
                 *([f"<td class=l>{text(s.profile_id)}"] if profiles else []),
                 f"<td class='l pick'>{_pick(s.reference, s, True)}",
                 f"<td class='l pick'>{_pick(s.fastest, s, False)}{_noise(s, own)}",
                 f"<td class='l pick'>{_pick(s.smallest, s, False)}",
                 *([f"<td class=l>{_fronts(s.fronts, own)}"] if fronts else []),
                 *([f"<td class=l>{_flags(s.flags, own)}"] if flags else [])]
        rows.append(f"<tr>{'</td>'.join(cells)}</td></tr>")
    header = "".join(f"<th class=l>{text(h)}</th>" for h in head)
    return (f"{STYLE}<h2 id='summary'>{TITLE}</h2>{_how(metric, fronts)}"
            f"<table class='summary'><thead><tr>{header}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _how(metric: str | None, fronts: bool) -> str:
    speed = (f"by median {text(metric)} from an empty context" if metric
             else "(no speed metric with a roofline was measured)")
    front = (" Pareto front: the formats no other format of the model beats on both that "
             "speed and the quality metrics named." if fronts else "")
    return (f"<p class='meta'>Per model, the fastest format {speed} (and the formats "
            "this run cannot tell from it: their 95 % intervals of the mean overlap) and "
            "the smallest on disk. Ratios are to the model's reference format, the one "
            "with the most bits per weight (on the same backend); roofline: the share of "
            "the read bandwidth limit, bandwidth / weight bytes per token." + front + "</p>")


def _backends(summary: ModelSummary) -> str | None:
    """The one backend every cell of the summary names (then left out of its lists)."""
    names = {p.backend for p in (summary.reference, summary.fastest, summary.smallest) if p}
    names |= {b for front in summary.fronts for _, b in front.points}
    names |= {f.backend for f in summary.flags}
    return next(iter(names)) if len(names) == 1 else None


def _pick(pick: Pick | None, summary: ModelSummary, reference: bool) -> str:
    if pick is None:
        return "–"
    ref = text(summary.reference.format) if summary.reference else ""
    lines = [f"<b>{text(pick.format)}</b> · {text(pick.backend)}"
             + (" <a class='failed' href='#contended-cells'>(contended)</a>"
                if pick.contended else "")]
    if reference and pick.bits_per_weight is not None:
        lines.append(f"{pick.bits_per_weight:.1f} bits/weight")
    if pick.speed is not None:
        ratio = "" if reference or pick.speed_ratio is None else \
            f" · {pick.speed_ratio:.2f}× {ref}"
        lines.append(f"{pick.speed:.4g} {text(summary.speed_unit or '')}{ratio}")
    if pick.roofline_share is not None:
        lines.append(f"{pick.roofline_share:.0%} of roofline")
    if pick.size_bytes is not None:
        ratio = "" if reference or pick.size_ratio is None else \
            f" · {pick.size_ratio:.2f}× {ref}"
        lines.append(f"{_bytes(pick.size_bytes)}{ratio}")
    return "<br>".join(lines)


def _noise(summary: ModelSummary, own: str | None) -> str:
    if not summary.within_noise:
        return ""
    cells = ", ".join(_cell(f, b, own) for f, b in summary.within_noise)
    return f"<br><span class='meta'>within noise of: {cells}</span>"


def _bytes(value: float) -> str:
    return f"{value / 1e9:.3g} GB" if value >= 1e9 else f"{value / 1e6:.4g} MB"


def _cell(fmt: str, backend: str, own: str | None) -> str:
    return text(fmt) if backend == own else f"{text(fmt)} · {text(backend)}"


def _fronts(fronts: tuple[Front, ...], own: str | None) -> str:
    if not fronts:
        return "–"
    items = []
    for front in fronts:
        points = ", ".join(f"<b>{_cell(f, b, own)}</b>" for f, b in front.points)
        direction = "higher" if front.higher_is_better else "lower"
        items.append(f"{points} <span class='meta'>by <i>{text(', '.join(front.metrics))}"
                     f"</i> ({direction} is better)</span>")
    return "<br>".join(items)


def _flags(flags: tuple[Flag, ...], own: str | None) -> str:
    """Per status, the count (linking to the page's list of such cells) and the first
    cells, each with why in its tooltip."""
    if not flags:
        return "–"
    lines = []
    for status in dict.fromkeys(f.status for f in flags):
        mine = [f for f in flags if f.status == status]
        cells = [f"<span title='{text(f.why)}'>{_cell(f.format, f.backend, own)} · "
                 f"{text(f.suite)}</span>" for f in mine[:FLAGS_SHOWN]]
        if len(mine) > FLAGS_SHOWN:
            cells.append(f"{len(mine) - FLAGS_SHOWN} more")
        lines.append(f"<a class='failed' href='#{ANCHORS.get(status, '')}'>{len(mine)} "
                     f"{text(status)}</a>: {', '.join(cells)}")
    return "<br>".join(lines)
