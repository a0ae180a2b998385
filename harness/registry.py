"""Lazy plugin registries fed by entry points.

Built-ins register through the same `[project.entry-points."harness.*"]` door as
third-party packages. Only "module:attr" strings are read at start-up so that
`harness list` and `--dry-run` never import an engine.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from harness.errors import RegistryError

T = TypeVar("T")

# The base class each group's entries must derive from (models are ModelSource instances).
BASES = {
    "backends": "harness.backends.base:Backend",
    "suites": "harness.suites.base:Suite",
    "formats": "harness.formats.base:FormatProducer",
    "models": "harness.models.sources:ModelSource",
    "reporters": "harness.reports.base:Reporter",
}
GROUPS = tuple(BASES)


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Registry(Generic[T]):
    """Names -> "module:attr" targets of one entry-point group, imported on first use."""

    group: str
    _targets: dict[str, str] = field(default_factory=dict)
    _origins: dict[str, str] = field(default_factory=dict)
    _loaded: dict[str, Any] = field(default_factory=dict)
    _scanned: bool = False

    def register(self, name: str, target: str, origin: str = "manual") -> None:
        if name in self._targets and self._targets[name] != target:
            raise RegistryError(
                f"{self.group}: '{name}' is registered twice ({self._targets[name]} from "
                f"{self._origins[name]}, and {target} from {origin}); fix: uninstall one of them"
            )
        self._targets[name] = target
        self._origins[name] = origin

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for ep in entry_points(group=f"harness.{self.group}"):
            origin = ep.dist.name if ep.dist is not None else "unknown distribution"
            self.register(ep.name, ep.value, origin)

    def rescan(self) -> None:
        """Read the entry points again (after sys.path gained a distribution)."""
        self._scanned = False
        self._scan()

    def names(self) -> list[str]:
        self._scan()
        return sorted(self._targets)

    def origin(self, name: str) -> str:
        self._scan()
        return self._origins[name]

    def target(self, name: str) -> str:
        self._scan()
        return self._targets[name]

    def suggest(self, name: str) -> str:
        """The fix for an unknown name: the closest known one, else all of them."""
        close = difflib.get_close_matches(name, self.names(), n=1)
        if close:
            return f"did you mean '{close[0]}'? (known: {', '.join(self.names())})"
        return f"use one of: {', '.join(self.names())}"

    def check(self, name: str) -> None:
        """Raise a RegistryError naming the closest known name if `name` is unknown."""
        self._scan()
        name = plugin_name(name)
        if name in self._targets:
            return
        raise RegistryError(f"unknown {self.group[:-1]} '{name}'; fix: {self.suggest(name)}")

    def get(self, name: str) -> T:
        """The plugin `name` names; `name:label` is the same plugin (a plan's second
        entry of one backend or suite with other settings, e.g. `llama_server:spec`)."""
        name = plugin_name(name)
        self.check(name)
        if name not in self._loaded:
            obj = _import(self._targets[name])
            base = _import(BASES[self.group])
            ok = issubclass(obj, base) if isinstance(obj, type) else isinstance(obj, base)
            if not ok:
                raise RegistryError(
                    f"{self.group}: '{name}' ({self._targets[name]}) is not a "
                    f"{base.__name__}; fix: its entry point must name one"
                )
            if isinstance(obj, type):
                self._name(name, obj)
            self._loaded[name] = obj
        return self._loaded[name]

    def _name(self, name: str, cls: type) -> None:
        """The entry-point name is the plugin's name: written once, in the entry point."""
        declared = vars(cls).get("name")
        if declared is not None and declared != name:
            raise RegistryError(
                f"{self.group}: {self._targets[name]} declares name '{declared}' but its "
                f"entry point is '{name}'; fix: delete the class's `name` (the entry-point "
                "name is used) or make the two the same")
        cls.name = name


def plugin_name(name: str) -> str:
    """`llama_server:4-slots` -> `llama_server`: a label after a colon names a variant."""
    return name.split(":", 1)[0]


_registries: dict[str, Registry] = {}


def registry(group: str) -> Registry:
    """The process-wide registry of one group ("backends", "suites", ...)."""
    if group not in GROUPS:
        raise RegistryError(f"unknown registry '{group}'; known: {', '.join(GROUPS)}")
    if group not in _registries:
        _registries[group] = Registry(group)
    return _registries[group]
