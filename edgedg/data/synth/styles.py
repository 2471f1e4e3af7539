"""Domain styles: how a layout looks. The registry ``DOMAINS`` maps each name to its style.

A style changes only appearance, and changes it a lot in the low-level statistics that BatchNorm
sees (channel means and variances, contrast, colour cast, noise, texture frequency) while the
layout stays identical: every material gets a per-domain colour (canonical colour, shifted by a
fixed per-domain random offset, re-saturated), then lighting, texture, fog, lamps, sensor noise
and a tone curve are applied. ``paint(layout, domain, rng)`` turns a layout into an RGB image;
``rng`` draws the small per-image variation inside a domain.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from edgedg.data.synth.materials import (
    canonical_palette,
    emissive_mask,
    material,
    texture_weights,
)
from edgedg.data.synth.scene import Layout
from edgedg_runtime.errors import DataError

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class DomainStyle:
    """Appearance parameters of one synthetic domain. Colours are RGB 0..255."""

    name: str
    description: str
    saturation: float = 1.0  # of every material colour
    jitter: float = 0.06  # std of the fixed per-domain shift of each material colour (0..1)
    cast: RGB = (1.0, 1.0, 1.0)  # per-channel gain
    exposure: float = 1.0
    contrast: float = 1.0
    gamma: float = 1.0
    sky_top: RGB = (90, 150, 230)
    sky_horizon: RGB = (180, 205, 235)
    sun: float = 0.0  # strength of directional light (0 = ambient only)
    sun_dir: RGB = (-0.55, 0.7, -0.45)  # towards the light, camera coordinates
    texture: float = 0.1  # amplitude of the surface texture
    grain: float = 1.0  # correlation length of the texture, pixels at 512 px width
    noise: float = 0.0  # sensor noise std (0..1)
    fog: float = 0.0  # extinction per metre
    fog_colour: RGB = (200, 200, 200)
    lights: float = 1.0  # gain of lamps, vehicle lights and lit windows
    glow: float = 0.0  # halo strength around lights
    lit_windows: float = 0.0  # fraction of window groups that are lit
    darkness: float = 0.0  # attenuation per metre of unlit surfaces (night)
    headlights: float = 0.0  # brightening of the road ahead by the camera car's headlights
    blur: float = 0.0  # Gaussian sigma in pixels at 512 px width
    posterize: int = 0  # colour levels per channel (0 = off)
    edges: bool = False  # dark outlines around every primitive


DOMAINS: dict[str, DomainStyle] = {
    s.name: s
    for s in (
        DomainStyle(
            "sunny", "saturated game-like daylight, hard sun shading, fine texture",
            saturation=1.4, jitter=0.035, cast=(1.06, 1.0, 0.88), exposure=1.08, contrast=1.3,
            gamma=0.95, sky_top=(30, 100, 235), sky_horizon=(150, 200, 250), sun=0.6,
            texture=0.13, grain=0.6,
        ),
        DomainStyle(
            "overcast", "grey diffuse light, washed-out colours, low contrast, soft",
            saturation=0.4, cast=(0.96, 0.99, 1.05), exposure=1.0, contrast=0.55, gamma=0.9,
            sky_top=(188, 193, 200), sky_horizon=(214, 216, 220), texture=0.08, grain=3.0,
            noise=0.01, blur=0.7,
        ),
        DomainStyle(
            "night", "dark, blue cast, lamps and headlights with glow, lit windows, sensor noise",
            saturation=0.7, cast=(0.8, 0.9, 1.3), exposure=0.42, contrast=1.1, gamma=1.15,
            sky_top=(3, 5, 14), sky_horizon=(22, 22, 40), texture=0.12, grain=1.0, noise=0.045,
            lights=2.6, glow=1.4, lit_windows=0.4, darkness=0.025, headlights=1.6,
        ),
        DomainStyle(
            "fog", "dense haze with depth-dependent attenuation, pale and blurred",
            saturation=0.75, exposure=1.0, contrast=0.85, sky_top=(206, 208, 212),
            sky_horizon=(206, 208, 212), sun=0.1, texture=0.08, grain=5.0, noise=0.01,
            fog=0.045, fog_colour=(206, 208, 212), blur=1.0,
        ),
        DomainStyle(
            "cartoon", "flat painted colours with strong hues and dark outlines, no texture",
            saturation=1.9, jitter=0.22, exposure=1.05, contrast=1.1, sky_top=(60, 150, 255),
            sky_horizon=(150, 215, 255), sun=0.3, texture=0.0, posterize=5, edges=True,
        ),
        DomainStyle(
            "dusk", "low orange sun, long warm cast, purple sky, lamps coming on",
            saturation=1.1, jitter=0.04, cast=(1.3, 0.86, 0.62), exposure=0.65, contrast=1.15,
            sky_top=(55, 45, 110), sky_horizon=(250, 140, 70), sun=0.55,
            sun_dir=(0.3, 0.3, -0.9), texture=0.09, grain=1.5, noise=0.015, lights=2.0,
            glow=0.6, lit_windows=0.2,
        ),
    )
}  # fmt: skip


def create_domain(name: str) -> DomainStyle:
    """The style registered as ``name``; DataError listing the valid names otherwise."""
    if name not in DOMAINS:
        raise DataError(f"unknown synthetic domain {name!r}; choose from {', '.join(DOMAINS)}")
    return DOMAINS[name]


def paint(layout: Layout, style: DomainStyle, rng: np.random.Generator) -> np.ndarray:
    """uint8 RGB [H, W, 3]: ``layout`` painted in ``style`` (``rng``: per-image variation)."""
    h, w = layout.size
    scale = w / 512.0
    exposure = style.exposure * rng.uniform(0.9, 1.1)
    cast = np.asarray(style.cast, np.float32) * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    colours, emissive = _prim_colours(layout, style)
    img = colours[layout.ids]
    sky = layout.ids == 0
    img[sky] = _sky_gradient(style, layout)[np.nonzero(sky)[0]]
    if style.texture > 0:
        amp = (texture_weights() * style.texture)[layout.prim_material][layout.ids]
        tex = _crop(_texture_tile(style.name, h, w, style.grain * scale), rng, h, w)
        img *= (1.0 + amp * tex)[..., None]
    em = emissive[layout.ids]
    if style.fog > 0 or style.darkness > 0:
        depth = layout.depth()
        if style.darkness > 0:
            dark = np.exp(-style.darkness * depth) * (1.0 + style.headlights * _pool(h, w))
            img *= np.where(em, 1.0, dark)[..., None]
        if style.fog > 0:
            att = np.exp(-style.fog * rng.uniform(0.7, 1.3) * depth)[..., None]
            img = img * att + np.asarray(style.fog_colour, np.float32) / 255.0 * (1.0 - att)
    if style.glow > 0:
        img += style.glow * _halo(img * em[..., None], scale)
    img *= cast * exposure
    if style.blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), style.blur * scale)
    if style.noise > 0:
        img += style.noise * _crop(_noise_tile(h, w), rng, h, w)
    out = cv2.LUT(_to_uint8(img), _tone_lut(style.contrast, style.gamma, style.posterize))
    if style.edges:
        out[_edges(layout.ids, max(1, round(scale)))] = (18, 18, 24)
    return out


def _prim_colours(layout: Layout, style: DomainStyle) -> tuple[np.ndarray, np.ndarray]:
    """float32 [P, 3] linear colour and bool [P] emissive of every primitive."""
    pal, counts = _domain_palette(style.name)
    mat, tint = layout.prim_material, layout.prim_tint
    window = mat == material("window")
    n = np.where(window, 2, counts[mat])  # the third window colour is the lit one
    k = np.minimum((tint * n).astype(np.int64), n - 1)
    lit = window & (tint > 1.0 - style.lit_windows)
    k = np.where(lit, 2, k)
    colour = pal[mat, k] * (1.0 + 0.2 * (tint * n - k - 0.5))[:, None]
    emissive = emissive_mask()[mat] & (~window | lit)
    light = np.asarray(style.sun_dir, np.float32)
    lambert = np.clip(layout.prim_normal @ (light / np.linalg.norm(light)), 0.0, 1.0)
    shade = 1.0 - style.sun + 1.6 * style.sun * lambert
    if style.posterize:
        shade = np.round(shade * 3.0) / 3.0
    colour = np.where(emissive[:, None], colour * style.lights, colour * shade[:, None])
    return colour.astype(np.float32), emissive


@lru_cache(maxsize=16)
def _domain_palette(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The material colours of domain ``name``: canonical, re-saturated, shifted by a fixed
    seeded offset per colour. float32 [M, K, 3] in 0..1 and the variant counts."""
    style = DOMAINS[name]
    pal, counts = canonical_palette()
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    grey = pal.mean(axis=-1, keepdims=True)
    pal = grey + style.saturation * (pal - grey)
    pal = pal + rng.normal(0.0, style.jitter, size=pal.shape).astype(np.float32)
    return np.clip(pal, 0.02, 1.0).astype(np.float32), counts


