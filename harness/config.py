"""Suite files (YAML) -> a validated Plan. Every problem is one line: file, field, fix."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.backends.base import BackendConfig
from harness.errors import ConfigError
from harness.formats.base import FOLDER_MARKERS, container_of_path
from harness.models.sources import HubFile, LocalFile, ModelSource
from harness.registry import registry
from harness.results.identity import requested_settings
from harness.suites.base import SuiteParams
from harness.thresholds import RegressionConfig


class ModelEntry(BaseModel):
    """A model given in place: a local file or a Hugging Face repo file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    path: str | None = None
    hf_repo: str | None = None
    hf_file: str | None = None
    revision: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelEntry:
        if bool(self.path) == bool(self.hf_repo):
            raise ValueError("the model names both or neither of 'path' and 'hf_repo'; "
                             "fix: give exactly one of them")
        if self.hf_repo and not self.hf_file:
            raise ValueError("'hf_repo' has no 'hf_file'; fix: name the GGUF file in that repo")
        return self


class PlanFile(BaseModel):
    """The raw shape of a suite file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    models: list[str | ModelEntry] = Field(min_length=1)
    formats: list[str] = Field(default=["source"], min_length=1)
    backends: dict[str, dict[str, Any] | None] = Field(min_length=1)
    suites: dict[str, dict[str, Any] | None] = Field(min_length=1)
    seed: int = Field(default=0, ge=0)
    timeout_s: float = Field(default=1800, gt=0, description="per cell, in seconds")
    derive_timeout_s: float = Field(
        default=4 * 3600, gt=0, description="per format derivation (dequantizing a large "
        "model or an Olive pass takes far longer than a cell), in seconds")
    regression: RegressionConfig = RegressionConfig()


@dataclass
class Plan:
    name: str
    file: str
    description: str
    models: list[ModelSource]
    formats: list[str]
    backends: dict[str, BackendConfig]
    suites: dict[str, SuiteParams]
    seed: int
    timeout_s: float
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    unavailable: dict[str, str] = field(default_factory=dict)
    """Optional backends not installed here -> how to install them."""
    backend_requests: dict[str, dict] = field(default_factory=dict)
    """Backend name -> its settings as the file asks for them (threads: auto)."""
    derive_timeout_s: float = 4 * 3600


def load_plan(path: str | Path) -> Plan:
    """Read and validate a suite file; raise ConfigError naming file, field and fix."""
    path = Path(path)
    file = str(path)
    spec = _validate(PlanFile, _read_yaml(path, file), file, "")
    backends, requests, unavailable = _backends(spec, file)
    suites = {name: _validate(_lookup("suites", name, file, f"suites.{name}").params_cls,
                              values or {}, file, f"suites.{name}.")
              for name, values in spec.suites.items()}
    _check_formats(spec.formats, file)
    models = [_model(entry, i, path, file) for i, entry in enumerate(spec.models)]
    names = [m.name for m in models]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(file, "models", f"model name '{dup}' appears twice",
                          "give each model a distinct name")
    _check_context(backends, suites, file)
    return Plan(spec.name, file, spec.description, models, spec.formats, backends, suites,
                spec.seed, spec.timeout_s, spec.regression, unavailable, requests,
                spec.derive_timeout_s)


def _read_yaml(path: Path, file: str) -> dict:
    if not path.is_file():
        raise ConfigError(file, "-", "no such file", "give the path of a suite YAML file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        raise ConfigError(file, where, f"not valid YAML ({getattr(exc, 'problem', exc)})",
                          "fix the YAML syntax there") from None
    if not isinstance(raw, dict):
        raise ConfigError(file, "-", "top level is not a mapping",
                          "start with keys such as name:, models:, backends:, suites:")
    return raw


def _backends(spec: PlanFile, file: str
              ) -> tuple[dict[str, BackendConfig], dict[str, dict], dict[str, str]]:
    """(validated settings, settings as requested, optional backends missing here)."""
    backends, requests, unavailable = {}, {}, {}
    for name, values in spec.backends.items():
        backend = _lookup("backends", name, file, f"backends.{name}")
        values = dict(values or {})
        optional = values.pop("optional", False)
        if optional not in (True, False):
            raise ConfigError(file, f"backends.{name}.optional", f"{optional!r} is not a boolean",
                              "write optional: true or leave it out")
        if not backend.available():
            if optional:  # "where it runs": its cells are skipped here, with the reason
                unavailable[name] = backend.install_hint or "install its package"
                continue
            raise ConfigError(file, f"backends.{name}", f"backend '{name}' is not installed",
                              (backend.install_hint or "install its package")
                              + "; or mark it optional: true to skip it where it is missing")
        backends[name] = _validate(backend.config_cls, values, file, f"backends.{name}.")
        requests[name] = requested_settings(backends[name].model_dump(), values)
    return backends, requests, unavailable


def _check_formats(formats: list[str], file: str) -> None:
    from harness.formats.resolve import all_formats

    known_formats = all_formats()
    for i, fmt in enumerate(formats):
        if fmt not in known_formats:
            close = difflib.get_close_matches(fmt, known_formats, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(file, f"formats[{i}]", f"unknown format '{fmt}'",
                              f"{hint}(known: {', '.join(known_formats)})")


def _check_context(backends: dict[str, BackendConfig], suites: dict[str, SuiteParams],
                   file: str) -> None:
    for bname, bconf in backends.items():
        for sname, sparams in suites.items():
            need = sparams.required_context()
            if need > bconf.n_ctx:
                raise ConfigError(
                    file, f"backends.{bname}.n_ctx",
                    f"{bconf.n_ctx} is smaller than the {need} tokens suite '{sname}' needs",
                    f"set n_ctx to at least {need} or shorten the suite's prompts",
                )


def _model(entry: str | ModelEntry, i: int, plan_path: Path, file: str) -> ModelSource:
    field = f"models[{i}]"
    if isinstance(entry, str):
        if entry not in registry("models").names():
            raise ConfigError(file, field, f"unknown model '{entry}'",
                              f"{registry('models').suggest(entry)}, or give {{name:, path:}}")
        return registry("models").get(entry)
    if entry.hf_repo:
        return HubFile(name=entry.name, repo_id=entry.hf_repo, filename=entry.hf_file or "",
                       revision=entry.revision)
    model_path = Path(entry.path).expanduser()
    if not model_path.is_absolute():
        model_path = plan_path.parent / model_path
    if model_path.is_dir() and not container_of_path(model_path):
        raise ConfigError(file, f"{field}.path", f"{model_path} is a folder without "
                          f"{' or '.join(FOLDER_MARKERS)}",
                          "give a model file or a model folder (Hugging Face or ONNX)")
    if not model_path.exists():
        raise ConfigError(file, f"{field}.path", f"no model file at {model_path}",
                          "fix the path (relative paths start at the suite file's folder)")
    return LocalFile(name=entry.name, path=str(model_path.resolve()))


def _lookup(group: str, name: str, file: str, field: str):
    reg = registry(group)
    if name not in reg.names():
        raise ConfigError(file, field, f"unknown {group[:-1]} '{name}'", reg.suggest(name))
    return reg.get(name)


def _validate(model: type[BaseModel], values: Any, file: str, prefix: str):
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        # a union (e.g. `str | ModelEntry`) reports one error per member: the type
        # mismatches are noise next to the member whose own check failed
        errors = sorted(exc.errors(), key=lambda e: e["type"].endswith("_type"))
        err = errors[0]
        field = prefix + _loc(err["loc"]) if err["loc"] else prefix.rstrip(".") or "-"
        # our validators phrase their errors as "problem; fix: what to do"
        problem, _, fix = err["msg"].removeprefix("Value error, ").partition("; fix: ")
        raise ConfigError(file, field, problem, fix or _fix(model, err)) from None


def _loc(parts: tuple) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "ModelEntry") or str(part).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _fix(model: type[BaseModel], err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"remove it; allowed keys here: {', '.join(model.model_fields)}"
    if kind == "missing":
        return "add this key"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "use a value within the stated bound"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"give a value of the right type (got {err.get('input')!r})"
    if kind == "too_short":
        return "give at least one entry"
    if kind == "literal_error":
        return "use one of the listed values"
    if kind == "value_error":
        return "correct the entry as the message says"
    return "correct the value as the message says"
