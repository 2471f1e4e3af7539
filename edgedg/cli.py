"""The `edgedg` command line: a lazy click group, one thin command module per verb.

Verbs are imported only when invoked, so `edgedg --help` loads no torch, cv2 or tensorrt. A verb is
listed when its module exists. User errors (EdgeDGError) become a one-line message and exit code 1.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from edgedg_runtime.errors import EdgeDGError

# verb -> (module, attribute, one-line help shown by `edgedg --help` without importing the module)
VERBS: dict[str, tuple[str, str, str]] = {
    "data": (
        "edgedg.commands.data",
        "cli",
        "Generate synthetic domains in the real datasets' formats.",
    ),
    "train": ("edgedg.commands.train", "cli", "Train AGG or MLDG over several source domains."),
    "eval": (
        "edgedg.commands.eval",
        "cli",
        "Evaluate a checkpoint on target domains in any norm mode.",
    ),
    "export": (
        "edgedg.commands.export",
        "cli",
        "Export a checkpoint to a model directory (ONNX, TensorRT).",
    ),
    "check": (
        "edgedg.commands.check",
        "cli",
        "Check exported graphs against the PyTorch reference.",
    ),
    "stream": (
        "edgedg.commands.stream",
        "cli",
        "Segment a camera, video, RTSP stream or image folder.",
    ),
    "bench": ("edgedg.commands.bench", "cli", "Runtime latency per norm mode, as ratios to plain."),
    "bench-train": ("edgedg.commands.bench_train", "cli", "Training step time: AGG vs MLDG."),
    "ablation": ("edgedg.commands.ablation", "cli", "The paper's ablation on synthetic domains."),
    "scenarios": (
        "edgedg.commands.scenarios",
        "cli",
        "Which norm mode when: degenerate frames, scene cuts, small inputs, restarts.",
    ),
    "doctor": ("edgedg.commands.doctor", "cli", "What this machine can run, and what to install."),
    "demo": (
        "edgedg.commands.demo",
        "cli",
        "The whole pipeline on the built-in synthetic domains.",
    ),
}


def _exists(verb: str) -> bool:
    try:
        return importlib.util.find_spec(VERBS[verb][0]) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(v for v in VERBS if _exists(v))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in VERBS or not _exists(cmd_name):
            return None
        module, attr, _ = VERBS[cmd_name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text from the table above: listing verbs must not import them.
        rows = [(v, VERBS[v][2]) for v in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeDGError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgedg")
def cli() -> None:
    """edgedg: train MLDG segmentation over source domains, export it with unfolded BatchNorm,
    and run it on a camera with a style bank of target statistics."""


def main() -> None:
    cli(prog_name="edgedg")
