"""Run the PyTorch reference of each test-time mode over a mixed target stream and score it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedg.evaluate.modes import BATCH_TN, EVAL_MODES
from edgedg.evaluate.report import save_prediction
from edgedg.evaluate.stream import SEEDS, input_size, prepare, stream_order
from edgedg.metrics import confusion, scores, summarize
from edgedg_runtime.errors import EdgeDGError

DETERMINISTIC = ("source", "target")  # batch 1: the stream order cannot change the result


@dataclass(frozen=True)
class EvalConfig:
    """How to evaluate. ``runs`` stream orders (seeds 12 .. 123456) for the bank modes;
    ``limit`` caps the images taken from each target (quick runs)."""

    modes: tuple[str, ...] = ("source", "target", "sib")
    runs: int = 5
    m: int = 4
    bank_size: int = 128
    source_weight: float = 0.0
    protocol: str = "paper"
    size: int = 768
    limit: int | None = None
    save_pred: str | None = None
    seeds: tuple[int, ...] = field(default=SEEDS)

    def check(self) -> None:
        bad = [m for m in self.modes if m not in EVAL_MODES]
        if bad or not self.modes:
            raise EdgeDGError(f"unknown norm mode(s) {bad}: choose from {', '.join(EVAL_MODES)}")
        if self.m < 1:
            raise EdgeDGError(f"--m must be >= 1, got {self.m}")
        if not 1 <= self.runs <= len(self.seeds):
            raise EdgeDGError(f"--runs must be 1..{len(self.seeds)} (one seed per stream order)")


def evaluate_checkpoint(
    checkpoint: str, targets: Sequence[str], cfg: EvalConfig, split: str = "val", log=print
) -> dict[str, Any]:
    """Load ``checkpoint`` and the ``targets`` ("FORMAT:PATH"), evaluate every mode of ``cfg``."""
    from edgedg.checkpoint import load_model

    cfg.check()
    model, meta = load_model(checkpoint)
    report = evaluate_model(model, meta, open_targets(targets, split), cfg, log=log)
    report.update(checkpoint=str(checkpoint), split=split)
    return report


def open_targets(targets: Sequence[str], split: str) -> dict[str, Any]:
    """The target datasets ("FORMAT:PATH") by name: their domain, numbered when it repeats."""
    from edgedg.data import open_dataset

    datasets: dict[str, Any] = {}
    for spec in targets:
        ds = open_dataset(spec, split)
        name = ds.domain if ds.domain not in datasets else f"{ds.domain}-{len(datasets)}"
        datasets[name] = ds
    return datasets


def evaluate_model(
    model: Any,
    meta: Mapping[str, Any],
    datasets: Mapping[str, Any],
    cfg: EvalConfig,
    log: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (a SegModel) on ``datasets`` (name -> dataset whose items are dicts with
    RGB "image", trainId "label", "path") mixed into one stream, in every mode of ``cfg``."""
    cfg.check()
    names = list(datasets)
    lengths = [min(len(datasets[n]), cfg.limit or len(datasets[n])) for n in names]
    first = datasets[names[0]][0]["image"].shape[:2]
    hw = input_size(cfg.protocol, cfg.size, first)
    num_classes = int(model.config.num_classes)
    report: dict[str, Any] = {
        "protocol": cfg.protocol,
        "input_size": list(hw),
        "m": cfg.m,
        "bank_size": cfg.bank_size,
        "source_weight": cfg.source_weight,
        "classes": list(meta.get("classes", [str(i) for i in range(num_classes)])),
        "targets": {n: {"images": k} for n, k in zip(names, lengths, strict=True)},
        "modes": {},
    }
    for mode in cfg.modes:
        runs = 1 if mode in DETERMINISTIC else cfg.runs
        start = time.perf_counter()
        per_run = [
            _run(model, meta, datasets, names, lengths, mode, cfg, hw, seed, save=r == 0)
            for r, seed in enumerate(cfg.seeds[:runs])
        ]
        report["modes"][mode] = summarise(per_run, names, runs, cfg.seeds[:runs])
        report["modes"][mode]["seconds"] = round(time.perf_counter() - start, 3)
        if log is not None:
            mixed = report["modes"][mode]["mixed"]
            log(f"{mode}: mIoU {100 * mixed['miou_mean']:.2f} +- {100 * mixed['miou_std']:.2f}")
    return report


def summarise(per_run: list, names: list[str], runs: int, seeds) -> dict[str, Any]:
    """Mean and std over runs of each target's scores and of the mixed stream's, from the
    confusion matrices [targets, K, K] of every run."""
    out: dict[str, Any] = {"runs": runs, "seeds": list(seeds), "targets": {}}
    for t, name in enumerate(names):
        out["targets"][name] = summarize([scores(confs[t]) for confs in per_run])
    out["mixed"] = summarize([scores(np.sum(confs, axis=0)) for confs in per_run])
    return out


def _run(model, meta, datasets, names, lengths, mode, cfg, hw, seed, save) -> np.ndarray:
    """One pass over the stream in ``mode``: confusion matrices [targets, K, K]. ``tn-batch``
    takes the stream M images at a time (the last batch may be smaller), every other mode one."""
    from edgedg.reference import Reference
    from edgedg_runtime.bank import BankOptions

    batch_tn = mode == BATCH_TN
    options = BankOptions(cfg.m, cfg.bank_size, cfg.source_weight)
    ref = Reference(model, meta, "target" if batch_tn else mode, options)
    k = int(model.config.num_classes)
    confs = np.zeros((len(names), k, k), dtype=np.int64)
    order = stream_order(lengths, seed)
    step = cfg.m if batch_tn else 1
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        samples = [datasets[names[t]][i] for t, i in chunk]
        frames = [prepare(s["image"], s["label"], cfg.protocol, hw) for s in samples]
        out = ref(np.stack([frame for frame, _ in frames]))
        batch = zip(chunk, samples, frames, strict=True)
        for j, ((t, _), sample, (frame, label)) in enumerate(batch):
            pred = _prediction(out, label.shape, j)
            confs[t] += confusion(pred, label, k)
            if save and cfg.save_pred:
                shown = frame if cfg.protocol == "paper" else sample["image"][..., ::-1]
                folder = Path(cfg.save_pred) / mode / names[t]
                save_prediction(folder, Path(sample["path"]).stem, pred, shown, meta.get("colors"))
    return confs


def _prediction(out: dict[str, np.ndarray], shape: tuple[int, ...], j: int = 0) -> np.ndarray:
    """trainIds of image ``j`` of the batch at the label's size: the labels as they are, or the
    logits upsampled (bilinear) to a larger label before the argmax, as the full-image protocol
    does."""
    if tuple(out["labels"].shape[1:]) == tuple(shape):
        return out["labels"][j]
    import torch
    import torch.nn.functional as F

    logits = torch.from_numpy(out["logits"][j : j + 1])
    up = F.interpolate(logits, size=tuple(shape), mode="bilinear", align_corners=False)
    return up.argmax(dim=1)[0].to(torch.uint8).numpy()
