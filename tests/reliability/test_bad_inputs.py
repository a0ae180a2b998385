"""Bad inputs of every kind end in one line naming the file or field and the fix, exit 2.

Suite files and CLI arguments run through the CLI's own `main()` in this process (the same
code path as the console script, without an interpreter start per row); a few rows and the
model-file rows run the installed `harness` script as a user would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import harness_cmd, plugin_env
from tests.reliability.conftest import assert_one_line_error
from tests.test_config import GOOD

THROUGHPUT = "throughput: {prompt_lengths: [16], gen_tokens: 8}"


def _suite(replace: str, by: str) -> str:
    assert replace in GOOD, replace
    return GOOD.replace(replace, by)


def _model(entry: str) -> str:
    return _suite("[smollm2-135m]", f"[{entry}]")


def _bomb() -> str:
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, name in zip("abcde", "bcdef", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    return "\n".join(lines) + "\n"


# (id, suite file text, needles the error line must hold besides the file's path)
SUITE_TEXTS = [
    ("yaml-unclosed-bracket", "name: [unclosed\n", ["line", "YAML"]),
    ("yaml-tab-indentation", "name: t\n\tmodels: x\n", ["line 2", "YAML"]),
    ("yaml-bad-indentation", "name: t\n  models: [a]\n bad: 1\n", ["line", "YAML"]),
    ("yaml-python-tag", "name: !!python/object:os.system x\n", ["line 1", "tag"]),
    ("yaml-nul-character", "name: t\x00\n", ["line 1", "YAML"]),
    ("yaml-unhashable-key", "? [a]\n: 1\n", ["line 1", "unhashable"]),
    ("duplicate-top-level-key", GOOD + "name: u\n", ["line 8", "'name' appears twice",
                                                    "line 1"]),
    ("duplicate-key-in-flow-mapping", _suite("{threads: 2, n_ctx: 256}",
                                             "{threads: 2, threads: 3}"),
     ["line 5", "'threads' appears twice"]),
    ("duplicate-key-in-suite-params", _suite(THROUGHPUT, "throughput:\n    gen_tokens: 8\n"
                                             "    gen_tokens: 9"), ["'gen_tokens' appears twice"]),
    ("duplicate-timeout", GOOD + "timeout_s: 60\ntimeout_s: 6000\n", ["'timeout_s' appears"]),
    ("empty-file", "", ["empty"]),
    ("only-comments", "# nothing here\n", ["empty"]),
    ("top-level-list", "- just\n- a list\n", ["not a mapping", "name:"]),
    ("top-level-scalar", "just some text\n", ["not a mapping"]),
    ("billion-laughs-aliases", _bomb(), ["more than", "aliases"]),
    ("self-referencing-alias", "name: &a {x: *a}\n", ["more than"]),
    ("nested-too-deeply", "a: " + "[" * 5000 + "]" * 5000 + "\n", ["nested too deeply"]),
    ("unknown-top-level-key", GOOD + "colour: blue\n", ["colour", "remove"]),
    ("unknown-backend", _suite("llama_cpp:", "llama_ccp:"), ["backends.llama_ccp",
                                                            "llama_cpp"]),
    ("unknown-suite", _suite("throughput:", "thruput:"), ["suites.thruput", "throughput"]),
    ("unknown-format", _suite("[source]", "[q4_z]"), ["formats[0]", "q4_0"]),
    ("unknown-model", _suite("smollm2-135m", "smollm3"), ["models[0]", "smollm2-135m"]),
    ("unknown-backend-setting", _suite("threads: 2", "thread: 2"), ["thread", "threads"]),
    ("unknown-suite-param", _suite("gen_tokens: 8", "gen_token: 8"), ["gen_token"]),
    ("wrong-type-gen-tokens", _suite("gen_tokens: 8", "gen_tokens: many"),
     ["suites.throughput.gen_tokens", "type"]),
    ("wrong-type-backends-list", _suite("backends:\n  llama_cpp: {threads: 2, n_ctx: 256}",
                                        "backends: [llama_cpp]"), ["backends"]),
    ("wrong-type-models-mapping", _suite("models: [smollm2-135m]", "models: {a: 1}"),
     ["models"]),
    ("empty-model-list", _suite("[smollm2-135m]", "[]"), ["models", "at least one"]),
    ("empty-format-list", _suite("[source]", "[]"), ["formats", "at least one"]),
    ("empty-prompt-lengths", _suite("[16]", "[]"), ["prompt_lengths", "at least one"]),
    ("timeout-inf", GOOD + "timeout_s: .inf\n", ["timeout_s", "finite"]),
    ("timeout-minus-inf", GOOD + "timeout_s: -.inf\n", ["timeout_s", "finite"]),
    ("timeout-inf-as-text", GOOD + "timeout_s: inf\n", ["timeout_s"]),
    ("timeout-1e400", GOOD + "timeout_s: 1e400\n", ["timeout_s"]),
    ("timeout-zero", GOOD + "timeout_s: 0\n", ["timeout_s", "bound"]),
    ("timeout-negative", GOOD + "timeout_s: -5\n", ["timeout_s", "bound"]),
    ("derive-timeout-nan", GOOD + "derive_timeout_s: .nan\n", ["derive_timeout_s", "finite"]),
    ("nan-in-backend-setting", _suite("n_ctx: 256", "n_ctx: .nan"),
     ["backends.llama_cpp.n_ctx", "finite"]),
    ("nan-in-suite-param", _suite("gen_tokens: 8", "gen_tokens: .NaN"),
     ["suites.throughput.gen_tokens", "finite"]),
    ("inf-temperature-as-text", _suite(THROUGHPUT, "humaneval: {allow_code_execution: true, "
                                       "sandbox: weak, temperature: inf, max_length: 256}"),
     ["temperature", "finite"]),
    ("negative-prompt-length", _suite("[16]", "[-16]"), ["prompt_lengths[0]", "bound"]),
    ("zero-prompt-length", _suite("[16]", "[16, 0]"), ["prompt_lengths[1]", "bound"]),
    ("humaneval-k-zero", _suite(THROUGHPUT, "humaneval: {allow_code_execution: true, "
                                "sandbox: weak, k: [0], max_length: 256}"),
     ["suites.humaneval", "pass@0"]),
    ("threads-zero", _suite("threads: 2", "threads: 0"), ["threads", "bound"]),
    ("threads-negative", _suite("threads: 2", "threads: -4"), ["threads", "bound"]),
    ("threads-huge", _suite("threads: 2", "threads: 100000"), ["threads", "1024"]),
    ("threads-text", _suite("threads: 2", "threads: lots"), ["threads", "type"]),
    ("n-ctx-huge", _suite("n_ctx: 256", "n_ctx: 99999999999"), ["n_ctx", "1048576"]),
    ("n-ctx-tiny", _suite("n_ctx: 256", "n_ctx: 8"), ["n_ctx", "bound"]),
    ("context-smaller-than-prompts", _suite("[16]", "[600]"), ["n_ctx", "600"]),
    ("plan-seed-negative", GOOD + "seed: -1\n", ["seed", "bound"]),
    ("plan-seed-huge", GOOD + "seed: 99999999999\n", ["seed", "4294967295"]),
    ("backend-seed-huge", _suite("threads: 2", "seed: 18446744073709551616"),
     ["backends.llama_cpp.seed"]),
    ("confidence-percent", GOOD + "regression: {confidence: 95}\n",
     ["regression.confidence", "0.95"]),
    ("confidence-one", GOOD + "regression: {confidence: 1}\n", ["confidence", "fraction"]),
    ("threshold-infinite", GOOD + "regression: {thresholds: {default: 'median:1e400'}}\n",
     ["regression.thresholds", "finite"]),
    ("threshold-garbage", GOOD + "regression: {thresholds: {default: fast}}\n",
     ["regression.thresholds", "median:5%"]),
    ("threshold-a-spread", GOOD + "regression: {quality: {x: 'stddev:5%'}}\n",
     ["regression.quality", "spread"]),
    ("plan-name-dot-dot", _suite("name: t", "name: ../../x"), ["name", "plain name"]),
    ("plan-name-with-slash", _suite("name: t", "name: a/b"), ["name", "plain name"]),
    ("plan-name-absolute", _suite("name: t", "name: /tmp/x"), ["name", "plain name"]),
    ("plan-name-empty", _suite("name: t", "name: ''"), ["name", "plain name"]),
    ("plan-name-rich-markup", _suite("name: t", "name: '[/x]'"), ["'[/x]'", "plain name"]),
    ("backend-name-rich-markup", _suite("llama_cpp:", "'[/bold]':"),
     ["unknown backend '[/bold]'"]),
    ("model-name-with-slash", _model("{name: ../x, path: m.gguf}"), ["models[0].name"]),
    ("model-both-sources", _model("{name: x, path: m.gguf, hf_repo: o/r, hf_file: f}"),
     ["models[0]", "exactly one"]),
    ("model-no-source", _model("{name: x}"), ["models[0]", "exactly one"]),
    ("model-hf-repo-without-file", _model("{name: x, hf_repo: o/r}"), ["hf_file"]),
    ("model-names-repeat", _model("{name: x, path: m.gguf}, {name: x, path: m.gguf}"),
     ["models", "twice"]),
    ("model-path-missing", _model("{name: x, path: nope.gguf}"), ["models[0].path",
                                                                  "no model file"]),
    ("model-path-zero-bytes", _model("{name: x, path: empty.gguf}"), ["models[0].path",
                                                                      "empty"]),
    ("model-path-not-gguf", _model("{name: x, path: page.gguf}"), ["not a GGUF file"]),
    ("model-path-unloadable-suffix", _model("{name: x, path: weights.bin}"),
     ["weights.bin", ".gguf"]),
    ("model-path-folder-without-config", _model("{name: x, path: .}"), ["folder"]),
    ("model-path-nul-byte", _model('{name: x, path: "a\\0b.gguf"}'), ["models[0].path"]),
    ("model-path-too-long", _model("{name: x, path: " + "a" * 5000 + ".gguf}"),
     ["models[0].path", "too long"]),
    ("optional-not-boolean", _suite("{threads: 2, n_ctx: 256}",
                                    "{threads: 2, optional: maybe}"), ["optional"]),
]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch, capsys):
    """Run `harness ARGS` through the CLI's main() in this process, in `tmp_path`."""
    from harness.cli.app import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    (tmp_path / "empty.gguf").write_bytes(b"")
    (tmp_path / "page.gguf").write_text("<html>not found</html>")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["harness", *args])
        with pytest.raises(SystemExit) as info:
            main()
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, info.value.code, out.out, out.err)

    return run


