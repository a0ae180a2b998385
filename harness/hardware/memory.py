"""Peak memory of the current process: a fast sampler plus the OS's own maximum."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time

import psutil

_TREE_EVERY = 50
"""Samples between two looks for the watched processes' descendants (a server's engine
process, started after it): walking /proc at every 5 ms sample would cost more."""


def with_descendants(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for proc in procs:
        out.append(proc)
        try:
            out += proc.children(recursive=True)
        except psutil.Error:
            pass
    return out


class MemorySampler:
    """Samples this process's RSS (and its GPU memory, where NVML sees one) in a thread.

    The sampler thread sleeps between samples; the engine's C code releases the GIL,
    so sampling continues while a model loads or decodes.
    """

    def __init__(self, interval_s: float = 0.005, enabled: bool = True) -> None:
        self.interval_s = interval_s
        self.enabled = enabled
        self.peak_rss = 0
        """Peak of this process's RSS plus that of the watched processes, sampled together."""
        self.peak_watched_rss = 0
        self.peak_gpu = 0
        self.n_samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)
        self._proc = psutil.Process()
        self._watched: list[psutil.Process] = []
        self._tree: list[psutil.Process] = []
        self._gpu = _NvmlProcessMemory()

    def __enter__(self) -> MemorySampler:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()
        self._gpu.close()

    def watch(self, pids: list[int]) -> None:
        """Also sample these processes and their descendants (a server the backend started
        holds the model, or its engine process does)."""
        self._watched = [*self._watched, *(psutil.Process(pid) for pid in pids)]
        self._tree = with_descendants(self._watched)

    @property
    def watching(self) -> bool:
        return bool(self._watched)

    def sample(self) -> None:
        if self.n_samples % _TREE_EVERY == 0:
            self._tree = with_descendants(self._watched)
        watched = 0
        for proc in self._tree:
            try:
                watched += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        self.peak_watched_rss = max(self.peak_watched_rss, watched)
        self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss + watched)
        self.peak_gpu = max(self.peak_gpu, self._gpu.used())
        self.n_samples += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval_s)

    @property
    def gpu_present(self) -> bool:
        return self._gpu.present


def os_max_rss_bytes(pid: int | None = None) -> int:
    """The kernel's high-water mark of this process's RSS (or of process `pid`'s).

    Linux: VmHWM from /proc/self/status, which belongs to this process image. Not
    ru_maxrss there: it survives fork and exec, so a child would report its parent's peak.
    """
    try:
        with open(f"/proc/{pid or 'self'}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if pid is not None:
        return 0
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class _NvmlProcessMemory:
    """GPU memory used by this process, summed over devices; zero without NVML."""

    def __init__(self) -> None:
        self.present = False
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                             for i in range(pynvml.nvmlDeviceGetCount())]
            self.present = bool(self._handles)
        except Exception:  # no driver, no library, no device: all mean "no GPU here"
            self._handles = []

    def used(self) -> int:
        total = 0
        pid = os.getpid()
        for handle in self._handles:
            try:
                procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:
                continue
            total += sum(p.usedGpuMemory or 0 for p in procs if p.pid == pid)
        return total

    def close(self) -> None:
        if self.present:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
