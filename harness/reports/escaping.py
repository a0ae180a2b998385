"""Escaping on the way into a page. Every value a report shows comes from a results file,
and anyone can craft one, so no stored string reaches the page as markup.

- `text`: a value as HTML text, safe in an element and in a quoted attribute.
- `label`: a value as plotly label text. Plotly draws labels (names, ticks, titles, hover
  text) from a subset of HTML and decodes `&lt;`, `&gt;`, `&amp;` and numeric entities,
  so an escaped label shows exactly as stored and no tag in it is drawn.
- `figure`: `label` applied to every data string of a finished figure: trace names, text,
  hover text, custom data, category values, titles and annotations. Hover templates are
  code, left as written: data reaches them through custom data or through `label`.

The figure JSON itself is safe inside `<script>`: plotly writes `<`, `>` and `/` in it
as `\\u003c`, `\\u003e` and `\\u002f`.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

TRACE_FIELDS = ("name", "text", "hovertext", "customdata", "x", "y", "labels",
                "legendgroup")
"""Trace properties that may carry stored strings (where the trace type has them)."""


def text(value: Any) -> str:
    return html.escape(str(value))


def label(value: Any) -> str:
    # quotes stay as they are: plotly decodes no `&quot;`, and no tag survives without `<`
    return html.escape(str(value), quote=False)


def figure(fig):
    """`fig` with every data string escaped by `label`, in place; returns it."""
    for trace in fig.data:
        for field in TRACE_FIELDS:
            if field in trace and trace[field] is not None:
                escaped = _data(trace[field])
                if escaped is not trace[field]:  # numbers come back as they were
                    trace[field] = escaped
        title = trace["legendgrouptitle"] if "legendgrouptitle" in trace else None
        if title is not None and title.text:
            title.text = label(title.text)
    layout = fig.layout
    for owner in (layout, layout.legend):
        if owner.title.text:
            owner.title.text = label(owner.title.text)
    fig.for_each_xaxis(_axis)
    fig.for_each_yaxis(_axis)
    for note in layout.annotations:
        if note.text:
            note.text = label(note.text)
    return fig


def _axis(axis) -> None:
    if axis.title.text:
        axis.title.text = label(axis.title.text)
    for field in ("categoryarray", "ticktext"):
        if axis[field] is not None:
            axis[field] = _data(axis[field])


def _data(value: Any) -> Any:
    """Strings in `value` (a string, or nested lists/arrays of anything) escaped."""
    if isinstance(value, str):
        return label(value)
    if isinstance(value, np.ndarray):
        return _data(value.tolist()) if value.dtype.kind in "OUS" else value
    if isinstance(value, (list, tuple)):
        return [_data(v) for v in value]
    return value
