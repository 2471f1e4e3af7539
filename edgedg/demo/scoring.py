"""Score a labelled frame sequence streamed through the runtime, as a vehicle would run it.

The frames go through ``edgedg_runtime``'s own stream loop (Segmenter + frame source + sinks), in
file order, so the bank modes see the video's temporal order. A sink scores every frame's labels
against the trainId label image of the same name; another may write the overlay video.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgedg.metrics import confusion, scores
from edgedg_runtime.errors import DataError


@dataclass
class StreamScore:
    """One pass of a norm mode over the sequence: ``scores`` (mIoU, per-class IoU, pixel accuracy
    of the summed confusion matrix), frames, frames per second of the whole loop (reading and
    scoring included), mean shift score (nan without a style graph) and the labels of the frames
    asked for in ``keep``."""

    mode: str
    scores: dict[str, Any]
    frames: int
    fps: float
    mean_shift: float
    kept: dict[str, np.ndarray] = field(default_factory=dict)


class ScoreSink:
    """A stream-loop sink: adds each frame's confusion against ``labels_dir/<name>.png``."""

    def __init__(self, labels_dir: str, num_classes: int, keep: Iterable[str] = ()):
        self.labels_dir, self.k = labels_dir, num_classes
        self.conf = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.keep, self.kept = set(keep), {}

    def write(self, name: str, frame: np.ndarray, labels: np.ndarray) -> None:
        import cv2

        path = os.path.join(self.labels_dir, f"{name}.png")
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if label is None:
            raise DataError(f"no label image {path} for frame {name}: the sequence is incomplete")
        self.conf += confusion(labels, label, self.k)
        if name in self.keep:
            self.kept[name] = labels.copy()

    def close(self) -> None:
        pass


def score_stream(
    model_dir: str,
    frames_dir: str,
    labels_dir: str,
    norm: str,
    video: str | None = None,
    keep: Iterable[str] = (),
    threads: int | None = None,
) -> StreamScore:
    """Stream ``frames_dir`` (PNG files, read in name order) through ``model_dir`` on ONNX Runtime
    in mode ``norm``, scoring against ``labels_dir``; with ``video``, also write the overlay."""
    from edgedg_runtime import Segmenter
    from edgedg_runtime.sinks import Renderer, VideoSink
    from edgedg_runtime.sources import open_source
    from edgedg_runtime.stream import run_loop

    with Segmenter(model_dir, backend="ort", norm=norm, threads=threads) as seg:
        scorer = ScoreSink(labels_dir, len(seg.class_names), keep)
        sinks: list[Any] = [scorer]
        if video:
            sinks.append(VideoSink(video, 10.0, Renderer(seg.class_names, seg.class_colors)))
        with open_source(frames_dir) as source:
            try:
                summary = run_loop(seg, source, sinks, echo=lambda _: None)
            finally:
                for sink in sinks:
                    sink.close()
    if summary.frames == 0:
        raise DataError(f"no frame of {frames_dir} could be segmented ({summary.end_reason})")
    return StreamScore(
        norm, scores(scorer.conf), summary.frames, summary.fps, summary.mean_shift, scorer.kept
    )
