"""From a 3D street to a label map: a pinhole camera, near-plane clipping and a painter's raster.

The raster draws every visible primitive's id into one int32 image (0 = sky), far to near; the
trainId label map, materials, tints and the per-pixel depth then follow by table look-ups. The
layout depends only on the seed and the size: a domain style changes only the appearance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgedg.data.synth.materials import material
from edgedg.data.synth.street import CameraRig, Street, make_street
from edgedg.data.synth.world import DEPTH_SORTED, DISC, LINE, POLY, RING, SCREEN, World

NEAR = 0.4  # metres: the near clipping plane
FAR = 400.0  # metres: objects wholly beyond are skipped
SKY_LABEL = 10
STATIC_RANGE = (-10.0, 175.0)  # metres of street generated for a still scene
_SHIFT = 2  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: focal length and principal point in pixels, pose in metres / radians."""

    f: float
    cx: float
    cy: float
    x: float
    y: float
    z: float
    yaw: float

    @classmethod
    def from_rig(cls, rig: CameraRig, size: tuple[int, int], z: float = 0.0) -> Camera:
        h, w = size
        f = (w / 2.0) / math.tan(rig.hfov / 2.0)
        return cls(f, w / 2.0, rig.horizon * h, rig.x, rig.height, z, rig.yaw)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points [N, 3] -> camera coordinates (X right, Y up, Z forward)."""
        rel = points - np.array([self.x, self.y, self.z])
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        out = np.empty_like(rel)
        out[:, 0] = c * rel[:, 0] - s * rel[:, 2]
        out[:, 1] = rel[:, 1]
        out[:, 2] = s * rel[:, 0] + c * rel[:, 2]
        return out


@dataclass
class Layout:
    """A rendered layout: the label map plus what a style needs to paint it.

    ``ids`` indexes the per-primitive tables (0 is the sky). Normals are in camera coordinates
    and face the camera; each primitive lies in the plane ``normal . p = plane``.
    """

    label: np.ndarray  # uint8 [H, W] trainIds, 255 ignore
    ids: np.ndarray  # int32 [H, W]
    prim_label: np.ndarray  # uint8 [P]
    prim_material: np.ndarray  # int64 [P]
    prim_tint: np.ndarray  # float32 [P]
    prim_normal: np.ndarray  # float32 [P, 3]
    prim_plane: np.ndarray  # float32 [P]
    camera: Camera

    @property
    def size(self) -> tuple[int, int]:
        return self.label.shape

    def depth(self) -> np.ndarray:
        """float32 [H, W] distance along the optical axis in metres (sky: +inf)."""
        h, w = self.size
        cam = self.camera
        dx = ((np.arange(w, dtype=np.float32) + 0.5 - cam.cx) / cam.f)[None, :]
        dy = ((cam.cy - np.arange(h, dtype=np.float32) - 0.5) / cam.f)[:, None]
        n = self.prim_normal[self.ids]
        denom = n[..., 0] * dx + n[..., 1] * dy + n[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = self.prim_plane[self.ids] / denom
        depth[~np.isfinite(depth) | (depth < 0)] = np.inf
        return np.maximum(depth, NEAR, out=depth)


def render_layout(seed: int, size: tuple[int, int]) -> Layout:
    """The still scene of ``seed`` at ``size`` (H, W): depends on nothing else."""
    street = street_for_seed(seed)
    return rasterize(street.world, Camera.from_rig(street.rig, size), size)


def street_for_seed(seed: int, start: float = STATIC_RANGE[0], end: float = STATIC_RANGE[1],
                    speed: float = 0.0) -> Street:  # fmt: skip
    """The street of ``seed`` (the same for every size and domain)."""
    return make_street(np.random.default_rng(seed), start, end, speed)


def rasterize(world: World, camera: Camera, size: tuple[int, int], t: float = 0.0) -> Layout:
    """Draw ``world`` at frame ``t`` (objects moved by their velocities) seen from ``camera``."""
    h, w = size
    pts = camera.to_camera(world.verts + world.vvel * t)
    z = pts[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = camera.f / np.maximum(z, NEAR)
    uv = np.stack([camera.cx + pts[:, 0] * inv, camera.cy - pts[:, 1] * inv], axis=1)
    uvq = np.round(np.clip(uv, -1e6, 1e6) * _ONE).astype(np.int32)
    poly_zmin = np.minimum.reduceat(z, world.poly_start)
    order = _draw_order(world, camera, pts, t)
    order = order[_on_screen(world, uvq, poly_zmin, size)[order]]
    ids = np.zeros((h, w), dtype=np.int32)
    for p in order:
        _draw(ids, world, int(p), pts, uvq, poly_zmin, camera, size)
    return _layout(world, pts, ids, camera)


def _draw_order(world: World, camera: Camera, pts: np.ndarray, t: float) -> np.ndarray:
    """Visible primitives, ordered by layer, depth (far first) and insertion."""
    z = pts[:, 2]
    zmin = np.minimum.reduceat(z, world.obj_vstart)[world.prim_obj]
    zmax = np.maximum.reduceat(z, world.obj_vstart)[world.prim_obj]
    first = world.poly_start[world.prim_poly0]
    v0 = world.verts[first] + world.vvel[first] * t
    to_cam = np.array([camera.x, camera.y, camera.z]) - v0
    facing = np.einsum("ij,ij->i", to_cam, world.prim_outward) > 0
    two_sided = ~world.prim_outward.any(axis=1)
    screen = world.prim_kind == SCREEN
    visible = screen | ((zmax > NEAR) & (zmin < FAR) & (facing | two_sided))
    layer = world.obj_layer[world.prim_obj]
    key = np.where(np.isin(layer, DEPTH_SORTED), -zmin, 0.0)
    order = np.lexsort((np.arange(world.num_prims), world.prim_obj, key, layer))
    return order[visible[order]]


def _on_screen(world: World, uvq: np.ndarray, poly_zmin: np.ndarray, size) -> np.ndarray:
    """bool [P]: False for polygon primitives wholly outside the image (True when unsure)."""
    h, w = size
    lo = np.minimum.reduceat(uvq, world.poly_start)
    hi = np.maximum.reduceat(uvq, world.poly_start)
    clipped = poly_zmin < NEAR
    lo[clipped], hi[clipped] = -(2**30), 2**30
    lo = np.minimum.reduceat(lo, world.prim_poly0)
    hi = np.maximum.reduceat(hi, world.prim_poly0)
    inside = (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < w * _ONE) & (lo[:, 1] < h * _ONE)
    return inside | (world.prim_kind != POLY)


def _clip_near(poly: np.ndarray) -> np.ndarray:
    """Clip a convex camera-space polygon [n, 3] to Z >= NEAR (Sutherland-Hodgman, one plane)."""
    out = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        if a[2] >= NEAR:
            out.append(a)
        if (a[2] >= NEAR) != (b[2] >= NEAR):
            out.append(a + (b - a) * ((NEAR - a[2]) / (b[2] - a[2])))
    return np.array(out).reshape(-1, 3)


def _project(poly: np.ndarray, camera: Camera) -> np.ndarray:
    inv = camera.f / poly[:, 2]
    uv = np.stack([camera.cx + poly[:, 0] * inv, camera.cy - poly[:, 1] * inv], axis=1)
    return np.round(np.clip(uv, -1e6, 1e6) * _ONE).astype(np.int32)


def _draw(ids, world: World, p: int, pts, uvq, poly_zmin, camera: Camera, size) -> None:
    kind, value = world.prim_kind[p], p + 1
    q0 = world.prim_poly0[p]
    start, count = world.poly_start[q0], world.poly_count[q0]
    if kind == POLY:
        polys = []
        for q in range(q0, q0 + world.prim_npoly[p]):
            s, n = world.poly_start[q], world.poly_count[q]
            if poly_zmin[q] >= NEAR:
                polys.append(uvq[s : s + n])
            elif poly_zmin[q] < NEAR and pts[s : s + n, 2].max() > NEAR:
                clipped = _clip_near(pts[s : s + n])
                if len(clipped) >= 3:
                    polys.append(_project(clipped, camera))
        if polys:
            cv2.fillPoly(ids, polys, value, cv2.LINE_8, _SHIFT)
    elif kind in (DISC, RING):
        zc = pts[start, 2]
        if zc < NEAR:
            return
        r = camera.f * world.prim_size[p] / zc
        thick = -1 if kind == DISC else max(1, round(0.14 * r))
        centre = tuple(int(c) for c in uvq[start])
        cv2.circle(ids, centre, max(1, round(r * _ONE)), value, thick, cv2.LINE_8, _SHIFT)
    elif kind == LINE:
        seg = pts[start : start + 2]
        if seg[:, 2].max() < NEAR:
            return
        if seg[:, 2].min() < NEAR:
            seg = _clip_near(seg)[:2]
        thick = max(1, round(camera.f * world.prim_size[p] / seg[:, 2].mean()))
        a, b = _project(seg, camera)
        cv2.line(ids, tuple(map(int, a)), tuple(map(int, b)), value, thick, cv2.LINE_8, _SHIFT)
    elif kind == SCREEN:
        h, w = size
        scr = world.verts[start : start + count, :2] * np.array([w, h])
        cv2.fillPoly(ids, [np.round(scr * _ONE).astype(np.int32)], value, cv2.LINE_8, _SHIFT)


def _layout(world: World, pts: np.ndarray, ids: np.ndarray, camera: Camera) -> Layout:
    """Attach the per-primitive tables (index 0 = sky) to the id map."""
    first = world.poly_start[world.prim_poly0]
    count = world.poly_count[world.prim_poly0]
    p0 = pts[first]
    p1 = pts[first + np.minimum(1, count - 1)]
    p2 = pts[first + np.minimum(2, count - 1)]
    n = np.cross(p1 - p0, p2 - p0)
    length = np.linalg.norm(n, axis=1)
    flat = (world.prim_kind == POLY) & (length > 1e-9)
    n = np.where(flat[:, None], n / np.maximum(length, 1e-12)[:, None], [0.0, 0.0, -1.0])
    n *= np.where(np.einsum("ij,ij->i", n, p0) > 0, -1.0, 1.0)[:, None]  # face the camera
    depth = np.where(world.prim_kind == SCREEN, 1.0, pts[first, 2])
    plane = np.where(flat, np.einsum("ij,ij->i", n, p0), -depth)
    if world.num_prims:  # lines and billboards: the plane Z = their mean depth
        plane = np.where(world.prim_kind == LINE, -0.5 * (p0[:, 2] + p1[:, 2]), plane)
    prim_label = np.concatenate([[SKY_LABEL], world.prim_label]).astype(np.uint8)
    return Layout(
        label=prim_label[ids],
        ids=ids,
        prim_label=prim_label,
        prim_material=np.concatenate([[material("sky")], world.prim_material]),
        prim_tint=np.concatenate([[0.5], world.prim_tint]).astype(np.float32),
        prim_normal=np.concatenate([[[0.0, 0.0, -1.0]], n]).astype(np.float32),
        prim_plane=np.concatenate([[-np.inf], plane]).astype(np.float32),
        camera=camera,
    )
