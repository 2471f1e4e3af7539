"""The target stream: several datasets mixed into one shuffled order, frames at the model input.

Each run of a stochastic mode uses one of the paper's seeds for the order. Frames are cut the way
the protocol says and reach the reference as uint8 BGR at ONE input size (a bank needs equal sizes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgedg.data.transforms import paper_crop
from edgedg.evaluate.modes import SEEDS  # noqa: F401 (re-exported)
from edgedg_runtime.errors import DataError

PROTOCOLS = ("paper", "full")


def stream_order(lengths: Sequence[int], seed: int) -> list[tuple[int, int]]:
    """(target index, item index) for every item of every target, shuffled together by ``seed``."""
    items = [(t, i) for t, n in enumerate(lengths) for i in range(n)]
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[j] for j in order.tolist()]


def input_size(protocol: str, size: int, first_shape: tuple[int, int]) -> tuple[int, int]:
    """(H, W) of the model input. ``paper``: size x size. ``full``: long side ``size`` with the
    aspect of the stream's first image (all frames are resized to it, as the runtime does)."""
    if protocol not in PROTOCOLS:
        raise DataError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    if size < 8:
        raise DataError(f"--size must be at least 8 pixels, got {size}")
    if protocol == "paper":
        return size, size
    h, w = first_shape
    scale = size / max(h, w)
    return max(8, round(h * scale)), max(8, round(w * scale))


def prepare(
    image_rgb: np.ndarray, label: np.ndarray, protocol: str, hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(frame uint8 BGR [H, W, 3] at ``hw``, label to score against).

    ``paper`` (the published code): short side resized to the crop side (image bilinear, label
    nearest), then the central square of both. ``full``: the image resized to ``hw`` (area), the
    label kept at full resolution; the caller upsamples the logits to it.
    """
    import cv2

    if protocol == "full":
        frame = cv2.resize(image_rgb, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame[..., ::-1]), label
    image, label = paper_crop(image_rgb, label, hw[0])
    return np.ascontiguousarray(image[..., ::-1]), label
