"""GGUF formats: F16 by dequantizing with gguf-py, then llama.cpp's own quantizer.

A source that is already quantized (the shipped Q4_1) is first expanded to F16;
that F16 is exact for those weights, and every lower format is re-quantized from it.
Tensors whose width does not fit a k-quant block fall back to other types inside
llama.cpp, so the real bits per weight is measured from the written file.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import ClassVar

from harness.errors import FormatError
from harness.formats.base import FormatProducer

log = logging.getLogger(__name__)

# format name -> llama_ftype constant name in llama_cpp
_LLAMA_FTYPES = {
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
}


class GgufProducer(FormatProducer):
    name: ClassVar[str] = "gguf"
    container: ClassVar[str] = "gguf"
    formats: ClassVar[dict[str, str]] = {
        "f16": "GGUF F16, dequantized from the source with gguf-py",
        **{fmt: f"GGUF {fmt.upper()}, llama.cpp quantizer from F16" for fmt in _LLAMA_FTYPES},
    }
    packages: ClassVar[tuple[str, ...]] = ("gguf", "llama-cpp-python")


    def derive(self, source: Path, fmt: str, out: Path) -> None:
        if fmt == "f16":
            write_f16(source, out)
            return
        if fmt not in _LLAMA_FTYPES:
            raise FormatError(f"gguf producer has no format '{fmt}'")
        f16 = out.with_name(f".{out.name}.f16.tmp")
        try:
            write_f16(source, f16)
            quantize(f16, out, fmt)
        finally:
            f16.unlink(missing_ok=True)

    def inspect(self, path: Path) -> tuple[str, float, int]:
        import gguf

        try:
            reader = gguf.GGUFReader(path)
        except Exception as exc:  # gguf-py fails on a cut file with IndexError, ValueError...
            raise FormatError(f"{Path(path).name} is not a readable GGUF file (cut short or "
                              f"damaged: {type(exc).__name__}: {exc}); fix: copy or fetch the "
                              "model file again") from None
        bits = sum(int(t.n_bytes) * 8 for t in reader.tensors)
        n_params = sum(int(t.n_elements) for t in reader.tensors)
        field = reader.get_field(gguf.Keys.General.FILE_TYPE)
        quant = "unknown"
        if field is not None:
            quant = gguf.LlamaFileType(int(field.contents())).name.removeprefix("MOSTLY_")
        return quant, bits / max(n_params, 1), n_params


def write_f16(source: Path, out: Path) -> None:
    """Dequantize every quantized tensor of `source` to F16 (1-D tensors stay F32)."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(source)
    arch_field = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if arch_field is None:
        raise FormatError(f"{source}: no general.architecture key; not a model GGUF")
    writer = gguf.GGUFWriter(out, arch=arch_field.contents(), endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE):
            continue
        if field.name.startswith("GGUF."):
            continue
        val_type = field.types[0]
        sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), val_type, sub_type=sub_type)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    float_types = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)
    for tensor in reader.tensors:
        if tensor.tensor_type in float_types:
            data = np.asarray(tensor.data)
        else:
            data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        data = data.astype(np.float32 if data.ndim == 1 else np.float16)
        writer.add_tensor(tensor.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(f16: Path, out: Path, fmt: str) -> None:
    """Quantize an F16 GGUF with llama.cpp's `llama_model_quantize`."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, _LLAMA_FTYPES[fmt])
    params.nthread = os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(
        str(f16).encode(), str(out).encode(), ctypes.byref(params)
    )
    if rc != 0:
        raise FormatError(f"llama_model_quantize to {fmt} failed with code {rc}")

