"""HumanEval pass@1 (greedy) and pass@k (n sampled completions), generated through
lm-evaluation-harness and executed only in the sandbox, only after an explicit opt-in.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from harness.backends.base import Backend
from harness.backends.capabilities import Generating
from harness.cache import cache_dir
from harness.data import humaneval
from harness.evaluation.lm_eval_runner import evaluate, write_jsonl
from harness.evaluation.sandbox import NO_BWRAP, Limits, run_untrusted
from harness.evaluation.sandbox_layers import bwrap_path
from harness.stats import pass_at_k, standard_error
from harness.suites.base import Chart, Metric, MetricSpec, Suite, SuiteParams
from harness.suites.context import CellContext

STOP = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]  # lm-eval's humaneval stop sequences
OPT_IN = ("HumanEval runs code the model wrote and is OFF; fix: set "
          "allow_code_execution: true in this suite to opt in (code then runs sandboxed in "
          "bubblewrap: no network, no files but Python's, uid 65534, timeout and limits)")


class HumanEvalParams(SuiteParams):
    allow_code_execution: bool = False
    problems: int = Field(default=20, ge=1, le=164)
    n_samples: int = Field(default=1, ge=1, le=200)
    k: list[int] = Field(default=[1], min_length=1)
    temperature: float = Field(default=0.8, gt=0, description="when n_samples > 1")
    max_new_tokens: int = Field(default=256, ge=8)
    timeout_s: float = Field(default=10.0, gt=0, description="per program, wall clock")
    memory_mb: int = Field(default=1024, ge=64)
    max_length: int = Field(default=1024, ge=64)
    sandbox: Literal["strict", "weak"] = Field(
        default="strict", description="weak: run without bubblewrap where it is missing")

    @model_validator(mode="after")
    def _check(self):
        if not self.allow_code_execution:
            raise ValueError(OPT_IN)
        if self.sandbox == "strict" and bwrap_path() is None:
            raise ValueError(NO_BWRAP)
        if min(self.k) < 1:
            raise ValueError(f"pass@{min(self.k)} is not defined; fix: use k values of at "
                             "least 1")
        if max(self.k) > self.n_samples:
            raise ValueError(f"pass@{max(self.k)} needs at least {max(self.k)} samples per "
                             f"problem; fix: set n_samples >= {max(self.k)}")
        return self

    def required_context(self) -> int:
        return self.max_length


class HumanEvalSuite(Suite):
    name: ClassVar[str] = "humaneval"
    params_cls: ClassVar[type] = HumanEvalParams
    description: ClassVar[str] = "HumanEval pass@k on a seeded subset; sandboxed, opt-in"
    requires: ClassVar[tuple[type, ...]] = (Generating,)

    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("humaneval_pass_at_1", "fraction", True, "quality", threshold="mean:0.02",
                   chart=Chart("HumanEval pass@1 per model x format", order=100)),
        MetricSpec("humaneval_pass_at_{k}", "fraction", True, "quality", threshold="mean:0.02"),
        MetricSpec("humaneval_programs_run", "programs", True, "count"),
        MetricSpec("eval_wall_time_s", "s", False, "latency"),
        MetricSpec("generated_tokens", "tokens", True, "count"),
    )

    def run(self, backend: Backend, params: HumanEvalParams, ctx: CellContext) -> list[Metric]:
        problems = humaneval.subset(humaneval.load_problems(), params.problems, ctx.seed)
        by_id = {p["task_id"]: p for p in problems}
        data = write_jsonl(cache_dir() / "lm-eval-data" / f"humaneval-{params.problems}-"
                           f"{ctx.seed}.jsonl", problems)
        limits = Limits(timeout_s=params.timeout_s, memory_bytes=params.memory_mb << 20,
                        cpu_s=max(1, math.ceil(params.timeout_s)))
        outcomes: dict[str, list] = {}

        def score(doc: dict, results: list) -> dict:
            completions = results[0] if results and isinstance(results[0], list) else results
            runs = [run_untrusted(humaneval.program(by_id[doc["task_id"]], c), limits,
                                  weak=params.sandbox == "weak") for c in completions]
            outcomes[doc["task_id"]] = runs
            return {f"pass@{k}": pass_at_k(len(runs), sum(r.passed for r in runs), k)
                    for k in params.k}

        sampled = params.n_samples > 1
        task = _task(params, data, score)
        start = time.perf_counter()
        results, lm = evaluate(backend, [task], params.max_length, ctx.seed)
        elapsed = time.perf_counter() - start
        res = results["harness_humaneval"]
        runs = [r for rs in outcomes.values() for r in rs]
        layers = "+".join(runs[0].layers) if runs else ""
        tags = {"problems": params.problems, "n_samples": params.n_samples,
                "temperature": params.temperature if sampled else 0.0}
        metrics = []
        for k in params.k:
            value = res[f"pass@{k},all"]
            per_problem = [pass_at_k(len(rs), sum(r.passed for r in rs), k)
                           for rs in outcomes.values()]
            metrics.append(self.metric(f"humaneval_pass_at_{k}", [value], tags,
                                       stderr=standard_error(per_problem)))
        reasons = Counter(_kind(r.reason) for r in runs)
        return [
            *metrics,
            self.metric("humaneval_programs_run", [len(runs)],
                        {**tags, "sandbox": layers,
                         "outcomes": ", ".join(f"{k}: {v}" for k, v in reasons.most_common())}),
            self.metric("eval_wall_time_s", [elapsed], tags),
            self.metric("generated_tokens", [lm.generated_tokens], tags),
        ]


def _task(params: HumanEvalParams, data: str, score) -> dict:
    """The lm-eval task: greedy (or sampled) completions of each problem, scored by
    `score`, which runs them in the sandbox."""
    sampled = params.n_samples > 1
    return {
        "task": "harness_humaneval",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": data}},
        "test_split": "test",
        "output_type": "generate_until",
        # a callable, not "{{prompt}}": Jinja drops the prompt's final newline
        "doc_to_text": _prompt,
        "doc_to_target": "{{task_id}}",
        "target_delimiter": "",
        "generation_kwargs": {"until": STOP, "max_gen_toks": params.max_new_tokens,
                              "do_sample": sampled,
                              "temperature": params.temperature if sampled else 0.0},
        "repeats": params.n_samples,
        "filter_list": [{"name": "all", "filter": [{"function": "take_first_k",
                                                    "k": params.n_samples}]}],
        "process_results": score,
        "metric_list": [{"metric": f"pass@{k}", "aggregation": "mean",
                         "higher_is_better": True} for k in params.k],
        "num_fewshot": 0,
        "metadata": {"version": 1.0},
    }


def _prompt(doc: dict) -> str:
    return doc["prompt"]


def _kind(reason: str) -> str:
    return reason.split(":")[0].split("(")[0].strip()[:40]
