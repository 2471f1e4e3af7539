"""A tiny 3D world of labelled primitives, and the builder the street generator fills.

Coordinates are metres: X to the right, Y up, Z forward along the street; the ground is Y = 0.
Every primitive belongs to an object (the unit of painter's ordering) and carries a trainId label,
a material and a tint in [0, 1) (which colour variant the style uses). Objects may move: a
vertex's position at frame t is ``position + velocity * t`` (metres per frame), so one world
renders a temporally coherent video. Primitive kinds:

- POLY: one or more planar polygons sharing an id (a face, or e.g. all windows of a facade);
  ``outward`` is the face normal used for back-face culling, zero for two-sided faces.
- DISC / RING: a camera-facing filled circle / circle outline at a centre, radius ``size``.
- LINE: a segment of world thickness ``size``.
- SCREEN: a polygon in normalised image coordinates (u/W, v/H) drawn last (the ego vehicle).

Objects are drawn by layer, then (in depth-sorted layers) far to near, then in insertion order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgedg.data.synth.materials import material

POLY, DISC, RING, LINE, SCREEN = 0, 1, 2, 3, 4

# Layers, drawn in this order. Depth-sorted layers draw far objects first.
SKYLINE, GROUND, BACKDROP, YARD, STREET_LINE, STREET, OVERLAY = range(7)
DEPTH_SORTED = (BACKDROP, YARD, STREET_LINE, STREET)

Vec = Sequence[float]


@dataclass
class World:
    """Flat arrays of a built world (see the module docstring)."""

    verts: np.ndarray  # float64 [V, 3] positions at t = 0
    vvel: np.ndarray  # float64 [V, 3] velocity of each vertex (its object's), metres per frame
    poly_start: np.ndarray  # int64 [N] first vertex of each polygon
    poly_count: np.ndarray  # int64 [N] vertices of each polygon
    prim_kind: np.ndarray  # int64 [P]
    prim_label: np.ndarray  # uint8 [P]
    prim_material: np.ndarray  # int64 [P]
    prim_tint: np.ndarray  # float32 [P]
    prim_size: np.ndarray  # float64 [P] radius / thickness
    prim_outward: np.ndarray  # float64 [P, 3] outward normal, zero for two-sided
    prim_poly0: np.ndarray  # int64 [P] first polygon
    prim_npoly: np.ndarray  # int64 [P]
    prim_obj: np.ndarray  # int64 [P]
    obj_layer: np.ndarray  # int64 [O]
    obj_vstart: np.ndarray  # int64 [O] first vertex (objects own contiguous vertex ranges)

    @property
    def num_prims(self) -> int:
        return len(self.prim_kind)


class WorldBuilder:
    """Collects objects and primitives; ``build()`` returns the flat :class:`World`."""

    def __init__(self) -> None:
        self._verts: list[Vec] = []
        self._polys: list[tuple[int, int]] = []
        self._prims: list[tuple] = []
        self._objs: list[tuple[int, int]] = []
        self._vels: list[Vec] = []

    def obj(self, layer: int, velocity: Vec = (0.0, 0.0, 0.0)) -> WorldBuilder:
        """Start a new object in ``layer``; the following primitives belong to it."""
        self._objs.append((layer, len(self._verts)))
        self._vels.append(tuple(float(v) for v in velocity))
        return self

    def add(
        self,
        kind: int,
        polys: Sequence[Sequence[Vec]],
        label: int,
        mat: str,
        tint: float = 0.0,
        size: float = 0.0,
        outward: Vec = (0.0, 0.0, 0.0),
    ) -> None:
        """Add one primitive made of ``polys`` (lists of 3D points) to the current object."""
        if not self._objs:
            raise RuntimeError("call obj() before adding primitives")
        first = len(self._polys)
        for poly in polys:
            self._polys.append((len(self._verts), len(poly)))
            self._verts.extend(poly)
        self._prims.append(
            (kind, label, material(mat), tint, size, tuple(outward), first, len(polys))
        )

    def poly(self, points: Sequence[Vec], label: int, mat: str, tint: float = 0.0,
             outward: Vec = (0.0, 0.0, 0.0)) -> None:  # fmt: skip
        """One planar polygon."""
        self.add(POLY, [points], label, mat, tint, outward=outward)

    def polys(self, polys: Sequence[Sequence[Vec]], label: int, mat: str, tint: float = 0.0,
              outward: Vec = (0.0, 0.0, 0.0)) -> None:  # fmt: skip
        """Several coplanar polygons sharing one id (windows, stripes); no-op when empty."""
        if polys:
            self.add(POLY, polys, label, mat, tint, outward=outward)

    def disc(self, centre: Vec, radius: float, label: int, mat: str, tint: float = 0.0) -> None:
        self.add(DISC, [[centre]], label, mat, tint, size=radius)

    def ring(self, centre: Vec, radius: float, label: int, mat: str, tint: float = 0.0) -> None:
        self.add(RING, [[centre]], label, mat, tint, size=radius)

    def line(self, a: Vec, b: Vec, thickness: float, label: int, mat: str, tint: float = 0.0):
        self.add(LINE, [[a, b]], label, mat, tint, size=thickness)

    def screen(self, points: Sequence[tuple[float, float]], label: int, mat: str) -> None:
        """A polygon in normalised image coordinates (drawn in the OVERLAY layer)."""
        self.add(SCREEN, [[(u, v, 1.0) for u, v in points]], label, mat)

    def box(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float,
            label: int, mat: str, tint: float = 0.0, faces: str = "lrnft") -> None:  # fmt: skip
        """An axis-aligned box as up to five culled faces: l(-X) r(+X) n(-Z) f(+Z) t(top)."""
        spec = {
            "l": (quad_x(x0, y0, y1, z0, z1), (-1.0, 0.0, 0.0)),
            "r": (quad_x(x1, y0, y1, z0, z1), (1.0, 0.0, 0.0)),
            "n": (quad_z(z0, x0, x1, y0, y1), (0.0, 0.0, -1.0)),
            "f": (quad_z(z1, x0, x1, y0, y1), (0.0, 0.0, 1.0)),
            "t": (quad_y(y1, x0, x1, z0, z1), (0.0, 1.0, 0.0)),
        }
        for face in faces:
            points, out = spec[face]
            self.poly(points, label, mat, tint, outward=out)

    def build(self) -> World:
        prims = self._prims
        objs = np.array(self._objs, dtype=np.int64).reshape(-1, 2)
        vend = np.append(objs[1:, 1], len(self._verts))
        keep = vend > objs[:, 1]  # drop objects without primitives
        objs, vend = objs[keep], vend[keep]
        vels = np.array(self._vels, dtype=np.float64).reshape(-1, 3)[keep]
        prim_vstart = np.array([self._polys[p[6]][0] for p in prims], dtype=np.int64)
        prim_obj = np.searchsorted(objs[:, 1], prim_vstart, side="right") - 1
        return World(
            verts=np.asarray(self._verts, dtype=np.float64).reshape(-1, 3),
            vvel=np.repeat(vels, vend - objs[:, 1], axis=0),
            poly_start=np.array([p[0] for p in self._polys], dtype=np.int64),
            poly_count=np.array([p[1] for p in self._polys], dtype=np.int64),
            prim_kind=np.array([p[0] for p in prims], dtype=np.int64),
            prim_label=np.array([p[1] for p in prims], dtype=np.uint8),
            prim_material=np.array([p[2] for p in prims], dtype=np.int64),
            prim_tint=np.array([p[3] for p in prims], dtype=np.float32),
            prim_size=np.array([p[4] for p in prims], dtype=np.float64),
            prim_outward=np.array([p[5] for p in prims], dtype=np.float64).reshape(-1, 3),
            prim_poly0=np.array([p[6] for p in prims], dtype=np.int64),
            prim_npoly=np.array([p[7] for p in prims], dtype=np.int64),
            prim_obj=prim_obj,
            obj_layer=objs[:, 0],
            obj_vstart=objs[:, 1],
        )


def quad_x(x: float, y0: float, y1: float, z0: float, z1: float) -> list[Vec]:
    """A vertical rectangle in the plane X = x (a facade facing the street)."""
    return [(x, y0, z0), (x, y0, z1), (x, y1, z1), (x, y1, z0)]


def quad_z(z: float, x0: float, x1: float, y0: float, y1: float) -> list[Vec]:
    """A vertical rectangle in the plane Z = z (facing the camera)."""
    return [(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)]


def quad_y(y: float, x0: float, x1: float, z0: float, z1: float) -> list[Vec]:
    """A horizontal rectangle at height y (ground strips, markings, roofs)."""
    return [(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)]


def circle_x(x: float, yc: float, zc: float, r: float, n: int = 10) -> list[Vec]:
    """A circle in the plane X = x (a wheel seen from the side of a vehicle)."""
    return [(x, yc + r * s, zc + r * c) for c, s in _unit_circle(n)]


def _unit_circle(n: int) -> list[tuple[float, float]]:
    if n not in _CIRCLES:
        _CIRCLES[n] = [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * np.pi, n + 1)[:-1]]
    return _CIRCLES[n]


_CIRCLES: dict[int, list[tuple[float, float]]] = {}
