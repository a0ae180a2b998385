"""Credentials never reach a stored result line.

A cell's settings are stored whole so runs can be compared, and some settings carry
secrets: a `base_url` with `user:pass@`, `server_args` with `--api-key`, headers in
`extra_body`, an engine's error quoting its command line. `redact` replaces the secret
part with "***" and leaves everything else as it was.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# a key (or flag) is secret when its last word is one of these: `hf_token`, `X-Api-Key`
# and `client_secret` are; `max_tokens` and `api_key_env` (the name of a variable) are not
_SECRET_WORDS = (r"api_?key|apikey|access_?key|private_?key|token|secret|password|passwd|"
                 r"passphrase|pwd|authorization|auth|credentials?|cookie|bearer")
_SECRET_KEY = re.compile(rf"(?:^|_)(?:{_SECRET_WORDS})$")
# each pattern starts only where a run of its characters starts, so that no text (a
# "a.a.a..." blob in an error) makes the search quadratic
_URL_USERINFO = re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)[^/@\s'\"]+@")
_SCHEME = r"(?:bearer|basic|token)\s+"
_ASSIGN = re.compile(  # api_key=X, "password": "X", Authorization: Bearer X, ?token=X
    rf"(?i)((?<![\w-])[\w-]*?(?:{_SECRET_WORDS})['\"]?)(\s*[=:]\s*)(['\"]?)({_SCHEME})?"
    rf"(?!\*\*\*)(?!{_SCHEME})(?!\d+\b)([^\s'\"&,;}})\]]+)")
_FLAG = re.compile(  # --api-key X, --token=X in a command line
    r"(?<![\w-])(--?[A-Za-z][\w-]*)(\s+|=)(['\"]?)()(?!\*\*\*)(?!-)([^\s'\"]+)")
_BEARER = re.compile(r"(?i)(?<![\w-])(bearer|basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}")
_KNOWN_TOKENS = re.compile(  # well-known token shapes, wherever they appear
    r"(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|"
    r"github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16})")


def redact(value: Any) -> Any:
    """`value` with credentials replaced by "***" (URLs' user:pass@, secret-looking keys,
    --api-key style arguments). Idempotent."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_item(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_args(list(value)))
    return value


def is_secret_key(key: Any) -> bool:
    """Whether a setting, header or flag of this name holds a credential."""
    if not isinstance(key, str):
        return False
    words = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    return bool(_SECRET_KEY.search(words))


def _redact_item(key: Any, value: Any) -> Any:
    if is_secret_key(key) and isinstance(value, str) and value:
        return MASK
    return redact(value)


def _redact_args(items: list) -> list:
    """An argument list: the item after a secret flag (`--api-key X`) is the secret."""
    out = []
    for i, item in enumerate(items):
        before = items[i - 1] if i else None
        if (isinstance(item, str) and isinstance(before, str) and before.startswith("-")
                and "=" not in before and is_secret_key(before) and not item.startswith("--")):
            out.append(MASK)
        else:
            out.append(redact(item))
    return out


def _redact_text(text: str) -> str:
    text = _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)
    text = _ASSIGN.sub(_mask_value, text)
    text = _FLAG.sub(_mask_value, text)
    text = _BEARER.sub(rf"\g<1> {MASK}", text)
    return _KNOWN_TOKENS.sub(MASK, text)


def _mask_value(match: re.Match) -> str:
    key, sep, quote, scheme, _ = match.groups()
    if not is_secret_key(key):
        return match.group(0)
    return f"{key}{sep}{quote}{scheme or ''}{MASK}"
