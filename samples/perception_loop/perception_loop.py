#!/usr/bin/env python3
"""A perception loop around the edgedg runtime (no torch): segment every frame, report what the
road ahead looks like, and raise an alert while the scene is out of distribution.

    python perception_loop.py MODEL_DIR SOURCE [--calibrate 30] [--threshold X] [--json out.jsonl]

SOURCE is anything ``edgedg_runtime.sources.open_source`` accepts: a camera index, /dev/video0,
csi://0, rtsp://..., a video file, an image folder or a glob.

The out-of-distribution signal is the runtime's shift score: the symmetric-KL distance between
the style of the frame (per-channel statistics of the first convolution) and the style of the
training data (the first BatchNorm's running statistics). Its scale depends on the model and the
camera, so the alert threshold is calibrated, either

* from the first ``--calibrate`` frames of this run (the drive starts in conditions the model
  knows; the threshold adapts to this camera's own bias), as mean + ``--sigmas`` x std of
  their scores, or at least ``--margin`` x their mean; or
* from the source domain: run this script once with ``--calibrate-only`` on images of ONE
  condition the model was trained on (every frame is used; several very different source domains
  pooled give a threshold too high to fire, see the README) and pass the printed value as
  ``--threshold`` (the same threshold for every run).

An alert starts after ``--patience`` consecutive frames above the threshold and ends after as many
below it, so one odd frame neither raises nor clears it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
from dataclasses import dataclass, field

import numpy as np

from edgedg_runtime import EdgeDGError, Segmenter
from edgedg_runtime.sources import open_source

ROAD, SIDEWALK, PERSON, RIDER, CAR = 0, 1, 11, 12, 13


@dataclass
class ShiftAlarm:
    """Calibrates a threshold on the first ``calibrate`` scores (unless one is given), then
    reports alert start / end events with hysteresis of ``patience`` frames."""

    calibrate: int = 30
    sigmas: float = 4.0
    margin: float = 1.5
    patience: int = 3
    threshold: float | None = None
    active: bool = False
    _scores: list[float] = field(default_factory=list)
    _streak: int = 0

    def calibrated(self) -> bool:
        return self.threshold is not None

    def update(self, score: float) -> str | None:
        """Feed one shift score; returns "start", "end" or None."""
        if math.isnan(score):
            return None
        if not self.calibrated():
            self._scores.append(score)
            if len(self._scores) >= self.calibrate:
                self.threshold = threshold_from(self._scores, self.sigmas, self.margin)
            return None
        outside = score > self.threshold
        self._streak = self._streak + 1 if outside != self.active else 0
        if self._streak >= self.patience:
            self.active, self._streak = not self.active, 0
            return "start" if self.active else "end"
        return None


def threshold_from(scores: list[float], sigmas: float, margin: float) -> float:
    """mean + sigmas x std of in-distribution scores, and at least margin x their mean (a
    perfectly steady camera would otherwise alert on noise)."""
    mean = statistics.fmean(scores)
    std = statistics.pstdev(scores) if len(scores) > 1 else 0.0
    return max(mean + sigmas * std, margin * mean)


def scene(labels: np.ndarray) -> dict:
    """What a planner might read from one label map: the share of drivable road in the lower
    half, and whether people or vehicles are in the central third of the lower half."""
    h, w = labels.shape
    ahead = labels[h // 2 :, w // 3 : 2 * w // 3]
    lower = labels[h // 2 :]
    return {
        "road": round(float(np.mean(lower == ROAD)), 3),
        "people_ahead": bool(np.isin(ahead, (PERSON, RIDER)).any()),
        "vehicle_ahead": bool(np.any(ahead == CAR)),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir")
    p.add_argument("source", help="camera index, /dev/video0, csi://0, rtsp://..., video, folder")
    p.add_argument("--backend", default="auto", choices=("auto", "ort", "trt"))
    p.add_argument("--norm", default="sib", choices=("sib", "qib", "sib-exact"))
    p.add_argument("--calibrate", type=int, default=30, help="frames to calibrate on")
    p.add_argument("--threshold", type=float, help="a fixed threshold (skips calibration)")
    p.add_argument("--sigmas", type=float, default=4.0)
    p.add_argument("--margin", type=float, default=1.5)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument(
        "--calibrate-only", action="store_true", help="print a threshold from every frame and stop"
    )
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--json", help="write one JSON line per frame here")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """The loop; returns a summary (frames, threshold, alert events)."""
    calibrate = sys.maxsize if args.calibrate_only else args.calibrate
    alarm = ShiftAlarm(calibrate, args.sigmas, args.margin, args.patience, args.threshold)
    events, frames, scores = [], 0, []
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(args.json, "w")) if args.json else None
        seg = stack.enter_context(Segmenter(args.model_dir, backend=args.backend, norm=args.norm))
        for name, frame in stack.enter_context(open_source(args.source)):
            if frame is None:
                continue
            result = seg(frame)
            frames += 1
            scores.append(result.shift)
            event = alarm.update(result.shift)
            if event:
                events.append({"frame": name, "event": event, "shift": result.shift})
                word = "OUT OF DISTRIBUTION" if event == "start" else "back in distribution"
                print(f"[{name}] {word}: shift {result.shift:.3f} (threshold "
                      f"{alarm.threshold:.3f})")  # fmt: skip
            if out is not None:
                record = {"frame": name, "shift": result.shift, "alert": alarm.active}
                out.write(json.dumps({**record, **scene(result.labels)}) + "\n")
            if args.max_frames and frames >= args.max_frames:
                break
    threshold = alarm.threshold
    valid = [x for x in scores if not math.isnan(x)]
    if args.calibrate_only and valid:
        threshold = threshold_from(valid, args.sigmas, args.margin)
    return {"frames": frames, "threshold": threshold, "events": events, "scores": scores}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = run(args)
    except EdgeDGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if summary["threshold"] is None:
        print(f"only {summary['frames']} frames: too few to calibrate (--calibrate "
              f"{args.calibrate})", file=sys.stderr)  # fmt: skip
        return 1
    if args.calibrate_only:
        print(f"threshold {summary['threshold']:.4f}  (pass --threshold to later runs)")
        return 0
    print(f"{summary['frames']} frames, threshold {summary['threshold']:.3f}, "
          f"{sum(e['event'] == 'start' for e in summary['events'])} alert(s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
