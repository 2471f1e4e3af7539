"""The stream loop: frames from a source through a Segmenter to video / PNG / window outputs.

``stream(model_dir, source, output, options)`` wires everything from a model directory and a
source spec; ``run_loop(segmenter, source, sinks, ...)`` is the loop itself (any callable that
returns a result with ``labels``, ``shift``, ``timings`` works, which the tests use). Bad frames
are counted and skipped; a source that ends or breaks ends the run cleanly; so do Ctrl-C,
SIGTERM (systemd, docker stop) and SIGHUP: the frame in progress is finished, the video closed,
the bank saved. A failed bank save never stops the stream. A summary (frames, bad, dropped, fps,
ms per stage, mean shift, how it ended) is always returned; ``StreamSummary.exit_code`` maps it
to the exit codes of `edgedg stream` (see the README's Reliability section).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from edgedg_runtime.adapt import BANK_MODES
from edgedg_runtime.bank import BankOptions
from edgedg_runtime.bank_file import BankLock
from edgedg_runtime.errors import EdgeDGError, FrameError, require
from edgedg_runtime.fileio import remove_orphan_temps
from edgedg_runtime.resilience import BankSaver, StopSignals
from edgedg_runtime.sources import FrameSource, open_source
from edgedg_runtime.visualize import VIEWS, palette_bgr, render

log = logging.getLogger(__name__)
VIDEO_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}
EXIT_NO_FRAMES = 3  # the input gave no frame that could be segmented
EXIT_BANK_NOT_SAVED = 4  # the final bank save failed: this run's adaptation is lost


@dataclass
class StreamOptions:
    """Everything ``edgedg stream`` can set besides the model, input and output."""

    norm: str = "target"
    backend: str = "auto"
    bank_options: BankOptions = BankOptions()  # capacity None: the saved bank's, else 128
    threads: int | None = None
    ort_layout: str = "auto"  # ONNX Runtime CPU layout of the segment / plain graph
    precision: str | None = None  # fp32 | fp16 | int8 (Segmenter); None: FP32 / any engine built
    input_width: int | None = None
    input_height: int | None = None
    input_rate: int | None = None
    visualize: tuple[str, ...] = ("overlay",)
    alpha: float = 0.5
    display: bool = False
    profile: int = 0
    bank: str | None = None
    bank_save_every: int = 0
    max_frames: int | None = None
    timeout: float = 5.0
    engine_dir: str | None = (
        None  # engines and caches (None: MODEL_DIR/engines, $EDGEDG_ENGINE_DIR)
    )
    trust_key: str | None = None  # PEM public key whose signature the contract must carry


class StageTimes:
    """Running sums of per-stage milliseconds, overall and since the last ``window()`` call."""

    def __init__(self):
        self.total, self.count = {}, 0
        self._win, self._win_count = {}, 0

    def add(self, timings: dict) -> None:
        for stage, ms in timings.items():
            self.total[stage] = self.total.get(stage, 0.0) + float(ms)
            self._win[stage] = self._win.get(stage, 0.0) + float(ms)
        self.count += 1
        self._win_count += 1

    def means(self) -> dict:
        return {k: v / max(1, self.count) for k, v in self.total.items()}

    def window(self) -> dict:
        """Mean ms per stage since the previous call, and reset the window."""
        means = {k: v / max(1, self._win_count) for k, v in self._win.items()}
        self._win, self._win_count = {}, 0
        return means


def format_stages(means: dict) -> str:
    return " | ".join(f"{stage} {ms:.2f} ms" for stage, ms in means.items())


@dataclass
class StreamSummary:
    frames: int = 0
    bad: int = 0
    dropped: int = 0
    seconds: float = 0.0
    stage_ms: dict = field(default_factory=dict)
    mean_shift: float = float("nan")
    end_reason: str = "end of input"
    signal: int | None = None  # the signal that stopped the stream
    bank_skipped: int = 0  # frames whose statistics were not finite: not added to the bank
    bank_error: str | None = None  # why the final bank save failed

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        shift = "n/a" if math.isnan(self.mean_shift) else f"{self.mean_shift:.3f}"
        text = (
            f"{self.frames} frames, {self.bad} bad, {self.dropped} dropped in {self.seconds:.1f} s "
            f"({self.fps:.1f} fps; {self.end_reason})\n"
            f"ms per frame: {format_stages(self.stage_ms) or 'n/a'}\nmean shift score: {shift}"
        )
        if self.bank_skipped:
            text += f"\nstyle bank: {self.bank_skipped} frames not added (non-finite statistics)"
        if self.bank_error:
            text += f"\nstyle bank NOT saved: {self.bank_error}"
        return text

    def exit_code(self) -> int:
        """0: ran to its end; 3: no frame could be read; 4: the final bank save failed (wins
        over the others); 128 + N: stopped by signal N (130 Ctrl-C, 129 SIGHUP, 143 SIGTERM)."""
        if self.bank_error:
            return EXIT_BANK_NOT_SAVED
        if self.signal:
            return 128 + int(self.signal)
        return EXIT_NO_FRAMES if self.frames == 0 else 0


# --- sinks ------------------------------------------------------------------------------------
class Renderer:
    """Draws a view (overlay / mask) of a result with the model's class colours and names."""

    def __init__(self, names: Sequence[str], colors_rgb, alpha: float = 0.5):
        self.names, self.palette, self.alpha = list(names), palette_bgr(colors_rgb), alpha

    def __call__(self, frame: np.ndarray, labels: np.ndarray, view: str = "overlay"):
        return render(frame, labels, self.palette, self.names, view, self.alpha)


