"""Quant formats: derived from a source artifact by registered producers, cached."""
