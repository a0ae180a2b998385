"""Does the harness measure the engine, not Python around it? Compare with llama-bench.

Builds (or finds) llama-bench from the same llama.cpp source as the installed
llama-cpp-python, then runs llama-bench and `harness run` alternately on the same
model file, threads, prompt length and generated tokens, and prints both prefill
and decode tokens/s and their ratios (harness / llama-bench; 1.0 is parity).

    python benchmarks/compare_llama_bench.py [--model smollm2-135m] [--format q4_0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness.backends.llama_cpp_tools import locate_or_build  # noqa: E402
from harness.formats import resolve  # noqa: E402
from harness.registry import registry  # noqa: E402
from harness.results.frame import load_frame  # noqa: E402


def artifact(model: str, fmt: str) -> Path:
    source = registry("models").get(model).resolve()
    from harness.cache import sha256_file

    return resolve.derive(source, sha256_file(source), fmt)


def llama_bench(tool: Path, model: Path, args) -> tuple[float, float]:
    cmd = [str(tool), "-m", str(model), "-t", str(args.threads), "-p", str(args.prompt),
           "-n", str(args.gen), "-r", str(args.reps), "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == args.prompt and r["n_gen"] == 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] == args.gen and r["n_prompt"] == 0)
    return pp, tg


def run_suite(text: str, work: Path):
    """Run a suite file's text with the `harness` CLI into `work`; the newest run's frame."""
    suite = work / "suite.yaml"
    suite.write_text(text)
    results = work / "results"
    subprocess.run(["harness", "run", str(suite), "--results-dir", str(results),
                    "--profiles-dir", str(work / "profiles"), "--no-report"],
                   check=True, capture_output=True, text=True)
    frame = load_frame([results])
    return frame[frame["run_id"] == frame["run_id"].max()]


def harness_run(model: Path, args, work: Path) -> tuple[float, float]:
    newest = run_suite(f"""\
name: vs-llama-bench
models: [{{name: m, path: {model}}}]
formats: [source]
backends:
  llama_cpp: {{threads: {args.threads}, n_ctx: {args.prompt + args.gen}}}
suites:
  throughput:
    prompt_lengths: [{args.prompt}]
    gen_tokens: {args.gen}
    repetitions: {args.reps}
    warmup: 1
""", work)
    mean = newest.set_index("metric_name")["mean"]
    return float(mean["prefill_tokens_per_s"]), float(mean["decode_tokens_per_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a registered model")
    parser.add_argument("--format", default="source", help="a GGUF format (harness list formats)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=128, help="prompt tokens (pp)")
    parser.add_argument("--gen", type=int, default=64, help="generated tokens (tg)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate llama-bench and harness this many times")
    parser.add_argument("--min-ratio", type=float, default=0.0,
                        help="exit 1 when a ratio falls below this (e.g. 0.95)")
    args = parser.parse_args()

    tool = locate_or_build("llama-bench")
    model = artifact(args.model, args.format)
    print(f"llama-bench: {tool}\nmodel: {model}\nthreads {args.threads}, pp{args.prompt}, "
          f"tg{args.gen}, {args.reps} repetitions x {args.rounds} alternating rounds")
    bench, ours = [], []
    with tempfile.TemporaryDirectory(prefix="harness-vs-bench-") as tmp:
        for i in range(args.rounds):
            bench.append(llama_bench(tool, model, args))
            ours.append(harness_run(model, args, Path(tmp)))
            print(f"round {i + 1}: llama-bench pp {bench[-1][0]:.1f} tg {bench[-1][1]:.1f} | "
                  f"harness pp {ours[-1][0]:.1f} tg {ours[-1][1]:.1f} tokens/s")
    worst = 1e9
    print(f"\n{'metric':<22}{'llama-bench':>14}{'harness':>12}{'ratio':>9}")
    for idx, name in ((0, f"prefill pp{args.prompt}"), (1, f"decode tg{args.gen}")):
        ref = statistics.median(b[idx] for b in bench)
        got = statistics.median(o[idx] for o in ours)
        worst = min(worst, got / ref)
        print(f"{name + ' tokens/s':<22}{ref:>14.1f}{got:>12.1f}{got / ref:>9.3f}")
    print("(medians over rounds of each tool's mean tokens/s)")
    return 1 if worst < args.min_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
