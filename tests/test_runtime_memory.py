"""2,000 frames through the stream loop must not grow resident memory (a leak check)."""

from __future__ import annotations

import pytest
from _runtime_helpers import model_dir

from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.segmenter import Segmenter
from edgedg_runtime.sources import FrameSource
from edgedg_runtime.stream import run_loop


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Cycle(FrameSource):
    def __init__(self, frames, n):
        super().__init__("cycle")
        self.frames, self.n, self.i = frames, n, 0

    def __next__(self):
        if self.i >= self.n:
            raise StopIteration
        self.i += 1
        return f"f{self.i}", self.frames[self.i % len(self.frames)]


@pytest.mark.slow
def test_two_thousand_frames_keep_rss_flat(tmp_path_factory):
    tiny = model_dir(tmp_path_factory)
    frames = synthetic_frames(48, 96, 40)  # resized in and out on every frame
    with Segmenter(tiny, backend="ort", norm="sib", threads=1) as seg:
        run_loop(seg, Cycle(frames, 300), [])  # warm-up: bank full (128), arenas grown
        before = rss_kib()
        summary = run_loop(seg, Cycle(frames, 2000), [])
        after = rss_kib()
    assert summary.frames == 2000
    assert after < before * 1.10, f"RSS grew from {before} KiB to {after} KiB"
    print(f"RSS {before} -> {after} KiB over 2000 frames ({summary.fps:.0f} fps)")
