"""The ignore label, the confusion matrix and its scores (IoU, mIoU), numpy only.

One definition for training-time validation and for evaluation (the published protocol: one
confusion matrix over the whole dataset, then per-class IoU).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

IGNORE = 255  # the label of pixels that no loss or score counts


def confusion(pred: np.ndarray, label: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 [K, K] counts, rows = ground truth, columns = prediction. Pixels labelled outside
    0..K-1 (IGNORE) are dropped; a prediction outside 0..K-1 is a bug and raises."""
    if pred.shape != label.shape:
        raise ValueError(f"prediction {pred.shape} and label {label.shape} differ in size")
    keep = (label >= 0) & (label < num_classes)
    p = pred[keep].astype(np.int64)
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f"predictions must lie in 0..{num_classes - 1}")
    idx = label[keep].astype(np.int64) * num_classes + p
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def class_iou(conf: np.ndarray) -> np.ndarray:
    """float64 [K]: intersection / union per class; nan where the union is empty."""
    conf = np.asarray(conf, dtype=np.float64)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def scores(conf: np.ndarray) -> dict[str, Any]:
    """mIoU (nanmean over classes with a non-empty union), per-class IoU (None where undefined)
    and pixel accuracy of one confusion matrix."""
    iou = class_iou(conf)
    total = float(np.asarray(conf).sum())
    return {
        "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "iou": [None if np.isnan(v) else float(v) for v in iou],
        "pixel_acc": float(np.trace(conf) / total) if total else float("nan"),
        "pixels": int(total),
    }


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and population std (ddof 0) over runs of :func:`scores` results; per-class IoU is the
    mean over the runs where it is defined."""
    miou = np.array([r["miou"] for r in runs], dtype=np.float64)
    acc = np.array([r["pixel_acc"] for r in runs], dtype=np.float64)
    iou = np.array([[np.nan if v is None else v for v in r["iou"]] for r in runs], np.float64)
    with warnings.catch_warnings():  # all-nan columns: classes never present
        warnings.simplefilter("ignore", RuntimeWarning)
        per_class = np.nanmean(iou, axis=0)
    return {
        "miou_mean": float(miou.mean()),
        "miou_std": float(miou.std()),
        "miou_runs": [float(v) for v in miou],
        "pixel_acc_mean": float(acc.mean()),
        "iou_mean": [None if np.isnan(v) else float(v) for v in per_class],
    }
