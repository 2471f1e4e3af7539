"""``synthesize``: one complete dataset per synthetic domain, in a real on-disk format.

Scene i uses the layout seed derived from (seed, i) only, so the same scenes appear in every
domain and every format for the same ``seed``; each layout is rendered once and painted in every
requested domain.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from edgedg.data.formats import check_format, open_writer
from edgedg.data.synth.render import paint_layout
from edgedg.data.synth.scene import render_layout
from edgedg.data.synth.styles import DOMAINS, create_domain
from edgedg.data.synth.video import write_videos
from edgedg_runtime.errors import DataError

MIN_SIZE = 32


def layout_seed(seed: int, index: int) -> int:
    """The layout seed of scene ``index`` of a dataset generated with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def video_seed(seed: int) -> int:
    """The street seed of the videos generated with ``seed``."""
    return int(np.random.SeedSequence([seed, 0x766964656F]).generate_state(1)[0])


def resolve_domains(names: list[str] | str) -> list[str]:
    """Domain names from a list or a comma-separated string; ``all`` means every domain."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise DataError(f"no domain given; choose from {', '.join(DOMAINS)} or 'all'")
    if "all" in names:
        return list(DOMAINS)
    for name in names:
        create_domain(name)
    return list(dict.fromkeys(names))


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W); DataError unless both are integers >= 32."""
    parts = text.lower().split("x")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        h, w = (int(p) for p in parts)
        if h >= MIN_SIZE and w >= MIN_SIZE:
            return h, w
    raise DataError(f"bad size {text!r}: give HxW with both at least {MIN_SIZE}, e.g. 256x512")


def split_counts(per_domain: int, val_fraction: float) -> tuple[int, int]:
    """(train, val) numbers of scenes: the last round(per_domain * val_fraction) are val."""
    if per_domain < 1:
        raise DataError(f"per-domain count must be at least 1, got {per_domain}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(per_domain * val_fraction))
    return per_domain - n_val, n_val


def synthesize(out: Path, domains: list[str], per_domain: int, size: tuple[int, int],
               fmt: str, seed: int, val_fraction: float = 0.25, video: bool = False,
               video_frames: int = 120, progress: bool = True) -> dict:  # fmt: skip
    """Write ``out/<domain>/`` (a ``fmt`` dataset with train and val splits) for every domain,
    and with ``video`` also ``out/video/<domain>.mp4`` and its frame and label folders.

    Returns a summary: roots, split counts, the number of images, seconds and images/s.
    """
    domains = resolve_domains(domains)
    fmt = check_format(fmt)
    size = parse_size(f"{size[0]}x{size[1]}")
    n_train, n_val = split_counts(per_domain, val_fraction)
    if seed < 0 or video_frames < 1:
        raise DataError("seed must be >= 0 and video frames >= 1")
    out = Path(out)
    start = time.perf_counter()
    with ExitStack() as stack:
        writers = {d: stack.enter_context(open_writer(fmt, out / d)) for d in domains}
        for i in _progress(range(per_domain), progress, "scenes"):
            layout = render_layout(layout_seed(seed, i), size)
            split = "train" if i < n_train else "val"
            for d, writer in writers.items():
                writer.add(split, i, paint_layout(layout, layout_seed(seed, i), d), layout.label)
    seconds = time.perf_counter() - start
    images = per_domain * len(domains)
    summary = {
        "root": str(out),
        "format": fmt,
        "size": list(size),
        "seed": seed,
        "domains": {d: {"root": str(out / d), "train": n_train, "val": n_val} for d in domains},
        "images": images,
        "seconds": round(seconds, 3),
        "images_per_s": round(images / max(seconds, 1e-9), 2),
    }
    if video:
        start = time.perf_counter()
        summary["videos"] = write_videos(out / "video", domains, size, video_seed(seed),
                                         video_frames)  # fmt: skip
        summary["video_seconds"] = round(time.perf_counter() - start, 3)
    return summary


def _progress(items, enabled: bool, unit: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, unit=unit, desc="synth", dynamic_ncols=True)
