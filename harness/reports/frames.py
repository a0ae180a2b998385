"""Reading a results frame the way every run page does (the run report, its summary, a
published model page): artifact fields as numbers, formats widest first, contention
marks and the read bandwidth of each hardware profile.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import yaml

log = logging.getLogger(__name__)
NUMERIC = ("artifact_bits_per_weight", "artifact_size_bytes", "artifact_n_params")
"""Artifact fields the charts compute with (the stored `artifact` is free-form)."""


def numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the artifact fields the charts compute with as numbers (else NaN)."""
    present = [c for c in NUMERIC if c in frame]
    return frame.assign(**{c: pd.to_numeric(frame[c], errors="coerce") for c in present})


def format_order(frame: pd.DataFrame) -> list[str]:
    """Formats by the bits per weight read from their files, widest first (then formats
    whose files say nothing, in order of appearance). The first is the reference the
    report compares against: the model's unquantised (or least quantised) format."""
    if frame.empty:
        return []
    rows = frame.dropna(subset=["artifact_bits_per_weight"]) if "artifact_bits_per_weight" in \
        frame else frame.iloc[0:0]
    bpw = rows.groupby("format", sort=False)["artifact_bits_per_weight"].max()
    known = list(bpw.sort_values(ascending=False, kind="stable").index)
    return known + [f for f in dict.fromkeys(frame["format"]) if f not in known]


def contention(health) -> str | None:
    """Why a cell's timed part was contended ('' when no reason was stored), else None."""
    if not isinstance(health, dict) or not health.get("contended"):
        return None
    return "; ".join(str(r) for r in health.get("reasons") or [])


def profile_bandwidths(frame: pd.DataFrame, profiles_dir: Path) -> dict[str, float]:
    """Measured read bandwidth (GB/s) of each hardware profile the results name that has
    a readable file in `profiles_dir` (the others get no roofline)."""
    from harness.hardware.profile import load_profile

    out = {}
    for profile_id in frame.get("profile_id", pd.Series(dtype=str)).dropna().unique():
        path = Path(profiles_dir) / f"{profile_id}.yaml"
        if Path(str(profile_id)).name != profile_id or not path.is_file():
            continue  # a stored id is no path: it names a file in profiles_dir or none
        try:
            out[profile_id] = float(load_profile(path)["memory"]["read_bandwidth_gb_s"])
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
            log.warning("%s: no read bandwidth (%s); the report draws no roofline", path, exc)
    return out
