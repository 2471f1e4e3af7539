"""Calibration data for the INT8 graphs: which images, and the feeds each graph sees at run time.

Images: the ``--calib`` datasets, else the training sources recorded in the checkpoint (where they
exist on this machine), else an error that says to pass ``--calib``. They are resized to the
model's input size the way the Segmenter resizes a frame.

Feeds: the segment graph is calibrated in the statistics mode it will run (``target`` by
default): its ``norm_prior`` comes from the runtime's own :class:`edgedg_runtime.adapt.Adapter`
over the FP32 graphs of the model directory, so the calibration ranges are those of the inputs the
convolutions see in that mode, whatever the statistic I/O of the graph looks like. The plain graph
(BatchNorm folded, ``source``) takes the image alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.segmenter import Segmenter

# Chosen by measurement on the demo's MLDG checkpoint (docs/results.md, "INT8"): more images or
# another method moved mIoU by less than the stream-order noise.
DEFAULT_IMAGES = 32
DEFAULT_METHOD = "minmax"
# ONNX Runtime's Entropy calibrator is not offered: through quantize_static it histograms into 128
# bins for 128 quantized bins, so its KL search has one candidate, the min/max range (measured:
# scales identical to minmax on the demo model).
METHODS = ("minmax", "percentile")
# The graphs that get an INT8 variant. The style graph (one stem conv and its statistics) stays
# float: its output IS a statistic, and it costs a few per cent of a frame.
INT8_GRAPHS = ("segment", "plain")


@dataclass(frozen=True)
class Calibration:
    """What the INT8 export calibrates on: uint8 BGR ``images`` [n, H, W, 3] at the model's input
    size, the range ``method`` (minmax | percentile) and the statistics ``mode`` the
    segment graph is calibrated in (a runtime norm mode; ``target`` by default)."""

    images: np.ndarray
    method: str = DEFAULT_METHOD
    mode: str = "target"

    def check(self) -> None:
        if self.method not in METHODS:
            raise EdgeDGError(f"unknown calibration method {self.method!r}: use {METHODS}")
        if self.images.ndim != 4 or self.images.shape[0] < 1 or self.images.dtype != np.uint8:
            raise EdgeDGError("calibration needs at least one uint8 BGR image [n, H, W, 3]")


@dataclass(frozen=True)
class Int8Options:
    """`edgedg export --int8`: calibration datasets ("FORMAT:PATH"; empty: the checkpoint's
    training sources), how many images, the range method and the segment graph's mode."""

    calib: tuple[str, ...] = ()
    images: int = DEFAULT_IMAGES
    method: str = DEFAULT_METHOD
    mode: str = "target"


def calibration_for(
    options: Int8Options, meta: Mapping[str, Any], hw: tuple[int, int]
) -> Calibration:
    """The Calibration of an export: images found and loaded at the model's input size ``hw``."""
    if options.images < 1:
        raise EdgeDGError(f"--calib-images must be >= 1, got {options.images}")
    images = load_images(calibration_specs(options.calib, meta), hw, options.images)
    calibration = Calibration(images, options.method, options.mode)
    calibration.check()
    return calibration


def calibration_specs(calib: Sequence[str], meta: Mapping[str, Any]) -> list[str]:
    """The datasets ("FORMAT:PATH") to calibrate on: ``calib`` when given, else the checkpoint's
    recorded training sources that exist here, else an EdgeDGError saying to pass --calib."""
    if calib:
        return list(calib)
    sources = ((meta.get("args") or {}).get("data") or {}).get("sources") or []
    found = [s for s in sources if ":" in s and os.path.exists(s.split(":", 1)[1])]
    if not found:
        raise EdgeDGError(
            "INT8 export needs calibration images and the checkpoint's training sources are not "
            "on this machine: pass --calib FORMAT:PATH (e.g. --calib cityscapes:/data/cs)"
        )
    return found


