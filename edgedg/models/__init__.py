"""Segmentation models whose every norm layer is a StatNorm2d (see `edgedg.norm`).

`create_model(name, num_classes, output_stride, head, pretrained)` builds a registered backbone
(`BACKBONES`: tiny, resnet18/34/50/101) with a registered head (`HEADS`: fcn, aspp).
"""

from edgedg.models.heads import HEADS, create_head
from edgedg.models.resnet import BACKBONES, create_backbone
from edgedg.models.segmodel import ModelConfig, SegModel, create_model, load_backbone_weights

__all__ = [
    "BACKBONES",
    "HEADS",
    "ModelConfig",
    "SegModel",
    "create_backbone",
    "create_head",
    "create_model",
    "load_backbone_weights",
]
