"""Option values: a non-finite float or an out-of-range number is a usage error (exit 2) in every
command, refused before any work starts."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from edgedg import cli as cli_module
from edgedg_runtime.cli_types import FiniteFloat


def _commands() -> dict[str, click.Command]:
    """Every command of `edgedg`, subcommands of groups by their full name."""
    found: dict[str, click.Command] = {}
    ctx = click.Context(cli_module.cli)
    for verb in cli_module.cli.list_commands(ctx):
        cmd = cli_module.cli.get_command(ctx, verb)
        if isinstance(cmd, click.Group):
            found.update({f"{verb} {n}": c for n, c in cmd.commands.items()})
        else:
            found[verb] = cmd
    return found


def _options(kind: type) -> list:
    return [
        pytest.param(name, p, id=f"{name} {p.opts[0]}")
        for name, cmd in _commands().items()
        for p in cmd.params
        if isinstance(p, click.Option) and isinstance(p.type, kind)
    ]


@pytest.mark.parametrize(("command", "option"), _options(click.types.FloatParamType))
def test_every_float_option_is_finite(command: str, option: click.Option) -> None:
    assert isinstance(option.type, FiniteFloat), f"{command} {option.opts[0]}"


@pytest.mark.parametrize(("command", "option"), _options(click.types.IntParamType))
def test_every_int_option_has_a_range(command: str, option: click.Option) -> None:
    assert isinstance(option.type, click.IntRange), f"{command} {option.opts[0]}"


def _run(args: list[str]) -> click.testing.Result:
    return CliRunner().invoke(cli_module.cli, args)


# Arguments that would otherwise get past parsing: the value under test must stop the command
# first (a missing file would be exit 1 too late, an existing folder is needed for exists=True).
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "args",
    [
        ["stream", "{dir}", "0", "--source-weight"],
        ["stream", "{dir}", "0", "--alpha"],
        ["stream", "{dir}", "0", "--timeout"],
        ["eval", "x.pt", "--target", "cityscapes:x", "--source-weight"],
        ["train", "--source", "cityscapes:x", "--out", "{dir}/run", "--lr"],
        ["train", "--source", "cityscapes:x", "--out", "{dir}/run", "--inner-lr"],
        ["train", "--source", "cityscapes:x", "--out", "{dir}/run", "--alpha"],
        ["train", "--source", "cityscapes:x", "--out", "{dir}/run", "--val-fraction"],
        ["data", "synth", "{dir}/out", "--val-fraction"],
    ],
    ids=lambda args: " ".join(args).replace("{dir}", "DIR"),
)
def test_non_finite_float_is_a_usage_error(args: list[str], value: str, tmp_path) -> None:
    result = _run([a.format(dir=tmp_path) for a in args] + [value])
    assert result.exit_code == 2, result.output
    assert "finite" in result.output or "range" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "{dir}", "--frames", "0"],
        ["bench", "{dir}", "--warmup", "-1"],
        ["eval", "x.pt", "--target", "cityscapes:x", "--runs", "0"],
        ["eval", "x.pt", "--target", "cityscapes:x", "--runs", "6"],
        ["data", "synth", "{dir}/out", "--per-domain", "0"],
        ["data", "synth", "{dir}/out", "--val-fraction", "1"],
        ["data", "synth", "{dir}/out", "--size", "8x8"],
        ["train", "--source", "cityscapes:x", "--out", "{dir}/run", "--iters", "0"],
        ["train", "--source", "cityscapes:x", "--out", "{dir}/run", "--workers", "-1"],
        ["train", "--source", "cityscapes:x", "--out", "{dir}/run", "--crop", "4"],
        ["export", "x.pt", "--out", "{dir}/m", "--opset", "5"],
        ["export", "x.pt", "--out", "{dir}/m", "--opset", "99"],
        ["export", "x.pt", "--out", "{dir}/m", "--max-batch", "0"],
        ["export", "x.pt", "--out", "{dir}/m", "--imgsz", "big"],
        ["stream", "{dir}", "0", "--input-width", "640"],
        ["stream", "{dir}", "0", "--input-height", "480"],
    ],
    ids=lambda args: " ".join(args).replace("{dir}", "DIR"),
)
def test_out_of_range_is_a_usage_error(args: list[str], tmp_path) -> None:
    result = _run([a.format(dir=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
