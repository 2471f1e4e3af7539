"""Fixtures for the evaluation tests: a tiny checkpoint and small generated target domains."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from edgedg.checkpoint import class_table, save_checkpoint
from edgedg.data import open_writer
from edgedg.models import create_model
from edgedg.norm import StatNorm2d


def tiny_checkpoint(path: Path, head: str = "fcn") -> Path:
    """A tiny 19-class model with non-trivial running statistics, saved as an edgedg checkpoint."""
    torch.manual_seed(0)
    model = create_model("tiny", num_classes=19, head=head)
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, StatNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    classes, colors = class_table()
    meta = {
        "model": {"name": "tiny", "num_classes": 19, "output_stride": 8, "head": head},
        "classes": classes,
        "colors": colors,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "imgsz": [32, 64],
    }
    save_checkpoint(path, model, meta)
    return path


def write_domain(
    root: Path, n: int, brightness: float, seed: int, fmt: str = "cityscapes", n_train: int = 0
) -> str:
    """``n`` val (and ``n_train`` train) images 32x64 of blocky classes with a domain-specific
    brightness; returns the "FORMAT:PATH" spec."""
    rng = np.random.default_rng(seed)
    with open_writer(fmt, root) as writer:
        for k in range(n + n_train):
            split, i = ("val", k) if k < n else ("train", k - n)
            blocks = rng.integers(0, 19, size=(4, 8))
            label = np.kron(blocks, np.ones((8, 8), dtype=np.int64)).astype(np.uint8)
            label[rng.random(label.shape) < 0.05] = 255
            base = (label.astype(np.float64) * 11.0 + brightness) % 256
            noise = rng.normal(0, 12, (32, 64, 3))
            image = (base[..., None] * np.array([1.0, 0.8, 0.6]) + noise).clip(0, 255)
            writer.add(split, i, image.astype(np.uint8), label)
    return f"{fmt}:{root}"


def official_miou(pred_dir: Path, gt_files: list[Path]) -> float:
    """mIoU by cityscapesscripts' official evaluation of the labelId PNGs under ``pred_dir``."""
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

    args = copy.copy(official.args)
    args.evalInstLevelScore = False
    args.JSONOutput = False
    args.quiet = True
    args.predictionPath = str(pred_dir)
    args.predictionWalk = None
    preds = [official.getPrediction(args, str(f)) for f in gt_files]
    result = official.evaluateImgLists(preds, [str(f) for f in gt_files], args)
    return float(result["averageScoreClasses"])
