"""One way to run frames through a model directory's graphs: the cameras of a rig in one batch,
or the one frame of a Segmenter (a rig of one camera).

The segment graph normalises each image of a batch with its own statistics and its own prior
(`norm_prior` [N, 3, S], `batch_mix` = identity; DESIGN section 2), so frames of several cameras,
each with its own Adapter (bank and normalisation state), share one network call. ``sib-exact``
is the exception: a frame's batch is its own stored images, so each camera keeps its own call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from edgedg_runtime.adapt import Adapter
from edgedg_runtime.errors import FrameError


@dataclass
class Segmented:
    """What the batch step gives back per frame (the Segmenter and the Rig wrap it in a Result)."""

    labels: np.ndarray
    shift: float
    k: int
    timings: dict[str, float] = field(default_factory=dict)


def check_frame(frame: object) -> np.ndarray:
    """The frame as a uint8 [H, W, 3] array, or a FrameError that says what is wrong."""
    if frame is None:
        raise FrameError("the frame is None: the camera or file delivered no image")
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"a frame must be a numpy array, got {type(frame).__name__}")
    if frame.size == 0:
        raise FrameError(f"the frame is empty (shape {list(frame.shape)})")
    if frame.dtype != np.uint8:
        raise FrameError(
            f"the frame is {frame.dtype}; give uint8 BGR as OpenCV reads it "
            "(e.g. np.clip(x, 0, 255).astype(np.uint8))"
        )
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FrameError(
            f"the frame has shape {list(frame.shape)}; give [H, W, 3] BGR (gray: "
            "cv2.cvtColor(f, cv2.COLOR_GRAY2BGR); BGRA: cv2.COLOR_BGRA2BGR)"
        )
    return frame


def segment_batch(
    core: Any, adapters: Sequence[Adapter | None], frames: Sequence[np.ndarray]
) -> list[Segmented]:
    """Segment ``frames`` (uint8 BGR of any sizes, at most the contract's max_batch) in one call
    per graph; frame i is adapted by ``adapters[i]`` (None in folded ``source`` mode). ``core``
    is the opened Segmenter whose backends run the graphs. Every frame is checked before any
    graph runs, so one bad frame changes no bank."""
    t0 = time.perf_counter()
    checked = [check_frame(f) for f in frames]
    resized = [_resized(core, f) for f in checked]
    # one frame (a Segmenter): a view, not a copy of the image
    images = resized[0][None] if len(resized) == 1 else np.stack(resized)
    timings = {"preprocess": _ms(t0)}
    if adapters[0] is None:
        plain = core._backends["plain"]
        labels = plain.infer(core.feeds("plain", images))["labels"]
        timings["segment"] = plain.last_ms
        steps = [(float("nan"), 0)] * len(frames)
    elif adapters[0].mode == "sib-exact":
        labels, steps = _exact_one_by_one(core, adapters, images, timings)
    else:
        labels, steps = _adapted(core, adapters, images, timings)
    t1 = time.perf_counter()
    core._check_classes(labels)
    maps = []
    for frame, label in zip(checked, labels):
        label = label.astype(np.uint8, copy=False)
        h, w = frame.shape[:2]
        if label.shape != (h, w):
            label = core._cv2.resize(label, (w, h), interpolation=core._cv2.INTER_NEAREST)
        maps.append(label)
    timings["postprocess"] = _ms(t1)
    timings["total"] = _ms(t0)  # the batch's: every frame of it shares these timings
    return [Segmented(x, shift, k, dict(timings)) for x, (shift, k) in zip(maps, steps)]


def _adapted(core: Any, adapters: Sequence[Adapter], images: np.ndarray, timings: dict):
    """source (unfolded), target, sib, qib: one style call, each frame's prior from its own
    Adapter, one segment call with per-image statistics, each Adapter learns its frame."""
    t = time.perf_counter()
    graphs = 0.0
    styles: list[np.ndarray | None] = [None] * images.shape[0]
    if "style" in core._backends:
        styles = list(core._style(images))
        timings["style"] = core._backends["style"].last_ms
        graphs += timings["style"]
    planned = [a.prior_for(s) for a, s in zip(adapters, styles)]
    outputs = core._segment_each(images, np.stack([prior for prior, _ in planned]))
    for i, adapter in enumerate(adapters):
        adapter.learn(styles[i], outputs["frame_stats"][i], images[i])
    timings["segment"] = core._backends["segment"].last_ms
    timings["select"] = max(0.0, _ms(t) - graphs - timings["segment"])
    return outputs["labels"], [(float(info.shift_score), info.k) for _, info in planned]


def _exact_one_by_one(core: Any, adapters: Sequence[Adapter], images: np.ndarray, timings: dict):
    """sib-exact: each frame with its stored images in a pooled batch of its own."""
    labels, steps, spent = [], [], {"style": 0.0, "segment": 0.0}
    t = time.perf_counter()
    for adapter, image in zip(adapters, images):
        outputs, info = adapter.segment_frame(image, core._style, core._segment)
        labels.append(outputs["labels"][0])
        steps.append((float(info.shift_score), info.k))
        for graph in spent:
            spent[graph] += core._backends[graph].last_ms
    timings.update(spent)
    timings["select"] = max(0.0, _ms(t) - sum(spent.values()))
    return np.stack(labels), steps


def _resized(core: Any, frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if (w, h) != core._size:
        frame = core._cv2.resize(frame, core._size, interpolation=core._cv2.INTER_LINEAR)
    return np.ascontiguousarray(frame)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0
