"""How far can the harness's numbers be trusted on this machine? Issue 11's measurements.

Runs unattended, alone on the machine (anything else running spoils it), and writes every
trial to OUT/trials.jsonl and a summary to OUT/summary.md:

- contention: `harness run suites/smoke.yaml` quiet, beside one busy process per core, and
  beside a niced compiler; how many timed cells each way are marked `contended`.
- quota: the decode slowdown a cgroup v1 CPU quota really causes (a long `harness ab`
  with many processes per quota), to choose the quotas of the phases below (about -10 %
  for ab; about -20 %, -10 % and -30 % for the slowed nights).
- ab: `harness ab` with side B's worker in a quota-limited cgroup (its `python:` is a
  wrapper that joins the cgroup; the harness knows nothing of it): how many trials are
  called regressed; and A/A trials with no quota: how many are (falsely) called regressed.
- nightly: `harness calibrate suites/nightly.yaml`, then identical nightly runs with `auto`
  thresholds (false regressions counted), then nightly runs slowed by quotas (each judged
  against the clean history only: the slowed run is dropped afterwards). By default each
  night runs its throughput cells beside a reference (`regression.reference`: this
  interpreter, outside the quota's cgroup) in lockstep; `--nightly-processes 0` judges by
  history alone.
- interleave: the spread of the Q8_0 / Q4_0 decode ratio within interleaved runs (one run,
  several processes) against the spread across separate runs.

    python benchmarks/trust.py --out ~/trust-bench [--phases contention,quota,ab,nightly,interleave]
        [--trials 10] [--contention-runs 20] [--ab-processes 8] [--ab-threads 1]
        [--quota-shares 0.9,0.85,0.8] [--ab-repetitions 5] [--ab-no-lockstep]
        [--ab-kinds slowed,A/A]
        [--calibrate-runs 6] [--nightly-processes 4] [--nightly-repetitions 3]
        [--nightly-quotas CORES:NIGHTS,...]

Needs root and cgroup v1's cpu controller (/sys/fs/cgroup/cpu) for the quota phases.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from harness.backends.base import physical_cores

ROOT = Path(__file__).resolve().parent.parent
CGROUP = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000

AB_SUITE = """\
name: {name}
models: [smollm2-135m]
formats: [q4_0]
backends:
  llama_cpp: {{threads: {threads}, n_ctx: 256{python}}}
suites:
  throughput: {{prompt_lengths: [64], gen_tokens: 32, repetitions: {repetitions}, warmup: 1}}
regression:
  thresholds: {{default: "median:5%"}}
"""

INTERLEAVE_SUITE = """\
name: {name}
models: [smollm2-135m]
formats: {formats}
backends:
  llama_cpp: {{threads: 2, n_ctx: 256}}
suites:
  throughput: {{prompt_lengths: [32], gen_tokens: 64, repetitions: 5, warmup: 1}}
