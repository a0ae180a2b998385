"""The Ray executor against the local one: the same smoke cells, run alternately
(local, ray, ray, local, ...), their metrics side by side and what Ray adds per cell.

    python benchmarks/ray_overhead.py [--rounds 4] [--suite suites/smoke.yaml]

Each round is a whole `harness run` in a fresh results folder; `--executor ray` without
`--address` starts a one-node cluster of this machine, as a user's first try does. The
overhead per cell is (wall time of the ray run - wall time of the local run) / cells,
from rounds next to each other, so slow drift of the machine falls on both. Run it on a
quiet machine: nothing else may run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("decode_tokens_per_s", "prefill_tokens_per_s", "ttft_s", "peak_rss_bytes",
           "load_time_s")


def one_run(suite: Path, executor: str, work: Path) -> tuple[float, dict[str, float]]:
    """(wall seconds of the whole command, median of each figure over the run's cells)."""
    results = work / f"results-{executor}-{time.monotonic_ns()}"
    started = time.monotonic()
    subprocess.run(["harness", "run", str(suite), "--executor", executor, "--results-dir",
                    str(results), "--profiles-dir", str(work / "profiles"), "--no-report"],
                   check=True, cwd=ROOT, capture_output=True)
    wall = time.monotonic() - started
    values: dict[str, list[float]] = {}
    for path in results.glob("*/*/cells.jsonl"):
        for line in path.read_text().splitlines():
            for metric in json.loads(line)["metrics"]:
                if metric["name"] in FIGURES and metric["median"] is not None:
                    key = f"{metric['name']} {json.loads(line)['format']}"
                    values.setdefault(key, []).append(metric["median"])
    return wall, {k: statistics.median(v) for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "smoke.yaml")
    args = parser.parse_args()
    rows: dict[str, list] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            executor = "local" if i % 4 in (0, 3) else "ray"
            rows[executor].append(one_run(args.suite, executor, Path(tmp)))
            print(f"round {i + 1}: {executor} {rows[executor][-1][0]:.1f} s", flush=True)
    cells = _cells(args.suite)
    local = [wall for wall, _ in rows["local"]]
    ray = [wall for wall, _ in rows["ray"]]
    print(f"\nwall time of the whole run, {cells} cells: local median "
          f"{statistics.median(local):.1f} s {local}, ray {statistics.median(ray):.1f} s {ray}")
    print(f"Ray overhead per cell: "
          f"{(statistics.median(ray) - statistics.median(local)) / cells:.2f} s")
    print("\nmetric (median over rounds)           local        ray    ray/local")
    for key in sorted(rows["local"][0][1]):
        lo = statistics.median(r[1][key] for r in rows["local"])
        ra = statistics.median(r[1][key] for r in rows["ray"] if key in r[1])
        print(f"  {key:34s} {lo:10.4g} {ra:10.4g}    {ra / lo:.3f}")


def _cells(suite: Path) -> int:
    out = subprocess.run(["harness", "run", str(suite), "--dry-run"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1].split()[0])


if __name__ == "__main__":
    main()