class VideoSink:
    """An overlay video, one output frame per segmented input frame; written to a temp file in
    the same folder and moved into place when closed."""

    def __init__(self, path: str, fps: float, renderer: Renderer):
        ext = os.path.splitext(path)[1].lower()
        if ext not in VIDEO_FOURCC:
            raise EdgeDGError(f"output video must end in {' or '.join(VIDEO_FOURCC)}: {path}")
        self.path, self.fps, self.renderer = path, float(fps), renderer
        self._tmp = os.path.join(
            os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp{ext}"
        )
        self._writer, self._size, self.written = None, None, 0

    def write(self, name: str, frame: np.ndarray, labels: np.ndarray) -> None:
        cv2 = require("cv2", "camera", "Writing videos")
        image = self.renderer(frame, labels, "overlay")
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_FOURCC[os.path.splitext(self.path)[1].lower()])
            self._writer = cv2.VideoWriter(self._tmp, fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                raise EdgeDGError(f"OpenCV cannot write the video {self.path} (codec missing?)")
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_NEAREST)
        self._writer.write(image)
        self.written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)


class FolderSink:
    """PNG files ``<name>_<view>.png`` for each requested view, each written atomically."""

    def __init__(self, folder: str, views: Sequence[str], renderer: Renderer):
        bad = [v for v in views if v not in VIEWS]
        if bad or not views:
            raise EdgeDGError(f"--visualize takes a comma list of {', '.join(VIEWS)}, got {views}")
        os.makedirs(folder, exist_ok=True)
        self.folder, self.views, self.renderer, self.written = folder, tuple(views), renderer, 0

    def write(self, name: str, frame: np.ndarray, labels: np.ndarray) -> None:
        cv2 = require("cv2", "camera", "Writing images")
        for view in self.views:
            path = os.path.join(self.folder, f"{name}_{view}.png")
            tmp = os.path.join(self.folder, f".{name}_{view}.tmp.png")
            if not cv2.imwrite(tmp, self.renderer(frame, labels, view)):
                raise EdgeDGError(f"cannot write {path}: is the folder writable?")
            os.replace(tmp, path)
        self.written += 1

    def close(self) -> None:
        pass


class DisplaySink:
    """An OpenCV window; ``q`` or Esc stops the stream."""

    def __init__(self, renderer: Renderer, title: str = "edgedg"):
        self.renderer, self.title, self.quit = renderer, title, False

    def write(self, name: str, frame: np.ndarray, labels: np.ndarray) -> None:
        cv2 = require("cv2", "camera", "Showing a window")
        cv2.imshow(self.title, self.renderer(frame, labels, "overlay"))
        self.quit = (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)

    def close(self) -> None:
        cv2 = require("cv2", "camera", "Showing a window")
        cv2.destroyWindow(self.title)


