"""The segmentation model: a dilated ResNet trunk, a head, bilinear upsampling to the input size."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedg.models.heads import create_head
from edgedg.models.resnet import create_backbone
from edgedg_runtime.errors import CheckpointError, EdgeDGError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelConfig:
    """What rebuilds a model: stored as ``meta["model"]`` in every checkpoint."""

    name: str = "resnet50"
    num_classes: int = 19
    output_stride: int = 8
    head: str = "fcn"


class SegModel(nn.Module):
    """Normalised float image [N, 3, H, W] -> logits [N, classes, H, W] at the input size.

    ``stem`` is the first convolution; its output before the first norm layer is the image style.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.num_classes < 1:
            raise EdgeDGError(f"num_classes must be positive, got {config.num_classes}")
        self.config = config
        self.backbone = create_backbone(config.name, config.output_stride)
        self.head = create_head(
            config.head,
            self.backbone.out_channels,
            config.num_classes,
            config.output_stride,
            width=self.backbone.head_width,  # from the backbone's registered spec
        )

    @property
    def stem(self) -> nn.Conv2d:
        return self.backbone.conv1

    @property
    def style_channels(self) -> int:
        return self.stem.out_channels

    def forward(self, x: Tensor) -> Tensor:
        logits = self.head(self.backbone(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def create_model(
    name: str,
    num_classes: int = 19,
    output_stride: int = 8,
    head: str = "fcn",
    pretrained: str | None = None,
) -> SegModel:
    """Build a registered backbone + head. ``pretrained``: a torchvision-format ImageNet state dict
    file for the backbone (missing / unexpected keys are logged; a shape mismatch is refused).
    A name missing from ``BACKBONES`` or ``HEADS`` is refused by its ``create_*`` function."""
    model = SegModel(ModelConfig(name, int(num_classes), int(output_stride), head))
    if pretrained is not None:
        load_backbone_weights(model.backbone, pretrained)
    return model


def load_backbone_weights(backbone: nn.Module, path: str) -> tuple[list[str], list[str]]:
    """Load a torchvision-format state dict into ``backbone``. Returns (missing, unexpected) keys.

    The ImageNet classifier (``fc.*``) is expected to be unused and is not reported as a problem.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(
            f"no pretrained weights at {path}: pass a torchvision ResNet state dict (.pth)"
        ) from None
    except Exception as exc:
        raise CheckpointError(
            f"cannot read pretrained weights {path} ({exc}): pass a torchvision ResNet state "
            "dict saved with torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors (torchvision format)")
    own = backbone.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise CheckpointError(
                f"pretrained weights {path}: '{key}' has shape {list(value.shape)}, the model "
                f"needs {list(own[key].shape)}; the file is for another architecture"
            )
    result = backbone.load_state_dict(state, strict=False)
    unexpected = [k for k in result.unexpected_keys if not k.startswith("fc.")]
    if result.missing_keys:
        log.warning(
            "pretrained %s: %d missing keys: %s",
            path,
            len(result.missing_keys),
            ", ".join(result.missing_keys[:10]),
        )
    if unexpected:
        log.warning(
            "pretrained %s: %d unexpected keys: %s",
            path,
            len(unexpected),
            ", ".join(unexpected[:10]),
        )
    return list(result.missing_keys), unexpected
