"""`edgedg doctor`: the runtime's doctor plus the training box's packages."""

from __future__ import annotations

import click


@click.command("doctor", short_help="What this machine can run, and what to install.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def cli(as_json: bool) -> None:
    """What this machine can run (torch, ONNX Runtime, TensorRT, OpenCV, Jetson) and what to add."""
    from edgedg import doctor
    from edgedg_runtime.cli.doctor import print_findings

    print_findings(doctor.run_checks(), as_json)