@pytest.mark.parametrize("text,needles", [c[1:] for c in SUITE_TEXTS],
                         ids=[c[0] for c in SUITE_TEXTS])
def test_bad_suite_file(cli, tmp_path: Path, text: str, needles: list[str]) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    assert_one_line_error(cli("run", str(path), "--dry-run"), str(path), *needles)


def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


# (id, how to make the file at `path`, needles)
SUITE_FILES = [
    ("not-utf8-latin1", lambda p: p.write_bytes("name: caf\xe9\n".encode("latin-1")),
     ["line 1", "UTF-8"]),
    ("not-utf8-second-line", lambda p: p.write_bytes(b"name: t\nmodels: [\xff]\n"),
     ["line 2", "UTF-8"]),
    ("binary-file", _binary, ["UTF-8"]),
    ("directory-instead-of-file", lambda p: p.mkdir(), ["folder"]),
    ("missing-file", lambda p: None, ["no such file"]),
    ("model-given-as-suite", lambda p: p.write_bytes(b"GGUF" + b"\0" * (2 << 20)),
     ["too big"]),
]


@pytest.mark.parametrize("make,needles", [c[1:] for c in SUITE_FILES],
                         ids=[c[0] for c in SUITE_FILES])
def test_bad_suite_file_kind(cli, tmp_path: Path, make, needles: list[str]) -> None:
    path = tmp_path / "suite.yaml"
    make(path)
    assert_one_line_error(cli("run", str(path), "--dry-run"), str(path), *needles)


