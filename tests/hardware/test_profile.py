"""Hardware profiles: captured facts and a measured bandwidth."""

from __future__ import annotations

from pathlib import Path

import psutil
import yaml

from harness.hardware.profile import capture, current_profile, memory_bandwidth_gb_s
from tests.conftest import harness_cmd


def test_capture_describes_this_machine() -> None:
    p = capture()
    assert p["cpu"]["logical_cores"] == psutil.cpu_count()
    assert p["cpu"]["physical_cores"] >= 1
    assert set(p["cpu"]["isa"]) >= {"avx2", "avx512f", "amx_tile", "neon"}
    assert p["memory"]["total_bytes"] == psutil.virtual_memory().total
    assert p["memory"]["read_bandwidth_gb_s"] > 0.1
    assert isinstance(p["gpus"], list)
    assert p["libraries"]["harness"]


def test_bandwidth_is_plausible() -> None:
    # a buffer well past the caches must read slower than 2 TB/s and faster than 100 MB/s
    assert 0.1 < memory_bandwidth_gb_s(128 << 20, rounds=2) < 2000


def test_profile_command_writes_yaml_and_the_id_is_stable(tmp_path: Path) -> None:
    proc = harness_cmd("profile", "--profiles-dir", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    files = list(tmp_path.glob("*.yaml"))
    assert len(files) == 1
    data = yaml.safe_load(files[0].read_text())
    assert data["id"] == files[0].stem
    profile_id, path, captured = current_profile(tmp_path)
    assert (profile_id, path, captured) == (data["id"], files[0], False)
