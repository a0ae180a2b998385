"""Every declared suite file loads; every malformed one gives one line naming file, field, fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_plan
from harness.errors import ConfigError
from harness.matrix import expand
from tests.conftest import ROOT, harness_cmd

SUITE_FILES = [
    # a plan naming vLLM loads only where vLLM is installed: `pytest -m vllm` (nox -s vllm)
    pytest.param(p, id=p.name, marks=[pytest.mark.vllm] if "vllm" in p.name else [])
    for p in sorted((ROOT / "suites").glob("*.yaml"))
]


@pytest.mark.parametrize("path", SUITE_FILES)
def test_declared_suite_loads_and_expands(path: Path) -> None:
    plan = load_plan(path)
    matrix = expand(plan)
    assert matrix.cells, f"{path.name} expands to no cells"
    assert {c.suite for c in matrix.cells} == set(plan.suites)


GOOD = """\
name: t
models: [smollm2-135m]
formats: [source]
backends:
  llama_cpp: {threads: 2, n_ctx: 256}
suites:
  throughput: {prompt_lengths: [16], gen_tokens: 8}
"""

# (case id, text, field named in the error, a word the fix must contain)
BAD = [
    ("unknown-top-key", GOOD + "colour: blue\n", "colour", "remove"),
    ("unknown-backend", GOOD.replace("llama_cpp:", "llama_ccp:"), "backends.llama_ccp",
     "llama_cpp"),
    ("unknown-suite", GOOD.replace("throughput:", "thruput:"), "suites.thruput", "throughput"),
    ("unknown-format", GOOD.replace("[source]", "[q4_z]"), "formats[0]", "q4_0"),
    ("unknown-model", GOOD.replace("smollm2-135m", "smollm3"), "models[0]", "smollm2-135m"),
    ("missing-model-file", GOOD.replace("[smollm2-135m]", "[{name: x, path: nope.gguf}]"),
     "models[0].path", "path"),
    ("model-folder-without-config", GOOD.replace("[smollm2-135m]", "[{name: x, path: .}]"),
     "models[0].path", "folder"),
    ("unknown-backend-key", GOOD.replace("threads: 2", "thread: 2"), "backends.llama_cpp.thread",
     "threads"),
    ("bad-threads", GOOD.replace("threads: 2", "threads: 0"), "backends.llama_cpp.threads",
     "bound"),
    ("bad-type", GOOD.replace("gen_tokens: 8", "gen_tokens: many"),
     "suites.throughput.gen_tokens", "type"),
    ("empty-prompt-list", GOOD.replace("[16]", "[]"), "suites.throughput.prompt_lengths",
     "at least one"),
    ("context-too-small", GOOD.replace("n_ctx: 256", "n_ctx: 32").replace("[16]", "[64]"),
     "backends.llama_cpp.n_ctx", "n_ctx"),
    ("missing-suites", GOOD.split("suites:")[0], "suites", "add"),
    ("not-yaml", "name: [unclosed\n", "line", "syntax"),
    ("not-a-mapping", "- just\n- a list\n", "-", "name:"),
    ("bad-flash-attn", GOOD.replace("threads: 2", "flash_attn: maybe"),
     "backends.llama_cpp.flash_attn", "listed"),
    ("corpus-shorter-than-a-window",
     GOOD.replace("throughput: {prompt_lengths: [16], gen_tokens: 8}",
                  "perplexity: {corpus: tiny.txt, n_ctx: 128}"), "suites.perplexity", "longer"),
    ("mmlu-subset-larger-than-data",
     GOOD.replace("throughput: {prompt_lengths: [16], gen_tokens: 8}",
                  "mmlu: {per_subject: 500, max_length: 256}"), "suites.mmlu", "at most"),
    ("humaneval-without-opt-in",
     GOOD.replace("throughput: {prompt_lengths: [16], gen_tokens: 8}",
                  "humaneval: {problems: 2, max_length: 256}"), "suites.humaneval",
     "allow_code_execution: true"),
    ("unknown-reference-format",
     GOOD.replace("throughput: {prompt_lengths: [16], gen_tokens: 8}",
                  "kl-divergence: {reference_format: f32, n_ctx: 128}"),
     "suites.kl-divergence.reference_format", "known"),
    ("model-two-sources", GOOD.replace("[smollm2-135m]",
                                       "[{name: x, path: a.gguf, hf_repo: o/r, hf_file: f}]"),
     "models[0]", "exactly one"),
]


@pytest.mark.parametrize("case,text,field,fix_word", BAD, ids=[b[0] for b in BAD])
def test_malformed_suite_is_one_line_error(tmp_path: Path, monkeypatch, case, text, field,
                                           fix_word) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text("far too short for a window")
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    err = info.value
    assert err.file == str(path)
    assert err.field.startswith(field), f"field {err.field!r}"
    assert fix_word in err.fix, f"fix {err.fix!r}"


@pytest.mark.parametrize("case,text,field,fix_word", BAD[:4], ids=[b[0] for b in BAD[:4]])
def test_cli_reports_bad_suite_on_one_line_with_exit_2(tmp_path, case, text, field,
                                                       fix_word) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    proc = harness_cmd("run", str(path), "--dry-run")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and field in lines[0] and "fix:" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_relative_model_path_starts_at_suite_folder(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    path = tmp_path / "local.yaml"
    path.write_text(GOOD.replace("[smollm2-135m]", "[{name: mine, path: m.gguf}]"))
    plan = load_plan(path)
    assert plan.models[0].resolve() == (tmp_path / "m.gguf").resolve()


def test_model_folder_is_an_hf_source(tmp_path: Path) -> None:
    """A Hugging Face folder the user points to (e.g. an AWQ checkpoint) loads as the
    source format of backends that load "hf" folders."""
    (tmp_path / "awq").mkdir()
    (tmp_path / "awq" / "config.json").write_text("{}")
    path = tmp_path / "folder.yaml"
    path.write_text(GOOD.replace("[smollm2-135m]", "[{name: mine, path: awq}]")
                    .replace("llama_cpp: {threads: 2, n_ctx: 256}",
                             "llama_cpp: {n_ctx: 256}\n  transformers: {n_ctx: 256}"))
    plan = load_plan(path)
    assert plan.models[0].container() == "hf"
    assert plan.models[0].resolve() == (tmp_path / "awq").resolve()
    matrix = expand(plan)
    assert [c.backend for c in matrix.cells] == ["transformers"]
    assert any("llama_cpp does not load hf" in s for s in matrix.skipped)


@pytest.mark.parametrize("formats,backend", [("hf-fp32", "transformers"),
                                             ("onnx-int4", "onnxruntime_genai")])
def test_a_gguf_file_is_a_source_of_the_formats_derived_from_it(tmp_path: Path, formats,
                                                                 backend) -> None:
    """No backend of the plan loads GGUF, but the formats it lists are made from it."""
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    path = tmp_path / "derived.yaml"
    path.write_text(f"name: d\nmodels: [{{name: mine, path: m.gguf}}]\nformats: [{formats}]\n"
                    f"backends: {{{backend}: {{n_ctx: 256}}}}\nsuites: {{memory: }}\n")
    cells = expand(load_plan(path)).cells
    assert [(c.format, c.backend) for c in cells] == [(formats, backend)]
    # as its own source it still loads nowhere: refused before the run, naming what loads
    path.write_text(path.read_text().replace(f"[{formats}]", "[source]"))
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert info.value.field == "models[0].path" and "not a model file" in info.value.problem


def test_cuda_only_formats_are_skipped_on_cpu_with_the_reason(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels: [smollm2-135m]\nformats: [hf-fp16, hf-bnb-4bit]\n"
                     "backends: {transformers: {n_ctx: 256}}\nsuites: {memory: }\n")
    matrix = expand(load_plan(suite))
    assert [c.format for c in matrix.cells] == ["hf-fp16"]
    assert matrix.skipped == ["smollm2-135m hf-bnb-4bit on transformers: bitsandbytes formats "
                              "run on CUDA only (set device: cuda on an NVIDIA GPU)"]


def test_threads_auto_is_resolved_here_and_requested_as_auto(tmp_path: Path) -> None:
    path = tmp_path / "auto.yaml"
    for threads in ("threads: auto, ", ""):
        path.write_text(GOOD.replace("threads: 2, ", threads))
        plan = load_plan(path)
        assert plan.backends["llama_cpp"].threads >= 1
        assert plan.backend_requests["llama_cpp"]["threads"] == "auto"
        cell = expand(plan).cells[0]
        assert cell.backend_request["threads"] == "auto"
        assert cell.backend_config["threads"] == plan.backends["llama_cpp"].threads
    path.write_text(GOOD)
    assert load_plan(path).backend_requests["llama_cpp"]["threads"] == 2
