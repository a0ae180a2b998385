"""Credentials in settings and errors never reach a stored result line (finding 15)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.results.redact import MASK, redact

# (id, value, what must be gone, what must stay)
CASES = [
    ("url-user-and-password", "http://alice:s3cret@127.0.0.1:8080/v1", ["alice", "s3cret"],
     ["http://***@127.0.0.1:8080/v1"]),
    ("url-token-as-user", "https://ghp_abcdefghijklmnopqrstuv@github.com/x", ["ghp_"],
     ["github.com/x"]),
    ("url-query-key", "http://h/v1?api_key=abc123&model=m", ["abc123"], ["model=m"]),
    ("arg-string-space", "llama_cpp.server --model m.gguf --api-key hunter2 --port 1",
     ["hunter2"], ["--model m.gguf", "--port 1"]),
    ("arg-string-equals", "serve --api_key=hunter2 --n_ctx=64", ["hunter2"], ["--n_ctx=64"]),
    ("bearer-header-text", "POST failed with Authorization: Bearer abcdefghijklmnop",
     ["abcdefghijklmnop"], ["Authorization: Bearer ***"]),
    ("basic-header-text", "authorization: Basic dXNlcjpwYXNz", ["dXNlcjpwYXNz"], ["Basic"]),
    ("json-in-error", '{"api_key": "sk-abcdefghijklmnopqrstuvwx", "max_tokens": 16}',
     ["sk-abc"], ['"max_tokens": 16']),
    ("known-token-shape", "used hf_abcdefghijklmnopqrstuvwxyz here", ["hf_abc"], ["used"]),
    ("plain-text-untouched", "unknown token 32000; 3 tokens exceed n_ctx=64; max_tokens: 16",
     [], ["unknown token 32000; 3 tokens exceed n_ctx=64; max_tokens: 16"]),
]


@pytest.mark.parametrize("value,gone,kept", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_redact_text(value: str, gone: list[str], kept: list[str]) -> None:
    out = redact(value)
    for secret in gone:
        assert secret not in out, out
    for text in kept:
        assert text in out, out
    assert redact(out) == out


def test_redact_settings_tree() -> None:
    settings = {
        "base_url": "https://alice:s3cret@host/v1", "max_tokens": 5, "bos_token": 1,
        "api_key_env": "OPENAI_API_KEY", "threads": 2, "temperature": float("nan"),
        "server_args": ["--api_key", "abc123", "--n_ctx", "64", "--token", "t0k",
                        "--api-key=xyz", "--no-auth", "--verbose"],
        "extra_body": {"headers": {"Authorization": "Bearer abcdefghijk"}, "top_k": 1,
                       "API_KEY": "sk-live", "tokens": [1, 2], "nested": [{"Password": "p"}]},
        "X-Api-Key": "k", "client_secret": "cs", "hf_token": "h", "empty_token": "",
    }
    out = redact(settings)
    assert out["base_url"] == "https://***@host/v1"
    assert out["server_args"] == ["--api_key", MASK, "--n_ctx", "64", "--token", MASK,
                                  f"--api-key={MASK}", "--no-auth", "--verbose"]
    assert out["extra_body"]["headers"]["Authorization"] == MASK
    assert out["extra_body"]["API_KEY"] == MASK
    assert out["extra_body"]["nested"] == [{"Password": MASK}]
    assert (out["X-Api-Key"], out["client_secret"], out["hf_token"]) == (MASK, MASK, MASK)
    # what is not a credential stays as it was, type included
    assert (out["max_tokens"], out["bos_token"], out["threads"]) == (5, 1, 2)
    assert out["api_key_env"] == "OPENAI_API_KEY" and out["empty_token"] == ""
    assert out["extra_body"]["tokens"] == [1, 2] and out["extra_body"]["top_k"] == 1
    assert math.isnan(out["temperature"])
    again = redact(out)  # idempotent (NaN != NaN, so compared apart)
    assert math.isnan(again.pop("temperature"))
    out.pop("temperature")
    assert again == out
    assert redact(None) is None and redact(3.5) == 3.5 and redact(("--token", "x")) == (
        "--token", MASK)


def test_credentials_never_reach_the_stored_line(tmp_path: Path, smol) -> None:
    """End to end: a cell of the openai_http backend whose server cannot be reached fails;
    its stored line keeps the settings but none of the credentials."""
    from tests.conftest import harness_cmd, run_dirs

    suite = tmp_path / "s.yaml"
    suite.write_text(f"""\
name: creds
models: [{{name: m, path: {smol[0]}}}]
backends:
  openai_http:
    base_url: http://alice:pw-s3cret@127.0.0.1:9
    server_args: [--api_key, key-s3cret]
    extra_body: {{api_key: body-s3cret, headers: {{Authorization: Bearer bearer-s3cret}}}}
    timeout_s: 5
    startup_timeout_s: 5
suites: {{memory: {{prompt_tokens: 4, gen_tokens: 2}}}}
timeout_s: 300
""")
    proc = harness_cmd("run", str(suite), "--results-dir", str(tmp_path / "r"),
                       "--profiles-dir", str(tmp_path / "p"), "--no-report", "--no-lock",
                       timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (run,) = run_dirs(tmp_path / "r")
    stored = (run / "cells.jsonl").read_text()
    assert "127.0.0.1:9" in stored and '"status":"failed"' in stored.replace(" ", "")
    assert "s3cret" not in stored
    assert "s3cret" not in proc.stdout + proc.stderr
