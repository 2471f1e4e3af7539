"""The `edgedg` command line: a lazy click group, one thin command module per verb.

A verb's module imports only click at the top and its library inside the command, so `edgedg --help`
(which lists each command's short help) loads no torch, cv2 or tensorrt. A verb is listed when its
module exists. User errors (EdgeDGError) become a one-line message and exit code 1, and so do
errors of the machine rather than of edgedg (a full disk or quota, a read-only filesystem): every
write that replaces a file is atomic, so what was there before is intact.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util

import click

from edgedg_runtime.errors import EdgeDGError

# verb -> the module whose `cli` is the command. Each command carries its own one-line
# `short_help`; the modules import only click at the top, so listing them loads nothing heavy.
VERBS: dict[str, str] = {
    "data": "edgedg.commands.data",
    "train": "edgedg.commands.train",
    "eval": "edgedg.commands.eval",
    "export": "edgedg.commands.export",
    "check": "edgedg.commands.check",
    "stream": "edgedg.commands.stream",
    "bench": "edgedg.commands.bench",
    "bench-train": "edgedg.commands.bench_train",
    "ablation": "edgedg.commands.ablation",
    "scenarios": "edgedg.commands.scenarios",
    "doctor": "edgedg.commands.doctor",
    "demo": "edgedg.commands.demo",
}


# errno -> what to do: OSErrors of the machine, reported in one line without a traceback.
MACHINE_ERRORS = {
    errno.ENOSPC: "free space on that disk and run again",
    errno.EDQUOT: "free space within your disk quota and run again",
    errno.EROFS: "choose a writable location",
}


def _machine_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}: {MACHINE_ERRORS[exc.errno]}"


def _exists(verb: str) -> bool:
    try:
        return importlib.util.find_spec(VERBS[verb]) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(v for v in VERBS if _exists(v))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in VERBS or not _exists(cmd_name):
            return None
        return importlib.import_module(VERBS[cmd_name]).cli

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeDGError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.errno not in MACHINE_ERRORS:
                raise
            raise click.ClickException(_machine_error(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgedg")
def cli() -> None:
    """edgedg: train MLDG segmentation over source domains, export it with unfolded BatchNorm,
    and run it on a camera with a style bank of target statistics."""


def main() -> None:
    cli(prog_name="edgedg")
