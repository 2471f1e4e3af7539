"""The `edgedg` command line: a lazy click group, one thin command module per verb.

The group is the runtime's ``LazyGroup`` (edgedg_runtime.cli) with the training box's verbs: a
verb's module imports only click at the top and its library inside the command, so `edgedg --help`
loads no torch, cv2 or tensorrt; user errors and a full disk are one line and exit code 1.
"""

from __future__ import annotations

import click

from edgedg_runtime.cli import LazyGroup, module_exists

# verb -> the module whose `cli` is the command. Each command carries its own one-line
# `short_help`; the modules import only click at the top, so listing them loads nothing heavy.
VERBS: dict[str, str] = {
    "data": "edgedg.commands.data",
    "train": "edgedg.commands.train",
    "eval": "edgedg.commands.eval",
    "export": "edgedg.commands.export",
    "check": "edgedg.commands.check",
    "stream": "edgedg_runtime.cli.stream",
    "bench": "edgedg.commands.bench",
    "bench-train": "edgedg.commands.bench_train",
    "ablation": "edgedg.commands.ablation",
    "scenarios": "edgedg.commands.scenarios",
    "doctor": "edgedg.commands.doctor",
    "demo": "edgedg.commands.demo",
}


def _exists(verb: str) -> bool:
    return module_exists(VERBS[verb])


@click.group(cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgedg")
def cli() -> None:
    """edgedg: train MLDG segmentation over source domains, export it with unfolded BatchNorm,
    and run it on a camera with a style bank of target statistics."""


def main() -> None:
    cli(prog_name="edgedg")
