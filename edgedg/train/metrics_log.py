"""The run's metrics log: ``RUN/metrics.jsonl``, optionally mirrored to TensorBoard."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from edgedg_runtime.errors import require
from edgedg_runtime.fileio import write_atomic


class MetricsLog:
    """Append-only JSONL log (``RUN/metrics.jsonl``) with optional TensorBoard mirroring.

    On resume at iteration k, records of later iterations (written after the checkpoint the run
    resumes from) are dropped, so the log reads like an uninterrupted run; so are torn records
    (a line cut by a power loss or a full disk), with a warning.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = False, resume_from: int | None = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_from is not None and self.path.exists():
            keep = _records_up_to(self.path, resume_from)
            write_atomic(self.path, "".join(line + "\n" for line in keep).encode("utf-8"))
        elif resume_from is None and self.path.exists():
            self.path.unlink()
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            require("tensorboard", "dev", "--tensorboard")
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tb"))

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in record.items():
                if key != "iter" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["iter"])

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _records_up_to(path: Path, iteration: int) -> list[str]:
    """The lines of the log at ``path`` up to ``iteration``, torn ones dropped with a warning."""
    keep, torn = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            torn += 1
        elif record.get("iter", 0) <= iteration:
            keep.append(line)
    if torn:
        warnings.warn(
            f"{path}: dropped {torn} torn record(s) (a line cut by a power loss or a full disk)",
            stacklevel=3,
        )
    return keep