processes: {processes}
"""


class Bench:
    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.trials = out / "trials.jsonl"
        self.summary: list[str] = []

    def record(self, phase: str, **fields) -> None:
        with self.trials.open("a") as f:
            f.write(json.dumps({"phase": phase, "time": time.time(), **fields}) + "\n")

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.summary.append(line)
        (self.out / "summary.md").write_text("\n".join(self.summary) + "\n")


def harness(args: list[str], timeout: float = 900) -> tuple[int, float, str]:
    start = time.monotonic()
    proc = subprocess.run(["harness", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    return proc.returncode, time.monotonic() - start, proc.stdout + proc.stderr


# --- what runs beside the harness ---------------------------------------------------------

@contextmanager
def busy(kind: str, work: Path):
    """`cores`: one busy loop per core; `compiler`: gcc -O2 at nice 19, one per core."""
    procs = []
    if kind == "cores":
        cmd = [sys.executable, "-c", "while True: pass"]
    else:
        source = work / "big.c"
        source.write_text("\n".join(
            f"double f{i}(double x){{for(int k=0;k<{i % 7 + 3};k++) x = x*1.0001 + {i};"
            "return x;}" for i in range(4000)))
        cmd = ["nice", "-n", "19", "sh", "-c",
               f"while true; do gcc -O2 -c {source} -o /dev/null; done"]
    for _ in range(os.cpu_count() or 1):
        procs.append(subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    try:
        time.sleep(1)
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- cgroup v1 CPU quota -----------------------------------------------------------------

def cgroup(name: str) -> Path:
    path = CGROUP / name
    path.mkdir(exist_ok=True)
    (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    return path


def set_quota(path: Path, cores: float | None) -> None:
    (path / "cpu.cfs_quota_us").write_text(str(-1 if cores is None else int(cores * PERIOD_US)))


def wrapper(path: Path, group: Path) -> Path:
    """A `python:` for the worker: joins `group`, then becomes this interpreter."""
    path.write_text(f"#!/bin/sh\necho $$ > {group}/cgroup.procs\nexec {sys.executable} \"$@\"\n")
    path.chmod(0o755)
    return path


# --- phases ------------------------------------------------------------------------------

def contention(bench: Bench, runs: int) -> None:
    from harness.results.query import list_runs, load_run

    bench.say(f"## Contention: suites/smoke.yaml, {runs} runs each way")
    for condition in ("quiet", "cores", "compiler"):
        results = bench.out / f"contention-{condition}"
        marked = timed = 0
        for i in range(runs):
            with busy(condition, bench.out) if condition != "quiet" else _nothing():
                code, took, text = harness(["run", "suites/smoke.yaml", "--suite", "throughput",
                                            "--results-dir", str(results), "--no-report",
                                            "--profiles-dir", str(bench.out / "profiles")])
            run = list_runs(results)[-1]
            cells = load_run(run.dir)
            flags = [bool((c.health or {}).get("contended")) for c in cells]
            other = [(c.health or {}).get("other_cpu") for c in cells]
            marked += sum(flags)
            timed += len(flags)
            bench.record("contention", condition=condition, run=i, exit=code, seconds=took,
                         contended=flags, other_cpu=other)
        bench.say(f"- {condition}: {marked} of {timed} timed cells marked contended")


@contextmanager
def _nothing():
    yield


@dataclass(frozen=True)
class AbShape:
    """How each `harness ab` trial runs."""

    processes: int
    threads: int
    repetitions: int = 5
    lockstep: bool = True


def ab_trial(bench: Bench, group: Path, quota: float | None, shape: AbShape,
             tag: str) -> tuple[int, float, list[float]]:
    """One `harness ab` with B's worker in `group` at `quota` cores: (exit, seconds,
    decode changes B vs A)."""
    work = bench.out / "ab"
    work.mkdir(exist_ok=True)
    a = work / "a.yaml"
    b = work / "b.yaml"
    common = {"threads": shape.threads, "repetitions": shape.repetitions}
    a.write_text(AB_SUITE.format(name="ab-a", python="", **common))
    b.write_text(AB_SUITE.format(name="ab-b", **common,
                                 python=f", python: {wrapper(work / 'b.sh', group)}"))
    set_quota(group, quota)
    try:
        code, took, text = harness(["ab", str(a), str(b), "--processes", str(shape.processes),
                                    "--lockstep" if shape.lockstep else "--no-lockstep",
                                    "--results-dir", str(work / "results"),
                                    "--profiles-dir", str(bench.out / "profiles")], 600)
    finally:
        set_quota(group, None)
    changes = _decode_changes(work / "results")
    bench.record("ab", tag=tag, quota=quota, processes=shape.processes,
                 threads=shape.threads, repetitions=shape.repetitions,
                 lockstep=shape.lockstep, exit=code, seconds=took, decode_change=changes,
                 output=text[-3000:])
    return code, took, changes


def _decode_changes(results: Path) -> list[float]:
    """Median decode tokens/s of the newest B run vs the newest A run."""
    from harness.results.query import list_runs

    medians = {name: _decode_medians(list_runs(results, plan_name=name)[-1])
               for name in ("ab-a", "ab-b")}
    return [b / a - 1 for a, b in zip(medians["ab-a"], medians["ab-b"], strict=True)]


def _decode_medians(run) -> list[float]:
    """A stored run's median decode tokens/s, one per cell."""
    from harness.results.query import load_run

    return [m.median for c in load_run(run.dir) for m in c.metrics
            if m.name == "decode_tokens_per_s"]


def quota(bench: Bench, quotas: list[float], shape: AbShape) -> dict[float, float]:
    """The decode change each quota causes, from one long `harness ab` per quota."""
    shape = replace(shape, processes=10)
    bench.say(f"## Quota: decode slowdown by cgroup CPU quota (harness ab, {_shape(shape)})")
    group = cgroup("harness-trust-ab")
    found = {}
    for cores in quotas:
        _, took, changes = ab_trial(bench, group, cores, shape, "quota")
        found[cores] = changes[0] if changes else float("nan")
        bench.say(f"- quota {cores:g} cores: decode {found[cores]:+.1%} ({took:.0f} s)")
    return found


def nearest(found: dict[float, float], target: float) -> float:
    """The quota whose measured decode change is nearest `target` (a negative fraction)."""
    return min(found, key=lambda cores: abs(found[cores] - target))


