"""The KV-cache size a model's own dimensions imply, read from its file: a GGUF's
metadata (gguf-py) or a Hugging Face folder's config.json.

Bytes per cached token = layers x KV heads x (key size + value size) x bytes per
element: 2 x layers x KV width x bytes where keys and values are the same size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KvDims:
    layers: int
    kv_heads: int
    key_size: int
    value_size: int

    def bytes_per_token(self, element_bytes: float) -> float:
        return self.layers * self.kv_heads * (self.key_size + self.value_size) * element_bytes


def kv_dims(artifact: Path) -> KvDims | None:
    """The attention dimensions of the model at `artifact`; None where the file does not
    say them (a model without attention layers of this shape, an unknown layout)."""
    artifact = Path(artifact)
    if artifact.is_file() and artifact.suffix == ".gguf":
        return _gguf_dims(artifact)
    if (artifact / "config.json").is_file():
        return _hf_dims(json.loads((artifact / "config.json").read_text()))
    return None


def _gguf_dims(path: Path) -> KvDims | None:
    from gguf import GGUFReader

    fields = GGUFReader(path).fields

    def value(key: str):
        field = fields.get(key)
        return None if field is None else field.contents()

    arch = value("general.architecture")
    layers = value(f"{arch}.block_count")
    heads = value(f"{arch}.attention.head_count")
    kv_heads = value(f"{arch}.attention.head_count_kv") or heads
    width = value(f"{arch}.embedding_length")
    if not (layers and heads and width) or not isinstance(kv_heads, int):
        return None  # per-layer head counts (a list) are not this simple shape
    key = value(f"{arch}.attention.key_length") or width // heads
    return KvDims(layers, kv_heads, key, value(f"{arch}.attention.value_length") or key)


def _hf_dims(config: dict) -> KvDims | None:
    config = config.get("text_config", config)
    layers, heads = config.get("num_hidden_layers"), config.get("num_attention_heads")
    if not (layers and heads and config.get("hidden_size")):
        return None
    kv_heads = config.get("num_key_value_heads") or heads
    head = config.get("head_dim") or config["hidden_size"] // heads
    return KvDims(layers, kv_heads, head, head)
