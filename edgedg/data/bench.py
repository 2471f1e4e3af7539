"""Loader throughput: images/s of MultiDomainBatches with TrainTransform over real-format files.

    python -m edgedg.data.bench --size 512x1024 --crop 512 --workers 2

Writes a few synthetic images per domain (GTA5 and Cityscapes layouts) to a temporary folder, then
times whole steps after a warm-up step (which includes the worker start).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from edgedg.data.formats import open_writer


def _scene(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A blocky label with every class and a smooth image that follows it."""
    cells = rng.integers(0, 19, size=(8, 16)).astype(np.uint8)
    label = _blocks(cells, h, w)
    colors = rng.integers(0, 256, size=(19, 3)).astype(np.uint8)
    noise = rng.integers(0, 24, size=(h, w, 1)).astype(np.uint8)
    return colors[label] // 2 + noise, label


def _blocks(cells: np.ndarray, h: int, w: int) -> np.ndarray:
    """``cells`` scaled up (nearest) to h x w."""
    rows = np.arange(h) * cells.shape[0] // h
    cols = np.arange(w) * cells.shape[1] // w
    return cells[rows][:, cols]


def loader_throughput(
    size: tuple[int, int] = (512, 1024),
    crop: int = 512,
    workers: int = 2,
    batch_per_domain: int = 4,
    steps: int = 10,
    images_per_domain: int = 8,
) -> dict:
    """Images/s of two-domain batches (PNG decode, TrainTransform, collate) after a warm-up step."""
    from edgedg.data.datasets import open_dataset
    from edgedg.data.sampler import MultiDomainBatches
    from edgedg.data.transforms import TrainTransform

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        specs = []
        for fmt in ("gta5", "cityscapes"):
            with open_writer(fmt, Path(tmp) / fmt) as writer:
                for i in range(images_per_domain):
                    writer.add("train", i, *_scene(rng, *size))
            specs.append(f"{fmt}:{Path(tmp) / fmt}")
        sets = [open_dataset(spec) for spec in specs]
        batches = MultiDomainBatches(
            sets, batch_per_domain, TrainTransform(crop=crop), seed=0, num_workers=workers,
            steps=steps + 1,
        )  # fmt: skip
        start, count = 0.0, 0
        for step, (images, _, _) in enumerate(batches):
            if step == 0:
                start = time.perf_counter()
                continue
            count += images.shape[0]
        seconds = time.perf_counter() - start
    return {
        "images": count,
        "seconds": round(seconds, 3),
        "images_per_s": round(count / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512x1024", help="source image HxW")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-per-domain", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    print(loader_throughput((h, w), args.crop, args.workers, args.batch_per_domain, args.steps))


if __name__ == "__main__":
    main()
