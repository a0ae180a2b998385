"""Hugging Face (transformers) folders derived from a GGUF source.

transformers' GGUF loader dequantizes the GGUF into a PyTorch model (tens of seconds
on 2 cores, hence the cache); `save_pretrained` refuses a GGUF-loaded model until its
`hf_quantizer` is cleared, and the saved config must lose the GGUF
`quantization_config`, or later loaders (vLLM, the ONNX builder) treat it as quantized.

`hf-int8` is a recipe, not new weights: an fp32 folder plus a
`harness_format.json` asking the backend for PyTorch dynamic int8 quantization of every
Linear layer at load time. Its bits per weight are measured on the quantized model.
`hf-bnb-8bit` and `hf-bnb-4bit` are recipes on an fp16 folder for bitsandbytes (LLM.int8
and NF4), which quantizes at load on CUDA only; their bits are measured there too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

from harness.backends.hf_loading import (
    CUDA_ONLY,
    RECIPE_FILE,
    load_model,
    measured_bits,
    read_recipe,
)
from harness.errors import FormatError
from harness.formats.base import FormatProducer

_DTYPES = {"hf-fp32": "float32", "hf-bf16": "bfloat16", "hf-fp16": "float16"}
_RECIPES = {"hf-int8": ("float32", "dynamic-int8"), "hf-bnb-8bit": ("float16", "bnb-8bit"),
            "hf-bnb-4bit": ("float16", "bnb-4bit")}


class HfProducer(FormatProducer):
    name: ClassVar[str] = "hf"
    container: ClassVar[str] = "hf"
    formats: ClassVar[dict[str, str]] = {
        "hf-fp32": "transformers folder, fp32 safetensors, from the GGUF via transformers",
        "hf-bf16": "transformers folder, bf16 safetensors",
        "hf-int8": "the fp32 folder + PyTorch dynamic int8 quantization of Linear layers at load",
        "hf-fp16": "transformers folder, fp16 safetensors (for CUDA)",
        "hf-bnb-8bit": "the fp16 folder + bitsandbytes LLM.int8 at load (CUDA only)",
        "hf-bnb-4bit": "the fp16 folder + bitsandbytes NF4 4-bit at load (CUDA only)",
    }
    packages: ClassVar[tuple[str, ...]] = ("transformers", "torch")
    source_container: ClassVar[str | None] = "gguf"

    def derive(self, source: Path, fmt: str, out: Path) -> None:
        if fmt in _RECIPES:
            dtype, recipe = _RECIPES[fmt]
            weights = out.with_name(f".{out.name}.{dtype}")
            write_hf(source, dtype, weights)
            weights.replace(out)
            (out / RECIPE_FILE).write_text(json.dumps({"quantize": recipe}))
            return
        if fmt not in _DTYPES:
            raise FormatError(f"hf producer has no format '{fmt}'")
        write_hf(source, _DTYPES[fmt], out)

    def inspect(self, path: Path) -> tuple[str, float, int]:
        recipe = read_recipe(path).get("quantize")
        if recipe in CUDA_ONLY or recipe == "dynamic-int8":
            device = "cuda" if recipe in CUDA_ONLY else "cpu"
            model = load_model(path, threads=os.cpu_count() or 1, device=device)
            return recipe, *measured_bits(model)
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
