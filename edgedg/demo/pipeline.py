"""The demo pipeline: synthesize -> train AGG and MLDG -> export -> stream the unseen domain ->
benchmark -> figure, report.json and summary.md. Each step prints a numbered line with the time
elapsed since the start, and its duration when done.

Layout of the output folder::

    OUT/overlay_target.mp4  side_by_side.png  report.json  summary.md
    OUT/models/mldg/     the exported MLDG model directory (edgedg stream / bench take it)
    OUT/models/agg/      the exported AGG model directory (the baseline)
    OUT/data/            the synthetic source domains and OUT/data/video/<target>.mp4 + labels
    OUT/runs/agg|mldg/   training runs (checkpoints, metrics)
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgedg.demo.config import METHODS, DemoConfig
from edgedg_runtime.errors import EdgeDGError

MARKER = ".edgedg-demo"  # marks a folder this pipeline made, so a rerun may replace its parts
PARTS = ("data", "runs", "models")
STEPS = (
    ("synth", "generating the synthetic source domains and a video of the unseen domain"),
    ("train_agg", "training AGG (pooled sources)"),
    ("train_mldg", "training MLDG (meta-learning over the sources)"),
    ("export", "exporting both models to ONNX with BatchNorm unfolded"),
    ("stream", "streaming the unseen-domain video through ONNX Runtime"),
    ("bench", "timing sib against plain (BatchNorm folded) on ONNX Runtime"),
    ("report", "writing side_by_side.png, report.json and summary.md"),
)


class Progress:
    """Numbered step lines with the elapsed time; the seconds of every step are kept."""

    def __init__(self, log: Callable[[str], Any], total: int = len(STEPS)):
        self.log, self.total, self.count = log, total, 0
        self.start = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @contextlib.contextmanager
    def stage(self, key: str, text: str) -> Iterator[None]:
        self.count += 1
        minutes, seconds = divmod(int(self.elapsed()), 60)
        self.log(f"[{self.count}/{self.total}] {minutes:02d}:{seconds:02d}  {text}")
        begin = time.perf_counter()
        yield
        self.seconds[key] = round(time.perf_counter() - begin, 2)
        self.log(f"      done in {self.seconds[key]:.1f} s")


def prepare_out(out: Path) -> None:
    """Create ``out``, or clear the parts a previous demo left there; refuse any other folder."""
    if out.exists() and not out.is_dir():
        raise EdgeDGError(f"{out} is a file: give --out a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise EdgeDGError(f"{out} holds files the demo did not write: choose a new or empty --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by edgedg demo; a rerun replaces this folder's parts\n")
    for part in PARTS:
        shutil.rmtree(out / part, ignore_errors=True)


def run_demo(cfg: DemoConfig, log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run every step into ``cfg.out`` and return the report also written as report.json."""
    from edgedg.demo import steps

    cfg.check()
    steps.check_dependencies()
    out = Path(cfg.out)
    prepare_out(out)
    progress = Progress(log)
    titles = dict(STEPS)
    with progress.stage("synth", titles["synth"]):
        data = steps.synthesize_domains(cfg, out / "data")
    runs = {}
    for method in METHODS:
        key = f"train_{method}"
        with progress.stage(key, f"{titles[key]}: {cfg.backbone}, {cfg.iters} iterations"):
            runs[method] = steps.train_method(cfg, method, data["sources"], out / "runs")
    with progress.stage("export", titles["export"]):
        models = {m: steps.export(runs[m]["checkpoint"], out / "models" / m) for m in METHODS}
    with progress.stage("stream", f"{titles['stream']} ({cfg.target}, {cfg.video_frames} frames)"):
        streams = steps.stream_all(models, data["video"], out / steps.OVERLAY_FILE, log)
    with progress.stage("bench", titles["bench"]):
        latency = steps.latency(models["mldg"], cfg.bench_frames)
    with progress.stage("report", titles["report"]):
        report = steps.build_report(cfg, out, data, runs, streams, latency)
        # The report step's own seconds are not in the report: it is the one writing it.
        report["seconds"] = dict(progress.seconds, total=round(progress.elapsed(), 2))
        steps.write_outputs(out, report, streams, data["video"], models["mldg"])
    log(f"total {report['seconds']['total']:.0f} s; open {out / 'summary.md'}")
    return report


__all__ = ["STEPS", "Progress", "prepare_out", "run_demo"]
