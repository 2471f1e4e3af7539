"""The run directory: what `edgedg train --out RUN` may find there, and what a kill leaves.

A run directory holds ``last.pt``, ``best.pt`` and ``metrics.jsonl``. Training into one that
already holds a run continues it (``resume``) or starts over when asked (``overwrite``); anything
else is refused, since a new run would replace ``best.pt`` and the log of the old one.
"""

from __future__ import annotations

from pathlib import Path

from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.fileio import remove_orphan_temps

RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")
CHECKPOINTS = ("last.pt", "best.pt")


def check_out_dir(out: str, resume: str | None, overwrite: bool) -> None:
    """Refuse to start a new run in ``out`` when it already holds one (see the module doc)."""
    if not out or resume or overwrite:
        return
    found = [name for name in RUN_FILES if (Path(out) / name).exists()]
    if found:
        raise EdgeDGError(
            f"{out} already holds a run ({', '.join(found)}): continue it with --resume "
            f"{Path(out) / 'last.pt'}, start over with --overwrite, or choose another --out"
        )


def remove_orphans(run_dir: Path) -> list:
    """Remove the temp files a killed checkpoint save leaves (``.last.pt.XXXXXXXX.tmp``, about
    a checkpoint's size each). Called at the start of a run, by the one process that writes it."""
    removed = []
    for name in CHECKPOINTS:
        removed += remove_orphan_temps(Path(run_dir) / name)
    return removed
