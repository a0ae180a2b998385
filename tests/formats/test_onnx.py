"""ONNX formats from the real SmolLM2 source, by onnxruntime-genai's builder and by Olive."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import FormatError
from harness.formats import resolve
from harness.formats.onnx import build_onnx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def derived(smol):
    path, sha = smol
    return {fmt: resolve.describe(resolve.derive(path, sha, fmt), fmt, sha)
            for fmt in ("hf-fp32", "onnx-fp32", "onnx-int8", "onnx-int4", "onnx-int4-olive")}


def test_bits_per_weight_are_read_from_the_graph(derived) -> None:
    fp32, int8, int4 = derived["onnx-fp32"], derived["onnx-int8"], derived["onnx-int4"]
    assert fp32.bits_per_weight == pytest.approx(32, abs=0.01)
    assert 4 < int4.bits_per_weight < 6 < 8 < int8.bits_per_weight < 16
    assert "int4" in int4.quant_type and "int8" in int8.quant_type
    assert fp32.size_bytes > int8.size_bytes > int4.size_bytes
    # the same weights as the transformers folder they were built from
    assert fp32.n_params == int4.n_params == derived["hf-fp32"].n_params


def test_olive_gptq_is_a_different_int4_model(derived) -> None:
    olive, builder = derived["onnx-int4-olive"], derived["onnx-int4"]
    assert "int4" in olive.quant_type
    assert olive.sha256 != builder.sha256
    # Olive quantizes the decoder layers only; embeddings and lm_head stay fp32
    assert olive.bits_per_weight > builder.bits_per_weight
    assert olive.container == builder.container == "onnx"


def test_builder_failure_is_one_clean_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(FormatError) as info:
        build_onnx(bad, "int4", tmp_path / "out")
    assert "builder failed on not-a-model (int4)" in str(info.value)
    assert "\n" not in str(info.value)
