"""One cell identity: the key (this machine) and the match key (the same experiment)."""

from __future__ import annotations

from harness.results.identity import match_key, requested_settings
from tests.regression.conftest import cell, metric


def _on(profile: str, threads: int, request: dict | None):
    result = cell("r", [metric("decode_tokens_per_s", [1.0])], profile=profile)
    return result.model_copy(update={"backend_config": {"threads": threads, "n_ctx": 256},
                                     "backend_request": request})


def test_threads_auto_matches_auto_on_another_machine() -> None:
    asked = requested_settings({"threads": 16, "n_ctx": 256}, {"n_ctx": 256})
    assert asked == {"threads": "auto", "n_ctx": 256}
    assert requested_settings({"threads": 2}, {"threads": "auto"}) == {"threads": "auto"}
    here, there = _on("laptop", 2, asked), _on("server", 16, asked)
    assert match_key(here) == match_key(there)


def test_explicit_threads_and_other_settings_still_tell_cells_apart() -> None:
    two = requested_settings({"threads": 2, "n_ctx": 256}, {"threads": 2, "n_ctx": 256})
    four = requested_settings({"threads": 4, "n_ctx": 256}, {"threads": 4, "n_ctx": 256})
    assert two == {"threads": 2, "n_ctx": 256}
    assert match_key(_on("a", 2, two)) != match_key(_on("a", 4, four))


def test_records_before_schema_2_match_on_their_resolved_settings() -> None:
    assert match_key(_on("a", 2, None)) == match_key(_on("b", 2, None))
    assert match_key(_on("a", 2, None)) != match_key(_on("b", 16, None))


def test_a_run_from_before_schema_2_still_matches_a_new_one_on_resolved_settings() -> None:
    from harness.regression.compare import compare_runs

    asked = requested_settings({"threads": 2, "n_ctx": 256}, {"n_ctx": 256})
    new = _on("a", 2, asked).model_copy(update={"run_id": "new"})
    old = _on("a", 2, None).model_copy(update={"run_id": "old"})
    assert match_key(new) != match_key(old)  # auto vs 2: not the same request
    comparison = compare_runs([old], [new])
    assert not comparison.only_baseline and not comparison.only_candidate
    assert [r.metric for r in comparison.rows] == ["decode_tokens_per_s"]
