"""Dilated ResNet backbones with StatNorm2d as every norm layer.

Module and parameter names follow torchvision's ResNet (conv1, bn1, layer1.0.conv1, ...,
layer2.0.downsample.0/1), so an ImageNet state dict in torchvision format loads directly. Modules
are registered in the order they run, which keeps `edgedg.norm.norm_layers` in forward order.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from edgedg.norm import StatNorm2d
from edgedg_runtime.errors import EdgeDGError


def _conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34 and the tiny backbone)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, dilation: int = 1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride, dilation)
        self.bn1 = StatNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = StatNorm2d(planes)
        self.downsample = downsample  # registered last: it runs after bn2

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 block with 4x expansion (ResNet-50/101), stride on the 3x3 as torchvision."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, dilation: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = StatNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = StatNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = StatNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample  # registered last: it runs after bn3

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


@dataclass(frozen=True)
class ResNetSpec:
    """Block type, blocks per stage, stem width, per-stage widths (before expansion) and the
    hidden width of the head on top (None: the head's published width)."""

    block: type[nn.Module]
    layers: tuple[int, int, int, int]
    stem: int = 64
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    head_width: int | None = None


class ResNet(nn.Module):
    """A ResNet trunk without the classifier, dilated to output stride 8 or 16.

    Stride-to-dilation follows torchvision's ``replace_stride_with_dilation``: the first block of
    a dilated stage keeps the previous dilation, the following blocks use the new one.
    """

    def __init__(self, spec: ResNetSpec, output_stride: int = 8):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise EdgeDGError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        dilate = {8: (False, True, True), 16: (False, False, True), 32: (False, False, False)}
        self.inplanes, self.dilation = spec.stem, 1
        self.conv1 = nn.Conv2d(3, spec.stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = StatNorm2d(spec.stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        w, n, d = spec.widths, spec.layers, dilate[output_stride]
        self.layer1 = self._make_layer(spec.block, w[0], n[0], 1, False)
        self.layer2 = self._make_layer(spec.block, w[1], n[1], 2, d[0])
        self.layer3 = self._make_layer(spec.block, w[2], n[2], 2, d[1])
        self.layer4 = self._make_layer(spec.block, w[3], n[3], 2, d[2])
        self.out_channels = self.inplanes
        self.output_stride = output_stride
        self.head_width = spec.head_width

    def _make_layer(
        self, block: type[nn.Module], planes: int, blocks: int, stride: int, dilate: bool
    ) -> nn.Sequential:
        previous = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        out = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out, 1, stride=stride, bias=False), StatNorm2d(out)
            )
        layers = [block(self.inplanes, planes, stride, previous, downsample)]
        self.inplanes = out
        layers += [block(out, planes, 1, self.dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


BACKBONES: dict[str, ResNetSpec] = {
    "tiny": ResNetSpec(BasicBlock, (1, 1, 1, 1), stem=16, widths=(16, 32, 48, 64), head_width=32),
    "resnet18": ResNetSpec(BasicBlock, (2, 2, 2, 2)),
    "resnet34": ResNetSpec(BasicBlock, (3, 4, 6, 3)),
    "resnet50": ResNetSpec(Bottleneck, (3, 4, 6, 3)),
    "resnet101": ResNetSpec(Bottleneck, (3, 4, 23, 3)),
}


def create_backbone(name: str, output_stride: int = 8) -> ResNet:
    """A registered backbone by name; a miss lists the valid names."""
    if name not in BACKBONES:
        raise EdgeDGError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}")
    return ResNet(BACKBONES[name], output_stride)
