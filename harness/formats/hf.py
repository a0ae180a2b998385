"""Hugging Face (transformers) folders derived from a GGUF source.

transformers' GGUF loader dequantizes the GGUF into a PyTorch model (tens of seconds
on 2 cores, hence the cache); `save_pretrained` refuses a GGUF-loaded model until its
`hf_quantizer` is cleared, and the saved config must lose the GGUF
`quantization_config`, or later loaders (vLLM, the ONNX builder) treat it as quantized.

`hf-int8` is a recipe, not new weights: an fp32 folder plus a
`harness_format.json` asking the backend for PyTorch dynamic int8 quantization of every
Linear layer at load time. Its bits per weight are measured on the quantized model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

from harness.errors import FormatError
from harness.formats.base import FormatProducer
from harness.versions import package_versions

RECIPE_FILE = "harness_format.json"
_DTYPES = {"hf-fp32": "float32", "hf-bf16": "bfloat16"}


class HfProducer(FormatProducer):
    name: ClassVar[str] = "hf"
    container: ClassVar[str] = "hf"
    formats: ClassVar[dict[str, str]] = {
        "hf-fp32": "transformers folder, fp32 safetensors, from the GGUF via transformers",
        "hf-bf16": "transformers folder, bf16 safetensors",
        "hf-int8": "the fp32 folder + PyTorch dynamic int8 quantization of Linear layers at load",
    }

    @classmethod
    def version(cls) -> str:
        return package_versions(("transformers", "torch"))

    @classmethod
    def accepts_source(cls, path: Path) -> bool:
        return path.suffix.lower() == ".gguf"

    def derive(self, source: Path, fmt: str, out: Path) -> None:
        if fmt == "hf-int8":
            fp32 = out.with_name(f".{out.name}.fp32")
            write_hf(source, "float32", fp32)
            fp32.replace(out)
            (out / RECIPE_FILE).write_text(json.dumps({"quantize": "dynamic-int8"}))
            return
        if fmt not in _DTYPES:
            raise FormatError(f"hf producer has no format '{fmt}'")
        write_hf(source, _DTYPES[fmt], out)

    def inspect(self, path: Path) -> tuple[str, float, int]:
        recipe = read_recipe(path)
        if recipe.get("quantize") == "dynamic-int8":
            model = load_model(path, threads=os.cpu_count() or 1)
            return "dynamic-int8", *_measured_bits(model)
        from safetensors import safe_open

        bits, params, dtypes = 0, 0, set()
        for file in sorted(path.glob("*.safetensors")):
            with safe_open(file, "pt") as handle:
                for name in handle.keys():
                    tensor = handle.get_slice(name)
                    n = 1
                    for dim in tensor.get_shape():
                        n *= dim
                    dtype = tensor.get_dtype()
                    dtypes.add(dtype)
                    params += n
                    bits += n * _DTYPE_BITS.get(dtype, 32)
        return "+".join(sorted(dtypes)), bits / max(params, 1), params


_DTYPE_BITS = {"F32": 32, "F16": 16, "BF16": 16, "I8": 8, "U8": 8, "F64": 64}


def write_hf(source: Path, dtype: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(source.parent), source.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name,
                                                 dtype=getattr(torch, dtype))
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def read_recipe(path: Path) -> dict:
    recipe = Path(path) / RECIPE_FILE
    return json.loads(recipe.read_text()) if recipe.is_file() else {}


def load_model(path: Path, threads: int, device: str = "cpu"):
    """The causal LM in `path`, with its recipe applied (e.g. dynamic int8)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto").to(device).eval()
    if read_recipe(path).get("quantize") == "dynamic-int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                       dtype=torch.qint8)
    return model


def _measured_bits(model) -> tuple[float, int]:
    """(bits per weight, parameters) of a loaded model, packed int8 weights included."""
    import torch

    bits, params = 0, 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        bits += tensor.numel() * tensor.element_size() * 8
        params += tensor.numel()
    for module in model.modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            weight = module.weight()  # the packed int8 weight, outside parameters()
            bits += weight.numel() * 8
            params += weight.numel()
    return bits / max(params, 1), params
