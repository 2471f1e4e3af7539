"""`edgedg-runtime doctor`: what this machine can run (ONNX Runtime, TensorRT, CUDA, OpenCV,
Jetson) and what to install. `edgedg doctor` adds the training box's torch and onnx."""

from __future__ import annotations

import click


def print_findings(findings: list, as_json: bool) -> None:
    """The findings as a table, or as JSON with ``as_json``."""
    import json

    from edgedg_runtime import doctor

    if as_json:
        click.echo(json.dumps(doctor.as_json(findings), indent=2))
    else:
        click.echo(doctor.format_table(findings))


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def cli(as_json: bool) -> None:
    """What this machine can run (ONNX Runtime, TensorRT, CUDA, OpenCV, Jetson) and what to add."""
    from edgedg_runtime import doctor

    print_findings(doctor.run_checks(), as_json)
