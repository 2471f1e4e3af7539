"""A video of one street: the camera drives forward through ONE world, traffic moves.

Frame t renders the same world at camera depth ``speed * t`` with every object moved by its own
velocity, so consecutive frames (and their label maps) are temporally coherent. The appearance of
a video is fixed per domain (the same per-image variation in every frame).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgedg.data._io import encode_png, write_atomic
from edgedg.data.synth.render import appearance_rng
from edgedg.data.synth.scene import STATIC_RANGE, Camera, Layout, rasterize, street_for_seed
from edgedg.data.synth.styles import create_domain, paint

FPS = 10


def video_speed(seed: int) -> float:
    """Metres per frame of the camera in the video of ``seed`` (29 to 47 km/h at 10 fps)."""
    return float(np.random.default_rng([seed, 7]).uniform(0.8, 1.3))


def video_layouts(seed: int, size: tuple[int, int], frames: int) -> Iterator[Layout]:
    """The layouts of the ``frames`` frames of the video of ``seed`` (domain-independent)."""
    speed = video_speed(seed)
    street = street_for_seed(seed, -30.0, frames * speed + STATIC_RANGE[1], speed)
    for t in range(frames):
        camera = Camera.from_rig(street.rig, size, z=speed * t)
        yield rasterize(street.world, camera, size, t=float(t))


def write_videos(out: Path, domains: list[str], size: tuple[int, int], seed: int,
                 frames: int = 120) -> dict[str, dict]:  # fmt: skip
    """Write ``out/<domain>.mp4`` (mp4v, 10 fps) and ``out/<domain>/frames|labels/00000.png``
    (BGR frames, trainId labels) for every domain: the same street in each. Returns the paths."""
    styles = {d: create_domain(d) for d in domains}
    result: dict[str, dict] = {}
    writers = {}
    try:
        for d in domains:
            tmp = out / f".{d}.tmp.mp4"
            out.mkdir(parents=True, exist_ok=True)
            vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size[::-1])
            if not vw.isOpened():
                raise RuntimeError(f"OpenCV cannot write mp4v video to {tmp}")
            writers[d] = (vw, tmp)
        for t, layout in enumerate(video_layouts(seed, size, frames)):
            for d, style in styles.items():
                bgr = np.ascontiguousarray(paint(layout, style, appearance_rng(seed, d))[..., ::-1])
                write_atomic(out / d / "frames" / f"{t:05d}.png", encode_png(bgr))
                write_atomic(out / d / "labels" / f"{t:05d}.png", encode_png(layout.label))
                writers[d][0].write(bgr)
        for d, (vw, tmp) in writers.items():
            vw.release()
            os.replace(tmp, out / f"{d}.mp4")
            result[d] = {
                "mp4": str(out / f"{d}.mp4"),
                "frames": str(out / d / "frames"),
                "labels": str(out / d / "labels"),
                "count": frames,
            }
    finally:
        for vw, tmp in writers.values():
            vw.release()
            if tmp.exists():
                tmp.unlink()
    return result
