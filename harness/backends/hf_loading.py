"""Loading transformers folders as the harness writes them: plain dtype folders, and
load-time recipes (`harness_format.json`: PyTorch dynamic int8, bitsandbytes on CUDA).

Used by the transformers backend, by vLLM's (to refuse a recipe it would run
unquantized) and by the hf format producer (to measure a recipe's real bits per weight).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

RECIPE_FILE = "harness_format.json"
"""Written beside the weights of a recipe format: {"quantize": <recipe>}."""
CUDA_ONLY = {"bnb-8bit", "bnb-4bit"}


def read_recipe(path: Path) -> dict:
    """The folder's load-time recipe ({} for plain weights)."""
    recipe = Path(path) / RECIPE_FILE
    return json.loads(recipe.read_text()) if recipe.is_file() else {}


def load_model(path: Path, threads: int, device: str = "cpu"):
    """The causal LM in `path`, with its recipe applied (e.g. dynamic int8)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    recipe = read_recipe(path).get("quantize")
    if recipe in CUDA_ONLY:
        return _load_bitsandbytes(path, recipe, device)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto").to(device).eval()
    if recipe == "dynamic-int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                       dtype=torch.qint8)
    return model


def measured_bits(model) -> tuple[float, int]:
    """(bits per weight, parameters) of a loaded model, packed int8 weights included."""
    import torch

    bits, params = 0, 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        bits += tensor.numel() * tensor.element_size() * 8
        state = getattr(tensor, "quant_state", None)  # bitsandbytes 4-bit: two per byte
        params += math.prod(state.shape) if state is not None else tensor.numel()
    for module in model.modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            weight = module.weight()  # the packed int8 weight, outside parameters()
            bits += weight.numel() * 8
            params += weight.numel()
    return bits / max(params, 1), params


def _load_bitsandbytes(path: Path, recipe: str, device: str):
    """bitsandbytes quantizes the fp16 weights while loading them onto the GPU."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if device != "cuda" or not torch.cuda.is_available():
        raise ValueError(f"{recipe} runs on CUDA only; fix: device: cuda on an NVIDIA GPU")
    if recipe == "bnb-8bit":
        quant = BitsAndBytesConfig(load_in_8bit=True)
    else:
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                   bnb_4bit_compute_dtype=torch.float16)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float16,
                                                 quantization_config=quant,
                                                 device_map={"": 0})
    return model.eval()
