"""Street actors and furniture as labelled primitives: vehicles, people, riders, poles, trees.

Each function adds ONE object to a :class:`WorldBuilder` at a ground position (x, z) in metres.
Vehicles are boxes whose faces are culled by their outward normals; people and riders are flat
figures facing the camera. ``rng`` picks the sizes and colour variants (tints).
"""

from __future__ import annotations

import numpy as np

from edgedg.data.synth.world import STREET, YARD, WorldBuilder, circle_x, quad_x, quad_y, quad_z

ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)

NEAR, FAR, SIDE_L, SIDE_R = (0.0, 0.0, -1.0), (0.0, 0.0, 1.0), (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0)


def _tint(rng: np.random.Generator) -> float:
    return float(rng.random())


def _wheels_side(b: WorldBuilder, x0: float, x1: float, zs: list[float], r: float, label: int):
    for z in zs:
        b.poly(circle_x(x0 - 0.01, r, z, r), label, "tyre", outward=SIDE_L)
        b.poly(circle_x(x1 + 0.01, r, z, r), label, "tyre", outward=SIDE_R)


def _end_details(b, x0, x1, z, y_light, label, light: str, tyre_h: float, out) -> None:
    """Tyres under the body and two lights on the end face at depth z facing ``out``."""
    w = x1 - x0
    tyres = [quad_z(z, x0 + 0.08, x0 + 0.08 + 0.14 * w, 0.0, tyre_h)]
    tyres.append(quad_z(z, x1 - 0.08 - 0.14 * w, x1 - 0.08, 0.0, tyre_h))
    b.polys(tyres, label, "tyre", outward=out)
    lights = [quad_z(z, x0 + 0.1, x0 + 0.1 + 0.17 * w, y_light, y_light + 0.14)]
    lights.append(quad_z(z, x1 - 0.1 - 0.17 * w, x1 - 0.1, y_light, y_light + 0.14))
    b.polys(lights, label, light, outward=out)


def car(b: WorldBuilder, rng, x: float, z: float, oncoming: bool, velocity=(0, 0, 0)) -> float:
    """A car (or a van) whose camera-side end is at depth z; returns its length."""
    van = rng.random() < 0.15
    w, length = rng.uniform(1.7, 1.95), rng.uniform(3.9, 4.8) + (0.6 if van else 0.0)
    h = rng.uniform(1.4, 1.55) + (0.55 if van else 0.0)
    x0, x1, z1, tint = x - w / 2, x + w / 2, z + length, _tint(rng)
    b.obj(STREET, velocity)
    b.poly(quad_y(0.01, x0 - 0.15, x1 + 0.15, z - 0.2, z1 + 0.2), ROAD, "shadow")
    b.box(x0, x1, 0.25, 0.95, z, z1, CAR, "paint", tint)
    if van:
        b.box(x0 + 0.05, x1 - 0.05, 0.95, h, z + 0.3, z1 - 0.9, CAR, "paint", tint)
        b.poly(quad_z(z1 - 0.9, x0 + 0.15, x1 - 0.15, 1.05, h - 0.1), CAR, "glass", outward=FAR)
        b.poly(quad_z(z + 0.3, x0 + 0.2, x1 - 0.2, 1.2, h - 0.15), CAR, "glass", outward=NEAR)
    else:
        cz0, cz1 = z + 0.22 * length, z1 - 0.3 * length
        b.box(x0 + 0.12, x1 - 0.12, 0.95, h, cz0, cz1, CAR, "glass", 0.2, faces="lrnf")
        b.poly(quad_y(h, x0 + 0.12, x1 - 0.12, cz0, cz1), CAR, "paint", tint, outward=(0, 1, 0))
    _wheels_side(b, x0, x1, [z + 0.8, z1 - 0.8], 0.33, CAR)
    _end_details(b, x0, x1, z, 0.7, CAR, "headlight" if oncoming else "taillight", 0.3, NEAR)
    return length


