"""Suites: what is measured on a loaded backend."""
