"""Suite files (YAML) -> a validated Plan. Every problem is one line: file, field, fix."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from harness.backends.base import BackendConfig
from harness.errors import ConfigError
from harness.fleet.selectors import HardwareSelector
from harness.formats.resolve import all_formats, runnable_containers
from harness.models.files import model_path_problem
from harness.models.sources import HubFile, LocalFile, ModelSource
from harness.registry import plugin_name, registry
from harness.results.identity import requested_settings
from harness.suites.base import SuiteParams
from harness.thresholds import RegressionConfig

MAX_SUITE_BYTES = 1 << 20
"""A suite file is a short text; a bigger one is a mistake (a model given as the suite)."""
MAX_VALUES = 100_000
"""Values a suite file may expand to: YAML aliases can multiply a few lines into billions."""
SEED_MAX = 2**32 - 1
"""Engines take 32-bit seeds (llama.cpp's is a uint32)."""
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _safe_name(value: str) -> str:
    # plan and model names become parts of file names (run ids, logs): no "/" or ".."
    if not _SAFE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain name (it becomes part of file names); "
                         "fix: use up to 100 letters, digits, '.', '_' or '-', starting with "
                         "a letter or digit")
    return value


SafeName = Annotated[str, AfterValidator(_safe_name)]


class ModelEntry(BaseModel):
    """A model given in place: a local file or a Hugging Face repo file."""

    model_config = ConfigDict(extra="forbid")

    name: SafeName
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


class HealthLimits(BaseModel):
    """When a timed cell counts as `contended` (harness.hardware.health): shares of the
    whole machine's CPU time during its timed part."""

    model_config = ConfigDict(extra="forbid")

    max_other_cpu: float = Field(default=0.10, ge=0, le=1, description="CPU used by other "
                                 "processes, as a fraction of all cores' time")
    max_steal: float = Field(default=0.05, ge=0, le=1, description="time the hypervisor gave "
                             "this VM's CPUs to others, as a fraction of all cores' time")


class PlanFile(BaseModel):
    """The raw shape of a suite file."""

    model_config = ConfigDict(extra="forbid")

    name: SafeName
    description: str = ""
    models: list[str | ModelEntry] = Field(min_length=1)
    formats: list[str] = Field(default=["source"], min_length=1)
    backends: dict[str, dict[str, Any] | None] = Field(min_length=1)
    suites: dict[str, dict[str, Any] | None] = Field(min_length=1)
    seed: int = Field(default=0, ge=0, le=SEED_MAX)
    timeout_s: float = Field(default=1800, gt=0, le=7 * 86400, description="per cell, in seconds")
    derive_timeout_s: float = Field(
        default=4 * 3600, gt=0, le=7 * 86400, description="per format derivation "
        "(dequantizing a large model or an Olive pass takes far longer than a cell), in seconds")
    regression: RegressionConfig = RegressionConfig()
    processes: int = Field(default=1, ge=1, le=100, description="worker processes per timed "
                           "cell, interleaved round-robin across the run's cells")
    health: HealthLimits = HealthLimits()
    hardware: list[str | HardwareSelector] = Field(default=["any"], min_length=1)
    replicate: bool = False  # run each cell on every matching profile (harness.fleet)
    cells_per_node: int = Field(default=1, ge=1, le=64, description="cells a node runs at once")
    node_retries: int = Field(default=2, ge=0, le=20, description="runs of a cell whose node "
                              "died, again on another matching node")


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
    processes: int = 1
    """Worker processes per timed cell (harness.runner interleaves them round-robin)."""
    health: HealthLimits = field(default_factory=HealthLimits)
    hardware: list[str | HardwareSelector] = field(default_factory=lambda: ["any"])
    replicate: bool = False
    cells_per_node: int = 1
    node_retries: int = 2


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
    accepted = runnable_containers(spec.formats, backends)
    models = [_model(entry, i, path, file, accepted) for i, entry in enumerate(spec.models)]
    names = [m.name for m in models]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(file, "models", f"model name '{dup}' appears twice",
                          "give each model a distinct name")
    _check_context(backends, suites, file)
    return Plan(spec.name, file, spec.description, models, spec.formats, backends, suites,
                spec.seed, spec.timeout_s, spec.regression, unavailable, requests,
                spec.derive_timeout_s, spec.processes, spec.health, spec.hardware,
                spec.replicate, spec.cells_per_node, spec.node_retries)


