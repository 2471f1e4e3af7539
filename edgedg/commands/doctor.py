"""`edgedg doctor`."""

from __future__ import annotations

import json

import click


@click.command("doctor", short_help="What this machine can run, and what to install.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def cli(as_json: bool) -> None:
    """What this machine can run (torch, ONNX Runtime, TensorRT, OpenCV, Jetson) and what to add."""
    from edgedg import doctor

    findings = doctor.run_checks()
    if as_json:
        click.echo(json.dumps(doctor.as_json(findings), indent=2))
    else:
        click.echo(doctor.format_table(findings))
