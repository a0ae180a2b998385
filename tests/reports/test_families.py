"""Precision families put formats of different engines side by side."""

from __future__ import annotations

import pytest

from harness.reports.families import family


@pytest.mark.parametrize(("fmt", "quant", "expected"), [
    ("hf-fp32", None, "32-bit"), ("onnx-fp32", None, "32-bit"),
    ("f16", None, "16-bit"), ("hf-bf16", None, "16-bit"),
    ("q8_0", None, "8-bit"), ("hf-int8", None, "8-bit"), ("onnx-int8", None, "8-bit"),
    ("q4_k_m", None, "≤6-bit"), ("onnx-int4", None, "≤6-bit"), ("onnx-int4-olive", None, "≤6-bit"),
    ("source", "Q4_1", "≤6-bit"), ("source", "F16", "16-bit"), ("source", "unknown", "other"),
])
def test_family_of_each_format(fmt: str, quant: str | None, expected: str) -> None:
    assert family(fmt, quant) == expected
