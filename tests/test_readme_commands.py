"""The README's commands run as written.

Every fenced ``bash`` block of README.md is read at test time. Lines with a trailing
``# needs: gpu|camera|jetson|dataset|long`` comment are not run here; every other line runs, in
order, in one temporary folder with the venv's ``edgedg`` and ``python`` first on the PATH, and a
failure names the README line. Every ``edgedg`` line of any shell or unlabelled block (marked or
not) is also parsed by the real click commands, so a renamed option breaks this test at once.
"""

from __future__ import annotations

import subprocess

import pytest
from _samples_helpers import (
    NEED_TAGS,
    ROOT,
    edgedg_args,
    fenced_blocks,
    logical_lines,
    needs,
    runtime_args,
    split_shell,
    tool_env,
    validate_edgedg,
)

README = ROOT / "README.md"
RUN_TIMEOUT = 600  # seconds per README line


def _readme() -> str:
    if not README.exists():
        pytest.skip("README.md is not written yet")
    return README.read_text(encoding="utf-8")


def _shell_lines(langs: set[str]) -> list[tuple[int, str]]:
    """(README line of the block, logical line) for every command of the blocks in ``langs``."""
    return [
        (start, line)
        for start, lines in fenced_blocks(_readme(), langs)
        for line in logical_lines(lines)
    ]


def test_block_extraction_on_a_known_text():
    text = (
        "intro\n```bash\nedgedg doctor\nedgedg train \\\n  --iters 3  # needs: gpu\n```\n"
        "```python\nprint(1)\n```\n   ```bash\n   # a comment\n   ls\n   ```\n"
    )
    blocks = fenced_blocks(text)
    assert [start for start, _ in blocks] == [2, 10]
    lines = logical_lines(blocks[0][1])
    assert lines == ["edgedg doctor", "edgedg train --iters 3  # needs: gpu"]
    assert needs(lines[1]) == {"gpu"} and needs(lines[0]) == set()
    assert logical_lines(blocks[1][1]) == ["ls"]
    assert edgedg_args(split_shell("torchrun --nproc-per-node 2 -m edgedg train --iters 3")) == [
        "train",
        "--iters",
        "3",
    ]


def test_needs_marks_use_known_tags():
    for start, line in _shell_lines({"bash", "sh", "shell", ""}):
        unknown = needs(line) - NEED_TAGS
        assert not unknown, f"README block at line {start}: unknown needs tag {unknown} in: {line}"


def _parse_lines(text: str, where: str) -> int:
    """Dry-parse every `edgedg` / `edgedg-runtime` line of ``text``'s shell blocks; the count."""
    checked = 0
    for start, lines in fenced_blocks(text, {"bash", "sh", "shell", ""}):
        for line in logical_lines(lines):
            if not line.lstrip().startswith("edgedg") and "-m edgedg" not in line:
                continue
            argv = split_shell(line)
            args, program = edgedg_args(argv), "edgedg"
            if args is None:
                args, program = runtime_args(argv), "edgedg-runtime"
            if args is None:
                continue
            try:
                validate_edgedg(args, program)
            except Exception as exc:  # a usage error or a missing verb: report the line
                pytest.fail(f"{where} block at line {start}: `{line}` does not parse: {exc}")
            checked += 1
    return checked


def test_every_edgedg_line_parses():
    """Dry validation of every edgedg command line, runnable here or not (files need not exist)."""
    checked = _parse_lines(_readme(), "README")
    assert checked > 0, "the README shows no edgedg command line"


DOC_PAGES = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "DESIGN.md")


@pytest.mark.parametrize("page", DOC_PAGES)
def test_every_edgedg_line_of_the_docs_parses(page):
    """The docs pages' commands (each number's command among them) parse as written too
    (DESIGN.md's CLI section is a synopsis with alternatives, not command lines)."""
    _parse_lines((ROOT / "docs" / page).read_text(encoding="utf-8"), f"docs/{page}")


@pytest.mark.slow
def test_readme_bash_blocks_run(tmp_path):
    runnable = [(s, line) for s, line in _shell_lines({"bash", "sh", "shell"}) if not needs(line)]
    if not runnable:
        pytest.skip("the README has no runnable bash line yet")
    env = tool_env()
    for start, line in runnable:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-2000:]
            pytest.fail(f"README block at line {start}: `{line}` exited {proc.returncode}:\n{tail}")
