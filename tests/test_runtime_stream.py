"""The stream loop and `edgedg stream`: outputs, bad frames, broken sources, banks, Ctrl-C."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from _runtime_helpers import FakeSegmenter, count_frames, invoke, model_dir, write_video

from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.sinks import FolderSink, Renderer, VideoSink
from edgedg_runtime.sources import open_source
from edgedg_runtime.stream import run_loop


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def two_domain_video(tmp_path_factory):
    """A two-domain synthetic video: `edgedg data synth --video` when present, else ours."""
    folder = tmp_path_factory.mktemp("video")
    if importlib.util.find_spec("edgedg") and importlib.util.find_spec("edgedg.commands.data"):
        args = ["--domains", "night", "--per-domain", "1", "--size", "64x128", "--video"]
        args += ["--video-frames", "20", "--quiet"]
        result = invoke(["data", "synth", folder / "synth", *args])
        videos = sorted((folder / "synth").rglob("*.mp4")) + sorted(
            (folder / "synth").rglob("*.avi")
        )
        if result.exit_code == 0 and videos:
            return str(videos[0])
    return write_video(folder / "two_domains.mp4", synthetic_frames(48, 96, 24))


def renderer():
    return Renderer(["dark", "bright"], [(0, 0, 0), (255, 255, 0)], alpha=0.5)


def test_loop_counts_bad_frames_and_writes_pngs(tmp_path):
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    for i in range(4):
        cv2.imwrite(str(src_dir / f"{i}.png"), np.full((16, 24, 3), 60 * i, np.uint8))
    (src_dir / "2b.png").write_bytes(b"broken")
    seg, lines = FakeSegmenter(), []
    sink = FolderSink(str(tmp_path / "out"), ("overlay", "mask"), renderer())
    summary = run_loop(seg, open_source(str(src_dir)), [sink], profile=2, echo=lines.append)
    assert (summary.frames, summary.bad) == (4, 1)
    assert len(lines) == 2 and "segment 1.00 ms" in lines[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[:2] == [
        "0_mask.png",
        "0_overlay.png",
    ]
    mask = cv2.imread(str(tmp_path / "out" / "3_mask.png"))
    assert tuple(mask[0, 0]) == (0, 255, 255)  # class 1 = RGB (255, 255, 0) -> BGR
    assert summary.mean_shift == pytest.approx(0.5) and "4 frames, 1 bad" in summary.format()


def test_loop_video_sink_one_frame_per_input_and_interrupt(tmp_path):
    video = write_video(tmp_path / "in.mp4", synthetic_frames(32, 48, 9))
    sink = VideoSink(str(tmp_path / "out.mp4"), 10, renderer())
    summary = run_loop(FakeSegmenter(), open_source(video), [sink])
    sink.close()
    assert summary.frames == 9 and count_frames(tmp_path / "out.mp4") == 9
    assert not list(tmp_path.glob(".*tmp*"))  # the temp file was moved into place

    class Interrupting(FakeSegmenter):
        def __call__(self, frame):
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().__call__(frame)

    summary = run_loop(Interrupting(), open_source(video), [])
    assert summary.frames == 3 and summary.end_reason == "interrupted"


@pytest.mark.parametrize("norm", ["source", "target", "sib", "qib", "sib-exact"])
def test_stream_every_mode_to_overlay_video(tiny_dir, two_domain_video, tmp_path, norm):
    out = tmp_path / "overlay.mp4"
    result = invoke(["stream", tiny_dir, two_domain_video, out, "--norm", norm, "--backend", "ort"])
    assert result.exit_code == 0, result.output
    assert count_frames(out) == count_frames(two_domain_video) > 0
    assert "0 bad" in result.output and "end of input" in result.output


def test_stream_damaged_video_ends_cleanly_with_summary(tiny_dir, tmp_path):
    video = write_video(tmp_path / "v.mp4", synthetic_frames(32, 64, 20))
    data = bytearray(Path(video).read_bytes())
    moov = data.find(b"moov") - 4
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data[: moov // 2] + bytes(moov - moov // 2) + data[moov:]))
    result = invoke(["stream", tiny_dir, damaged, tmp_path / "o.mp4", "--backend", "ort"])
    assert result.exit_code == 0, result.output
    assert "breaks after frame" in result.output and "ms per frame" in result.output


def test_stream_bank_saved_and_bad_bank_refused(tiny_dir, two_domain_video, tmp_path):
    bank = tmp_path / "bank.npz"
    args = ["stream", tiny_dir, two_domain_video, "--backend", "ort", "--norm", "sib"]
    args += ["--bank", str(bank)]
    result = invoke([*args, "--bank-save-every", "5", "--max-frames", "7"])
    assert result.exit_code == 0, result.output
    assert bank.is_file()
    bank.write_bytes(b"garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "edgedg_runtime", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "corrupt" in proc.stderr and "Delete" in proc.stderr
    result = invoke([*args[:-2], "--norm", "target", "--bank", str(bank)])
    assert result.exit_code == 1 and "bank mode" in result.output