def truck(b: WorldBuilder, rng, x: float, z: float, oncoming: bool, velocity=(0, 0, 0)) -> float:
    """A box truck: cargo box and cab (cab toward the camera when oncoming)."""
    w, cargo, cab, tint = rng.uniform(2.3, 2.55), rng.uniform(5.0, 8.0), 2.2, _tint(rng)
    x0, x1 = x - w / 2, x + w / 2
    zc0 = z if oncoming else z + cargo + 0.2
    zk0 = z + cab + 0.2 if oncoming else z
    b.obj(STREET, velocity)
    b.poly(quad_y(0.01, x0 - 0.15, x1 + 0.15, z - 0.2, z + cab + cargo + 0.4), ROAD, "shadow")
    b.box(x0, x1, 0.5, rng.uniform(3.2, 3.8), zk0, zk0 + cargo, TRUCK, "truck_paint", tint)
    b.box(x0 + 0.05, x1 - 0.05, 0.4, 2.9, zc0, zc0 + cab, TRUCK, "paint", _tint(rng))
    glass_z = zc0 if oncoming else zc0 + cab
    b.poly(quad_z(glass_z, x0 + 0.2, x1 - 0.2, 1.7, 2.6), TRUCK, "glass",
           outward=NEAR if oncoming else FAR)  # fmt: skip
    _wheels_side(b, x0, x1, [z + 1.0, z + cab + cargo - 1.0], 0.48, TRUCK)
    _end_details(b, x0, x1, z, 0.8, TRUCK, "headlight" if oncoming else "taillight", 0.5, NEAR)
    return cab + cargo + 0.2


def bus(b: WorldBuilder, rng, x: float, z: float, oncoming: bool, velocity=(0, 0, 0)) -> float:
    """A city bus with a window band on both sides and its end windows."""
    w, length, h, tint = 2.5, rng.uniform(10.5, 13.0), rng.uniform(3.0, 3.3), _tint(rng)
    x0, x1, z1 = x - w / 2, x + w / 2, z + length
    b.obj(STREET, velocity)
    b.poly(quad_y(0.01, x0 - 0.15, x1 + 0.15, z - 0.2, z1 + 0.2), ROAD, "shadow")
    b.box(x0, x1, 0.3, h, z, z1, BUS, "bus_paint", tint)
    b.poly(quad_x(x0 - 0.01, 1.2, h - 0.5, z + 0.8, z1 - 1.2), BUS, "glass", outward=SIDE_L)
    b.poly(quad_x(x1 + 0.01, 1.2, h - 0.5, z + 0.8, z1 - 1.2), BUS, "glass", outward=SIDE_R)
    low = 0.9 if oncoming else 1.5
    b.poly(quad_z(z, x0 + 0.15, x1 - 0.15, low, h - 0.35), BUS, "glass", outward=NEAR)
    _wheels_side(b, x0, x1, [z + 2.2, z1 - 3.0], 0.5, BUS)
    _end_details(b, x0, x1, z, 0.55, BUS, "headlight" if oncoming else "taillight", 0.35, NEAR)
    return length


def tram(b: WorldBuilder, rng, x: float, z: float, velocity=(0, 0, 0)) -> float:
    """A tram (trainId 'train') of 2 or 3 linked cars on rails, with a pantograph."""
    w, h, tint = 2.6, 3.4, _tint(rng)
    x0, x1 = x - w / 2, x + w / 2
    n = int(rng.integers(2, 4))
    seg = rng.uniform(8.0, 10.0)
    b.obj(STREET, velocity)
    for i in reversed(range(n)):
        s0, s1 = z + i * (seg + 0.4), z + i * (seg + 0.4) + seg
        b.box(x0, x1, 0.4, h, s0, s1, TRAIN, "tram_paint", tint)
        b.poly(quad_x(x0 - 0.01, 1.3, h - 0.6, s0 + 0.6, s1 - 0.6), TRAIN, "glass", outward=SIDE_L)
        b.poly(quad_x(x1 + 0.01, 1.3, h - 0.6, s0 + 0.6, s1 - 0.6), TRAIN, "glass", outward=SIDE_R)
    b.line((x, h, z + 3.0), (x, h + 1.1, z + 4.0), 0.05, TRAIN, "pole")
    b.poly(quad_z(z, x0 + 0.2, x1 - 0.2, 1.2, h - 0.4), TRAIN, "glass", outward=NEAR)
    _end_details(b, x0, x1, z, 0.7, TRAIN, "headlight", 0.4, NEAR)
    return n * (seg + 0.4)


