"""Score an exported model directory: the runtime's Segmenter, ONNX Runtime, over a target stream.

The same stream orders (seeds), confusion matrices and report as the checkpoint evaluation
(:mod:`edgedg.evaluate.runner`), with the deployed graphs in one precision (fp32 | fp16 | int8)
doing the work. Frames are cut by the ``paper`` protocol at the CONTRACT's input size: resized so
that they cover H x W (short side for a square input), then the central H x W window, image
bilinear and label nearest; for a square input that is exactly the checkpoint evaluation at
``--size H``. ``full`` resizes the whole image to H x W (the Segmenter's own resize) and scores
against the full-resolution label, upsampling the labels (nearest), since a model directory
outputs labels, not logits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgedg.evaluate.report import save_prediction
from edgedg.evaluate.runner import DETERMINISTIC, EvalConfig, summarise
from edgedg.evaluate.stream import stream_order
from edgedg.metrics import confusion
from edgedg_runtime.errors import EdgeDGError

MODEL_DIR_MODES = ("source", "target", "sib", "sib-exact", "qib")


def evaluate_model_dir(
    model_dir: str,
    targets: Sequence[str],
    cfg: EvalConfig,
    split: str = "val",
    precision: str = "fp32",
    log: Callable[[str], Any] | None = print,
) -> dict[str, Any]:
    """Open the ``targets`` ("FORMAT:PATH") and score ``model_dir`` in every mode of ``cfg``."""
    from edgedg.evaluate.runner import open_targets

    report = score_model_dir(model_dir, open_targets(targets, split), cfg, precision, log=log)
    report.update(model_dir=str(model_dir), split=split)
    return report


def score_model_dir(
    model_dir: str,
    datasets: Mapping[str, Any],
    cfg: EvalConfig,
    precision: str = "fp32",
    log: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """The report of :func:`edgedg.evaluate.runner.evaluate_model` for a model directory run by
    the Segmenter (ONNX Runtime, ``precision``) on ``datasets`` (name -> dataset)."""
    from edgedg_runtime.contract import load_contract

    cfg.check()
    bad = [m for m in cfg.modes if m not in MODEL_DIR_MODES]
    if bad:
        raise EdgeDGError(
            f"mode(s) {bad} score a checkpoint only (tn-batch normalises batches of test images, "
            f"which a model directory's stream does not do): use {', '.join(MODEL_DIR_MODES)}"
        )
    contract = load_contract(model_dir)
    names = list(datasets)
    lengths = [min(len(datasets[n]), cfg.limit or len(datasets[n])) for n in names]
    hw = (contract.input.height, contract.input.width)
    report: dict[str, Any] = {
        "protocol": cfg.protocol,
        "input_size": list(hw),
        "precision": precision,
        "m": cfg.m,
        "bank_size": cfg.bank_size,
        "source_weight": cfg.source_weight,
        "classes": [c.name for c in contract.classes],
        "targets": {n: {"images": k} for n, k in zip(names, lengths, strict=True)},
        "modes": {},
    }
    for mode in cfg.modes:
        runs = 1 if mode in DETERMINISTIC else cfg.runs
        start = time.perf_counter()
        stream = _Stream(model_dir, datasets, names, lengths, cfg, hw, precision)
        per_run = [stream.run(mode, seed, save=r == 0) for r, seed in enumerate(cfg.seeds[:runs])]
        report["modes"][mode] = summarise(per_run, names, runs, cfg.seeds[:runs])
        report["modes"][mode]["seconds"] = round(time.perf_counter() - start, 3)
        if log is not None:
            mixed = report["modes"][mode]["mixed"]
            log(f"{mode}: mIoU {100 * mixed['miou_mean']:.2f} +- {100 * mixed['miou_std']:.2f}")
    return report


class _Stream:
    """One target stream scored through a fresh Segmenter per run (a fresh bank per order)."""

    def __init__(self, model_dir, datasets, names, lengths, cfg: EvalConfig, hw, precision):
        self.model_dir, self.datasets, self.names = model_dir, datasets, names
        self.lengths, self.cfg, self.hw, self.precision = lengths, cfg, hw, precision

    def run(self, mode: str, seed: int, save: bool) -> np.ndarray:
        """Confusion matrices [targets, K, K] of one pass in ``mode`` over the order of ``seed``."""
        from edgedg_runtime.bank import BankOptions
        from edgedg_runtime.segmenter import Segmenter

        cfg = self.cfg
        options = BankOptions(cfg.m, cfg.bank_size, cfg.source_weight)
        with Segmenter(
            self.model_dir, "ort", mode, options, precision=self.precision, ort_layout="nchwc"
        ) as seg:
            k = seg.contract.model.num_classes
            confs = np.zeros((len(self.names), k, k), dtype=np.int64)
            for t, i in stream_order(self.lengths, seed):
                sample = self.datasets[self.names[t]][i]
                frame, label = cut(sample["image"], sample["label"], cfg.protocol, self.hw)
                pred = _at(seg(frame).labels, label.shape)
                confs[t] += confusion(pred, label, k)
                if save and cfg.save_pred:
                    folder = Path(cfg.save_pred) / mode / self.names[t]
                    colors = seg.class_colors
                    save_prediction(folder, Path(sample["path"]).stem, pred, frame, colors)
        return confs


def cut(
    image_rgb: np.ndarray, label: np.ndarray, protocol: str, hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(frame uint8 BGR, label to score against) of one sample for an input of size ``hw`` (the
    module docstring: ``paper`` covers and centre-crops, ``full`` keeps the whole image)."""
    import cv2

    if protocol == "full":
        return np.ascontiguousarray(image_rgb[..., ::-1]), label
    h, w = image_rgb.shape[:2]
    scale = max(hw[0] / h, hw[1] / w)
    dims = (max(hw[1], round(w * scale)), max(hw[0], round(h * scale)))
    image = cv2.resize(image_rgb, dims, interpolation=cv2.INTER_LINEAR)
    label = cv2.resize(label, dims, interpolation=cv2.INTER_NEAREST)
    top, left = (dims[1] - hw[0]) // 2, (dims[0] - hw[1]) // 2
    window = (slice(top, top + hw[0]), slice(left, left + hw[1]))
    return np.ascontiguousarray(image[window][..., ::-1]), np.ascontiguousarray(label[window])


def _at(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The Segmenter's labels (at the frame's size) at the label's size."""
    if labels.shape == tuple(shape):
        return labels
    import cv2

    return cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
