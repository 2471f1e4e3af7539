"""`edgedg-runtime` (also `python -m edgedg_runtime`): the vehicle's command line, stream, bench
and doctor, with nothing of the training side installed. Needs click (the `cli` extra).

`LazyGroup` is the one lazy click group: the `edgedg` command of the training box is one too,
with its own verbs, and mounts the runtime's stream command, so each verb is defined once. Verbs
are imported only when invoked (a verb's module imports only click at the top), so `--help` loads
no ONNX Runtime, cv2, TensorRT or torch. User errors (EdgeDGError) become one line and exit code
1, and so do errors of the machine rather than of edgedg (a full disk or quota, a read-only
filesystem): every write that replaces a file is atomic, so what was there before is intact.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
from typing import Dict

try:
    import click
except ImportError as exc:  # pragma: no cover - the message is the point
    raise SystemExit(
        "the edgedg-runtime command line needs click: pip install 'edgedg-runtime[cli]'"
    ) from exc

from edgedg_runtime.errors import EdgeDGError

Verbs = Dict[str, str]  # verb -> the module whose `cli` is the command

VERBS: Verbs = {
    "stream": "edgedg_runtime.cli.stream",
    "bench": "edgedg_runtime.cli.bench",
    "doctor": "edgedg_runtime.cli.doctor",
}

# errno -> what to do: OSErrors of the machine, reported in one line without a traceback.
MACHINE_ERRORS = {
    errno.ENOSPC: "free space on that disk and run again",
    errno.EDQUOT: "free space within your disk quota and run again",
    errno.EROFS: "choose a writable location",
}


def machine_error(exc: OSError) -> str:
    """The one line for an OSError of the machine (its errno in MACHINE_ERRORS)."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}: {MACHINE_ERRORS[exc.errno]}"


def module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A click group whose sub-commands (``verbs``: name -> module whose ``cli`` is the command)
    are imported on first use; a verb is listed when its module exists, with the command's own
    one-line ``short_help``."""

    def __init__(self, *args, verbs: Verbs | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.verbs: Verbs = verbs if verbs is not None else {}  # the table itself, not a copy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(v for v, module in self.verbs.items() if module_exists(module))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self.verbs.get(cmd_name)
        if module is None or not module_exists(module):
            return None
        return importlib.import_module(module).cli

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeDGError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.errno not in MACHINE_ERRORS:
                raise
            raise click.ClickException(machine_error(exc)) from None


@click.group(cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgedg-runtime")
def cli() -> None:
    """edgedg-runtime: run an exported edgedg model on cameras, videos and image folders, with
    target-specific normalisation, on ONNX Runtime or TensorRT."""


def main() -> None:
    cli(prog_name="edgedg-runtime")
