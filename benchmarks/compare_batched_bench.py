"""Does llama-server's slot throughput, measured by the harness, match llama.cpp's own
`llama-batched-bench` (built from the same tree) where the shapes match?

batched-bench evaluates B prompts of PP tokens in one batch, then generates TG tokens for
each of the B sequences together, and reports total tokens/s ((B x PP + B x TG) / T) and
generated tokens/s over the same time (B x TG / T). The harness side: llama-server with B
slots and B clients, each request PP prompt tokens and TG generated (end of sequence
ignored), `--waves` x B requests per round; its total and output tokens/s are the same
quotients over the wall time of the round. Rounds alternate (ABBA).

    python benchmarks/compare_batched_bench.py [--slots 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from compare_llama_bench import artifact  # noqa: E402
from serving_rounds import harness_turn, print_medians, serving_round  # noqa: E402

from harness.backends.llama_cpp import cpu_has_amx  # noqa: E402
from harness.backends.llama_cpp_tools import locate_or_build  # noqa: E402
from harness.backends.llama_server import LlamaServerBackend, LlamaServerConfig  # noqa: E402
from harness.suites.serving import ServingParams  # noqa: E402

FIGURES = ("total_tokens_per_s", "output_tokens_per_s")


def batched_bench(tool: Path, model: Path, args) -> dict[str, float]:
    cmd = [str(tool), "-m", str(model), "-c", str(args.slots * (args.input + args.output)
                                                     + 256),
           "-b", "2048", "-ub", "512", "-npp", str(args.input), "-ntg", str(args.output),
           "-npl", str(args.slots), "-t", str(args.threads), "-fa", "auto",
           "--output-format", "jsonl"]
    if cpu_has_amx():
        cmd.append("--no-repack")  # as the llama_server backend does on AMX CPUs
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    row = next(json.loads(line) for line in (out.stdout + out.stderr).splitlines()
               if line.startswith("{") and '"speed"' in line)
    return {"total_tokens_per_s": row["speed"],
            "output_tokens_per_s": row["pl"] * row["tg"] / row["t"]}


def harness_round(backend, model: Path, args) -> dict[str, float]:
    params = ServingParams(concurrency=[args.slots], requests_per_level=args.slots * args.waves,
                           prompt_tokens=args.input, max_tokens=args.output, warmup=1)
    by = serving_round(backend, model, args.format, params)
    return {k: by[k].samples[0] for k in FIGURES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--format", default="f16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--output", type=int, default=64)
    parser.add_argument("--waves", type=int, default=2, help="requests per round / slots")
    parser.add_argument("--rounds", type=int, default=3, help="of each tool")
    args = parser.parse_args()
    model = artifact(args.model, args.format)
    tool = locate_or_build("llama-batched-bench")
    backend = LlamaServerBackend(LlamaServerConfig(
        threads=args.threads, parallel=args.slots, n_batch=2048, cache_prompt=False,
        n_ctx=args.slots * (args.input + args.output + 64)))
    rows: dict[str, list[dict]] = {"harness": [], "batched-bench": []}
    for i in range(args.rounds * 2):
        name = "harness" if harness_turn(i) else "batched-bench"
        if name == "harness":
            backend.load(model)  # not beside batched-bench: one engine on the CPUs at a time
            try:
                row = harness_round(backend, model, args)
            finally:
                backend.unload()
        else:
            row = batched_bench(tool, model, args)
        rows[name].append(row)
        print(f"round {i + 1} {name:14s}", "  ".join(f"{k} {v:8.2f}" for k, v in row.items()))
    print(f"\nmedians of {args.rounds} rounds each ({args.slots} slots, {args.input} in / "
          f"{args.output} out, {args.format}):")
    print_medians(rows, FIGURES, "batched-bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
