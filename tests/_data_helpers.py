"""Sample images/labels for the data tests: every trainId and the ignore label present."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedg.data.formats import open_writer

ALL_VALUES = np.r_[np.arange(19), 255].astype(np.uint8)


def make_sample(seed: int, h: int = 40, w: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A smooth RGB image (JPEG-friendly) and a label of 4x5 blocks holding all 19 classes + 255,
    with scattered single pixels of random classes so that per-pixel exactness is tested too."""
    rng = np.random.default_rng(seed)
    cells = rng.permutation(ALL_VALUES).reshape(4, 5)
    rows = np.minimum(np.arange(h) * 4 // h, 3)
    cols = np.minimum(np.arange(w) * 5 // w, 4)
    label = cells[rows][:, cols].copy()
    spots = rng.integers(0, h * w, size=h * w // 20)
    label.reshape(-1)[spots] = rng.choice(ALL_VALUES, size=spots.size)
    base = rng.integers(40, 216, size=(20, 3))[cells[rows][:, cols] % 20]
    ramp = (np.arange(w)[None, :, None] * 30 // w).astype(np.int64)
    image = np.clip(base + ramp, 0, 255).astype(np.uint8)
    return image, label


def write_samples(fmt: str, root: Path, n_train: int = 2, n_val: int = 1, h: int = 40, w: int = 60):
    """Write n_train + n_val samples with seeds 0.. ; returns {split: [(image, label), ...]}."""
    written: dict[str, list] = {"train": [], "val": []}
    with open_writer(fmt, root) as writer:
        for split, count, offset in (("train", n_train, 0), ("val", n_val, 100)):
            for i in range(count):
                image, label = make_sample(offset + i, h, w)
                writer.add(split, i, image, label)
                written[split].append((image, label))
    return written


def expected_label(fmt: str, label: np.ndarray) -> np.ndarray:
    """What a format reads back for ``label``: IDD has no terrain (9 -> 255)."""
    out = label.copy()
    if fmt == "idd":
        out[out == 9] = 255
    return out
