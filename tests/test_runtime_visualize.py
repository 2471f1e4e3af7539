"""Palettes, masks, overlays and the legend."""

from __future__ import annotations

import numpy as np
import pytest

from edgedg_runtime.visualize import colorize, draw_legend, overlay, palette_bgr, render


def test_palette_and_colorize():
    palette = palette_bgr([(255, 0, 0), (0, 128, 255)])
    assert palette.shape == (256, 3) and tuple(palette[0]) == (0, 0, 255)  # RGB red -> BGR
    labels = np.array([[0, 1], [1, 200]], np.uint8)
    mask = colorize(labels, palette)
    assert tuple(mask[0, 1]) == (255, 128, 0) and tuple(mask[1, 1]) == (0, 0, 0)


def test_overlay_blends_and_checks_alpha():
    frame = np.full((4, 4, 3), 100, np.uint8)
    labels = np.zeros((4, 4), np.uint8)
    palette = palette_bgr([(0, 0, 200)])
    out = overlay(frame, labels, palette, alpha=0.5)
    assert tuple(out[0, 0]) == (150, 50, 50)
    np.testing.assert_array_equal(overlay(frame, labels, palette, alpha=0.0), frame)
    with pytest.raises(ValueError):
        overlay(frame, labels, palette, alpha=1.5)


def test_legend_lists_present_classes_only():
    image = np.full((120, 200, 3), 200, np.uint8)
    labels = np.zeros((120, 200), np.uint8)
    labels[:, 150:] = 2
    palette = palette_bgr([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    out = draw_legend(image.copy(), ["road", "sidewalk", "building"], palette, labels)
    top_left = out[:40, :80]
    assert (top_left == (0, 0, 255)).all(-1).any()  # road's swatch (BGR of RGB red)
    assert (top_left == (255, 0, 0)).all(-1).any()  # building's swatch
    assert not (out == (0, 255, 0)).all(-1).any()  # sidewalk absent from labels: not listed
    assert (out[100:, 100:] == 200).all()  # the rest of the frame is untouched
    assert render(image, labels, palette, ["a", "b", "c"], "mask").shape == (120, 200, 3)
