"""The demo's steps, each a call into the library: data, training, export, runtime, benchmark."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgedg.demo.config import METHODS, MODES, DemoConfig
from edgedg.demo.figure import FigureRow, write_figure
from edgedg.demo.scoring import StreamScore, score_stream
from edgedg.demo.summary import format_summary
from edgedg.evaluate.report import write_json
from edgedg_runtime.errors import require
from edgedg_runtime.fileio import write_atomic

FIGURE_COLUMNS = (
    ("MLDG source BN", "source"),
    ("MLDG target (default)", "target"),
    ("MLDG sib (style bank)", "sib"),
)
OVERLAY_MODE = "target"  # the default mode is the one the overlay video shows
OVERLAY_FILE = f"overlay_{OVERLAY_MODE}.mp4"


def check_dependencies() -> None:
    """Fail before the long steps when an extra the demo needs is missing."""
    require("torch", "train", "Training the demo models")
    require("cv2", "camera", "Drawing the synthetic domains")
    require("onnx", "export", "Exporting the demo models")
    require("onnxruntime", "ort", "Running the exported demo models")


def synthesize_domains(cfg: DemoConfig, root: Path) -> dict[str, Any]:
    """The source domains (Cityscapes format, train split only) and a labelled video of the
    target domain: {"sources": ["cityscapes:PATH", ...], "video": {mp4, frames, labels, count}}."""
    from edgedg.data.synth import synthesize, video_seed, write_videos

    summary = synthesize(root, list(cfg.sources), cfg.per_domain, cfg.size, "cityscapes",
                         cfg.seed, val_fraction=0.0, progress=False)  # fmt: skip
    videos = write_videos(root / "video", [cfg.target], cfg.size, video_seed(cfg.seed),
                          cfg.video_frames)  # fmt: skip
    sources = [f"cityscapes:{summary['domains'][d]['root']}" for d in cfg.sources]
    return {"sources": sources, "video": videos[cfg.target], "images": summary["images"]}


def train_method(cfg: DemoConfig, method: str, sources: list[str], runs: Path) -> dict[str, Any]:
    """Train ``method`` on CPU; returns the checkpoint path and the mean loss of the first and
    last ten steps (MLDG's loss is meta-train + meta-test, so about twice AGG's)."""
    from edgedg.train import (
        DataOptions,
        MethodOptions,
        ModelOptions,
        OptimOptions,
        TrainConfig,
        train,
    )

    tcfg = TrainConfig(
        out=str(runs / method),
        iters=cfg.iters,
        model=ModelOptions(backbone=cfg.backbone),
        optim=OptimOptions(lr=cfg.lr),
        method=MethodOptions(method=method),
        data=DataOptions(
            sources=list(sources),
            batch_per_domain=cfg.batch_per_domain,
            crop=cfg.crop,
            val_fraction=0.0,
            workers=0,
        ),
        save_every=cfg.iters,
        seed=cfg.seed,
        device="cpu",
    )
    result = train(tcfg)
    head, tail = result.losses[:10], result.losses[-10:]
    return {
        "checkpoint": str(Path(result.run_dir) / "last.pt"),
        "iterations": result.iteration,
        "loss_first": sum(head) / len(head),
        "loss_last": sum(tail) / len(tail),
    }


def export(checkpoint: str, out: Path) -> str:
    """The checkpoint as a model directory (three ONNX graphs, contract, source statistics)."""
    from edgedg_export.model_dir import ExportOptions, export_model_dir

    export_model_dir(checkpoint, out, ExportOptions())
    return str(out)


def figure_frames(count: int) -> list[str]:
    """Names of the frames shown in the figure: fixed at one and two thirds of the video (after
    the bank has filled), never picked by score."""
    return sorted({f"{count // 3:05d}", f"{(2 * count) // 3:05d}"})


def stream_all(
    models: Mapping[str, str], video: Mapping[str, Any], overlay: Path, log: Callable[[str], Any]
) -> dict[str, dict[str, StreamScore]]:
    """Every model in every mode over the target video; MLDG in ``OVERLAY_MODE`` also writes
    ``overlay``."""
    keep = figure_frames(int(video["count"]))
    results: dict[str, dict[str, StreamScore]] = {}
    for method, model_dir in models.items():
        results[method] = {}
        for mode in MODES:
            mp4 = str(overlay) if (method, mode) == ("mldg", OVERLAY_MODE) else None
            score = score_stream(model_dir, video["frames"], video["labels"], mode, mp4, keep)
            results[method][mode] = score
            log(f"      {method.upper():<4} {mode:<6} mIoU {100 * score.scores['miou']:5.1f} %  "
                f"({score.fps:.0f} frames/s)")  # fmt: skip
    return results


def latency(model_dir: str, frames: int) -> dict[str, Any]:
    """Median per-frame latency of ``plain`` (BatchNorm folded), ``target`` and ``sib`` on ONNX
    Runtime, timed round-robin on the same frames, and their ratios to plain."""
    from edgedg_runtime.benchmark import bench

    report = bench(model_dir, frames=frames, warmup=min(5, frames), backend="ort",
                   modes=("plain", "target", "sib"))  # fmt: skip
    modes = report["modes"]
    return {
        "backend": report["backend"],
        "input": report["input"],
        "frames": frames,
        "plain_ms": modes["plain"]["total"]["median"],
        "target_ms": modes["target"]["total"]["median"],
        "target_to_plain": modes["target"]["ratio"],
        "sib_ms": modes["sib"]["total"]["median"],
        "sib_to_plain": modes["sib"]["ratio"],
        "stages_ms": {
            m: {s: v["median"] for s, v in e.items() if s != "ratio"} for m, e in modes.items()
        },  # fmt: skip
    }


def build_report(
    cfg: DemoConfig,
    out: Path,
    data: Mapping[str, Any],
    runs: Mapping[str, Mapping[str, Any]],
    streams: Mapping[str, Mapping[str, StreamScore]],
    latency: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything the demo measured, as JSON types (mIoU and accuracies as fractions 0..1)."""
    from edgedg import __version__

    def per(key: Callable[[StreamScore], Any]) -> dict[str, dict[str, Any]]:
        return {m: {mode: key(s) for mode, s in streams[m].items()} for m in streams}

    miou = per(lambda s: s.scores["miou"])
    return {
        "edgedg_version": __version__,
        "run": cfg.label,
        "config": json.loads(json.dumps(asdict(cfg))),
        "sources": list(cfg.sources),
        "target": cfg.target,
        "video": {
            "frames": int(data["video"]["count"]),
            "size": list(cfg.size),
            "mp4": _rel(data["video"]["mp4"], out),
        },  # fmt: skip
        "training": {m: {k: v for k, v in r.items() if k != "checkpoint"} for m, r in runs.items()},
        "miou": miou,
        "sib_gain": {m: miou[m]["sib"] - miou[m]["source"] for m in miou},
        "pixel_acc": per(lambda s: s.scores["pixel_acc"]),
        "class_iou": per(lambda s: s.scores["iou"]),
        "stream_fps": per(lambda s: s.fps),
        "mean_shift": {m: streams[m]["sib"].mean_shift for m in streams},
        "latency": dict(latency),
        "files": {
            "overlay": OVERLAY_FILE,
            "figure": "side_by_side.png",
            "summary": "summary.md",
            "models": {m: f"models/{m}" for m in METHODS},
        },
    }


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def write_outputs(
    out: Path,
    report: Mapping[str, Any],
    streams: Mapping[str, Mapping[str, StreamScore]],
    video: Mapping[str, Any],
    model_dir: str,
) -> None:
    """side_by_side.png, summary.md and report.json, each written atomically."""
    import cv2

    from edgedg_runtime.contract import load_contract

    contract = load_contract(model_dir)
    names = [c.name for c in contract.classes]
    colors = [c.color for c in contract.classes]
    rows = []
    for name in figure_frames(int(video["count"])):
        frame = cv2.imread(str(Path(video["frames"]) / f"{name}.png"), cv2.IMREAD_COLOR)
        label = cv2.imread(str(Path(video["labels"]) / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        panels = [("ground truth", label)]
        panels += [(title, streams["mldg"][mode].kept[name]) for title, mode in FIGURE_COLUMNS]
        rows.append(FigureRow(frame, f"{report['target']} frame {int(name)}", panels))
    write_figure(out / "side_by_side.png", rows, names, colors)
    write_atomic(out / "summary.md", format_summary(report).encode())
    write_json(out / "report.json", dict(report))