def display_available() -> tuple[bool, str]:
    """(available, why not): a display server and an OpenCV build with a GUI."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False, "no display (DISPLAY is not set)"
    cv2 = require("cv2", "camera", "Showing a window")
    try:
        cv2.namedWindow("edgedg-probe")
        cv2.destroyWindow("edgedg-probe")
    except cv2.error:
        return False, "this OpenCV has no GUI (a headless build)"
    return True, ""


# --- the loop ---------------------------------------------------------------------------------
def run_loop(
    segmenter: Callable,
    source: FrameSource,
    sinks: Sequence = (),
    profile: int = 0,
    max_frames: int | None = None,
    every_frame: Callable[[int], None] | None = None,
    echo: Callable[[str], None] = print,
    stop: StopSignals | None = None,
) -> StreamSummary:
    """Segment every frame of ``source`` and hand it to each sink until the source ends.

    ``every_frame(n)`` runs after the n-th segmented frame (bank saving). ``profile`` > 0 prints
    the mean per-stage times every that many frames through ``echo``. ``stop``: signals that end
    the loop after the frame in progress (see :class:`StopSignals`).
    """
    summary, times, shifts = StreamSummary(), StageTimes(), [0.0, 0]
    start = time.perf_counter()
    try:
        for name, frame in source:
            if _segment_one(segmenter, name, frame, sinks, summary, times, shifts):
                if every_frame is not None:
                    every_frame(summary.frames)
                if profile and summary.frames % profile == 0:
                    echo(f"[{summary.frames:6d}] {format_stages(times.window())}")
            if stop is not None and stop.signum:
                summary.signal = stop.signum
                summary.end_reason = f"stopped by {signal.Signals(stop.signum).name}"
                break
            if (max_frames and summary.frames >= max_frames) or any(
                getattr(s, "quit", False) for s in sinks
            ):
                summary.end_reason = "stopped" if not max_frames else f"--max-frames {max_frames}"
                break
        else:
            summary.end_reason = source.end_reason
    except KeyboardInterrupt:
        summary.end_reason, summary.signal = "interrupted", int(signal.SIGINT)
    summary.seconds = time.perf_counter() - start
    summary.dropped = source.dropped
    summary.stage_ms = times.means()
    summary.mean_shift = shifts[0] / shifts[1] if shifts[1] else float("nan")
    summary.bank_skipped = getattr(getattr(segmenter, "bank", None), "rejected", 0)
    return summary


def _segment_one(segmenter, name, frame, sinks, summary, times, shifts) -> bool:
    """Segment one frame into the sinks and the summary; False for a bad frame (skipped)."""
    try:
        result = segmenter(frame)
    except FrameError as exc:
        summary.bad += 1
        log.warning("frame %s skipped: %s", name, exc)
        return False
    for sink in sinks:
        sink.write(name, frame, result.labels)
    summary.frames += 1
    times.add(result.timings)
    if result.shift is not None and not math.isnan(result.shift):
        shifts[0] += float(result.shift)
        shifts[1] += 1
    return True


def make_sinks(output: str | None, options: StreamOptions, renderer: Renderer, fps: float):
    """The sinks for an OUTPUT argument (.mp4/.avi video or a PNG folder) and ``--display``."""
    sinks = []
    if output:
        if os.path.splitext(output)[1].lower() in VIDEO_FOURCC:
            sinks.append(VideoSink(output, fps, renderer))
        elif os.path.splitext(output)[1]:
            raise EdgeDGError(f"OUTPUT must be a .mp4/.avi file or a folder for PNGs: {output}")
        else:
            sinks.append(FolderSink(output, options.visualize, renderer))
    if options.display:
        ok, why = display_available()
        if ok:
            sinks.append(DisplaySink(renderer))
        else:
            log.warning("--display ignored: %s; running headless", why)
    return sinks


def stream(
    model_dir: str,
    source: str,
    output: str | None = None,
    options: StreamOptions | None = None,
    echo: Callable[[str], None] = print,
) -> StreamSummary:
    """Run a model directory on a source until it ends; see ``edgedg stream --help``.

    With ``options.bank``, the bank path is locked for the run (a second process on it is
    refused), checked writable before the first frame, and saved at exit even after a signal."""
    options = options or StreamOptions()
    if options.bank and options.norm not in BANK_MODES:
        raise EdgeDGError(
            f"--bank needs a bank mode ({', '.join(BANK_MODES)}), not --norm {options.norm}"
        )
    lock = BankLock(options.bank).acquire() if options.bank else None
    try:
        if options.bank:
            remove_orphan_temps(options.bank)  # a save killed mid-write; we hold the lock
        return _stream(model_dir, source, output, options, echo)
    finally:
        if lock is not None:
            lock.release()


def _stream(model_dir, source, output, options: StreamOptions, echo) -> StreamSummary:
    from edgedg_runtime.segmenter import Segmenter

    bank = options.bank if options.bank and os.path.exists(options.bank) else None
    with Segmenter(
        model_dir,
        options.backend,
        options.norm,
        options.bank_options,
        bank,
        options.threads,
        ort_layout=options.ort_layout,
        precision=options.precision,
        engine_dir=options.engine_dir,
        trust_key=options.trust_key,
    ) as seg, open_source(
        source, options.input_width, options.input_height, options.input_rate, options.timeout
    ) as src:
        renderer = Renderer(seg.class_names, seg.class_colors, options.alpha)
        sinks = make_sinks(output, options, renderer, src.fps or options.input_rate or 30.0)
        echo(f"streaming {source} -> {output or '(no output)'}: {seg.describe()}")
        saver = BankSaver(seg.bank, options.bank) if options.bank and seg.bank is not None else None

        def save_bank(n: int) -> None:
            if saver is not None and options.bank_save_every and n % options.bank_save_every == 0:
                saver.save()

        summary = None
        # Signals are caught from the first frame on (before it, a stop loses nothing), and
        # until the video is closed and the bank saved.
        with StopSignals() as stop:
            try:
                summary = run_loop(
                    seg, src, sinks, options.profile, options.max_frames, save_bank, echo, stop
                )
            finally:
                for sink in sinks:
                    sink.close()
                if saver is not None and not saver.save() and summary is not None:
                    summary.bank_error = saver.error
    return summary
