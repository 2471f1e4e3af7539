#!/usr/bin/env python3
"""A vehicle's perception loop over several cameras with one edgedg Rig (no torch): every tick,
each camera's newest frame goes through one batched call, each camera keeps its own style bank,
and each camera has its own out-of-distribution alarm.

    python rig_loop.py MODEL_DIR front=/dev/video0 rear=rtsp://... [--calibrate 30] [--json F]

Each NAME=SOURCE is anything ``edgedg_runtime.sources.open_source`` accepts (a camera index,
/dev/video0, csi://0, rtsp://..., a video file, an image folder or a glob). The alarm is the
perception loop sample's ``ShiftAlarm`` (samples/perception_loop): a threshold calibrated on the
camera's own first frames (each camera has its own bias), with hysteresis. This sample reads
each source in turn, one frame per camera per tick, which suits files; a live application
reads each camera in its own thread and passes the rig whatever frames have arrived (see
``edgedg_runtime.rig_stream``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "perception_loop"))
from perception_loop import ShiftAlarm, scene  # noqa: E402  (the sibling sample)

from edgedg_runtime import EdgeDGError  # noqa: E402
from edgedg_runtime.rig import Rig  # noqa: E402
from edgedg_runtime.sources import open_source  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir")
    p.add_argument("cameras", nargs="+", metavar="NAME=SOURCE")
    p.add_argument("--backend", default="auto", choices=("auto", "ort", "trt"))
    p.add_argument("--norm", default="sib", choices=("sib", "qib"))
    p.add_argument("--calibrate", type=int, default=30, help="frames per camera to calibrate on")
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--json", help="write one JSON line per camera and tick here")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """The loop; returns per camera its frames, threshold and alert events."""
    pairs = [spec.partition("=")[::2] for spec in args.cameras]
    names = [name for name, _ in pairs]
    alarms = {n: ShiftAlarm(args.calibrate, patience=args.patience) for n in names}
    events: dict = {n: [] for n in names}
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(args.json, "w")) if args.json else None
        rig = stack.enter_context(Rig(args.model_dir, names, backend=args.backend, norm=args.norm))
        sources = {n: iter(stack.enter_context(open_source(spec))) for n, spec in pairs}
        tick = 0
        while sources:
            frames = {}
            for name in list(sources):
                item = next(sources[name], None)
                if item is None:  # this camera ended; the others go on
                    del sources[name]
                else:
                    frames[name] = item[1]
            for name, result in rig(frames, stamps={n: tick for n in frames}).items():
                event = alarms[name].update(result.shift)
                if event:
                    events[name].append({"tick": tick, "event": event, "shift": result.shift})
                    word = "OUT OF DISTRIBUTION" if event == "start" else "back in distribution"
                    print(f"[{name} {tick}] {word}: shift {result.shift:.3f}")
                if out is not None:
                    record = {"camera": name, "tick": result.stamp, "shift": result.shift}
                    record.update(alert=alarms[name].active, **scene(result.labels))
                    out.write(json.dumps(record) + "\n")
            tick += 1
        health = {n: rig.health(n).frames for n in names}
    return {
        n: {"frames": health[n], "threshold": alarms[n].threshold, "events": events[n]}
        for n in names
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = run(args)
    except EdgeDGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, s in summary.items():
        threshold = "not calibrated" if s["threshold"] is None else f"{s['threshold']:.3f}"
        alerts = sum(e["event"] == "start" for e in s["events"])
        print(f"{name}: {s['frames']} frames, threshold {threshold}, {alerts} alert(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
