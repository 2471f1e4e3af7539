"""Fixtures for the export tests: a tiny checkpoint with non-trivial BatchNorm statistics."""

from __future__ import annotations

from pathlib import Path

import torch

from edgedg.checkpoint import save_checkpoint
from edgedg.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from edgedg.models import create_model
from edgedg.norm import norm_layers

NUM_CLASSES = 5
IMGSZ = (64, 128)


def randomize_norms(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every norm layer non-trivial running stats and affine parameters, as after training."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, m in norm_layers(model):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.copy_(torch.rand(c, generator=gen) * 0.4 - 0.2)
    return model.eval()


def tiny_meta(model: torch.nn.Module, imgsz: tuple[int, int] = IMGSZ) -> dict:
    cfg = model.config
    n = cfg.num_classes
    return {
        "model": {
            "name": cfg.name,
            "num_classes": n,
            "output_stride": cfg.output_stride,
            "head": cfg.head,
        },
        "classes": [f"c{i}" for i in range(n)],
        "colors": [[10 * i, 20 * i, 30 * i] for i in range(n)],
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "imgsz": list(imgsz),
        "version": "test",
    }


def tiny_checkpoint(
    path: Path, head: str = "fcn", name: str = "tiny", imgsz: tuple[int, int] = IMGSZ
) -> Path:
    torch.manual_seed(0)
    model = randomize_norms(create_model(name, num_classes=NUM_CLASSES, head=head))
    save_checkpoint(path, model, tiny_meta(model, imgsz))
    return path


def export_tiny(root: Path, **options) -> Path:
    """A model directory exported from a fresh tiny checkpoint at 32x64 into ``root/model``."""
    from edgedg_export.model_dir import ExportOptions, export_model_dir

    out = Path(root) / "model"
    checkpoint = tiny_checkpoint(Path(root) / "tiny.pt")
    export_model_dir(checkpoint, out, ExportOptions(imgsz=(32, 64), **options))
    return out