def _sky_gradient(style: DomainStyle, layout: Layout) -> np.ndarray:
    """float32 [H, 3]: the sky colour of each row, horizon colour at and below the horizon."""
    h = layout.size[0]
    t = np.clip((layout.camera.cy - np.arange(h)) / max(layout.camera.cy, 1.0), 0.0, 1.0)
    t = (t**0.6)[:, None]
    top, hor = (np.asarray(c, np.float32) / 255.0 for c in (style.sky_top, style.sky_horizon))
    return (hor + (top - hor) * t).astype(np.float32)


@lru_cache(maxsize=32)
def _texture_tile(name: str, h: int, w: int, grain: float) -> np.ndarray:
    """float32 [2H, 2W] zero-mean unit-variance texture of correlation length ``grain`` px."""
    rng = np.random.default_rng(zlib.crc32(f"texture/{name}".encode()))
    tile = rng.standard_normal((2 * h, 2 * w), dtype=np.float32)
    if grain > 0.3:
        tile = cv2.GaussianBlur(tile, (0, 0), grain)
    return (tile - tile.mean()) / max(float(tile.std()), 1e-6)


@lru_cache(maxsize=8)
def _noise_tile(h: int, w: int) -> np.ndarray:
    """float32 [2H, 2W, 3] white Gaussian sensor noise (unit std)."""
    return np.random.default_rng(1234).standard_normal((2 * h, 2 * w, 3), dtype=np.float32)


