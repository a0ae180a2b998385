"""Evaluation data: text corpora, MMLU and HumanEval, from packages or the user's files."""
