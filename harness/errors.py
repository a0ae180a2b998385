"""Typed errors. The CLI turns each into one line and an exit code; nothing here prints."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""

    exit_code = 1


class UsageError(HarnessError):
    """Bad input from the user (suite file, CLI argument, model path). Exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A suite file is invalid: names the file, the field and the fix."""

    def __init__(self, file: str, field: str, problem: str, fix: str) -> None:
        self.file, self.field, self.problem, self.fix = file, field, problem, fix
        super().__init__(f"{file}: {field}: {problem}; fix: {fix}")


class RegistryError(UsageError):
    """Unknown or duplicate name in a plugin registry."""


class ModelSourceError(HarnessError):
    """A model could not be fetched, assembled or verified."""


class FormatError(HarnessError):
    """A quant format could not be derived from its source."""


class BackendError(HarnessError):
    """A backend failed to load or run an artifact."""


class CellFailure(HarnessError):
    """A cell failed in its child process (crash, timeout, out of memory, exception)."""
