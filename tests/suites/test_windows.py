"""Window schemes for perplexity and KL: pure bookkeeping, checked exhaustively."""

from __future__ import annotations

import pytest

from harness.suites.windows import WindowParams, make_windows


def test_llama_cpp_scheme_matches_llama_perplexity() -> None:
    params = WindowParams(scheme="llama.cpp", n_ctx=8, max_tokens=None)
    tokens = list(range(100, 130))  # 30 tokens -> 3 chunks of 8, 6 left over
    windows = make_windows(tokens, params, bos=1)
    assert len(windows) == 3
    for i, w in enumerate(windows):
        assert w.tokens[0] == 1 and w.tokens[1:] == tokens[i * 8 + 1 : i * 8 + 8]
        assert w.first == 4 and w.targets() == tokens[i * 8 + 5 : i * 8 + 8]  # n_ctx/2 - 1


def test_llama_cpp_scheme_keeps_first_token_without_bos() -> None:
    windows = make_windows(list(range(16)), WindowParams(n_ctx=8, max_tokens=None), bos=None)
    assert windows[1].tokens[0] == 8


@pytest.mark.parametrize("n,n_ctx,stride", [(50, 16, 8), (50, 16, 15), (17, 16, 5), (16, 16, 4)])
def test_rolling_scheme_scores_every_token_but_the_first_once(n, n_ctx, stride) -> None:
    tokens = list(range(1000, 1000 + n))
    params = WindowParams(scheme="rolling", n_ctx=n_ctx, stride=stride, max_tokens=None)
    scored = [t for w in make_windows(tokens, params, bos=None) for t in w.targets()]
    assert scored == tokens[1:]
    assert all(len(w.tokens) <= n_ctx for w in make_windows(tokens, params, bos=None))


def test_rolling_with_stride_equal_to_window_leaves_each_window_start_unscored() -> None:
    # as in Hugging Face's guide: a window's first token has no context inside that window
    tokens = list(range(48))
    params = WindowParams(scheme="rolling", n_ctx=16, stride=16, max_tokens=None)
    scored = [t for w in make_windows(tokens, params, bos=None) for t in w.targets()]
    assert scored == [t for t in tokens if t % 16 != 0]


def test_too_short_corpus_names_the_fix() -> None:
    with pytest.raises(ValueError, match="fewer than the 16 .*fix: use a longer corpus"):
        make_windows(list(range(10)), WindowParams(n_ctx=8, max_tokens=None), bos=None)


def test_max_tokens_caps_the_corpus() -> None:
    windows = make_windows(list(range(100)), WindowParams(n_ctx=8, max_tokens=32), bos=None)
    assert len(windows) == 4