def _good(tmp: Path) -> str:
    (tmp / "good.yaml").write_text(GOOD)
    return "good.yaml"


# (id, arguments given `tmp_path`, needles)
CLI_ARGS = [
    ("unknown-option", lambda t: ["run", _good(t), "--bogus"], ["--bogus", "harness run"]),
    ("unknown-command", lambda t: ["benchmark"], ["benchmark"]),
    ("missing-suite-argument", lambda t: ["run"], ["suite_file"]),
    ("option-without-value", lambda t: ["run", _good(t), "--results-dir"], ["--results-dir"]),
    ("list-unknown-registry", lambda t: ["list", "widgets"], ["widgets", "backends"]),
    ("model-filter-not-in-plan", lambda t: ["run", _good(t), "--dry-run", "-m", "nope"],
     ["--model", "nope", "smollm2-135m"]),
    ("format-filter-not-in-plan", lambda t: ["run", _good(t), "--dry-run", "-f", "q9"],
     ["--format", "q9"]),
    ("backend-filter-not-in-plan", lambda t: ["run", _good(t), "--dry-run", "-b", "vllm"],
     ["--backend", "vllm"]),
    ("suite-filter-not-in-plan", lambda t: ["run", _good(t), "--dry-run", "-s", "mmlu"],
     ["--suite", "mmlu"]),
    ("unknown-reporter", lambda t: ["run", _good(t), "--dry-run", "--reporter", "pdf"],
     ["pdf"]),
    ("compare-with-no-runs", lambda t: ["compare", "nope", "--results-dir", "r"],
     ["no runs under r"]),
    ("export-unknown-format", lambda t: ["export", "csv", "latest"], ["csv"]),
    ("profile-unknown-flag", lambda t: ["profile", "--loud"], ["--loud"]),
    ("report-missing-results", lambda t: ["report", "nothing-here", "-o", "x.html"],
     ["nothing-here"]),
    ("report-unknown-reporter", lambda t: ["report", "r", "-o", "x.html", "--reporter", "pdf"],
     ["pdf"]),
    ("trend-empty-results", lambda t: ["trend", "-o", "t.html", "--results-dir", "r"], ["r"]),
    ("export-unknown-run", lambda t: ["export", "pytest-benchmark", "nope", "-o", "x.json"],
     ["nope"]),
    ("baseline-set-unknown-run", lambda t: ["baseline", "set", "nope"], ["nope"]),
    ("compare-suite-file-missing", lambda t: ["compare", "a", "b", "--suite-file", "no.yaml"],
     ["no"]),
]


