"""Runs cells, each in its own child process."""
