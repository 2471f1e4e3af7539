"""scripts/rig_adaptation.py on (a copy of) the committed tiny model and two tiny labelled
cameras: a markdown row per mode, a column per camera and the mean, every value an mIoU % in
[0, 100]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "rig_adaptation.py"


def _camera(folder: Path, seed: int, gain: float, n: int = 6) -> str:
    """``n`` 32x64 frames (scaled by ``gain``: a darker camera) and random trainId labels."""
    import cv2

    from edgedg_runtime.benchmark import synthetic_frames

    rng = np.random.default_rng(seed)
    (folder / "frames").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i, frame in enumerate(synthetic_frames(32, 64, n, seed=seed)):
        cv2.imwrite(str(folder / "frames" / f"{i:05d}.png"), (frame * gain).astype(np.uint8))
        label = rng.integers(0, 19, (32, 64), dtype=np.uint8)
        label[:4] = 255  # ignored pixels
        cv2.imwrite(str(folder / "labels" / f"{i:05d}.png"), label)
    return str(folder)


def test_table_has_a_row_per_mode_and_a_value_per_camera(tiny_model, tmp_path):
    day = _camera(tmp_path / "day", seed=1, gain=1.0)
    dark = _camera(tmp_path / "dark", seed=2, gain=0.3)
    # tiny_model is a copy: the runtime caches its layout choice in the model directory
    cmd = [sys.executable, str(SCRIPT), str(tiny_model), "--threads", "1"]
    cmd += ["--camera", f"day={day}", "--camera", f"dark={dark}", "--seeds", "0,1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert lines[0] == "| mode | day | dark | mean |"
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in lines[2:]}
    assert list(rows) == ["`source`", "`target`", "`sib`", "`sib-shared`"]
    for cells in rows.values():
        assert len(cells) == 3
        for cell in cells:
            assert 0.0 <= float(cell.split("+-")[0]) <= 100.0
