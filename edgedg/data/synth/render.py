"""One labelled image of a synthetic domain: a seeded layout painted in a domain style."""

from __future__ import annotations

import zlib

import numpy as np

from edgedg.data.synth.scene import Layout, render_layout
from edgedg.data.synth.styles import create_domain, paint


def appearance_rng(seed: int, domain: str) -> np.random.Generator:
    """The generator of the per-image appearance variation of scene ``seed`` in ``domain``."""
    return np.random.default_rng([seed, zlib.crc32(domain.encode())])


def paint_layout(layout: Layout, seed: int, domain: str) -> np.ndarray:
    """uint8 RGB [H, W, 3]: ``layout`` painted in ``domain`` (deterministic in seed, domain)."""
    return paint(layout, create_domain(domain), appearance_rng(seed, domain))


def render_scene(seed: int, size: tuple[int, int], domain: str) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 [H, W, 3], label uint8 [H, W] trainIds / 255) of scene ``seed`` in ``domain``.

    The label map depends only on ``seed`` and ``size``; ``domain`` changes only the image.
    """
    style = create_domain(domain)  # fail on a bad name before rendering
    layout = render_layout(seed, size)
    return paint(layout, style, appearance_rng(seed, domain)), layout.label
