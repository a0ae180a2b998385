"""Quiet-machine preflight: is this machine fit to time cells now, and what to change.

Like `pyperf system show`: other processes' CPU and steal over a short window (the same
measure a cell's health uses), load, the frequency governor and turbo where the OS shows
them, and the memory read bandwidth re-measured so a run's roofline is the machine's as
it is today.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness.hardware.health import HealthWindow

CPUFREQ = Path("/sys/devices/system/cpu")
STEADY_GOVERNORS = ("performance",)
BANDWIDTH_BYTES, BANDWIDTH_ROUNDS = 256 << 20, 3
"""About a second per run: smaller than the profile's capture (512 MiB, best of 5)."""


def _limits(limits: dict | None) -> dict:
    from harness.config import HealthLimits

    return {**HealthLimits().model_dump(), **(limits or {})}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def governor() -> str | None:
    return _read(CPUFREQ / "cpu0" / "cpufreq" / "scaling_governor")


def turbo() -> tuple[str | None, str]:
    """("on" / "off" / None where not visible, the command that turns it off)."""
    no_turbo = _read(CPUFREQ / "intel_pstate" / "no_turbo")
    if no_turbo is not None:
        return ("off" if no_turbo == "1" else "on"), \
            f"echo 1 | sudo tee {CPUFREQ / 'intel_pstate' / 'no_turbo'}"
    boost = _read(CPUFREQ / "cpufreq" / "boost")
    if boost is not None:
        return ("on" if boost == "1" else "off"), \
            f"echo 0 | sudo tee {CPUFREQ / 'cpufreq' / 'boost'}"
    return None, ""


def preflight(window_s: float = 1.0, bandwidth: bool = True,
              limits: dict | None = None) -> dict:
    """Other processes' CPU and steal over `window_s` (all of this machine's busy time but
    this process's), load, governor, turbo, `quiet` (within `limits`, the plan's health
    limits), `findings` [{name, value, ok, fix}] and `read_bandwidth_gb_s`."""
    limits = _limits(limits)
    with HealthWindow(limits, tree=False) as window:
        time.sleep(window_s)
    health = window.result
    out = {"other_cpu": health["other_cpu"], "steal": health["steal"],
           "loadavg": health["loadavg"], "cpus": health["cpus"], "window_s": window_s,
           "governor": governor(), "turbo": turbo()[0], "cpu_mhz": health["cpu_mhz"],
           "limits": limits, "quiet": not health["contended"], "reasons": health["reasons"],
           "read_bandwidth_gb_s": None}
    return with_bandwidth(out) if bandwidth else {**out, "findings": _findings(out)}


def with_bandwidth(pf: dict) -> dict:
    """`pf` with the memory read bandwidth measured now (and its finding)."""
    from harness.hardware.profile import memory_bandwidth_gb_s

    pf = {**pf, "read_bandwidth_gb_s": round(
        memory_bandwidth_gb_s(BANDWIDTH_BYTES, BANDWIDTH_ROUNDS), 2)}
    return {**pf, "findings": _findings(pf)}


def _findings(pf: dict) -> list[dict]:
    limits, window = pf["limits"], f"over {pf['window_s']:g} s"

    def pct(value):
        return f"{value * 100:.0f} %"

    def share(value):
        return "not visible" if value is None else f"{pct(value)} of all cores {window}"

    other, steal, load, cpus = pf["other_cpu"], pf["steal"], pf["loadavg"], pf["cpus"]
    found = [
        _finding("other processes' CPU", share(other),
                 other is None or other <= limits["max_other_cpu"],
                 "stop them (find them with top), or run with --wait-quiet SECONDS; cells "
                 f"measured now are marked contended (limit {pct(limits['max_other_cpu'])})"),
        _finding("steal time", share(steal), steal is None or steal <= limits["max_steal"],
                 "the VM's host gives its CPUs to other guests: use a dedicated instance "
                 f"or run at a quieter hour (limit {pct(limits['max_steal'])})"),
        _finding("load average", "not visible" if not load else
                 f"{load[0]:g} {load[1]:g} {load[2]:g} ({cpus} CPUs)",
                 not load or not cpus or load[0] <= cpus,
                 "more runnable tasks than CPUs over the last minute: wait, or stop them"),
        _finding("CPU frequency governor", pf["governor"] or "not visible",
                 pf["governor"] in (None, *STEADY_GOVERNORS),
                 "sudo cpupower frequency-set -g performance (a power-saving governor "
                 "changes the clock with the load, and speed with it)"),
        _finding("turbo boost", pf["turbo"] or "not visible", pf["turbo"] != "on",
                 f"{turbo()[1]} (turbo clocks depend on temperature and on the other cores' "
                 "load; pyperf system tune turns it off)"),
    ]
    mhz = pf.get("cpu_mhz")
    if mhz:
        found.append(_finding("CPU clock", f"{mhz['min']}-{mhz['max']} MHz", True, ""))
    if pf["read_bandwidth_gb_s"] is not None:
        found.append(_finding("memory read bandwidth", f"{pf['read_bandwidth_gb_s']} GB/s",
                              True, ""))
    return found


def _finding(name: str, value: str, ok: bool, fix: str) -> dict:
    return {"name": name, "value": value, "ok": bool(ok), "fix": "" if ok else fix}


def busy_line(pf: dict) -> str:
    """What made the preflight busy, in one clause: 'other processes used 43 % of the CPU
    over 1 s (limit 10 %)'."""
    window = f" over {pf['window_s']:g} s"
    return "; ".join(r.replace(" of the CPU", " of the CPU" + window) for r in pf["reasons"])


def wait_quiet(max_wait_s: float, limits: dict | None = None,
               on_wait: Callable[[dict], None] | None = None, window_s: float = 1.0,
               bandwidth: bool = True) -> dict:
    """Re-check until the machine is quiet or `max_wait_s` has passed; `on_wait` is called
    once, with the first busy preflight. Returns the last preflight (bandwidth measured
    only once quiet or out of time, so the waiting itself costs no more than the checks)."""
    deadline = time.monotonic() + max_wait_s
    told = False
    while True:
        pf = preflight(window_s, bandwidth=False, limits=limits)
        if pf["quiet"] or time.monotonic() + window_s > deadline:
            break
        if not told and on_wait:
            on_wait(pf)
        told = True
    return with_bandwidth(pf) if bandwidth else pf

