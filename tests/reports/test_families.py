"""Precision families put formats of different engines side by side, by the bits per
weight read from each file (not by format names)."""

from __future__ import annotations

import pytest

from harness.reports.families import family


@pytest.mark.parametrize(("bits", "expected"), [
    (32.0, "32-bit"),  # hf-fp32, onnx-fp32
    (16.0, "16-bit"),  # f16, hf-bf16
    (16.5, "16-bit"),  # an f16 export keeping a few tensors in f32
    (12.2, "8-bit"),  # hf-int8: int8 layers, embeddings kept wide
    (8.5, "8-bit"),  # q8_0
    (6.2, "≤6-bit"),  # q4_k_m
    (5.0, "≤6-bit"),  # onnx-int4, source Q4_1
    (None, "other"), (float("nan"), "other"),
])
def test_family_of_stored_bits_per_weight(bits: float | None, expected: str) -> None:
    assert family(bits) == expected