def between(found: dict[float, float], target: float) -> float | None:
    """The quota that a straight line between the two measured quotas around `target`
    gives for it (to 0.01 core); None when no two measured changes bracket it."""
    points = sorted(found.items())
    for (c1, d1), (c2, d2) in zip(points, points[1:], strict=False):
        if min(d1, d2) <= target <= max(d1, d2) and d1 != d2:
            return round(c1 + (target - d1) * (c2 - c1) / (d2 - d1), 2)
    return None


def _shape(shape: AbShape) -> str:
    return (f"{shape.processes} processes per side "
            f"{'in lockstep' if shape.lockstep else 'interleaved'}, {shape.repetitions} "
            f"repetitions each, {shape.threads} engine threads")


def ab(bench: Bench, cores: float, trials: int, shape: AbShape,
       kinds: tuple[str, ...] = ("slowed", "A/A")) -> None:
    group = cgroup("harness-trust-ab")
    bench.say(f"## A/B: B limited to {cores:g} cores; {trials} trials each way, "
              f"{_shape(shape)}")
    for quota_, tag in ((cores, "slowed"), (None, "A/A")):
        if tag not in kinds:
            continue
        called = 0
        times, changes = [], []
        for _ in range(trials):
            code, took, change = ab_trial(bench, group, quota_, shape, tag)
            called += code == 1
            times.append(took)
            changes += change
        bench.say(f"- {tag}: called regressed in {called} of {trials}; decode change "
                  f"median {statistics.median(changes):+.1%}; trial {max(times):.0f} s at most")


def nightly_suite(work: Path, group: Path, processes: int, repetitions: int) -> Path:
    """suites/nightly.yaml with every night's worker behind the cgroup wrapper (so only
    the quota differs between nights) and, with `processes`, a reference beside it: this
    interpreter, outside the cgroup, in lockstep with the night's throughput cells."""
    text = (ROOT / "suites" / "nightly.yaml").read_text()
    text = text.replace("llama_cpp: {", f"llama_cpp: {{python: "
                        f"{wrapper(work / 'py.sh', group)}, ", 1)
    if processes:
        text = text.replace("repetitions: 10,", f"repetitions: {repetitions},", 1)
        text = text.replace("regression:\n", "regression:\n  reference: {python: "
                            f"{sys.executable}, processes: {processes}, "
                            "suites: [throughput]}\n", 1)
    suite = work / "nightly.yaml"
    suite.write_text(text)
    return suite


def nightly(bench: Bench, trials: int, slowdowns: dict[float, int], runs: int,
            processes: int, repetitions: int, slowed_only: bool = False) -> None:
    """`slowdowns`: quota in cores -> how many slowed nights at it. `slowed_only`: reuse
    OUT/nightly's calibrated clean nights and run the slowed nights alone."""
    work = bench.out / "nightly"
    group = cgroup("harness-trust-nightly")
    clean = work / "results"
    profiles = work / "profiles"
    if slowed_only and clean.is_dir():
        bench.say(f"## Nightly: slowed nights against the clean nights in {clean}")
        _slowed_nights(bench, work, group, slowdowns)
        return
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    suite = nightly_suite(work, group, processes, repetitions)
    common = ["--results-dir", str(clean), "--profiles-dir", str(profiles)]
    set_quota(group, None)
    code, took, out = harness(["calibrate", str(suite), "--runs", str(runs), *common], 3600)
    bench.record("calibrate", exit=code, seconds=took, output=out[-6000:])
    shape = (f"reference beside it, {processes} processes x {repetitions} repetitions"
             if processes else "no reference")
    bench.say(f"## Nightly: suites/nightly.yaml, auto thresholds, {shape}\n"
              f"- calibrate ({took:.0f} s):")
    bench.say("```\n" + out.strip()[-3000:] + "\n```")
    false = 0
    for i in range(trials):
        code, took, out = harness(["nightly", str(suite), *common, "--report-dir",
                                   str(work / "reports")])
        false += code == 1
        change = _night_changes(clean, clean)
        bench.record("nightly", tag="identical", night=i, exit=code, seconds=took,
                     **change, output=out[-3000:])
        bench.say(f"- identical night {i + 1}: exit {code} ({took:.0f} s); {_say(change)}")
    bench.say(f"- identical: {false} of {trials} called regressed")
    _slowed_nights(bench, work, group, slowdowns)


