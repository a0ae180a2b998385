"""Credentials never reach a stored result line (placeholder; helper INPUTS fills it)."""

from __future__ import annotations

from typing import Any


def redact(value: Any) -> Any:
    """`value` with credentials replaced by "***" (URLs' user:pass@, secret-looking keys,
    --api-key style arguments). Idempotent."""
    return value
