"""Regression detection between stored runs: thresholds, baselines, comparison, export."""
