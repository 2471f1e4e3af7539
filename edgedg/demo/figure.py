"""The side-by-side figure: per row a frame, its ground truth and the predictions to compare,
with column titles and a legend of the classes the ground truth shows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgedg_runtime.fileio import atomic_path
from edgedg_runtime.visualize import colorize, palette_bgr

TILE_WIDTH = 384  # pixels per panel: large enough to read a 128 x 256 frame
TITLE_HEIGHT = 28
BACKGROUND = (32, 32, 32)


@dataclass
class FigureRow:
    """One row: the BGR frame, a caption for it, and (title, trainId labels) panels."""

    frame: np.ndarray
    caption: str
    panels: list[tuple[str, np.ndarray]]


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.55) -> None:
    import cv2

    cv2.putText(
        image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )


def _tile(image: np.ndarray, width: int, nearest: bool) -> np.ndarray:
    import cv2

    height = round(image.shape[0] * width / image.shape[1])
    mode = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=mode)


def _titled(tile: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((TITLE_HEIGHT, tile.shape[1], 3), BACKGROUND, dtype=np.uint8)
    _text(bar, title, (6, TITLE_HEIGHT - 9))
    return np.concatenate([bar, tile], axis=0)


def _legend(classes: Sequence[int], names: Sequence[str], palette: np.ndarray, width: int):
    """Rows of colour boxes and class names, wrapped to ``width``."""
    cell, row_h = 150, 24
    per_row = max(1, width // cell)
    rows = max(1, -(-len(classes) // per_row))
    strip = np.full((rows * row_h + 8, width, 3), BACKGROUND, dtype=np.uint8)
    for i, c in enumerate(classes):
        x, y = 6 + (i % per_row) * cell, 4 + (i // per_row) * row_h
        strip[y + 4 : y + row_h - 4, x : x + 16] = palette[c]
        _text(strip, str(names[c]), (x + 22, y + row_h - 8), 0.45)
    return strip


def render_figure(
    rows: Sequence[FigureRow], names: Sequence[str], colors_rgb: Sequence[Sequence[int]]
) -> np.ndarray:
    """The figure as a BGR image: rows of [frame, panel, panel, ...] and a legend below."""
    palette = palette_bgr(colors_rgb)
    lines, present = [], set()
    for row in rows:
        tiles = [_titled(_tile(row.frame, TILE_WIDTH, False), row.caption)]
        for title, labels in row.panels:
            tiles.append(_titled(_tile(colorize(labels, palette), TILE_WIDTH, True), title))
        lines.append(np.concatenate(tiles, axis=1))
        gt = row.panels[0][1]
        present.update(int(c) for c in np.unique(gt) if c < len(names))
    body = np.concatenate(lines, axis=0)
    return np.concatenate([body, _legend(sorted(present), names, palette, body.shape[1])], axis=0)


def write_figure(
    path: str | os.PathLike,
    rows: Sequence[FigureRow],
    names: Sequence[str],
    colors_rgb: Sequence[Sequence[int]],
) -> None:
    """Render the figure and write it as a PNG atomically."""
    import cv2

    image = render_figure(rows, names, colors_rgb)
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(tmp, image):
            raise OSError(f"cannot write {path}")
