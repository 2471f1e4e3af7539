"""Fixtures for the runtime tests: the committed tiny model directory and ONNX graph
(tests/assets, made by scripts/make_test_model.py), fresh exports where torch is present, and a
fake segmenter."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent / "assets"
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_test_model.py"


def write_double_graph(path: str) -> str:
    """A tiny ONNX graph: uint8 ``image`` [N, H, W, 3] -> float32 ``out`` = 2 * image, plus
    int32 ``count`` [1] = number of channels. Dynamic N, H, W. Copied from the committed asset
    (scripts/make_test_model.py builds it), so the tests need no onnx package."""
    shutil.copyfile(ASSETS / "double.onnx", path)
    return path


class FakeResult:
    def __init__(self, labels: np.ndarray, shift: float, timings: dict, k: int):
        self.labels, self.shift, self.timings, self.k = labels, shift, timings, k


class FakeSegmenter:
    """Stands in for Segmenter in stream-loop tests: labels = (blue channel > 127)."""

    def __init__(self, classes=("dark", "bright"), colors=((0, 0, 0), (255, 255, 0))):
        self.class_names = list(classes)
        self.palette = np.array([c[::-1] for c in colors], dtype=np.uint8)  # RGB -> BGR
        self.calls = 0
        self.bank = None

    def __call__(self, frame):
        from edgedg_runtime.errors import FrameError

        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.size == 0:
            raise FrameError("bad frame")
        self.calls += 1
        labels = (frame[..., 0] > 127).astype(np.uint8)
        return FakeResult(labels, 0.5, {"segment": 1.0, "total": 1.5}, 0)

    def close(self):
        pass


_MODEL_DIRS: dict = {}


def model_dir(tmp_path_factory) -> str:
    """The committed tiny model directory (tests/assets/tiny_model, 32x64 input), copied once per
    test session so that no test can change the committed files. Needs no torch."""
    if "asset" not in _MODEL_DIRS:
        out = tmp_path_factory.mktemp("model") / "tiny"
        shutil.copytree(ASSETS / "tiny_model", out)
        _MODEL_DIRS["asset"] = str(out)
    return _MODEL_DIRS["asset"]


def make_test_model():
    """The asset generator scripts/make_test_model.py as a module (skips without torch / the
    exporter)."""
    import pytest

    pytest.importorskip("torch")
    pytest.importorskip("edgedg_export.model_dir")
    if "script" not in _MODEL_DIRS:
        spec = importlib.util.spec_from_file_location("make_test_model", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODEL_DIRS["script"] = module
    return _MODEL_DIRS["script"]


def fresh_model_dir(tmp_path_factory) -> str:
    """The tiny model exported now by the current exporter, once per test session (skips without
    torch / the exporter)."""
    script = make_test_model()
    if "fresh" not in _MODEL_DIRS:
        out = tmp_path_factory.mktemp("fresh") / "tiny"
        script.export_tiny(out)
        _MODEL_DIRS["fresh"] = str(out)
    return _MODEL_DIRS["fresh"]


def model_and_meta(tmp_path_factory):
    """(fresh model directory, torch model, meta) of the session's tiny model."""
    model, meta = make_test_model().tiny_model()
    return fresh_model_dir(tmp_path_factory), model, meta


def invoke(args: list):
    """Run a command line in-process: the runtime's own (`edgedg-runtime`) for the verbs it has,
    which is what a vehicle runs and needs nothing of edgedg, else `edgedg` (imported here:
    collecting a test file imports no edgedg)."""
    from click.testing import CliRunner

    from edgedg_runtime.cli import VERBS
    from edgedg_runtime.cli import cli as runtime_cli

    args = [str(a) for a in args]
    if args and args[0] in VERBS:
        return CliRunner().invoke(runtime_cli, args)
    from edgedg.cli import cli

    return CliRunner().invoke(cli, args)


def copy_tiny_model(tmp_path: Path) -> Path:
    """A private copy of the committed tiny model (32x64, 19 classes), safe to alter."""
    return Path(shutil.copytree(ASSETS / "tiny_model", tmp_path / "model"))


def write_frames(folder: Path, n: int = 12, height: int = 48, width: int = 96) -> str:
    """``n`` synthetic PNG frames in ``folder`` (an image-folder source)."""
    import cv2

    from edgedg_runtime.benchmark import synthetic_frames

    for i, frame in enumerate(synthetic_frames(height, width, n)):
        cv2.imwrite(str(Path(folder) / f"{i:03d}.png"), frame)
    return str(folder)


def count_frames(path) -> int:
    """How many frames OpenCV can read back from a video file (0: unplayable)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def write_video(path, frames, fps: int = 10) -> str:
    """An mp4v video of ``frames`` (uint8 BGR, one size) at ``path``."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)
