"""Source validation: the confusion matrix of a model over (image, label) samples."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedg.metrics import confusion


@torch.no_grad()
def validation_confusion(
    model: nn.Module,
    samples: Iterable[tuple[Tensor, Tensor]],
    num_classes: int,
    device: torch.device,
    amp: bool = False,
) -> np.ndarray:
    """Confusion matrix of ``model`` (eval mode: source running statistics) over (image [3,H,W],
    label [h,w]) pairs; logits are upsampled to the label size when it differs."""
    was_training = model.training
    model.eval()
    total = np.zeros((num_classes, num_classes), dtype=np.int64)
    try:
        for image, label in samples:
            with torch.autocast(device.type, torch.bfloat16, enabled=amp):
                logits = model(image[None].to(device))
            if logits.shape[-2:] != label.shape[-2:]:
                logits = F.interpolate(
                    logits.float(), label.shape[-2:], mode="bilinear", align_corners=False
                )
            pred = logits.argmax(1)[0].cpu()
            total += confusion(pred.numpy(), label.numpy(), num_classes)
    finally:
        model.train(was_training)
    return total
