"""`harness run` in a log (stdout not a terminal): a plain line per finished cell."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from harness.cli import progress
from tests.conftest import harness_cmd, plugin_env

CELL = re.compile(r"^\[(\d)/2\] m source (faulty|faulty-b) tick: (ok|failed)  (.*)$")


def test_piped_run_prints_a_plain_line_per_cell_and_the_summary(tmp_path: Path, smol) -> None:
    suite = tmp_path / "plain.yaml"
    suite.write_text(f"""\
name: plain
models: [{{name: m, path: {smol[0]}}}]
backends: {{faulty: , faulty-b: {{mode: raise}}}}
suites: {{tick: }}
timeout_s: 120
""")
    proc = harness_cmd("run", str(suite), "--results-dir", str(tmp_path / "r"),
                       "--profiles-dir", str(tmp_path / "p"), "--no-report", "--no-lock",
                       env=plugin_env(), timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "\x1b" not in proc.stdout  # no colours, no cursor moves of a progress bar
    cells = [CELL.match(line) for line in proc.stdout.splitlines() if CELL.match(line)]
    assert [(m[1], m[2], m[3]) for m in cells] == [("1", "faulty", "ok"),
                                                  ("2", "faulty-b", "failed")]
    ok, failed = cells[0][4], cells[1][4]
    assert re.match(r"tick_s [0-9.e+-]+ s  (quiet|contended \(.+\))$", ok), ok
    assert failed.endswith("refused on purpose"), failed
    assert re.search(r"^run \S+: 2 cells$", proc.stdout, re.M)  # the plain start line
    summary = next(line for line in proc.stdout.splitlines() if re.match(r"run \S+: \d+ ok", line))
    contended = sum("  contended" in m[4] for m in cells)
    assert re.match(r"run \S+: 1 ok, 1 failed" + (f", {contended} contended" if contended
                                                  else r" ->"), summary), summary


def _result(health: dict | None, status: str = "ok"):
    metric = SimpleNamespace(name="load_s", kind="latency", median=0.5, mean=0.5, unit="s")
    speed = SimpleNamespace(name="decode_tokens_per_s", kind="speed", median=160.24,
                            mean=160.0, unit="tokens/s")
    return SimpleNamespace(model="smollm2-135m", format="q4_0", backend="llama_cpp",
                           suite="throughput", status=status, error="boom",
                           metrics=[metric, speed], health=health)


def test_cell_line_names_the_speed_headline_and_the_health_mark() -> None:
    busy = {"contended": True, "reasons": ["other processes used 34 % of the CPU (limit 10 %)"]}
    assert progress.cell_line(_result(busy)) == (
        "smollm2-135m q4_0 llama_cpp throughput: ok  decode_tokens_per_s 160.2 tokens/s  "
        "contended (other processes used 34 % of the CPU (limit 10 %))")
    assert progress.cell_line(_result({"contended": False, "reasons": []})).endswith(
        "tokens/s  quiet")
    assert progress.cell_line(_result(None)).endswith("160.2 tokens/s")
    assert progress.cell_line(_result(None, "failed")) == \
        "smollm2-135m q4_0 llama_cpp throughput: failed  boom"


def test_terminal_progress_also_says_contended(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, force_terminal=True, width=200))
    assert isinstance(progress.make_observer(), progress.RunProgress)
    observer = progress.RunProgress()
    observer.run_started("r1", 2, 0)
    observer.run_started("r2", 2, 0)  # a second plan of the same job: one bar over both
    assert observer.progress.tasks[observer.overall].total == 4
    observer.cell_finished(_result({"contended": True, "reasons": ["steal 9 %"]}))
    assert "contended smollm2-135m q4_0 llama_cpp throughput: steal 9 %" in \
        re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    monkeypatch.setattr(progress, "console", Console(file=io.StringIO()))
    assert isinstance(progress.make_observer(), progress.PlainProgress)