def _slowed_nights(bench: Bench, work: Path, group: Path, slowdowns: dict[float, int]
                   ) -> None:
    """Each slowed night judged against a copy of the clean nights (then dropped)."""
    suite, clean, profiles = work / "nightly.yaml", work / "results", work / "profiles"
    for cores, nights in slowdowns.items():
        called = 0
        changes: list[dict] = []
        times: list[float] = []
        for i in range(nights):
            trial = work / "trial"
            if trial.exists():
                shutil.rmtree(trial)
            shutil.copytree(clean, trial)
            set_quota(group, cores)
            try:
                code, took, out = harness(["nightly", str(suite), "--results-dir", str(trial),
                                           "--profiles-dir", str(profiles), "--report-dir",
                                           str(work / "reports")])
            finally:
                set_quota(group, None)
            called += code == 1
            change = _night_changes(trial, clean)
            changes.append(change)
            times.append(took)
            bench.record("nightly", tag="slowed", quota=cores, night=i, exit=code,
                         seconds=took, **change, output=out[-3000:])
            bench.say(f"  - quota {cores:g}, night {i + 1}: exit {code} ({took:.0f} s); "
                      f"{_say(change)}")
        vs_ref = [c["vs_reference"] for c in changes if c.get("vs_reference") is not None]
        bench.say(f"- quota {cores:g} cores: {called} of {nights} called regressed; decode vs "
                  f"reference median {statistics.median(vs_ref) if vs_ref else float('nan'):+.1%}"
                  f"; {max(times):.0f} s at most")


def _say(change: dict) -> str:
    ref = change.get("vs_reference")
    return (f"decode vs clean nights' median {change['vs_history']:+.1%}"
            + (f", vs the reference beside it {ref:+.1%}" if ref is not None else ""))


def _night_changes(trial: Path, clean: Path) -> dict:
    """The newest night's decode tokens/s (mean over cells of the median) against the
    median of the clean nights, and (with a reference) its ratio to the reference run
    beside it (mean over cells of the geometric mean of per-process ratios) - 1."""
    import math

    from harness.regression.reference import log_ratios, pair_cells
    from harness.results.query import list_runs, load_run, resolve_run
    from harness.results.store import read_manifest

    def decode(run) -> float:
        return statistics.fmean(_decode_medians(run))

    level = statistics.median(decode(run) for run in list_runs(clean, plan_name="nightly"))
    newest = list_runs(trial, plan_name="nightly")[-1]
    out = {"vs_history": decode(newest) / level - 1, "vs_reference": None}
    ref_id = read_manifest(newest.dir).get("reference_run")
    if ref_id:
        ref = load_run(resolve_run(ref_id, trial, newest.profile_id))
        ratios = []
        for cell, other in pair_cells(load_run(newest.dir), ref):
            a = next((m for m in other.metrics if m.name == "decode_tokens_per_s"), None)
            b = next((m for m in cell.metrics if m.name == "decode_tokens_per_s"), None)
            logs = log_ratios(b, a, "median") if a and b else []
            if logs:
                ratios.append(math.exp(statistics.fmean(logs)))
        if ratios:
            out["vs_reference"] = statistics.fmean(ratios) - 1
    return out


