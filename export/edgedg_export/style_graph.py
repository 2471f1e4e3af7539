"""style.onnx: the stem's per-image channel statistics, the style a bank selects by (DESIGN 3).

`image` -> `style` [N, 2, C]: the mean and biased variance over H, W of the stem output BEFORE the
first norm layer. A graph of its own, sharing only the stem (and the preprocessing pass) with the
segment graph; its statistic nodes carry the STAT_MARK, so an FP16 build keeps them in FP32.
"""

from __future__ import annotations

import onnx
import torch
from torch import Tensor, nn

from edgedg_export.onnx_export import GraphOptions, checked_graph, trace_onnx
from edgedg_export.passes import add_preprocessing
from edgedg_runtime.layout import STAT_MARK


class StyleNet(nn.Module):
    """The stem conv, then per-image channel mean and biased variance over H, W: [N, 2, C]."""

    def __init__(self, stem: nn.Module):
        super().__init__()
        self.stem = stem

    def forward(self, x: Tensor) -> Tensor:
        f = self.stem(x).float()
        mu = f.mean(dim=(2, 3), keepdim=True)
        var = (f - mu).square().mean(dim=(2, 3))
        return torch.stack([mu.flatten(1), var], dim=1)


def style_onnx(model: nn.Module, opts: GraphOptions) -> onnx.ModelProto:
    """style.onnx: `image` -> `style` [N, 2, C] of the stem output before the first norm layer."""
    with torch.no_grad():
        net = StyleNet(model.stem).eval()
        proto = trace_onnx(net, (1, 3, opts.height, opts.width), ["style"], opts.opset, fold=True)
    mark_statistics(proto, "style")
    return checked_graph(add_preprocessing(proto, opts.mean, opts.std, opts.io))


def mark_statistics(proto: onnx.ModelProto, prefix: str) -> None:
    """Name every node but the convolutions ``<prefix>/stat/...``: statistics, FP32 always."""
    for i, node in enumerate(proto.graph.node):
        if node.op_type != "Conv":
            node.name = f"{prefix}{STAT_MARK}{node.name or i}"
