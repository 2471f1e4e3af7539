"""The names of the registered backbones and heads, importable without torch.

The registries (`edgedg.models.BACKBONES`, `edgedg.models.HEADS`) hold the modules and need torch;
`edgedg train`'s options list these names without loading it. A test keeps the two in agreement.
"""

from __future__ import annotations

BACKBONE_NAMES = ("tiny", "resnet18", "resnet34", "resnet50", "resnet101")
HEAD_NAMES = ("fcn", "aspp")
