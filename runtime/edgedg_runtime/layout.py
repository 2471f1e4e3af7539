"""The stat layout: where each BatchNorm layer's channels sit in the packed statistic tensors.

`norm_prior` [3, S] and `frame_stats` [2, S] pack every norm layer's per-channel values side by
side, in forward order. The layout is part of the model contract; its hash ties a saved style bank
to the model that filled it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

# Every graph node that computes statistics carries this in its name (the exporter names them), so
# that an FP16 build keeps them in FP32 (the TensorRT builder pins and checks them).
STAT_MARK = "/stat/"


@dataclass(frozen=True)
class NormLayer:
    """One norm layer: its module name, channel count, offset in the packed layout, and whether it
    is fixed (per-frame statistics meaningless, e.g. a 1x1 global-pooling branch: w = 0 always)."""

    name: str
    channels: int
    offset: int
    fixed: bool = False


@dataclass(frozen=True)
class StatLayout:
    """The ordered norm layers of a model; ``total`` is S."""

    layers: tuple[NormLayer, ...]

    @classmethod
    def from_channels(cls, entries: Sequence[tuple[str, int, bool]]) -> StatLayout:
        """Build a layout from (name, channels, fixed) in forward order, assigning offsets."""
        layers, offset = [], 0
        for name, channels, fixed in entries:
            layers.append(NormLayer(str(name), int(channels), offset, bool(fixed)))
            offset += int(channels)
        return cls(tuple(layers))

    @property
    def total(self) -> int:
        return sum(layer.channels for layer in self.layers)

    def fixed_mask(self) -> np.ndarray:
        """Bool [S]: True on the columns of fixed layers."""
        mask = np.zeros(self.total, dtype=bool)
        for layer in self.layers:
            if layer.fixed:
                mask[layer.offset : layer.offset + layer.channels] = True
        return mask

    def hash(self) -> str:
        """sha256 of the names, channel counts and fixed flags: equal iff banks are exchangeable."""
        canon = json.dumps(
            [[x.name, x.channels, x.fixed] for x in self.layers], separators=(",", ":")
        )
        return hashlib.sha256(canon.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "hash": self.hash(),
            "layers": [
                {"name": x.name, "channels": x.channels, "offset": x.offset, "fixed": x.fixed}
                for x in self.layers
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatLayout:
        layout = cls.from_channels(
            [(x["name"], x["channels"], x.get("fixed", False)) for x in data["layers"]]
        )
        offsets: list[int] = [int(x["offset"]) for x in data["layers"]]
        if offsets != [x.offset for x in layout.layers] or int(data["total"]) != layout.total:
            raise ValueError("stat layout offsets or total do not match the channel counts")
        return layout