def _read_yaml(path: Path, file: str) -> dict:
    text = _read_text(path, file)
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as dup:
        raise ConfigError(file, f"line {dup.line}", f"key '{dup.key}' appears twice in one "
                          f"mapping (first on line {dup.first})",
                          "keep one of them (YAML would silently use the last)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, _yaml_where(exc, text), f"not valid YAML ({_yaml_problem(exc)})",
                          "fix the YAML syntax there") from None
    except RecursionError:
        raise ConfigError(file, "-", "nested too deeply to read",
                          "write a flat suite file (see suites/*.yaml)") from None
    if raw is None:
        raise ConfigError(file, "-", "the file is empty",
                          "start with keys such as name:, models:, backends:, suites:")
    if not isinstance(raw, dict):
        raise ConfigError(file, "-", "top level is not a mapping",
                          "start with keys such as name:, models:, backends:, suites:")
    _check_values(raw, file, "")
    return raw


def _read_text(path: Path, file: str) -> str:
    if path.is_dir():
        raise ConfigError(file, "-", "is a folder, not a file", "give the path of a suite "
                          "YAML file (e.g. suites/smoke.yaml)")
    if not path.is_file():
        raise ConfigError(file, "-", "no such file", "give the path of a suite YAML file")
    try:
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            raise ConfigError(file, "-", f"is {size} bytes, too big for a suite file",
                              "give the suite YAML file, not a model or data file")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(file, "-", f"cannot be read ({exc.strerror or exc})",
                          "check the path and its permissions") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(file, f"line {line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
                          "save the suite file as UTF-8 text") from None


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last,
    so a repeated `timeout_s:` would silently win)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` overriding the merged keys is what merging is for
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _DuplicateKey(key, key_node.start_mark.line + 1, seen[key])
                seen[key] = key_node.start_mark.line + 1
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error names it
        return super().construct_mapping(node, deep)


def _yaml_where(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"line {mark.line + 1}"
    position = getattr(exc, "position", None)  # a ReaderError: a character YAML refuses
    return f"line {text[:position].count(chr(10)) + 1}" if position is not None else "-"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    return " ".join(str(problem).split())


def _check_values(tree: Any, file: str, prefix: str) -> None:
    """Refuse NaN and infinities anywhere (`timeout_s: .inf` would mean no timeout), and a
    tree that YAML aliases blow up beyond MAX_VALUES values."""
    stack: list[tuple[str, Any]] = [(prefix.rstrip("."), tree)]
    seen = 0
    while stack:
        where, value = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(file, "-", f"expands to more than {MAX_VALUES} values (YAML "
                              "aliases that repeat or contain themselves?)",
                              "write the values out instead of nesting aliases")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(file, where or "-", f"{value} is not a finite number",
                              "write a finite number (a timeout, threshold or size cannot be "
                              "infinite or NaN)")
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))


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
        python = values.get("python")
        if isinstance(python, str) and "/" in python and \
                not Path(python).expanduser().is_absolute():
            # like a model's path: relative to the suite file, not to where harness runs
            values["python"] = str(Path(file).parent / python)
        backends[name] = _validate(backend.config_cls, values, file, f"backends.{name}.")
        requests[name] = requested_settings(backends[name].model_dump(), values)
    return backends, requests, unavailable


def _check_formats(formats: list[str], file: str) -> None:
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


def _model(entry: str | ModelEntry, i: int, plan_path: Path, file: str,
           accepted: set[str]) -> ModelSource:
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
    problem = model_path_problem(model_path, accepted)
    if problem:
        raise ConfigError(file, f"{field}.path", *problem)
    return LocalFile(name=entry.name, path=str(model_path.resolve()))


def _lookup(group: str, name: str, file: str, field: str):
    reg = registry(group)
    if plugin_name(name) not in reg.names():
        raise ConfigError(file, field, f"unknown {group[:-1]} '{name}'", reg.suggest(name))
    return reg.get(name)


def _validate(model: type[BaseModel], values: Any, file: str, prefix: str):
    try:
        validated = model.model_validate(values)
    except ValidationError as exc:
        # a union (e.g. `str | ModelEntry`) reports one error per member: the type
        # mismatches are noise next to the member whose own check failed
        errors = sorted(exc.errors(), key=lambda e: e["type"].endswith("_type"))
        err = errors[0]
        field = prefix + _loc(err["loc"]) if err["loc"] else prefix.rstrip(".") or "-"
        # our validators phrase their errors as "problem; fix: what to do"
        problem, _, fix = err["msg"].removeprefix("Value error, ").partition("; fix: ")
        raise ConfigError(file, field, problem, fix or _fix(model, err)) from None
    # a string such as "inf" or "1e400" becomes an infinite float only here
    _check_values(validated.model_dump(), file, prefix)
    return validated


_MEMBERS = {"ModelEntry": ModelEntry, "HardwareSelector": HardwareSelector}
"""Models inside a union: pydantic names them in an error's location."""


def _loc(parts: tuple) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", *_MEMBERS) or str(part).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _fix(model: type[BaseModel], err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        member = next((_MEMBERS[p] for p in reversed(err["loc"]) if p in _MEMBERS), model)
        return f"remove it; allowed keys here: {', '.join(member.model_fields)}"
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
