"""Label visualisation: colour masks, overlays on the frame, and a class legend.

Colours come from the contract (RGB); OpenCV images are BGR, so ``palette_bgr`` converts once and
pads to 256 entries so that any uint8 label indexes it (labels outside the classes are black).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgedg_runtime.errors import require

VIEWS = ("overlay", "mask")


def _cv2():
    return require("cv2", "camera", "Drawing overlays")


def palette_bgr(colors_rgb: Sequence[Sequence[int]]) -> np.ndarray:
    """uint8 [256, 3] BGR lookup table from a list of RGB class colours."""
    table = np.zeros((256, 3), dtype=np.uint8)
    colors = np.asarray(colors_rgb, dtype=np.uint8).reshape(-1, 3)[:256]
    table[: len(colors)] = colors[:, ::-1]
    return table


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """BGR colour mask [H, W, 3] of integer labels [H, W]."""
    return palette[np.clip(labels, 0, 255).astype(np.intp, copy=False)]


def overlay(frame: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5):
    """The frame blended with its colour mask: ``(1 - alpha) * frame + alpha * mask``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return _cv2().addWeighted(frame, 1.0 - alpha, colorize(labels, palette), alpha, 0.0)


def draw_legend(
    image: np.ndarray,
    names: Sequence[str],
    palette: np.ndarray,
    labels: np.ndarray = None,
    max_rows: int = 20,
) -> np.ndarray:
    """Draw a legend (colour box + class name) in the top-left corner, in place; returns image.

    With ``labels`` only the classes present in them are listed (most frequent first), so the
    legend stays short on a 19-class model.
    """
    cv2 = _cv2()
    classes = list(range(len(names)))
    if labels is not None:
        counts = np.bincount(labels.reshape(-1), minlength=len(names))[: len(names)]
        classes = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    scale = max(0.35, min(image.shape[:2]) / 720.0)
    row = int(round(22 * scale)) + 2
    rows = classes[: max(0, min(max_rows, (image.shape[0] - 4) // row))]
    if not rows:
        return image
    width = min(image.shape[1], int(row * 1.5 + 9 * scale * max(len(names[c]) for c in rows)) + 8)
    region = image[: row * len(rows) + 6, :width]
    region[...] = (region * 0.4).astype(np.uint8)  # darken behind the text
    for i, c in enumerate(rows):
        y = 3 + i * row
        color = tuple(int(v) for v in palette[c])
        cv2.rectangle(image, (4, y + 2), (4 + row - 6, y + row - 4), color, -1)
        cv2.putText(
            image,
            str(names[c]),
            (row + 2, y + row - 6),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45 * scale / 0.6,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return image


def render(
    frame: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    names: Sequence[str],
    view: str = "overlay",
    alpha: float = 0.5,
    legend: bool = True,
) -> np.ndarray:
    """One visualisation of a segmented frame: ``overlay`` (with legend) or ``mask``."""
    if view == "mask":
        return colorize(labels, palette)
    if view != "overlay":
        raise ValueError(f"unknown view '{view}': choose from {VIEWS}")
    image = overlay(frame, labels, palette, alpha)
    return draw_legend(image, names, palette, labels) if legend else image
