"""A real camera (marker `camera`; skipped without /dev/video0): the V4L2 source delivers BGR
frames, and `edgedg stream` segments a few of them into PNGs and a saved bank."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _runtime_helpers import ASSETS, invoke

CAMERA = "/dev/video0"
FRAMES = 5


@pytest.mark.camera
def test_v4l2_source_delivers_bgr_frames() -> None:
    pytest.importorskip("cv2")
    from edgedg_runtime.sources import open_source

    frames = []
    with open_source(CAMERA, timeout=10.0) as source:
        assert source.live
        for _name, frame in source:
            frames.append(frame)
            if len(frames) == FRAMES:
                break
    assert len(frames) == FRAMES
    for frame in frames:
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.shape[0] > 0 and frame.shape[1] > 0


@pytest.mark.camera
def test_stream_segments_a_few_camera_frames(tmp_path) -> None:
    pytest.importorskip("cv2")
    from edgedg_runtime.bank import load_bank

    model = shutil.copytree(ASSETS / "tiny_model", tmp_path / "model")
    out, bank = tmp_path / "out", tmp_path / "bank.npz"
    args = ["stream", model, CAMERA, out, "--backend", "ort", "--max-frames", FRAMES]
    result = invoke([*args, "--timeout", "10", "--bank", bank])
    assert result.exit_code == 0, result.output
    assert f"{FRAMES} frames, 0 bad" in result.output
    assert len(list(out.glob("*_overlay.png"))) == FRAMES
    assert len(load_bank(str(bank))) == FRAMES
