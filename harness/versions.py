"""Installed package versions, as they enter cell keys and artifact cache paths."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def package_versions(names: tuple[str, ...]) -> str:
    """"name-version+name-version" (a missing package reads "name-absent")."""
    return "+".join(f"{name}-{package_version(name)}" for name in names)
