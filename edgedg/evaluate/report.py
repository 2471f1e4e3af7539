"""Output of an evaluation: the stdout table, the JSON report, Cityscapes-format predictions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgedg_runtime import fileio
from edgedg_runtime.fileio import write_atomic


def write_json(path: str | os.PathLike, report: dict[str, Any]) -> None:
    """The report as indented JSON (NaN written as null), atomically."""
    fileio.write_json(path, _nan_to_none(report))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def _cell(entry: dict[str, Any]) -> str:
    mean, std = 100 * entry["miou_mean"], 100 * entry["miou_std"]
    return f"{mean:6.2f} +- {std:5.2f}"


def format_table(report: dict[str, Any]) -> str:
    """mIoU (%) mean +- std per mode (rows) for each target and the mixed stream (columns)."""
    targets = list(report["targets"])
    header = ["mode", "runs"] + targets + ["mixed"]
    rows = []
    for mode, result in report["modes"].items():
        cells = [_cell(result["targets"][t]) for t in targets] + [_cell(result["mixed"])]
        rows.append([mode, str(result["runs"])] + cells)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cityscapes_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """uint8 labelIds from trainIds (cityscapesscripts' table; trainIds outside it -> 0)."""
    from cityscapesscripts.helpers.labels import trainId2label

    lut = np.zeros(256, dtype=np.uint8)
    for train_id, label in trainId2label.items():
        if 0 <= train_id < 255:
            lut[train_id] = label.id
    return lut[train_ids.astype(np.uint8)]


def save_prediction(
    folder: str | os.PathLike,
    name: str,
    train_ids: np.ndarray,
    frame_bgr: np.ndarray | None = None,
    colors: Sequence[Sequence[int]] | None = None,
) -> Path:
    """Write ``folder/labelIds/<name>.png`` (Cityscapes labelIds, the format the official script
    reads) and, with a frame, ``folder/overlay/<name>.jpg`` (class colours blended on the frame,
    resized to the frame). ``colors`` are RGB per trainId. Returns the labelIds path."""
    import cv2

    folder = Path(folder)
    ok, png = cv2.imencode(".png", cityscapes_label_ids(train_ids))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {name}")
    out = folder / "labelIds" / f"{name}.png"
    write_atomic(out, png.tobytes())
    if frame_bgr is not None and colors is not None:
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette[: len(colors)] = np.asarray(colors, dtype=np.uint8)[:, ::-1]  # RGB -> BGR
        h, w = frame_bgr.shape[:2]
        ids = cv2.resize(train_ids.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        blend = cv2.addWeighted(frame_bgr, 0.5, palette[ids], 0.5, 0.0)
        ok, jpg = cv2.imencode(".jpg", blend)
        if ok:
            write_atomic(folder / "overlay" / f"{name}.jpg", jpg.tobytes())
    return out
