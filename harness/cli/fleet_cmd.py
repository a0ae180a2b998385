"""`harness fleet start` / `harness fleet nodes`: machines joining a Ray cluster with their
hardware profile, and what the cluster has."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from harness.cli.options import PROFILES, console

fleet_app = typer.Typer(no_args_is_help=True, help="Machines of a Ray cluster that run "
                        "matrices (harness run --executor ray).")


@fleet_app.command("start")
def fleet_start(
    head: bool = typer.Option(False, "--head", help="start the cluster's head here"),
    address: str = typer.Option(None, "--address", help="join the head at host:port"),
    port: int = typer.Option(6379, "--port", help="with --head: the port it listens on"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the ray start command only"),
    profiles_dir: Path = PROFILES,
) -> None:
    """Capture this machine's hardware profile (once) and start Ray advertising it."""
    from harness.errors import UsageError
    from harness.fleet.executor import import_ray
    from harness.fleet.nodes import advertised

    if head == bool(address):
        raise UsageError("harness fleet start: give exactly one of --head (this machine is "
                         "the head) and --address HOST:PORT (join that head)")
    import_ray()
    profile = _this_profile(profiles_dir)
    resources = advertised(profile)
    where = ["--head", f"--port={port}"] if head else [f"--address={address}"]
    command = [*_ray_cli(), "start", *where, f"--resources={json.dumps(resources)}"]
    console.print(shlex.join(command), markup=False, highlight=False, soft_wrap=True)
    if dry_run:
        return
    raise typer.Exit(subprocess.run(command).returncode)


@fleet_app.command("nodes")
def fleet_nodes(address: str = typer.Option("auto", "--address",
                                            help="the cluster's head (host:port)")) -> None:
    """The alive nodes of the cluster and the hardware profile each advertises."""
    import logging

    from rich.table import Table

    from harness.fleet.executor import import_ray
    from harness.fleet.nodes import cluster_nodes

    ray = import_ray()
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    try:
        nodes = cluster_nodes()
    finally:
        ray.shutdown()
    table = Table(title=f"{len(nodes)} nodes")
    for col in ("node", "profile", "GPUs", "memory GB", "CPU threads"):
        table.add_column(col)
    for node_id, facts in nodes:
        if facts is None:
            table.add_row(node_id[:12], "(none: not started with harness fleet start)",
                          "", "", "")
            continue
        gpus = ", ".join(f"{name} x{n}" for name, n in facts.gpus.items()) or "none"
        table.add_row(node_id[:12], facts.profile_id, gpus, f"{facts.memory_gb:g}",
                      str(facts.cpu_threads))
    console.print(table)


def _this_profile(profiles_dir: Path) -> dict:
    """This machine's profile (captured into `profiles_dir` if missing), also cached where
    the node's tasks look for it (harness.fleet.nodes.node_profile)."""
    import yaml

    from harness.fleet.nodes import profile_cache
    from harness.hardware.profile import current_profile, load_profile

    _, path, _ = current_profile(profiles_dir)
    profile = load_profile(path)
    cached = profile_cache() / f"{profile['id']}.yaml"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(yaml.safe_dump(profile, sort_keys=False))
    return profile


def _ray_cli() -> list[str]:
    found = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    return [found] if found else [sys.executable, "-m", "ray.scripts.scripts"]
