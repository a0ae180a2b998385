"""Lockstep: workers that run at once but take turns (harness.runner.turns).

The workers here are small scripts given as the `python` of `run_children` (the way a
`python:` wrapper is), speaking the real turn protocol through the real runner: each
writes when its turns start and end, so the test sees whether any two ever overlapped.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

from harness.runner.child import run_children
from harness.runner.turns import Baton

WORKER = """#!{python}
import json, os, sys, time
from harness.runner.turns import Turns

out_fd = int(sys.argv[3])  # argv: -m harness.runner.worker OUT_FD PARENT_PID
spec = json.loads(sys.stdin.read())
time.sleep(spec["load_s"])  # a slow loader: the other must not start without it
turns = Turns.from_spec(spec)
with open(spec["events"], "a") as events:
    for i in range(spec["reps"]):
        turns.take()
        events.write(f"{{spec['name']}} start {{time.monotonic()}}\\n"); events.flush()
        time.sleep(0.05)
        events.write(f"{{spec['name']}} end {{time.monotonic()}}\\n"); events.flush()
        if i + 1 == spec.get("die_after"):
            os._exit(3)
with os.fdopen(out_fd, "wb") as out:
    out.write(json.dumps({{"status": "ok"}}).encode())
"""


def _worker(tmp_path: Path) -> str:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def _events(path: Path) -> list[tuple[str, str, float]]:
    return [(n, what, float(t)) for n, what, t in
            (line.split() for line in path.read_text().splitlines())]


def _run(tmp_path: Path, specs: list[dict]):
    worker, events = _worker(tmp_path), tmp_path / "events"
    tasks = [({**spec, "events": str(events)}, tmp_path / f"{spec['name']}.log", worker)
             for spec in specs]
    return run_children(tasks, 60, lockstep=True), _events(events)


def test_lockstep_workers_never_overlap_and_alternate(tmp_path: Path) -> None:
    outcomes, events = _run(tmp_path, [{"name": "A", "reps": 4, "load_s": 0.0},
                                       {"name": "B", "reps": 4, "load_s": 0.6}])
    assert [o.ok for o in outcomes] == [True, True], [o.error for o in outcomes]
    # strictly start/end of one worker, then the other: no turn ran beside another
    assert [(n, w) for n, w, _ in events] == [(n, w) for n in "ABABABAB"
                                              for w in ("start", "end")]
    times = [t for _, _, t in events]
    assert times == sorted(times)


def test_a_worker_that_dies_leaves_the_other_to_finish(tmp_path: Path) -> None:
    outcomes, events = _run(tmp_path, [{"name": "A", "reps": 2, "load_s": 0.0,
                                        "die_after": 1},
                                       {"name": "B", "reps": 4, "load_s": 0.0}])
    assert not outcomes[0].ok and "exited with code 3" in outcomes[0].error
    assert outcomes[1].ok, outcomes[1].error
    assert [n for n, w, _ in events if w == "start"] == ["A", "B", "B", "B", "B"]


def test_baton_waits_for_every_worker_then_goes_round() -> None:
    baton = Baton(3)
    baton.request(0)
    baton.request(1)
    assert baton.grant() is None  # worker 2 is still loading: nobody may run beside it
    baton.request(2)
    assert baton.grant() == 0
    assert baton.grant() is None  # held
    baton.request(0)
    assert [baton.grant()] == [1]
    baton.leave(2)  # worker 2 died while waiting
    baton.request(1)
    assert baton.grant() == 0
    baton.request(0)
    assert baton.grant() == 1
    baton.leave(1)  # exited holding the baton
    assert baton.grant() == 0
    assert baton.turns == [3, 2, 0]


def test_run_children_without_lockstep_passes_no_turns(tmp_path: Path) -> None:
    script = tmp_path / "spec.py"
    script.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                      "spec = json.loads(sys.stdin.read())\n"
                      "with os.fdopen(int(sys.argv[3]), 'wb') as out:\n"
                      "    out.write(json.dumps({'status': 'ok', 'spec': spec}).encode())\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    outcomes = run_children([({"n": i}, tmp_path / f"{i}.log", str(script)) for i in (1, 2)],
                            60)
    assert [o.payload["spec"] for o in outcomes] == [{"n": 1}, {"n": 2}]
    assert json.dumps(outcomes[0].payload).count("turns") == 0
