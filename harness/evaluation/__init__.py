"""Accuracy evaluation through lm-evaluation-harness, and the code-execution sandbox."""
