"""Run task configs through lm-eval's `simple_evaluate` on a harness backend, offline."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from harness.backends.base import Backend
from harness.errors import HarnessError


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def evaluate(backend: Backend, tasks: list[dict], max_length: int, seed: int):
    """(lm-eval results["results"], the HarnessLM used) for `tasks`, config dicts over
    local JSONL files. lm-eval is imported here, so listing suites never needs it."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from lm_eval import simple_evaluate

        from harness.evaluation.lm_adapter import HarnessLM
    except ImportError as exc:
        raise HarnessError(f"this suite needs lm-evaluation-harness ({exc.name} is missing); "
                           "fix: pip install 'harness[quality]'") from None

    logging.getLogger("lm-eval").setLevel(logging.WARNING)
    lm = HarnessLM(backend, max_length=max_length, seed=seed)
    out = simple_evaluate(model=lm, tasks=tasks, log_samples=False, random_seed=seed,
                          numpy_random_seed=seed, fewshot_random_seed=seed,
                          bootstrap_iters=0, verbosity="WARNING")
    return out["results"], lm
