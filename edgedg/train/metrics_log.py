"""The run's metrics log: ``RUN/metrics.jsonl``, optionally mirrored to TensorBoard."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgedg_runtime.errors import require


class MetricsLog:
    """Append-only JSONL log (``RUN/metrics.jsonl``) with optional TensorBoard mirroring.

    On resume at iteration k, records of later iterations (written after the checkpoint the run
    resumes from) are dropped, so the log reads like an uninterrupted run.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = False, resume_from: int | None = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_from is not None and self.path.exists():
            keep = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("iter", 0) <= resume_from
            ]
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(line + "\n" for line in keep))
            os.replace(tmp, self.path)
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
