"""Does our perplexity (llama.cpp scheme) agree with llama-perplexity on the same text?

Builds (or finds) llama-perplexity from the same llama.cpp source as the installed
llama-cpp-python, writes the corpus to a file, runs both on the same model file with
the same context and number of chunks, and prints both estimates and their ratio.

    python benchmarks/compare_llama_perplexity.py [--model smollm2-135m] [--format f16]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from compare_llama_bench import artifact, run_suite  # noqa: E402

from harness.backends.llama_cpp_tools import locate_or_build  # noqa: E402
from harness.data.corpora import DEFAULT_CORPUS, load_text  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--format", default="f16")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="text file or python-docs")
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-diff", type=float, default=0.005,
                        help="exit 1 when |ratio - 1| exceeds this")
    args = parser.parse_args()

    tool = locate_or_build("llama-perplexity")
    model = artifact(args.model, args.format)
    with tempfile.TemporaryDirectory(prefix="harness-vs-ppl-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus.txt"
        corpus.write_text(load_text(args.corpus), encoding="utf-8")
        out = subprocess.run(
            [str(tool), "-m", str(model), "-f", str(corpus), "-c", str(args.n_ctx),
             "-b", str(args.n_ctx), "--chunks", str(args.chunks), "-t", str(args.threads)],
            capture_output=True, text=True, check=True)
        found = re.search(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)", out.stdout + out.stderr)
        if not found:
            print(out.stderr[-2000:])
            return 2
        theirs, theirs_err = float(found.group(1)), float(found.group(2))

        frame = run_suite(f"""\
name: vs-llama-perplexity
models: [{{name: m, path: {model}}}]
formats: [source]
backends:
  llama_cpp: {{threads: {args.threads}, n_ctx: {args.n_ctx}, n_batch: {args.n_ctx}}}
suites:
  perplexity: {{corpus: {corpus}, scheme: llama.cpp, n_ctx: {args.n_ctx},
               max_tokens: {args.n_ctx * args.chunks}}}
""", work).set_index("metric_name")
        ours, ours_err = frame.loc["perplexity", "mean"], frame.loc["perplexity", "stderr"]
        scored = int(frame.loc["tokens_scored", "mean"])
    ratio = ours / theirs
    print(f"model {model}\n{args.chunks} chunks of {args.n_ctx} tokens, {scored} tokens scored")
    print(f"llama-perplexity: PPL = {theirs:.4f} +/- {theirs_err:.5f}")
    print(f"harness:          PPL = {ours:.4f} +/- {ours_err:.5f}")
    print(f"ratio {ratio:.5f} ({(ratio - 1) * 100:+.3f}%)")
    return 1 if abs(ratio - 1) > args.max_diff else 0


if __name__ == "__main__":
    sys.exit(main())
