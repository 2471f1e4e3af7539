"""`edgedg-runtime` (also `python -m edgedg_runtime`): the vehicle's command line, stream, bench
and doctor, with nothing of the training side installed. Needs click (the `cli` extra).

The `edgedg` command of the training box mounts the same stream command, so each verb is defined
once. Verbs are imported only when invoked: `edgedg-runtime --help` loads no ONNX Runtime, cv2 or
TensorRT. User errors (EdgeDGError) become one line and exit code 1.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Dict, Tuple

try:
    import click
except ImportError as exc:  # pragma: no cover - the message is the point
    raise SystemExit(
        "the edgedg-runtime command line needs click: pip install 'edgedg-runtime[cli]'"
    ) from exc

from edgedg_runtime.errors import EdgeDGError

Verbs = Dict[str, Tuple[str, str]]  # verb -> (module, attribute of the click command)

VERBS: Verbs = {
    "stream": ("edgedg_runtime.cli.stream", "cli"),
    "bench": ("edgedg_runtime.cli.bench", "cli"),
    "doctor": ("edgedg_runtime.cli.doctor", "cli"),
}


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A click group whose sub-commands (``verbs``: name -> (module, attribute)) are imported on
    first use; a verb is listed when its module exists. Listing shows each command's own short
    help, read from the module's source without importing it."""

    def __init__(self, *args, verbs: Verbs | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.verbs: Verbs = dict(verbs or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(v for v, (module, _) in self.verbs.items() if _exists(module))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.verbs or not _exists(self.verbs[cmd_name][0]):
            return None
        module, attr = self.verbs[cmd_name]
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeDGError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgedg-runtime")
def cli() -> None:
    """edgedg-runtime: run an exported edgedg model on cameras, videos and image folders, with
    target-specific normalisation, on ONNX Runtime or TensorRT."""


def main() -> None:
    cli(prog_name="edgedg-runtime")