def person(b: WorldBuilder, rng, x: float, z: float, label: int = PERSON,
           velocity=(0, 0, 0), new_object: bool = True, seat: float = 0.0) -> None:  # fmt: skip
    """A pedestrian facing the camera (or, with ``seat`` > 0, the upper body of a rider)."""
    h = rng.uniform(1.55, 1.92)
    s = h / 1.75
    if new_object:
        b.obj(STREET, velocity)
    top, clothes = _tint(rng), _tint(rng)
    if seat <= 0.0:
        stride = rng.uniform(-0.12, 0.12)
        legs = [
            [(x - 0.17 * s + stride, 0, z), (x - 0.05 * s + stride, 0, z),
             (x - 0.01, 0.82 * s, z), (x - 0.16 * s, 0.82 * s, z)],
            [(x + 0.05 * s - stride, 0, z), (x + 0.17 * s - stride, 0, z),
             (x + 0.16 * s, 0.82 * s, z), (x + 0.01, 0.82 * s, z)],
        ]  # fmt: skip
        b.polys(legs, label, "trousers", top)
        y0 = 0.8 * s
    else:
        b.polys([quad_z(z, x - 0.17 * s, x + 0.17 * s, seat - 0.35, seat + 0.1)], label, "trousers")
        y0 = seat
    torso = quad_z(z, x - 0.21 * s, x + 0.21 * s, y0, y0 + 0.6 * s)
    arms = [quad_z(z, x - 0.29 * s, x - 0.2 * s, y0 + 0.05 * s, y0 + 0.57 * s),
            quad_z(z, x + 0.2 * s, x + 0.29 * s, y0 + 0.05 * s, y0 + 0.57 * s)]  # fmt: skip
    b.polys([torso, *arms], label, "clothes", clothes)
    b.poly(quad_z(z, x - 0.05 * s, x + 0.05 * s, y0 + 0.58 * s, y0 + 0.68 * s), label, "skin", top)
    b.disc((x, y0 + 0.76 * s, z), 0.11 * s, label, "skin", top)


def rider_behind(b: WorldBuilder, rng, x: float, z: float, motor: bool, velocity=(0, 0, 0)):
    """A cyclist or motorcyclist seen from behind (riding away from the camera)."""
    vehicle = MOTORCYCLE if motor else BICYCLE
    b.obj(STREET, velocity)
    b.poly(quad_z(z + 0.9, x - 0.32, x + 0.32, 0.95, 1.02), vehicle, "frame", _tint(rng))
    if motor:
        b.poly(quad_z(z + 0.3, x - 0.24, x + 0.24, 0.35, 0.95), vehicle, "paint", _tint(rng))
    person(b, rng, x, z + 0.2, RIDER, new_object=False, seat=0.95 if motor else 1.0)
    tyre_w = 0.09 if motor else 0.03
    b.poly(quad_z(z, x - tyre_w, x + tyre_w, 0.0, 0.62), vehicle, "tyre")
    if motor:
        b.poly(quad_z(z - 0.01, x - 0.08, x + 0.08, 0.7, 0.8), vehicle, "taillight")


def two_wheeler_side(b: WorldBuilder, rng, x: float, z: float, motor: bool, ridden: bool,
                     velocity=(0, 0, 0)) -> None:  # fmt: skip
    """A bicycle or motorcycle seen from the side (crossing, or parked), maybe with a rider."""
    vehicle = MOTORCYCLE if motor else BICYCLE
    r, half = (0.32, 0.72) if motor else (0.34, 0.52)
    b.obj(STREET, velocity)
    tint = _tint(rng)
    for dx in (-half, half):
        if motor:
            b.disc((x + dx, r, z), r, vehicle, "tyre")
        else:
            b.ring((x + dx, r, z), r, vehicle, "tyre")
    if motor:
        body = [(x - half, 0.5, z), (x + half - 0.1, 0.45, z), (x + half, 0.95, z),
                (x - 0.1, 0.95, z), (x - half - 0.1, 0.75, z)]  # fmt: skip
        b.poly(body, vehicle, "paint", tint)
    else:
        pts = [(x - half, r), (x - 0.05, r), (x + 0.3, 0.82), (x - 0.15, 0.82), (x - half, r)]
        for (ax, ay), (bx, by) in zip(pts[:-1], pts[1:], strict=True):
            b.line((ax, ay, z), (bx, by, z), 0.035, vehicle, "frame", tint)
        b.line((x + 0.3, 0.82, z), (x + half, r, z), 0.035, vehicle, "frame", tint)
        b.line((x + 0.3, 0.82, z), (x + 0.25, 1.0, z), 0.035, vehicle, "frame", tint)
    if ridden:
        person(b, rng, x - 0.05, z - 0.05, RIDER, new_object=False, seat=0.95)


