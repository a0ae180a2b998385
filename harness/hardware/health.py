"""Machine health during a cell's timed part: what else the machine did meanwhile.

`HealthWindow` snapshots the machine at its two ends only (no sampler thread: it would take
CPU from the cell it watches) and says how much of all cores' time went to processes
outside the cell's own process tree and the runner (`other_cpu`), how much the hypervisor
gave to other guests (`steal`), and whether that crosses the plan's limits (`contended`).
"""

from __future__ import annotations

import glob
import math
import os
import sys
import time

import psutil

_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_BUSY = ("user", "nice", "system", "irq", "softirq")
"""Jiffies spent running something; guest time is already inside user, iowait is idle."""

_NVML_REASONS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap",
    0x8: "hw_slowdown", 0x10: "sync_boost", 0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
_nvml_failed = False


def _proc_stat() -> tuple[dict[str, float], int] | None:
    """(the aggregate `cpu` line in seconds by field, number of CPUs), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in lines[0].split()[1:]]
    values += [0] * (len(_STAT_FIELDS) - len(values))
    cpus = sum(1 for ln in lines[1:] if ln.startswith("cpu") and ln[3:4].isdigit())
    return {k: v / tick for k, v in zip(_STAT_FIELDS, values, strict=False)}, cpus or 1


def _times(proc: psutil.Process, with_children: bool) -> float:
    try:
        t = proc.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0
    own = t.user + t.system
    return own + t.children_user + t.children_system if with_children else own


def tree_cpu_s(tree: bool = True, parent_pid: int | None = None) -> float:
    """CPU seconds of this process (with its live descendants and the cumulative times of
    the children they waited for when `tree`) plus the parent's own time.

    Limit: a descendant that exited without being waited for (re-parented to init) drops
    out at the end and its CPU is lost to "own"; the engines' servers here are children
    the worker waits for or kills inside the window, so they stay counted."""
    me = psutil.Process()
    total = _times(me, tree)
    if tree:
        try:
            children = me.children(recursive=True)
        except psutil.Error:
            children = []
        total += sum(_times(child, True) for child in children)
    if parent_pid:
        try:
            total += _times(psutil.Process(parent_pid), False)
        except psutil.Error:
            pass
    return total


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _cpu_mhz() -> list[float]:
    try:
        freqs = psutil.cpu_freq(percpu=True) or []
    except (OSError, NotImplementedError, AttributeError):
        freqs = []
    mhz = [f.current for f in freqs if f.current]
    if not mhz:
        for path in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"):
            value = _read_int(path)
            if value:
                mhz.append(value / 1000)
    return mhz


def _throttle_count() -> int | None:
    paths = glob.glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle/*_throttle_count")
    counts = [c for c in map(_read_int, paths) if c is not None]
    return sum(counts) if counts else None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def gpu_clocks() -> list[dict]:
    """Per NVIDIA GPU: SM and memory clocks (MHz) and the current clock-event reasons;
    [] without NVML (a failure is remembered, so the second end costs nothing)."""
    global _nvml_failed
    if _nvml_failed:
        return []
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no NVML library or no driver: no GPU to watch
        _nvml_failed = True
        return []
    try:
        return [_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # a GPU that stops answering must not fail the cell
        return []
    finally:
        pynvml.nvmlShutdown()


def _gpu(pynvml, index: int) -> dict:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    reasons_fn = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        pynvml.nvmlDeviceGetCurrentClocksThrottleReasons
    mask = int(reasons_fn(handle))
    return {"index": index,
            "sm_mhz": int(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
            "mem_mhz": int(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM)),
            "reasons": [name for bit, name in _NVML_REASONS.items() if mask & bit]}


def _snapshot(tree: bool, parent_pid: int | None) -> dict:
    return {"time": time.monotonic(), "stat": _proc_stat(),
            "own_s": tree_cpu_s(tree, parent_pid), "mhz": _cpu_mhz(),
            "throttle": _throttle_count(), "gpus": gpu_clocks()}


class HealthWindow:
    """`with HealthWindow(limits, parent_pid) as window: ...`; then `window.result` is the
    health dict (see `health()`). `tree=False` counts only this process as "own" (the
    preflight, whose caller's children are not the harness's). `pause()` and `resume()`
    leave spans out (a lockstep worker's waits, while its partner runs); `paused=True`
    starts it paused."""

    def __init__(self, limits: dict, parent_pid: int | None = None, tree: bool = True,
                 paused: bool = False):
        self.limits = limits
        self.parent_pid = parent_pid or None
        self.tree, self.paused = tree, paused
        self.result: dict | None = None
        self._spans: list[tuple[dict, dict]] = []
        self._start: dict | None = None

    def __enter__(self) -> HealthWindow:
        if not self.paused:
            self.resume()
        return self

    def resume(self) -> None:
        self._start, self.paused = _snapshot(self.tree, self.parent_pid), False

    def pause(self) -> None:
        if self._start is not None:
            self._spans.append((self._start, _snapshot(self.tree, self.parent_pid)))
        self._start, self.paused = None, True

    def __exit__(self, *exc) -> None:
        self.pause()
        if self._spans:
            self.result = health(*_joined(self._spans), self.limits)


def _joined(spans: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """Two snapshots whose differences are the sums over the spans (one span: itself)."""
    if len(spans) == 1:
        return spans[0]
    first, last = spans[0][0], spans[-1][1]
    stats = [(s["stat"], e["stat"]) for s, e in spans]
    stat = None
    if all(s is not None and e is not None for s, e in stats):
        stat = ({k: sum(e[0][k] - s[0][k] for s, e in stats) for k in _STAT_FIELDS},
                stats[0][0][1])
    throttles = [(s["throttle"], e["throttle"]) for s, e in spans]
    known = all(s is not None and e is not None for s, e in throttles)
    start = {"time": 0.0, "stat": stat and ({k: 0.0 for k in _STAT_FIELDS}, stat[1]),
             "own_s": 0.0, "mhz": [m for s, _ in spans for m in s["mhz"]],
             "throttle": 0 if known else None, "gpus": first["gpus"]}
    end = {"time": sum(e["time"] - s["time"] for s, e in spans), "stat": stat,
           "spans": len(spans),
           "own_s": sum(e["own_s"] - s["own_s"] for s, e in spans),
           "mhz": [m for _, e in spans for m in e["mhz"]],
           "throttle": sum(e - s for s, e in throttles) if known else None,
           "gpus": last["gpus"]}
    return start, end


def health(start: dict, end: dict, limits: dict) -> dict:
    """The health dict of two snapshots: `contended`, `reasons`, `other_cpu`, `steal`,
    `own_cpu` (fractions of all cores' time), `wall_s`, `loadavg`, `cpu_mhz`, `throttle`,
    `gpus`, `cpus`, `available`."""
    wall = max(end["time"] - start["time"], 1e-6)
    mhz = start["mhz"] + end["mhz"]
    out = {"available": False, "contended": False, "reasons": [], "other_cpu": None,
           "steal": None, "own_cpu": None, "wall_s": round(wall, 3), "loadavg": _loadavg(),
           "cpu_mhz": {"min": round(min(mhz)), "max": round(max(mhz))} if mhz else None,
           "throttle": None if end["throttle"] is None or start["throttle"] is None
           else end["throttle"] - start["throttle"],
           "gpus": _gpu_window(start["gpus"], end["gpus"]), "cpus": None}
    if start["stat"] is None or end["stat"] is None or sys.platform != "linux":
        return out
    (s, cpus), (e, _) = start["stat"], end["stat"]
    capacity = wall * cpus
    busy = sum(e[k] - s[k] for k in _BUSY)
    own = max(end["own_s"] - start["own_s"], 0.0)
    other = min(max(busy - own, 0.0) / capacity, 1.0)  # ticks vs wall: a hair over 1
    steal = min(max(e["steal"] - s["steal"], 0.0) / capacity, 1.0)
    out.update(available=True, cpus=cpus, other_cpu=round(other, 4), steal=round(steal, 4),
               own_cpu=round(own / capacity, 4))
    max_other, max_steal = limits.get("max_other_cpu", 0.10), limits.get("max_steal", 0.05)
    slack = _tick_slack(capacity, cpus, end.get("spans", 1))
    if other - slack > max_other:
        out["reasons"].append(f"other processes used {_pct(other)} of the CPU "
                              f"(limit {_pct(max_other)})")
    if steal - slack > max_steal:
        out["reasons"].append(f"steal time was {_pct(steal)} of the CPU "
                              f"(limit {_pct(max_steal)})")
    out["contended"] = bool(out["reasons"])
    return out


def _tick_slack(capacity: float, cpus: int, spans: int) -> float:
    """How much of `other` the counters' granularity alone can make up (a fraction of the
    window's capacity): /proc/stat and process times count whole clock ticks (10 ms), so
    each end of each span may be off by a tick per CPU and per counted process; errors of
    several spans add up like a random walk. A 50 ms window on 2 CPUs holds 10 ticks, so
    three stray ticks read as 30 % other CPU; a 5 s window makes them 0.3 %."""
    tick = 1 / os.sysconf("SC_CLK_TCK")
    return math.sqrt(spans) * (2 * cpus + 4) * tick / capacity


def _gpu_window(start: list[dict], end: list[dict]) -> list[dict]:
    """Per GPU: clocks at both ends ([start, end]) and every reason seen at either end."""
    before = {g["index"]: g for g in start}
    gpus = []
    for g in end:
        s = before.get(g["index"], g)
        gpus.append({"index": g["index"], "sm_mhz": [s["sm_mhz"], g["sm_mhz"]],
                     "mem_mhz": [s["mem_mhz"], g["mem_mhz"]],
                     "reasons": sorted(set(s["reasons"]) | set(g["reasons"]))})
    return gpus


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


def merge(healths: list[dict | None]) -> dict | None:
    """One health for a cell measured in several processes: contended if any process was,
    the worst other_cpu and steal, every reason (naming its process), `per_process` kept."""
    items = [h for h in healths if h]
    if not items:
        return None
    if len(healths) == 1:
        return dict(items[0])
    n = len(healths)
    reasons = [f"process {i + 1} of {n}: {r}"
               for i, h in enumerate(healths) if h for r in h.get("reasons", [])]

    def worst(key: str) -> float | None:
        values = [h.get(key) for h in items if h.get(key) is not None]
        return max(values) if values else None

    mhz = [h["cpu_mhz"] for h in items if h.get("cpu_mhz")]
    throttles = [h["throttle"] for h in items if h.get("throttle") is not None]
    return {"available": any(h.get("available") for h in items),
            "contended": any(h.get("contended") for h in items), "reasons": reasons,
            "other_cpu": worst("other_cpu"), "steal": worst("steal"),
            "own_cpu": worst("own_cpu"),
            "wall_s": round(sum(h.get("wall_s") or 0.0 for h in items), 3),
            "loadavg": items[-1].get("loadavg"),
            "cpu_mhz": {"min": min(m["min"] for m in mhz), "max": max(m["max"] for m in mhz)}
            if mhz else None,
            "throttle": sum(throttles) if throttles else None,
            "gpus": items[-1].get("gpus", []), "cpus": items[-1].get("cpus"),
            "per_process": list(healths)}