@pytest.mark.parametrize("make_args,needles", [c[1:] for c in CLI_ARGS],
                         ids=[c[0] for c in CLI_ARGS])
def test_bad_cli_arguments(cli, tmp_path: Path, make_args, needles: list[str]) -> None:
    (tmp_path / "r").mkdir()
    assert_one_line_error(cli(*make_args(tmp_path)), *needles)


def test_error_text_with_rich_markup_reaches_the_console_script(tmp_path: Path) -> None:
    """The installed script, not only main(): "[/x]" in a suite file is printed as is."""
    path = tmp_path / "[x]" / "s.yaml"
    path.parent.mkdir()
    path.write_text(_suite("llama_cpp:", "'[/bold]':"))
    proc = harness_cmd("run", str(path), "--dry-run", cwd=tmp_path)
    assert_one_line_error(proc, str(path), "'[/bold]'")


FAULTY = """\
name: cached
models: [smollm2-135m]
backends: {faulty: {}}
suites: {tick: }
"""


def _run(tmp_path: Path, suite: str, env: dict | None = None):
    path = tmp_path / "s.yaml"
    path.write_text(suite)
    return harness_cmd("run", str(path), "--results-dir", str(tmp_path / "r"),
                       "--profiles-dir", str(tmp_path / "p"), "--no-report", "--no-lock",
                       env={**plugin_env(), **(env or {})}, timeout=600)


def test_flipped_byte_in_a_cached_default_model(tmp_path: Path, smol) -> None:
    """The pinned sha256 is checked on a cache hit too: a damaged copy (here a COPY in a
    private cache folder, never the user's) stops the run before any cell uses it."""
    from harness.models.defaults import SMOLLM2_135M

    path, _ = smol
    cache = tmp_path / "cache"
    copy = cache / "models" / SMOLLM2_135M.sha256 / SMOLLM2_135M.filename
    copy.parent.mkdir(parents=True)
    shutil.copy2(path, copy)
    with copy.open("r+b") as handle:
        handle.seek(copy.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x01]))
    proc = _run(tmp_path, FAULTY, env={"HARNESS_CACHE_DIR": str(cache)})
    assert_one_line_error(proc, str(copy), "delete")


def test_bad_results_dir_is_one_line(tmp_path: Path, smol) -> None:
    (tmp_path / "r").write_text("a file where the results folder should be")
    proc = _run(tmp_path, FAULTY.replace("smollm2-135m", f"{{name: m, path: {smol[0]}}}"))
    assert_one_line_error(proc, "r")


@pytest.mark.parametrize("cut", [1000, 4 << 20], ids=["gguf-cut-in-header",
                                                      "gguf-cut-in-tensor-data"])
def test_truncated_gguf_model_path_fails_its_cell(tmp_path: Path, smol, cut: int) -> None:
    """A GGUF file cut short passes the cheap checks at load time (its magic is right), so
    it cannot exit 2 before the run: its cell fails with one clear stored line instead, and
    the run exits 1 without a traceback."""
    from harness.results.store import read_cells
    from tests.conftest import run_dirs

    broken = tmp_path / "cut.gguf"
    broken.write_bytes(smol[0].read_bytes()[:cut])
    proc = _run(tmp_path, FAULTY.replace("smollm2-135m", f"{{name: cut, path: {broken}}}"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    (cell,) = read_cells(run_dirs(tmp_path / "r")[0] / "cells.jsonl")
    assert cell.status == "failed"
    assert "cut.gguf is not a readable GGUF file" in cell.error and "fix:" in cell.error
