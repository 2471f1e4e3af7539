"""The five driving datasets: label tables, real on-disk formats, transforms, multi-domain batches.

Importing this package loads no torch or cv2; the names below import their module on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "open_dataset": "edgedg.data.datasets",
    "SegmentationDataset": "edgedg.data.datasets",
    "open_writer": "edgedg.data.formats",
    "FORMATS": "edgedg.data.formats",
    "TrainTransform": "edgedg.data.transforms",
    "eval_transform": "edgedg.data.transforms",
    "IMAGENET_MEAN": "edgedg.data.transforms",
    "IMAGENET_STD": "edgedg.data.transforms",
    "MultiDomainBatches": "edgedg.data.sampler",
    "holdout": "edgedg.data.sampler",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgedg.data' has no attribute {name!r}")