def interleave(bench: Bench, trials: int) -> None:
    import numpy as np

    from harness.regression.compare import process_values
    from harness.results.query import list_runs, load_run

    work = bench.out / "interleave"
    work.mkdir(exist_ok=True)
    common = ["--no-report", "--profiles-dir", str(bench.out / "profiles")]

    def decode(results: Path, name: str) -> dict[str, list[float]]:
        """Per format: the median decode tokens/s of each process (one run: its median)."""
        cells = load_run(list_runs(results, plan_name=name)[-1].dir)
        return {c.format: [s for m in c.metrics if m.name == "decode_tokens_per_s"
                           for s in process_values(m, np.median) or [m.median]]
                for c in cells}

    one = work / "interleaved.yaml"
    one.write_text(INTERLEAVE_SUITE.format(name="interleaved", formats="[q8_0, q4_0]",
                                           processes=trials))
    harness(["run", str(one), "--results-dir", str(work / "r1"), *common], 1800)
    per = decode(work / "r1", "interleaved")
    inter = [q8 / q4 for q8, q4 in zip(per["q8_0"], per["q4_0"], strict=True)]
    separate = []
    for fmt in ("q8_0", "q4_0"):
        path = work / f"{fmt}.yaml"
        path.write_text(INTERLEAVE_SUITE.format(name=f"alone-{fmt}", formats=f"[{fmt}]",
                                                processes=1))
    for _ in range(trials):
        medians = {}
        for fmt in ("q8_0", "q4_0"):
            harness(["run", str(work / f"{fmt}.yaml"), "--results-dir", str(work / "r2"),
                     *common])
            medians[fmt] = decode(work / "r2", f"alone-{fmt}")[fmt][0]
            time.sleep(20)  # separate runs are minutes apart in real use
        separate.append(medians["q8_0"] / medians["q4_0"])
    bench.record("interleave", interleaved=inter, separate=separate)
    bench.say(f"## Interleaving: decode ratio Q8_0 / Q4_0, {trials} processes vs {trials} "
              "pairs of separate runs")
    for name, ratios in (("interleaved", inter), ("separate", separate)):
        mean, sd = statistics.mean(ratios), statistics.stdev(ratios)
        bench.say(f"- {name}: mean {mean:.3f}, sd {sd:.3f} ({sd / mean:.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--phases", default="contention,quota,ab,nightly,interleave")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--contention-runs", type=int, default=20)
    parser.add_argument("--ab-quota", type=float, default=None,
                        help="cores for the A/B phase (default: from the quota phase)")
    parser.add_argument("--ab-processes", type=int, default=8)
    parser.add_argument("--ab-threads", type=int, default=1,
                        help="engine threads in the A/B and quota phases (1: llama.cpp's "
                             "spinning barrier makes 2 threads on 2 cores noisier)")
    parser.add_argument("--quota-shares", default="0.9,0.85,0.8",
                        help="quotas to measure, as shares of the engine's threads")
    parser.add_argument("--ab-repetitions", type=int, default=5)
    parser.add_argument("--ab-kinds", default="slowed,A/A",
                        help="which A/B trials to run: slowed, A/A or both")
    parser.add_argument("--ab-no-lockstep", action="store_true",
                        help="run the A/B and quota trials with harness ab --no-lockstep")
    parser.add_argument("--calibrate-runs", type=int, default=6)
    parser.add_argument("--nightly-processes", type=int, default=4,
                        help="process pairs beside the reference per throughput cell of a "
                             "night (0: no reference, history alone)")
    parser.add_argument("--nightly-slowed-only", action="store_true",
                        help="reuse OUT/nightly's clean nights: run only the slowed nights")
    parser.add_argument("--nightly-repetitions", type=int, default=3,
                        help="throughput repetitions per process of a night with a reference")
    parser.add_argument("--nightly-quotas", default=None,
                        help="cores:nights for slowed nightly runs (default: the quotas "
                             "nearest -20 %% (10 nights), -10 %% and -30 %% (5 each) in a "
                             "quota phase run with the nightly suite's threads (--ab-threads "
                             "= physical cores), else 1.7:10,1.8:5,1.6:5)")
    args = parser.parse_args()
    bench = Bench(args.out.expanduser())
    phases = args.phases.split(",")
    bench.say(f"# Trust measurements, {time.strftime('%Y-%m-%d %H:%M')}, "
              f"{os.cpu_count()} CPUs\n")
    if "contention" in phases:
        contention(bench, args.contention_runs)
    chosen = args.ab_quota
    slow = {1.7: 10, 1.8: 5, 1.6: 5}
    shape = AbShape(args.ab_processes, args.ab_threads, args.ab_repetitions,
                    not args.ab_no_lockstep)
    if "quota" in phases:
        threads = args.ab_threads
        shares = [float(x) for x in args.quota_shares.split(",")]
        found = quota(bench, [round(threads * share, 2) for share in shares], shape)
        guess = between(found, -0.10)
        if abs(found[nearest(found, -0.10)] + 0.10) > 0.015 and guess not in (None, *found):
            found.update(quota(bench, [guess], shape))  # measured too, never assumed
        chosen = nearest(found, -0.10)
        bench.say(f"- chosen for about -10 %: {chosen:g} cores")
        if threads == physical_cores():  # the nightly suite's engine threads
            slow = {nearest(found, -0.20): 10}
            for target in (-0.10, -0.30):
                slow.setdefault(nearest(found, target), 5)
            bench.say(f"- nightly quotas {', '.join(f'{c:g}' for c in slow)}")
    if args.nightly_quotas:
        slow = {float(c): int(n) for c, n in
                (part.split(":") for part in args.nightly_quotas.split(","))}
    if "ab" in phases:
        ab(bench, chosen or 0.9 * args.ab_threads, args.trials, shape,
           tuple(args.ab_kinds.split(",")))
    if "nightly" in phases:
        nightly(bench, args.trials, slow, args.calibrate_runs, args.nightly_processes,
                args.nightly_repetitions, args.nightly_slowed_only)
    if "interleave" in phases:
        interleave(bench, args.trials)


if __name__ == "__main__":
    main()
