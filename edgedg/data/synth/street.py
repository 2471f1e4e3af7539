"""Procedural streets: road, sidewalks, facades, parks, furniture, traffic and people.

``make_street(rng, start, end)`` builds one consistent street between depths ``start`` and ``end``
(metres) and the camera rig that looks down it. The street depends only on ``rng``; rendering it
at another size or in another domain changes nothing in it. With ``speed`` > 0 (metres per frame)
traffic and pedestrians move and the skyline travels with the camera, for videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgedg.data.synth import actors
from edgedg.data.synth.world import (
    BACKDROP,
    GROUND,
    OVERLAY,
    SKYLINE,
    STREET_LINE,
    YARD,
    World,
    WorldBuilder,
    quad_x,
    quad_y,
)
from edgedg.metrics import IGNORE

SKYLINE_DEPTH = 190.0  # metres ahead of the camera
CURB = 0.15


@dataclass(frozen=True)
class CameraRig:
    """Where the camera sits and how it looks (metres, radians, fractions of the image)."""

    height: float
    x: float
    yaw: float
    hfov: float
    horizon: float  # image row of the horizon as a fraction of the height
    speed: float  # metres per video frame


@dataclass(frozen=True)
class Road:
    """Lateral layout: lane centres of both directions and the edges (metres)."""

    lanes: tuple[float, ...]  # same direction as the camera
    oncoming: tuple[float, ...]
    centre: float  # the line between the two directions
    left: float
    right: float
    walk_left: float  # outer edges of the sidewalks
    walk_right: float
    parking: tuple[float, ...]  # x of parking rows


@dataclass
class Street:
    world: World
    rig: CameraRig
    road: Road


def make_street(rng: np.random.Generator, start: float, end: float, speed: float = 0.0) -> Street:
    """A street between depths ``start`` and ``end``; the camera starts at depth 0."""
    rig = CameraRig(
        height=rng.uniform(1.25, 1.8),
        x=rng.uniform(-0.4, 0.4),
        yaw=rng.uniform(-0.05, 0.05),
        hfov=np.deg2rad(rng.uniform(52.0, 78.0)),
        horizon=rng.uniform(0.36, 0.5),
        speed=speed,
    )
    road = _road(rng)
    b = WorldBuilder()
    cross = (rng.uniform(14.0, 60.0), rng.uniform(9.0, 16.0)) if rng.random() < 0.5 else None
    _skyline(b, rng, speed)
    _ground(b, rng, road, start, end, cross)
    for side in (-1, 1):
        _side(b, rng, road, side, start, end, cross)
        _furniture(b, rng, road, side, start, end, cross)
    _traffic(b, rng, road, start, end, speed)
    _people(b, rng, road, start, end, cross, speed)
    if rng.random() < 0.3:
        _ego_hood(b, rng)
    return Street(b.build(), rig, road)


def _road(rng) -> Road:
    lw = rng.uniform(3.0, 3.7)
    n_same, n_on = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    own = int(rng.integers(0, n_same))
    lanes = tuple((i - own) * lw for i in range(n_same))
    centre = lanes[0] - lw / 2
    oncoming = tuple(centre - (i + 0.5) * lw for i in range(n_on))
    right, left = lanes[-1] + lw / 2, centre - n_on * lw
    parking = []
    if rng.random() < 0.6:
        parking.append(right + 1.1)
        right += 2.2
    if rng.random() < 0.5:
        parking.append(left - 1.1)
        left -= 2.2
    return Road(lanes, oncoming, centre, left, right, left - rng.uniform(2.0, 5.5),
                right + rng.uniform(2.0, 5.5), tuple(parking))  # fmt: skip


def _skyline(b: WorldBuilder, rng, speed: float) -> None:
    """Distant buildings and a tree line, travelling with the camera."""
    layers = [
        (actors.BUILDING, "skyline", SKYLINE_DEPTH, 6.0, 45.0),
        (actors.VEGETATION, "far_vegetation", SKYLINE_DEPTH - 5, 4.0, 14.0),
    ]
    for label, mat, z, lo, hi in layers:
        x, pts = -500.0, [(-500.0, -4.0, z)]
        while x < 500.0:
            h = rng.uniform(lo, hi) if rng.random() < 0.8 else 0.0
            step = rng.uniform(8.0, 30.0)
            pts += [(x, h, z), (x + step, h, z)]
            x += step
        pts.append((x, -4.0, z))
        b.obj(SKYLINE, (0.0, 0.0, speed))
        b.poly(pts, label, mat, float(rng.random()))


def _ground(b: WorldBuilder, rng, road: Road, z0: float, z1: float, cross) -> None:
    b.obj(GROUND)
    b.poly(quad_y(0.0, -600.0, 600.0, z0, z1), actors.TERRAIN, "terrain", float(rng.random()))
    b.poly(quad_y(0.0, road.left, road.right, z0, z1), actors.ROAD, "road", float(rng.random()))
    spans = [(z0, z1)] if cross is None else [(z0, cross[0]), (cross[0] + cross[1], z1)]
    if cross is not None:
        b.poly(quad_y(0.0, -600.0, 600.0, cross[0], cross[0] + cross[1]), actors.ROAD, "road")
    walk_tint = float(rng.random())
    for a, c in spans:
        for edge, outer, out in ((road.right, road.walk_right, (-1, 0, 0)),
                                 (road.left, road.walk_left, (1, 0, 0))):  # fmt: skip
            lo, hi = min(edge, outer), max(edge, outer)
            b.poly(quad_y(CURB, lo, hi, a, c), actors.SIDEWALK, "sidewalk", walk_tint)
            b.poly(quad_x(edge, 0.0, CURB, a, c), actors.SIDEWALK, "curb", outward=out)
    _markings(b, rng, road, z0, z1, cross)


def _dashes(x: float, z0: float, z1: float, width: float, dash: float, gap: float) -> list:
    zs = np.arange(z0 - (z0 % (dash + gap)), z1, dash + gap).tolist()
    return [quad_y(0.01, x - width / 2, x + width / 2, z, z + dash) for z in zs]


def _markings(b: WorldBuilder, rng, road: Road, z0: float, z1: float, cross) -> None:
    lw = road.lanes[1] - road.lanes[0] if len(road.lanes) > 1 else 3.4
    stripes = []
    for x in road.lanes[1:] + road.oncoming[1:]:
        stripes += _dashes(x - np.sign(x - road.centre) * lw / 2, z0, z1, 0.15, 3.0, 6.0)
    if road.oncoming:
        yellow = rng.random() < 0.3
        centre = [quad_y(0.01, road.centre - 0.2, road.centre - 0.08, z0, z1),
                  quad_y(0.01, road.centre + 0.08, road.centre + 0.2, z0, z1)]  # fmt: skip
        b.polys(centre, actors.ROAD, "lane_marking", 0.9 if yellow else 0.1)
    leftmost = road.oncoming[-1] if road.oncoming else road.lanes[0]
    edges = [road.lanes[-1] + lw / 2, leftmost - lw / 2]
    for x in edges:
        stripes.append(quad_y(0.01, x - 0.08, x + 0.08, z0, z1))
    if cross is not None:
        zc = cross[0]
        xs = np.arange(road.left + 0.5, road.right - 0.5, 1.0).tolist()
        stripes += [quad_y(0.012, x, x + 0.5, zc - 4.0, zc - 0.6) for x in xs]
        stripes.append(quad_y(0.012, road.left, road.lanes[-1] + lw / 2, zc - 5.0, zc - 4.6))
    b.polys(stripes, actors.ROAD, "lane_marking", 0.1)


def _side(b: WorldBuilder, rng, road: Road, side: int, z0: float, z1: float, cross) -> None:
    """Facades, walls, fences, parks and backdrops along one side of the street."""
    edge = road.walk_right if side > 0 else road.walk_left
    z = z0 - rng.uniform(0.0, 10.0)
    while z < z1:
        length = rng.uniform(8.0, 30.0)
        a, c = z, min(z + length, z1)
        if cross is not None and c > cross[0] - 1.0 and a < cross[0] + cross[1] + 1.0:
            a, c = a, cross[0] - 1.0  # the cross street cuts the block
            z = cross[0] + cross[1] + 1.0
        else:
            z = c + (rng.uniform(1.0, 6.0) if rng.random() < 0.15 else 0.0)
        if c - a < 2.0:
            continue
        kind = rng.choice(["building", "park", "wall", "fence"], p=[0.6, 0.14, 0.13, 0.13])
        if kind == "building":
            setback = 0.0 if rng.random() < 0.75 else rng.uniform(1.0, 4.0)
            building(b, rng, edge + side * setback, side, a, c, STREET_LINE)
            continue
        if kind in ("wall", "fence"):
            _barrier(b, rng, edge, side, a, c, kind)
        elif rng.random() < 0.4:
            actors.hedge(b, rng, *sorted((edge, edge + side * 0.9)), a, c, STREET_LINE)
        for _ in range(int(rng.integers(1, 5))):
            actors.tree(b, rng, edge + side * rng.uniform(2.0, 18.0), rng.uniform(a, c), YARD)
        if rng.random() < 0.8:
            building(
                b, rng, edge + side * rng.uniform(20.0, 40.0), side, a - 5.0, c + 5.0, BACKDROP
            )


def building(b: WorldBuilder, rng, face: float, side: int, z0: float, z1: float, layer: int):
    """A building whose street facade is the plane X = face, with windows and a door."""
    h, depth = rng.uniform(7.0, 30.0), rng.uniform(10.0, 20.0)
    x0, x1 = (face, face + depth) if side > 0 else (face - depth, face)
    out = (-float(side), 0.0, 0.0)
    b.obj(layer)
    b.box(x0, x1, 0.0, h, z0, z1, actors.BUILDING, "building", float(rng.random()), faces="lrnf")
    floor_h, win_w = rng.uniform(2.8, 3.6), rng.uniform(0.8, 1.7)
    pitch, win_h = rng.uniform(win_w + 0.6, win_w + 2.5), rng.uniform(1.0, 0.7 * floor_h)
    zs = np.arange(z0 + 0.8, z1 - win_w - 0.5, pitch).tolist()
    groups: list[list] = [[], [], []]
    for k in range(1, int((h - 1.0) / floor_h)):
        y = k * floor_h + 0.55 * (floor_h - win_h)
        for zz in zs:
            groups[int(rng.integers(0, 3))].append(quad_x(face, y, y + win_h, zz, zz + win_w))
    shop = rng.random() < 0.4
    if shop and len(zs) > 1:
        groups[0].append(quad_x(face, 0.5, 2.6, z0 + 1.0, z1 - 2.5))
    for g, polys in enumerate(groups):
        b.polys(polys, actors.BUILDING, "window", (g + 0.5) / 3.0, outward=out)
    door = rng.uniform(z0, max(z0, z1 - 1.5))
    b.poly(quad_x(face, 0.0, 2.3, door, door + 1.3), actors.BUILDING, "door", float(rng.random()),
           outward=out)  # fmt: skip


def _barrier(b: WorldBuilder, rng, edge: float, side: int, z0: float, z1: float, kind: str):
    h = rng.uniform(0.8, 2.8) if kind == "wall" else rng.uniform(1.0, 2.2)
    x0, x1 = sorted((edge, edge + side * 0.3))
    b.obj(STREET_LINE)
    if kind == "wall":
        b.box(x0, x1, 0.0, h, z0, z1, actors.WALL, "wall", float(rng.random()), faces="lrnf")
        return
    tint = float(rng.random())
    posts = [quad_x(edge, 0.0, h, z, z + 0.1) for z in np.arange(z0, z1, 2.5).tolist()]
    if rng.random() < 0.5:  # rails
        rails = [quad_x(edge, y, y + 0.08, z0, z1) for y in np.linspace(0.3, h - 0.08, 3).tolist()]
    else:  # vertical bars
        rails = [quad_x(edge, 0.05, h, z, z + 0.05) for z in np.arange(z0, z1, 0.25).tolist()]
        rails.append(quad_x(edge, h - 0.08, h, z0, z1))
    b.polys(posts + rails, actors.FENCE, "fence", tint)


def _furniture(b: WorldBuilder, rng, road: Road, side: int, z0: float, z1: float, cross):
    """Lamps, signs, sidewalk trees, parked bicycles and traffic lights on one side."""
    edge = road.right if side > 0 else road.left
    inner = edge + side * 0.6
    for z in np.arange(z0 + rng.uniform(2.0, 30.0), z1, rng.uniform(18.0, 35.0)).tolist():
        actors.street_lamp(b, rng, inner, z, -side)
    for _ in range(rng.poisson(2.5 * (z1 - z0) / 100.0)):
        actors.traffic_sign(
            b, rng, inner + side * rng.uniform(0.0, 0.6), rng.uniform(max(z0, 4), z1)
        )
    if rng.random() < 0.45:
        for z in np.arange(z0 + rng.uniform(3.0, 10.0), z1, rng.uniform(7.0, 14.0)).tolist():
            actors.tree(b, rng, edge + side * 1.0, z)
    for _ in range(rng.poisson(1.2 * (z1 - z0) / 100.0)):
        x = (road.walk_right if side > 0 else road.walk_left) - side * 0.9
        actors.two_wheeler_side(b, rng, x, rng.uniform(max(z0, 5), z1), rng.random() < 0.4, False)
    if cross is not None:
        arm = rng.uniform(2.5, 5.0) if rng.random() < 0.5 else 0.0
        actors.traffic_light(b, rng, edge + side * 0.4, cross[0] - 1.0, -side, arm)
        actors.traffic_light(b, rng, edge + side * 0.4, cross[0] + cross[1] + 1.0, -side, 0.0)
        actors.traffic_sign(b, rng, edge + side * 0.8, cross[0] - 2.0)


def _traffic(b: WorldBuilder, rng, road: Road, z0: float, z1: float, speed: float) -> None:
    """Vehicles in every lane (moving with ``speed`` > 0), parked cars and maybe a tram."""
    tram_lane = None
    if rng.random() < 0.22:
        tram_lane = (road.oncoming or road.lanes)[0]
        rails = [quad_y(0.011, tram_lane + dx - 0.04, tram_lane + dx + 0.04, z0, z1)
                 for dx in (-0.72, 0.72)]  # fmt: skip
        b.obj(GROUND)
        b.polys(rails, actors.ROAD, "rail")
    for x, oncoming in [(x, False) for x in road.lanes] + [(x, True) for x in road.oncoming]:
        own = abs(x) < 1.0
        z = max(z0, 0.0) + rng.uniform(9.0 if own else 5.0, 35.0)
        factor = rng.uniform(-1.2, -0.5) if oncoming else rng.uniform(0.3, 0.9)
        if own:
            factor = 1.02
        v = (0.0, 0.0, factor * speed)
        if x == tram_lane and z < z1:
            z += actors.tram(b, rng, x, z, v) + rng.uniform(5.0, 25.0)
        while z < z1:
            z += _vehicle(b, rng, x, z, oncoming, v, right_lane=x == road.lanes[-1])
            z += rng.uniform(8.0, 45.0) if speed == 0 else rng.uniform(10.0, 50.0)
    for x in road.parking:
        z = z0 + rng.uniform(0.0, 8.0)
        while z < z1:
            if rng.random() < 0.7:
                z += actors.car(b, rng, x, z, rng.random() < 0.3)
            z += rng.uniform(1.0, 9.0)


def _vehicle(b: WorldBuilder, rng, x: float, z: float, oncoming: bool, v, right_lane: bool):
    kind = rng.choice(["car", "truck", "bus", "moto", "bike"], p=[0.7, 0.1, 0.08, 0.06, 0.06])
    if kind in ("moto", "bike") and not oncoming:
        dx = rng.uniform(0.6, 1.2) if right_lane else rng.uniform(-0.5, 0.5)
        actors.rider_behind(b, rng, x + dx, z, kind == "moto", v)
        return 2.0
    if kind == "truck":
        return actors.truck(b, rng, x, z, oncoming, v)
    if kind == "bus":
        return actors.bus(b, rng, x, z, oncoming, v)
    return actors.car(b, rng, x, z, oncoming, v)


def _people(b: WorldBuilder, rng, road: Road, z0: float, z1: float, cross, speed: float):
    """Pedestrians on both sidewalks, and people and riders on the crossing."""
    near = max(z0, 3.0)
    for side, edge, outer in ((1, road.right, road.walk_right), (-1, road.left, road.walk_left)):
        for _ in range(rng.poisson(5.0 * (z1 - z0) / 100.0)):
            x = edge + side * rng.uniform(0.4, abs(outer - edge) - 0.3)
            z = near + rng.exponential(25.0) if speed == 0 else rng.uniform(near, z1)
            actors.person(b, rng, x, z, velocity=(0.0, 0.0, rng.uniform(-0.15, 0.15) * (speed > 0)))
    if cross is None:
        return
    zc = cross[0] - 2.3
    for _ in range(int(rng.integers(0, 5))):
        x = rng.uniform(road.left - 1.0, road.right + 1.0)
        v = (rng.choice([-0.13, 0.13]) * (speed > 0), 0.0, 0.0)
        if rng.random() < 0.3:
            actors.two_wheeler_side(b, rng, x, zc + rng.uniform(-1, 1), rng.random() < 0.4, True, v)
        else:
            actors.person(b, rng, x, zc + rng.uniform(-1.5, 1.5), velocity=v)


def _ego_hood(b: WorldBuilder, rng) -> None:
    """The bonnet of the recording car at the bottom of the image (ignore label)."""
    h = rng.uniform(0.06, 0.14)
    pts = [(-0.1, 1.1), (-0.1, 1 - 0.5 * h), (0.25, 1 - 0.92 * h), (0.5, 1 - h),
           (0.75, 1 - 0.92 * h), (1.1, 1 - 0.5 * h), (1.1, 1.1)]  # fmt: skip
    b.obj(OVERLAY)
    b.screen(pts, IGNORE, "ego")
