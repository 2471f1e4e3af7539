"""Frame sources: URI parsing, folders with bad images, videos (whole and damaged), live capture."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedg_runtime import sources
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.sources import LiveCapture, open_source, parse_source


def write_video(path, n, size=(64, 32), fps=10, seed=0):
    rng = np.random.default_rng(seed)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if str(path).endswith(".mp4") else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    for _ in range(n):
        writer.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return str(path)


def test_parse_source_uris(tmp_path):
    assert parse_source("0") == ("webcam", 0)
    assert parse_source("/dev/video2") == ("v4l2", "/dev/video2")
    assert parse_source("v4l2://1") == ("v4l2", "/dev/video1")
    assert parse_source("csi://0") == ("csi", 0)
    assert parse_source("rtsp://cam.local/live") == ("rtsp", "rtsp://cam.local/live")
    assert parse_source("gst://videotestsrc ! appsink") == ("gst", "videotestsrc ! appsink")
    with pytest.raises(EdgeDGError, match="neither an existing file"):
        parse_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(EdgeDGError, match="no images"):
        parse_source(str(tmp_path))
    assert "sensor-id=1" in sources.csi_pipeline(1) and "appsink drop=true" in sources.csi_pipeline(
        1
    )


def test_folder_yields_every_image_in_order_and_none_for_bad(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((8, 16, 3), i * 50, np.uint8))
    (tmp_path / "img1b.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "notes.txt").write_text("not an image")
    items = list(open_source(str(tmp_path)))
    assert [n for n, _ in items] == ["img0", "img1", "img1b", "img2"]
    assert items[2][1] is None
    assert [int(f[0, 0, 0]) for n, f in items if f is not None] == [0, 50, 100]
    globbed = list(open_source(str(tmp_path / "img?.png"), width=4, height=2))
    assert len(globbed) == 3 and globbed[0][1].shape == (2, 4, 3)


def test_video_every_frame_then_end(tmp_path):
    path = write_video(tmp_path / "v.mp4", 12)
    with open_source(path) as src:
        frames = list(src)
        assert src.fps == pytest.approx(10.0)
    assert len(frames) == 12 and frames[0][1].shape == (32, 64, 3)


def test_damaged_video_ends_cleanly_and_cut_video_is_refused(tmp_path):
    path = write_video(tmp_path / "v.mp4", 20)
    data = bytearray(Path(path).read_bytes())
    moov = data.find(b"moov") - 4
    damaged = data[: moov // 2] + bytes(moov - moov // 2) + data[moov:]  # media zeroed mid-way
    (tmp_path / "damaged.mp4").write_bytes(bytes(damaged))
    src = open_source(str(tmp_path / "damaged.mp4"))
    n = sum(1 for _ in src)
    assert 0 < n < 20 and "breaks after frame" in src.end_reason
    (tmp_path / "cut.mp4").write_bytes(bytes(data[: len(data) // 2]))  # index lost
    with pytest.raises(EdgeDGError, match="cannot open the video"):
        open_source(str(tmp_path / "cut.mp4"))


def test_csi_and_gst_need_gstreamer(monkeypatch):
    monkeypatch.setattr(cv2.videoio_registry, "hasBackend", lambda api: False)
    with pytest.raises(EdgeDGError, match="GStreamer"):
        open_source("csi://0")
    with pytest.raises(EdgeDGError, match="GStreamer"):
        open_source("gst://videotestsrc ! appsink")


class FakeCapture:
    """A camera that delivers ``n`` frames ``period`` s apart, then fails (or blocks)."""

    def __init__(self, n, period=0.0, block_after=False, first=0):
        self.n, self.period, self.block_after, self.i, self.first = n, period, block_after, 0, first
        self.released = threading.Event()

    def get(self, prop):
        return 25.0

    def read(self):
        if self.i >= self.n:
            if self.block_after:
                self.released.wait(5)
            return False, None
        time.sleep(self.period)
        self.i += 1
        return True, np.full((4, 4, 3), (self.first + self.i) % 256, np.uint8)

    def release(self):
        self.released.set()


def test_live_capture_keeps_latest_and_counts_dropped():
    cap = FakeCapture(200, period=0.001)
    with LiveCapture("fake", lambda: cap, timeout=2.0) as src:
        got = []
        for _, frame in src:
            got.append(int(frame[0, 0, 0]))
            time.sleep(0.02)  # a slow consumer
    assert got == sorted(got) and len(got) < 200
    assert src.dropped > 0 and len(got) + src.dropped == 200
    assert src.end_reason == "source ended"


def test_live_capture_read_timeout():
    cap = FakeCapture(2, block_after=True)
    src = LiveCapture("stuck", lambda: cap, timeout=0.3)
    t0 = time.perf_counter()
    items = list(src)
    src.close()
    assert len(items) <= 2 and time.perf_counter() - t0 < 3
    assert "no frame for 0.3 s" in src.end_reason


def test_live_capture_reconnects(monkeypatch):
    caps = [FakeCapture(3, period=0.03), FakeCapture(3, period=0.03, first=100)]
    opened = []

    def opener():
        opened.append(1)
        if len(opened) > 2:
            raise EdgeDGError("gone")
        return caps[len(opened) - 1]

    src = LiveCapture("rtsp://x", opener, timeout=1.0, reconnect=True, backoff=0.01)
    values = [int(f[0, 0, 0]) for _, f in src]
    src.close()
    assert len(opened) >= 3  # first, reconnect, failed retries with backoff until the timeout
    assert values[0] < 100 and values[-1] > 100  # frames came from both connections