def _crop(tile: np.ndarray, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = int(rng.integers(0, tile.shape[0] - h + 1)), int(rng.integers(0, tile.shape[1] - w + 1))
    return tile[y : y + h, x : x + w]


@lru_cache(maxsize=8)
def _pool(h: int, w: int) -> np.ndarray:
    """float32 [H, W] the light pool of the camera car's headlights on the road ahead."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.exp(-(((xx - w / 2) / (0.35 * w)) ** 2) - ((yy - h) / (0.3 * h)) ** 2)


def _halo(lights: np.ndarray, scale: float) -> np.ndarray:
    """A wide soft glow around bright pixels (blurred at quarter resolution for speed)."""
    h, w = lights.shape[:2]
    small = cv2.resize(lights, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.5 * scale)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * 3.0


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


@lru_cache(maxsize=32)
def _tone_lut(contrast: float, gamma: float, levels: int) -> np.ndarray:
    x = (np.arange(256, dtype=np.float64) / 255.0) ** gamma
    x = np.clip((x - 0.5) * contrast + 0.5, 0.0, 1.0)
    if levels:
        x = np.round(x * (levels - 1)) / (levels - 1)
    return np.round(x * 255.0).astype(np.uint8)


def _edges(ids: np.ndarray, width: int) -> np.ndarray:
    """bool [H, W]: pixels on the boundary between two primitives."""
    edge = np.zeros(ids.shape, dtype=bool)
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    if width > 1:
        edge = cv2.dilate(edge.view(np.uint8), np.ones((width, width), np.uint8)).astype(bool)
    return edge