def load_images(
    specs: Sequence[str], hw: tuple[int, int], count: int = DEFAULT_IMAGES, split: str = "train"
) -> np.ndarray:
    """``count`` uint8 BGR images [count, H, W, 3] taken in turn from each dataset (evenly spread
    over each), resized to ``hw`` with the Segmenter's interpolation. A dataset without the
    ``split`` is read from its other split."""
    import cv2

    from edgedg.data import open_dataset

    datasets = [_open(open_dataset, spec, split) for spec in specs]
    per = max(1, -(-count // len(datasets)))  # ceil: every dataset gives its share
    picks = [np.linspace(0, len(d) - 1, min(per, len(d))).round().astype(int) for d in datasets]
    images = []
    for rank in range(max(len(p) for p in picks)):
        for d, p in zip(datasets, picks, strict=True):
            if rank < len(p) and len(images) < count:
                rgb = d[int(p[rank])]["image"]
                bgr = np.ascontiguousarray(rgb[..., ::-1])
                images.append(cv2.resize(bgr, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR))
    return np.stack(images)


def _open(open_dataset, spec: str, split: str):
    for s in (split, "val" if split == "train" else "train"):
        try:
            ds = open_dataset(spec, s)
        except EdgeDGError:
            continue
        if len(ds):
            return ds
    raise EdgeDGError(f"calibration dataset {spec} has no images in its train or val split")


def graph_feeds(model_dir: str | os.PathLike, calibration: Calibration) -> dict[str, list[dict]]:
    """The inputs of every calibration image for ``segment`` (run in ``calibration.mode``) and
    ``plain`` (``source``, BatchNorm folded), recorded from the runtime's own Segmenter running
    the FP32 graphs of ``model_dir``: the priors are those its adaptation step makes, whatever
    the statistic inputs of the graph are."""
    feeds: dict[str, list[dict]] = {}
    for graph, norm in (("segment", calibration.mode), ("plain", "source")):
        with _Recorder(model_dir, graph, norm) as seg:
            for image in calibration.images:
                seg(image)
            feeds[graph] = seg.recorded
    return feeds


class _Recorder(Segmenter):
    """A Segmenter (ONNX Runtime, FP32 graphs) that keeps the inputs it gives one graph."""

    def __init__(self, model_dir: str | os.PathLike, graph: str, norm: str):
        self.graph, self.recorded = graph, []
        fold = graph == "plain"
        super().__init__(str(model_dir), "ort", norm, fold_source=fold, ort_layout="nchwc")

    def feeds(self, graph, images, priors=None, mix=None):
        feeds = super().feeds(graph, images, priors, mix)
        if graph == self.graph:
            self.recorded.append(feeds)
        return feeds


class FeedReader:
    """onnxruntime.quantization's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: Sequence[dict]):
        self._feeds = list(feeds)
        self._it: Iterator[dict] = iter(self._feeds)

    def get_next(self) -> dict | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)


def add_int8_variants(model_dir: str | os.PathLike, calibration: Calibration) -> Any:
    """Write ``segment.int8.onnx`` and ``plain.int8.onnx`` (Q/DQ, passes/int8.py) into the
    finished model directory ``model_dir``, calibrated on ``calibration``, and list them in its
    contract (variant ``int8`` with their sha256 in ``files``). Returns the new Contract."""
    import dataclasses

    import onnx

    from edgedg_export.passes.int8 import qdq_from_onnx
    from edgedg_runtime.contract import CONTRACT_FILE, load_contract
    from edgedg_runtime.fileio import sha256_file, write_json

    calibration.check()
    root = Path(model_dir)
    contract = load_contract(root)
    feeds = graph_feeds(root, calibration)
    graphs, files = dict(contract.graphs), dict(contract.files)
    for name in INT8_GRAPHS:
        info = graphs[name]
        file = info.file.replace(".onnx", ".int8.onnx")
        proto = qdq_from_onnx(onnx.load(str(root / info.file)), FeedReader(feeds[name]),
                              calibration.method)  # fmt: skip
        onnx.save(proto, str(root / file))
        files[file] = sha256_file(root / file)
        graphs[name] = dataclasses.replace(info, variants={**info.variants, "int8": file})
    contract = dataclasses.replace(contract, graphs=graphs, files=files)
    write_json(root / CONTRACT_FILE, contract.to_json())
    return contract
