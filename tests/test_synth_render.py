"""Synthetic domains: determinism, layout independent of the domain, large appearance shift,
class coverage, label values, geometry, and temporally coherent video layouts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgedg.data.synth import (
    DOMAINS,
    create_domain,
    paint_layout,
    render_layout,
    render_scene,
    video_layouts,
)
from edgedg_runtime.errors import EdgeDGError

SIZE = (64, 128)


@pytest.fixture(scope="module")
def layouts():
    return [render_layout(seed, SIZE) for seed in range(6)]


def _stats(images: list[np.ndarray]) -> np.ndarray:
    """Per-channel mean, per-channel std and mean saturation (max - min channel), 0..255."""
    x = np.stack(images).astype(np.float64)
    saturation = (x.max(-1) - x.min(-1)).mean()
    return np.concatenate([x.mean((0, 1, 2)), x.std((0, 1, 2)), [saturation]])


def test_at_least_five_domains_registered():
    assert len(DOMAINS) >= 5
    assert {"sunny", "overcast", "night", "fog", "cartoon"} <= set(DOMAINS)


def test_same_seed_same_output():
    rgb1, lab1 = render_scene(11, SIZE, "night")
    rgb2, lab2 = render_scene(11, SIZE, "night")
    assert rgb1.dtype == np.uint8 and rgb1.shape == (*SIZE, 3)
    assert lab1.dtype == np.uint8 and lab1.shape == SIZE
    np.testing.assert_array_equal(rgb1, rgb2)
    np.testing.assert_array_equal(lab1, lab2)
    rgb3, lab3 = render_scene(12, SIZE, "night")
    assert (lab1 != lab3).mean() > 0.05 and (rgb1 != rgb3).any()


def test_domains_share_the_label_map():
    labels = [render_scene(4, SIZE, d)[1] for d in DOMAINS]
    for other in labels[1:]:
        np.testing.assert_array_equal(labels[0], other)


def test_domains_differ_in_low_level_statistics(layouts):
    stats = {d: _stats([paint_layout(lay, s, d) for s, lay in enumerate(layouts)]) for d in DOMAINS}
    # every pair differs clearly in at least one of: channel mean, channel std, saturation
    for a, b in itertools.combinations(DOMAINS, 2):
        assert np.abs(stats[a] - stats[b]).max() > 15.0, (a, b, stats[a], stats[b])
    # the pairs designed to be far apart in brightness
    for a, b in [("sunny", "night"), ("fog", "night"), ("overcast", "night"), ("sunny", "fog")]:
        assert np.abs(stats[a][:3] - stats[b][:3]).mean() > 35.0, (a, b)
    # contrast: overcast and fog are flat, sunny and cartoon are not
    for flat, sharp in itertools.product(("overcast", "fog"), ("sunny", "cartoon")):
        assert stats[sharp][3:6].mean() > 1.5 * stats[flat][3:6].mean(), (flat, sharp)
    # colour cast: night is blue, dusk is orange
    assert stats["night"][2] > 1.15 * stats["night"][0]
    assert stats["dusk"][0] > 1.5 * stats["dusk"][2]


def test_classes_and_label_values():
    seen: set[int] = set()
    for seed in range(20):
        label = render_layout(seed, (96, 192)).label
        values = set(np.unique(label).tolist())
        assert values <= set(range(19)) | {255}, values - set(range(19))
        seen |= values
    assert len(seen - {255}) >= 14, sorted(seen)
    # the big classes of a street are in every scene
    for seed in range(5):
        values = set(np.unique(render_layout(seed, SIZE).label).tolist())
        assert {0, 10} <= values


def test_ground_depth_matches_the_camera(layouts):
    for lay in layouts:
        cam, depth = lay.camera, lay.depth()
        row = SIZE[0] - 1
        cols = np.nonzero(lay.label[row] == 0)[0]
        if cols.size == 0:
            continue
        # flat road: depth = f * camera height / (v - cy) at every column (no yaw dependence)
        expected = cam.f * cam.y / (row + 0.5 - cam.cy)
        np.testing.assert_allclose(depth[row, cols], expected, rtol=0.02)
        assert np.isinf(depth[lay.ids == 0]).all()


def test_bad_domain_lists_valid_names():
    with pytest.raises(EdgeDGError, match="sunny"):
        create_domain("sunset-on-mars")
    with pytest.raises(EdgeDGError):
        render_scene(0, SIZE, "nope")


def test_video_layouts_are_temporally_coherent():
    frames = list(video_layouts(5, SIZE, 12))
    assert len(frames) == 12
    consecutive = [(a.label == b.label).mean() for a, b in zip(frames, frames[1:], strict=False)]
    independent = [
        (render_layout(s, SIZE).label == render_layout(s + 100, SIZE).label).mean()
        for s in range(4)
    ]
    assert min(consecutive) > 0.75, consecutive
    assert np.mean(consecutive) > np.mean(independent) + 0.2, (consecutive, independent)
    # the camera moves: frames are not all the same
    assert (frames[0].label != frames[-1].label).mean() > 0.05
