"""Fixtures for the runtime tests: tiny hand-built ONNX graphs and a fake segmenter."""

from __future__ import annotations

import numpy as np


def write_double_graph(path: str) -> str:
    """A tiny ONNX graph: uint8 ``image`` [N, H, W, 3] -> float32 ``out`` = 2 * image, plus
    int32 ``count`` [1] = number of channels. Dynamic N, H, W."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["f", "two"], ["out"]),
        helper.make_node("Shape", ["image"], ["shape"], start=3),
        helper.make_node("Cast", ["shape"], ["count"], to=TensorProto.INT32),
    ]
    graph = helper.make_graph(
        nodes,
        "double",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", "H", "W", 3])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", "H", "W", 3]),
            helper.make_tensor_value_info("count", TensorProto.INT32, [1]),
        ],
        initializer=[helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
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


def tiny_model(seed: int = 0):
    """A tiny SegModel (19 classes) with random weights and non-trivial running statistics, and
    the checkpoint meta the exporter needs. Needs torch."""
    import torch

    from edgedg.checkpoint import class_table
    from edgedg.models import create_model
    from edgedg.norm import norm_layers

    torch.manual_seed(seed)
    model = create_model("tiny", num_classes=19)
    with torch.no_grad():
        for _, layer in norm_layers(model):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
    names, colors = class_table()
    meta = {
        "model": {"name": "tiny", "num_classes": 19, "output_stride": 8, "head": "fcn"},
        "classes": names,
        "colors": colors,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "imgsz": [32, 64],
        "version": "test",
    }
    return model.eval(), meta


def model_dir(tmp_path_factory, name: str = "tiny", imgsz=(32, 64)) -> str:
    """A model directory exported once per test session (skips when export is unavailable)."""
    import pytest

    key = (name, tuple(imgsz))
    if key not in _MODEL_DIRS:
        pytest.importorskip("torch")
        export = pytest.importorskip("edgedg_export.model_dir")
        model, meta = tiny_model()
        out = tmp_path_factory.mktemp("model") / name
        export.export_model(model, meta, out, export.ExportOptions(imgsz=tuple(imgsz)))
        _MODEL_DIRS[key] = (str(out), model, meta)
    return _MODEL_DIRS[key][0]


def model_and_meta(tmp_path_factory):
    """(model directory, torch model, meta) of the session's tiny model."""
    model_dir(tmp_path_factory)
    return _MODEL_DIRS[("tiny", (32, 64))]
