"""A PNG chart of per-class IoU per mode (matplotlib, Agg backend, imported on use)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgedg.evaluate.report import write_atomic
from edgedg_runtime.errors import require


def write_chart(path: str | os.PathLike, report: dict[str, Any], classes: Sequence[str]) -> None:
    """Grouped bars: IoU (%) of each class on the mixed stream, one bar per mode."""
    matplotlib = require("matplotlib", "train", "the --chart option")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(report["modes"])
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(modes))
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(classes)), 4.5))
    for j, mode in enumerate(modes):
        iou = report["modes"][mode]["mixed"]["iou_mean"]
        values = [100 * v if v is not None else 0.0 for v in iou]
        miou = 100 * report["modes"][mode]["mixed"]["miou_mean"]
        ax.bar(x + (j - (len(modes) - 1) / 2) * width, values, width, label=f"{mode} ({miou:.1f})")
    ax.set_xticks(x, list(classes), rotation=60, ha="right")
    ax.set_ylabel("IoU (%)")
    ax.set_title("Per-class IoU on the target stream (legend: mIoU)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