def street_lamp(b: WorldBuilder, rng, x: float, z: float, towards: float) -> None:
    """A lamp post whose arm reaches ``towards`` (-1 left, +1 right) over the road."""
    h, arm = rng.uniform(6.0, 9.0), rng.uniform(1.0, 2.2)
    b.obj(STREET)
    b.poly(quad_z(z, x - 0.09, x + 0.09, 0.0, h), POLE, "pole")
    end = x + towards * arm
    b.poly(quad_z(z, min(x, end), max(x, end), h - 0.12, h), POLE, "pole")
    b.poly(quad_z(z - 0.02, end - 0.3, end + 0.3, h - 0.3, h - 0.1), POLE, "street_lamp")


def traffic_light(b: WorldBuilder, rng, x: float, z: float, towards: float, arm: float) -> None:
    """A traffic light on a pole, on an arm of length ``arm`` over the road when arm > 0."""
    h = rng.uniform(5.2, 6.2) if arm > 0 else rng.uniform(2.6, 3.4)
    b.obj(STREET)
    b.poly(quad_z(z, x - 0.08, x + 0.08, 0.0, h), POLE, "pole")
    hx = x
    if arm > 0:
        hx = x + towards * arm
        b.poly(quad_z(z, min(x, hx), max(x, hx), h - 0.1, h), POLE, "pole")
    y0 = h - 1.0 if arm > 0 else h
    b.poly(quad_z(z - 0.03, hx - 0.18, hx + 0.18, y0, y0 + 0.95), LIGHT, "light_box", 0.2)
    active = int(rng.integers(0, 3))
    for i, mat in enumerate(("lamp_green", "lamp_amber", "lamp_red")):
        centre = (hx, y0 + 0.17 + 0.3 * i, z - 0.05)
        b.disc(centre, 0.1, LIGHT, mat if i == active else "light_box", 0.9)


def traffic_sign(b: WorldBuilder, rng, x: float, z: float) -> None:
    """A sign (round, triangular or rectangular; front or back) on its own pole."""
    h = rng.uniform(2.0, 2.9)
    b.obj(STREET)
    b.poly(quad_z(z, x - 0.05, x + 0.05, 0.0, h), POLE, "pole")
    kind, r = int(rng.integers(0, 3)), rng.uniform(0.28, 0.42)
    mat = "sign" if rng.random() < 0.8 else "sign_back"
    tint = _tint(rng)
    zz = z - 0.02
    if kind == 0:
        b.disc((x, h + r * 0.8, zz), r, SIGN, mat, tint)
    elif kind == 1:
        tri = [(x - r, h, zz), (x + r, h, zz), (x, h + 1.7 * r, zz)]
        b.poly(tri, SIGN, mat, tint)
    else:
        b.poly(quad_z(zz, x - 1.2 * r, x + 1.2 * r, h - 0.1, h + 1.2 * r), SIGN, mat, tint)


def tree(b: WorldBuilder, rng, x: float, z: float, layer: int = STREET) -> None:
    """A tree: a trunk and a crown of overlapping discs (all vegetation)."""
    trunk_h, r = rng.uniform(1.8, 3.5), rng.uniform(1.3, 3.0)
    b.obj(layer)
    b.poly(quad_z(z, x - 0.14, x + 0.14, 0.0, trunk_h + r * 0.5), VEGETATION, "trunk")
    for _ in range(int(rng.integers(3, 7))):
        dx, dy = (rng.uniform(-0.6, 0.6, size=2) * r).tolist()
        b.disc((x + dx, trunk_h + r + dy, z - 0.05), r * rng.uniform(0.55, 0.85), VEGETATION,
               "vegetation", _tint(rng))  # fmt: skip


def hedge(b: WorldBuilder, rng, x0: float, x1: float, z0: float, z1: float,
          layer: int = YARD) -> None:  # fmt: skip
    """A hedge (a vegetation box)."""
    b.obj(layer)
    b.box(x0, x1, 0.0, rng.uniform(0.8, 1.8), z0, z1, VEGETATION, "vegetation", _tint(rng))
