"""The whole TensorRT path on a real GPU with real TensorRT (marker `trt`; skipped elsewhere):
engine_for builds from the committed tiny model with TensorRT alone, finds its own engine again,
and the TensorRT backend agrees with ONNX Runtime."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

ASSETS = Path(__file__).resolve().parent / "assets" / "tiny_model"


@pytest.fixture()
def tiny(tmp_path) -> Path:
    out = tmp_path / "tiny"
    shutil.copytree(ASSETS, out)
    return out


@pytest.mark.trt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_for_builds_then_finds_and_runs(tiny, precision) -> None:
    from edgedg_runtime.backends.trt import TrtBackend
    from edgedg_runtime.engine_build import engine_for

    built = engine_for(tiny, precision, "plain")
    assert engine_for(tiny, precision, "plain", build=False) == built
    assert engine_for(tiny, None, "plain", build=False) == built
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    with TrtBackend(str(built)) as backend:
        labels = backend.infer({"image": image})["labels"]
    assert labels.shape == (2, 32, 64) and labels.dtype == np.uint8
    assert int(labels.max()) < 19


@pytest.mark.trt
def test_segmenter_on_tensorrt_agrees_with_onnx_runtime(tiny) -> None:
    """sib on TensorRT FP32 vs ONNX Runtime CPU: >= 99% of the label pixels agree (random
    weights give near-ties, hence not 100%)."""
    from edgedg_runtime import Segmenter

    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in range(6)]
    outs = {}
    for kind in ("trt", "ort"):
        with Segmenter(str(tiny), backend=kind, norm="sib") as seg:
            outs[kind] = [seg(f).labels for f in frames]
    agree = float(np.mean(np.stack(outs["trt"]) == np.stack(outs["ort"])))
    assert agree >= 0.99, agree
