"""Reporters: stored results -> HTML / markdown / JSON. They never touch a backend."""
