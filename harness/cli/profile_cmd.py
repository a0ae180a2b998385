"""`harness profile`: capture this machine's hardware profile."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import console


def profile(
    profiles_dir: Path = typer.Option(Path("hardware_profiles"), help="where profiles live"),
    show: bool = typer.Option(True, "--show/--quiet", help="print the profile"),
) -> None:
    """Write hardware_profiles/<id>.yaml: CPU, ISA, RAM, bandwidth, GPUs, OS, libraries."""
    import yaml

    from harness.hardware.profile import capture, write_profile

    data = capture()
    path = write_profile(data, profiles_dir)
    if show:
        console.print(yaml.safe_dump(data, sort_keys=False), highlight=False)
    console.print(f"profile {data['id']} -> {path}", markup=False)
