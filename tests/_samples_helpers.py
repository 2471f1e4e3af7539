"""Helpers for the samples and README tests: shell command lines and their dry validation by the
`edgedg` click group (every option, choice and type checked; files need not exist)."""

from __future__ import annotations

import copy
import os
import re
import shlex
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
NEEDS = re.compile(r"#\s*needs:\s*([\w|, -]+?)\s*$")
NEED_TAGS = {"gpu", "camera", "jetson", "dataset", "long"}
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGS = {"bash", "sh", "shell"}


def tool_env() -> dict[str, str]:
    """The environment with the venv's bin first, so `edgedg` and `python` are the venv's."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def fenced_blocks(markdown: str, langs: set[str] = SHELL_LANGS) -> list[tuple[int, list[str]]]:
    """(line number of the opening fence, lines) of every fenced block in one of ``langs``."""
    blocks, inside, keep, start, lines = [], False, False, 0, []
    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if not inside:
            match = FENCE.match(stripped)
            if match:
                inside, keep, start, lines = True, match.group(1) in langs, number, []
        elif stripped == "```":
            if keep:
                blocks.append((start, lines))
            inside = False
        else:
            lines.append(line)
    return blocks


def logical_lines(lines: list[str]) -> list[str]:
    """Shell lines with backslash continuations joined; blank and comment-only lines dropped."""
    out, pending = [], ""
    for raw in lines:
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = (pending + line.strip()).strip()
        pending = ""
        if line and not line.startswith("#"):
            out.append(line)
    return out


def needs(line: str) -> set[str]:
    """The tags of a trailing ``# needs: gpu|camera`` comment (empty when none)."""
    match = NEEDS.search(line)
    return set(re.split(r"[|, ]+", match.group(1).strip())) - {""} if match else set()


def edgedg_args(argv: list[str]) -> list[str] | None:
    """The arguments after `edgedg` (also `python -m edgedg` and `torchrun ... -m edgedg`), or
    None when ``argv`` is another program."""
    if argv and Path(argv[0]).name == "edgedg":
        return argv[1:]
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "edgedg":
            return argv[i + 2 :]
    return None


def runtime_args(argv: list[str]) -> list[str] | None:
    """The arguments after `edgedg-runtime` (also `python -m edgedg_runtime`), or None."""
    if argv and Path(argv[0]).name == "edgedg-runtime":
        return argv[1:]
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "edgedg_runtime":
            return argv[i + 2 :]
    return None


def _dry(command: click.Command) -> click.Command:
    """A copy of ``command`` whose path parameters do not require the path to exist."""
    command = copy.copy(command)
    params = []
    for param in command.params:
        if isinstance(param.type, click.Path) and param.type.exists:
            param = copy.copy(param)
            param.type = copy.copy(param.type)
            param.type.exists = False
        params.append(param)
    command.params = params
    return command


def validate_edgedg(args: list[str], program: str = "edgedg") -> str:
    """Parse ``edgedg ARGS`` (or ``edgedg-runtime ARGS``) with the real click commands (not
    invoked); returns the verb path. Raises click.UsageError / AssertionError naming what is
    wrong."""
    if program == "edgedg-runtime":
        from edgedg_runtime.cli import cli
    else:
        from edgedg.cli import cli

    command: click.Command = cli
    path, rest = [program], list(args)
    while isinstance(command, click.Group):
        assert rest, f"`{' '.join(path)}` needs a sub-command"
        name = rest.pop(0)
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"`{' '.join(path)}` has no sub-command `{name}`"
        command, path = sub, path + [name]
    _dry(command).make_context(" ".join(path), rest)
    return " ".join(path)


def split_shell(line: str) -> list[str]:
    """shlex words of a line without its trailing comment."""
    return shlex.split(line, comments=True)
