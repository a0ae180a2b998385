"""ONNX folders for onnxruntime-genai, from two producers users can compare.

Both start from the transformers folder `hf-fp32` (`derives_from`: the resolver derives
and caches it from the GGUF source first, and hands it over as the source) and end with
onnxruntime-genai's model builder, which writes `model.onnx`, its external weights and
`genai_config.json`:

- `onnx-builder`: the builder alone; int4/int8 are its round-to-nearest block
  quantization (MatMulNBits, block 32).
- `olive`: an Olive workflow (GPTQ pass, calibrated on `python-docstrings`, a text the
  perplexity suites never read) whose quantized checkpoint the builder then exports. Olive
  0.13's own ModelBuilder pass imports a module onnxruntime-genai 0.18 no longer has, and
  the 0.18 builder reads Olive checkpoints itself; so the export step is the builder's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

from harness.errors import FormatError
from harness.formats.base import FormatProducer

INSTALL_HINT = "pip install 'harness[onnx]'"
_CALIBRATION_SAMPLES = 16
_CALIBRATION_TOKENS = 256
_QUANT_OPS = {"MatMulNBits", "GatherBlockQuantized"}


class OnnxBuilderProducer(FormatProducer):
    name: ClassVar[str] = "onnx-builder"
    container: ClassVar[str] = "onnx"
    formats: ClassVar[dict[str, str]] = {
        "onnx-fp32": "onnxruntime-genai folder, fp32, by its model builder",
        "onnx-int8": "onnxruntime-genai folder, int8 weights (RTN, block 32), by its builder",
        "onnx-int4": "onnxruntime-genai folder, int4 weights (RTN, block 32), by its builder",
    }
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime-genai", "transformers", "torch")
    derives_from: ClassVar[str | None] = "hf-fp32"

    def derive(self, source: Path, fmt: str, out: Path) -> None:
        """`source`: the cached hf-fp32 folder of the model."""
        if fmt not in self.formats:
            raise FormatError(f"{self.name} has no format '{fmt}'")
        build_onnx(source, fmt.removeprefix("onnx-"), out)

    def inspect(self, path: Path) -> tuple[str, float, int]:
        return inspect_onnx(path)


class OliveProducer(OnnxBuilderProducer):
    name: ClassVar[str] = "olive"
    formats: ClassVar[dict[str, str]] = {
        "onnx-int4-olive": "onnxruntime-genai folder, int4 weights from an Olive GPTQ workflow "
                           "(calibrated on python-docstrings), exported by the builder",
    }
    packages: ClassVar[tuple[str, ...]] = ("olive-ai", "onnxruntime-genai", "transformers",
                                           "torch")

    def derive(self, source: Path, fmt: str, out: Path) -> None:
        if fmt not in self.formats:
            raise FormatError(f"{self.name} has no format '{fmt}'")
        with tempfile.TemporaryDirectory(prefix="harness-olive-") as tmp:
            quantized = olive_gptq(source, Path(tmp))
            build_onnx(quantized, "int4", out)


def build_onnx(hf: Path, precision: str, out: Path) -> None:
    """onnxruntime-genai's model builder, through its documented command line."""
    _require("onnxruntime_genai", "onnxruntime-genai's model builder")
    with tempfile.TemporaryDirectory(prefix="harness-onnx-") as cache:
        proc = subprocess.run(
            [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf),
             "-o", str(out), "-p", precision, "-e", "cpu", "-c", cache],
            capture_output=True, text=True,
        )
    if proc.returncode != 0 or not (out / "genai_config.json").is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FormatError(f"onnxruntime-genai's builder failed on {hf.name} ({precision}): "
                          f"{tail[0]}")


def olive_gptq(hf: Path, work: Path) -> Path:
    """An Olive workflow with one GPTQ pass; returns the quantized transformers folder."""
    _require("olive", "Olive")
    from olive.workflows import run as olive_run

    from harness.data.corpora import CALIBRATION_CORPUS, load_text

    calibration = work / "calibration.txt"
    calibration.write_text(load_text(CALIBRATION_CORPUS), encoding="utf-8")
    config = {
        "input_model": {"type": "HfModel", "model_path": str(hf)},
        "data_configs": [{
            "name": "calibration",
            "type": "HuggingfaceContainer",
            "load_dataset_config": {"data_name": "text", "data_files": str(calibration),
                                    "split": "train"},
            "pre_process_data_config": {"add_special_tokens": False,
                                        "max_seq_len": _CALIBRATION_TOKENS,
                                        "max_samples": _CALIBRATION_SAMPLES},
        }],
        # asymmetric: the builder's packed QKV path needs zero points
        "passes": {"gptq": {"type": "Gptq", "bits": 4, "sym": False, "group_size": 32,
                            "data_config": "calibration"}},
        "output_dir": str(work / "out"),
        "cache_dir": str(work / "cache"),
        "log_severity_level": 3,
    }
    output = olive_run(config)
    best = output.get_best_candidate() if output is not None else None
    if best is None:
        raise FormatError(f"the Olive GPTQ workflow produced no model from {hf.name}")
    return Path(best.model_path)


def inspect_onnx(path: Path) -> tuple[str, float, int]:
    """(weight types, bits per weight, parameters) read from the graph's initializers.

    A block-quantized operator's packed weights, scales and zero points all count as
    its bits; its logical weight count comes from its attributes.
    """
    _require("onnx", "reading ONNX files")
    import onnx
    from onnx import helper

    model = onnx.load(str(Path(path) / _model_file(path)), load_external_data=False)
    graph = model.graph
    sizes = {init.name: (list(init.dims), init.data_type) for init in graph.initializer}
    bits, params, kinds = 0, 0, set()
    quantized = set()
    for node in graph.node:
        if node.op_type not in _QUANT_OPS:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight_bits = int(attrs.get("bits", 4))
        if node.op_type == "MatMulNBits":
            n_weights = int(attrs["K"]) * int(attrs["N"])
            packed = node.input[1:4]
        elif node.input[0] not in sizes:
            continue  # a quantized embedding reading the lm_head's packed weights: tied
        else:  # GatherBlockQuantized: data (packed), indices, scales, zero points
            dims, _ = sizes[node.input[0]]
            n_weights = _numel(dims) * 8 // weight_bits
            packed = [node.input[0], *node.input[2:4]]
        params += n_weights
        kinds.add(f"int{weight_bits}")
        for name in packed:
            if name in sizes and name not in quantized:
                quantized.add(name)
                dims, dtype = sizes[name]
                bits += _numel(dims) * _dtype_bits(dtype)
    for name, (dims, dtype) in sizes.items():
        if name in quantized or "cos_cache" in name or "sin_cache" in name:
            continue
        n = _numel(dims)
        params += n
        bits += n * _dtype_bits(dtype)
        kinds.add(onnx.TensorProto.DataType.Name(dtype).lower())
    return "+".join(sorted(kinds)), bits / max(params, 1), params


def genai_config(path: Path) -> dict:
    return json.loads((Path(path) / "genai_config.json").read_text())


def _model_file(path: Path) -> str:
    return genai_config(path)["model"]["decoder"]["filename"]


def _numel(dims: list[int]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _dtype_bits(dtype: int) -> int:
    import onnx

    return onnx.helper.tensor_dtype_to_np_dtype(dtype).itemsize * 8


def _require(module: str, what: str) -> None:
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise FormatError(f"{what} is not installed; fix: {INSTALL_HINT}")
