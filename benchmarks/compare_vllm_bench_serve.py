"""Does the harness's load generator measure what vLLM's own does? Compare with
`vllm bench serve` on one vLLM server.

Starts vLLM's OpenAI server once (the harness's vllm_server backend, prefix caching off
so no round reuses another's prompts), then alternates rounds of the harness's serving
suite and of `vllm bench serve` (run in vLLM's environment, against the same URL):
harness, vllm, vllm, harness, harness, ... (ABBA, so a drift of the machine falls on
both). Same workload: prompts of `--input` tokens (the harness's are real text, vLLM's
random tokens), `--output` tokens generated with end of sequence ignored, `--requests`
requests per round, at most `--concurrency` in flight. Prints requests/s, output
tokens/s and median TTFT per round, the medians, and harness / vllm.

    python benchmarks/compare_vllm_bench_serve.py [--rounds 4] [--concurrency 4]
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

from compare_llama_bench import artifact  # noqa: E402
from serving_rounds import harness_turn, print_medians, serving_round  # noqa: E402

from harness.backends.vllm import VllmBackend  # noqa: E402
from harness.backends.vllm_server import VllmServerBackend, VllmServerConfig  # noqa: E402
from harness.suites.serving import ServingParams  # noqa: E402

FIGURES = ("requests_per_s", "output_tokens_per_s", "median_ttft_ms")


def harness_round(backend, folder: Path, args) -> dict[str, float]:
    params = ServingParams(concurrency=[args.concurrency], requests_per_level=args.requests,
                           prompt_tokens=args.input, max_tokens=args.output, warmup=1)
    by = serving_round(backend, folder, "hf-bf16", params)
    return {"requests_per_s": by["requests_per_s"].samples[0],
            "output_tokens_per_s": by["output_tokens_per_s"].samples[0],
            "median_ttft_ms": statistics.median(by["ttft_ms"].samples)}


def vllm_round(backend, folder: Path, args, work: Path, i: int) -> dict[str, float]:
    code = ("import sys; from vllm.utils.argparse_utils import FlexibleArgumentParser; "
            "from vllm.benchmarks.serve import add_cli_args, main; "
            "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))")
    name = f"round{i}.json"
    cmd = [VllmBackend.interpreter(), "-c", code, "--backend", "vllm",
           "--base-url", backend._url, "--model", backend._model_name,
           "--tokenizer", str(folder), "--dataset-name", "random",
           "--random-input-len", str(args.input), "--random-output-len", str(args.output),
           "--num-prompts", str(args.requests), "--max-concurrency", str(args.concurrency),
           "--request-rate", "inf", "--ignore-eos", "--seed", str(i), "--save-result",
           "--result-dir", str(work), "--result-filename", name, "--disable-tqdm"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = json.loads((work / name).read_text())
    return {"requests_per_s": out["request_throughput"],
            "output_tokens_per_s": out["output_throughput"],
            "median_ttft_ms": out["median_ttft_ms"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--output", type=int, default=64)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4, help="of each tool")
    args = parser.parse_args()
    folder = artifact(args.model, "hf-bf16")
    backend = VllmServerBackend(VllmServerConfig(threads=args.threads, n_ctx=1024,
                                                 prefix_caching=False))
    backend.load(folder)
    rows: dict[str, list[dict]] = {"harness": [], "vllm": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.rounds * 2):
                tool = "harness" if harness_turn(i) else "vllm"
                row = (harness_round(backend, folder, args) if tool == "harness"
                       else vllm_round(backend, folder, args, Path(tmp), i))
                rows[tool].append(row)
                print(f"round {i + 1} {tool:8s}", "  ".join(f"{k} {v:8.2f}"
                                                           for k, v in row.items()))
    finally:
        backend.unload()
    print(f"\nmedians of {args.rounds} rounds each ({args.requests} requests, concurrency "
          f"{args.concurrency}, {args.input} in / {args.output} out):")
    print_medians(rows, FIGURES, "vllm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
