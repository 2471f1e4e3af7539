"""Surface materials of the synthetic street: the link between geometry and appearance.

The geometry (``world.py``) tags every primitive with a trainId label and a material; a domain
style (``styles.py``) decides what each material looks like. A material has a few canonical
colour variants (a primitive's ``tint`` in [0, 1) picks one and shades it slightly), a texture
weight (how much of the domain's texture field shows on it) and an emissive flag (lamps, lit
windows and vehicle lights glow in the dark domains).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Material:
    """One surface kind: canonical RGB variants (0..255), texture weight, emissive or not."""

    name: str
    colours: tuple[tuple[int, int, int], ...]
    texture: float = 1.0
    emissive: bool = False


_MATERIALS: tuple[Material, ...] = (
    Material("sky", ((130, 175, 230),), 0.1),
    Material("skyline", ((150, 152, 165), (128, 132, 148), (170, 160, 150)), 0.4),
    Material("far_vegetation", ((70, 100, 60), (85, 110, 65)), 0.8),
    Material("road", ((92, 92, 98), (84, 84, 88), (100, 98, 96)), 1.0),
    Material("lane_marking", ((235, 235, 225), (235, 200, 60)), 0.5),
    Material("rail", ((150, 145, 140),), 0.3),
    Material("shadow", ((40, 40, 46),), 0.5),
    Material("sidewalk", ((168, 162, 152), (150, 146, 142), (180, 160, 150)), 1.0),
    Material("curb", ((195, 190, 185),), 0.6),
    Material("terrain", ((120, 145, 65), (140, 130, 80), (105, 135, 60)), 1.3),
    Material(
        "building",
        ((178, 122, 96), (205, 192, 170), (150, 150, 152), (192, 170, 128), (122, 112, 108)),
        0.8,
    ),
    Material("window", ((52, 66, 88), (70, 82, 100), (255, 214, 140)), 0.3, emissive=True),
    Material("door", ((92, 66, 46), (60, 60, 66)), 0.5),
    Material("wall", ((178, 172, 158), (142, 132, 122), (160, 110, 90)), 0.9),
    Material("fence", ((112, 112, 106), (122, 92, 62), (60, 100, 70)), 0.6),
    Material("pole", ((108, 108, 114), (70, 75, 70)), 0.4),
    Material("street_lamp", ((252, 240, 200),), 0.1, emissive=True),
    Material("light_box", ((36, 36, 38), (60, 60, 40)), 0.3),
    Material("lamp_red", ((232, 40, 30),), 0.1, emissive=True),
    Material("lamp_amber", ((240, 170, 20),), 0.1, emissive=True),
    Material("lamp_green", ((40, 220, 96),), 0.1, emissive=True),
    Material("sign", ((220, 30, 30), (30, 80, 200), (240, 240, 240), (242, 200, 20)), 0.2),
    Material("sign_back", ((150, 150, 156),), 0.3),
    Material("vegetation", ((60, 115, 45), (78, 128, 54), (44, 94, 40)), 1.6),
    Material("trunk", ((96, 76, 56),), 1.0),
    Material("skin", ((222, 176, 140), (162, 116, 86), (110, 76, 56)), 0.2),
    Material(
        "clothes",
        ((40, 40, 62), (152, 30, 30), (30, 92, 152), (202, 200, 190), (90, 90, 90), (60, 110, 60)),
        0.4,
    ),
    Material("trousers", ((30, 36, 52), (62, 62, 66), (102, 90, 70)), 0.4),
    Material(
        "paint",
        (
            (200, 200, 206),
            (22, 22, 26),
            (152, 22, 22),
            (32, 62, 142),
            (122, 126, 132),
            (232, 232, 232),
        ),
        0.2,
    ),
    Material("bus_paint", ((232, 190, 30), (202, 40, 40), (40, 110, 192), (240, 240, 240)), 0.2),
    Material("tram_paint", ((240, 240, 236), (202, 32, 32), (40, 140, 82)), 0.2),
    Material("truck_paint", ((220, 220, 215), (40, 90, 60), (200, 120, 30)), 0.3),
    Material("glass", ((44, 54, 66), (60, 70, 80)), 0.3),
    Material("tyre", ((24, 24, 26),), 0.3),
    Material("headlight", ((246, 246, 232),), 0.1, emissive=True),
    Material("taillight", ((206, 22, 22),), 0.1, emissive=True),
    Material("frame", ((32, 32, 34), (182, 30, 30), (40, 80, 162)), 0.2),
    Material("ego", ((30, 30, 36),), 0.2),
)

MATERIALS: dict[str, int] = {m.name: i for i, m in enumerate(_MATERIALS)}
NUM_MATERIALS = len(_MATERIALS)
MAX_VARIANTS = max(len(m.colours) for m in _MATERIALS)


def material(name: str) -> int:
    """The index of material ``name``."""
    return MATERIALS[name]


def canonical_palette() -> tuple[np.ndarray, np.ndarray]:
    """float32 [M, K, 3] canonical colours in [0, 1] (missing variants repeat the first) and
    int [M] the number of variants of each material."""
    pal = np.zeros((NUM_MATERIALS, MAX_VARIANTS, 3), dtype=np.float32)
    counts = np.zeros(NUM_MATERIALS, dtype=np.int64)
    for i, m in enumerate(_MATERIALS):
        cols = np.asarray(m.colours, dtype=np.float32) / 255.0
        pal[i] = cols[np.arange(MAX_VARIANTS) % len(cols)]
        counts[i] = len(cols)
    return pal, counts


def texture_weights() -> np.ndarray:
    """float32 [M]: how strongly the domain texture shows on each material."""
    return np.array([m.texture for m in _MATERIALS], dtype=np.float32)


def emissive_mask() -> np.ndarray:
    """bool [M]: materials that emit light (lamps, vehicle lights, lit windows)."""
    return np.array([m.emissive for m in _MATERIALS], dtype=bool)
