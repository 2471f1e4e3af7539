"""The stream loop: frames from a source through a Segmenter to video / PNG / window outputs.

``stream(model_dir, source, output, options)`` wires everything from a model directory and a
source spec; ``run_loop(segmenter, source, sinks, ...)`` is the loop itself (any callable that
returns a result with ``labels``, ``shift``, ``timings`` works, which the tests use). Bad frames
are counted and skipped; a source that ends or breaks ends the run cleanly; so do Ctrl-C,
SIGTERM (systemd, docker stop) and SIGHUP, even while a live source is stalled: the frame in
progress is finished, the video closed, the bank saved (a second signal skips the frame in
progress, never the closing and the save). A failed bank save never stops the stream. An output
that fails (its folder removed, a frame too large for the video writer, a full disk found when the
video is closed) ends the stream; the bank is still saved. A summary (frames, bad, dropped, fps,
ms per stage, mean shift, how it ended, what failed) is always returned, and
``StreamSummary.exit_code`` maps it to the exit codes of `edgedg stream`. When several apply,
the first in this list wins:

    4    the final bank save failed (this run's adaptation is lost)
    5    an output failed (the recording is incomplete, whatever else happened)
    128+N  stopped by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP)
    3    no frame could be read
    0    ran to its end (or --max-frames)

1 (refused at start) and 2 (usage) come before any frame, so they never compete with these.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from edgedg_runtime.adapt import BANK_MODES
from edgedg_runtime.bank import BankOptions
from edgedg_runtime.bank_lock import BankLock
from edgedg_runtime.errors import EdgeDGError, FrameError, OutputError
from edgedg_runtime.fileio import remove_orphan_temps
from edgedg_runtime.resilience import BankSaver, StopSignals
from edgedg_runtime.sinks import Renderer, make_sinks
from edgedg_runtime.sources import FrameSource, open_source

log = logging.getLogger(__name__)
EXIT_NO_FRAMES = 3  # the input gave no frame that could be segmented
EXIT_BANK_NOT_SAVED = 4  # the final bank save failed: this run's adaptation is lost
EXIT_OUTPUT_FAILED = 5  # an output failed: the recording is incomplete


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

    def model_options(self) -> dict:
        """The keyword options a Segmenter or a Rig opens the model with (the same for both)."""
        return dict(
            backend=self.backend,
            norm=self.norm,
            bank_options=self.bank_options,
            threads=self.threads,
            ort_layout=self.ort_layout,
            precision=self.precision,
            engine_dir=self.engine_dir,
            trust_key=self.trust_key,
        )


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
    output_error: str | None = None  # why an output failed (the first failure)
    capture_left: bool = False  # a capture thread was still blocked in OpenCV at the end

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
        if self.output_error:
            text += f"\noutput failed: {self.output_error}"
        if self.bank_error:
            text += f"\nstyle bank NOT saved: {self.bank_error}"
        return text

    def exit_code(self) -> int:
        """The exit code; the module docstring lists them, the first that applies wins."""
        return exit_code_of([self])


def exit_code_of(summaries: Sequence[StreamSummary]) -> int:
    """The exit code of one stream or of a rig's cameras, the first that applies winning: a
    failed final bank save of any (4), a failed output of any (5), a stop signal (128 + N), no
    frame read by any (3), else 0."""
    if any(s.bank_error for s in summaries):
        return EXIT_BANK_NOT_SAVED
    if any(s.output_error for s in summaries):
        return EXIT_OUTPUT_FAILED
    signals = [s.signal for s in summaries if s.signal]
    if signals:
        return 128 + int(signals[0])
    return EXIT_NO_FRAMES if all(s.frames == 0 for s in summaries) else 0


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
    except OutputError as exc:
        summary.end_reason, summary.output_error = "output failed", str(exc)
    if stop is not None and stop.signum and summary.signal is None:  # ended a stalled read
        summary.signal = stop.signum
        summary.end_reason = f"stopped by {signal.Signals(stop.signum).name}"
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


def stream(
    model_dir: str,
    source: str,
    output: str | None = None,
    options: StreamOptions | None = None,
    echo: Callable[[str], None] = print,
) -> StreamSummary:
    """Run a model directory on a source until it ends; see ``edgedg stream --help``.

    With ``options.bank``, the bank path is locked for the run (a second process on it is
    refused), checked writable before the first frame, and saved at exit even after a signal or
    a failed output. An output that is an input or another output is refused first."""
    options = options or StreamOptions()
    check_distinct(
        {"MODEL_DIR": model_dir, "INPUT": source}, {"OUTPUT": output, "--bank": options.bank}
    )
    if options.bank and options.norm not in BANK_MODES:
        raise EdgeDGError(
            f"--bank needs a bank mode ({', '.join(BANK_MODES)}), not --norm {options.norm}"
        )
    lock = BankLock(options.bank).acquire() if options.bank else None
    try:
        if options.bank:
            remove_orphan_temps(lock.real_path)  # a save killed mid-write; we hold the lock
        return _stream(model_dir, source, output, options, echo)
    finally:
        if lock is not None:
            lock.release()


def _stream(model_dir, source, output, options: StreamOptions, echo) -> StreamSummary:
    from edgedg_runtime.segmenter import Segmenter

    bank = options.bank if options.bank and os.path.exists(options.bank) else None
    with Segmenter(model_dir, bank=bank, **options.model_options()) as seg, open_source(
        source, options.input_width, options.input_height, options.input_rate, options.timeout
    ) as src:
        renderer = Renderer(seg.class_names, seg.class_colors, options.alpha)
        fps = src.fps or options.input_rate or 30.0
        sinks = make_sinks(output, options.visualize, options.display, renderer, fps)
        echo(f"streaming {source} -> {output or '(no output)'}: {seg.describe()}")
        saver = BankSaver(seg.bank, options.bank) if options.bank and seg.bank is not None else None

        def save_bank(n: int) -> None:
            if saver is not None and options.bank_save_every and n % options.bank_save_every == 0:
                saver.save()

        # Signals are caught from the first frame on (before it, a stop loses nothing), and
        # until the video is closed and the bank saved; the first one also ends a stalled read.
        with StopSignals(on_signal=src.interrupt) as stop:
            try:
                summary = run_loop(
                    seg, src, sinks, options.profile, options.max_frames, save_bank, echo, stop
                )
            finally:
                stop.finishing = True  # a second signal must not interrupt the save
                try:
                    output_error = close_sinks(sinks)
                finally:
                    saved = saver is None or saver.save()
    summary.output_error = summary.output_error or output_error
    summary.capture_left = src.running  # src is closed: its thread is blocked in OpenCV
    summary.bank_error = None if saved else saver.error
    return summary


def close_sinks(sinks: Sequence) -> str | None:
    """Close every sink; the first :class:`OutputError` as text (None: all closed well)."""
    first = None
    for sink in sinks:
        try:
            sink.close()
        except OutputError as exc:
            first = first or str(exc)
    return first


def check_distinct(inputs: dict, outputs: dict) -> None:
    """Refuse an output that is an input or another output of the same command, before anything
    is opened: ``inputs`` / ``outputs`` map a name (``"INPUT"``, ``"--bank"``) to a path (None or
    a non-path source such as ``rtsp://...`` is skipped). Real paths are compared (a symlink is
    its target), and ``os.path.samefile`` catches hard links."""
    seen = [(name, path) for name, path in inputs.items() if path and os.path.exists(path)]
    for name, path in outputs.items():
        if not path:
            continue
        for other, other_path in seen:
            if _same_file(path, other_path):
                raise EdgeDGError(
                    f"{name} {path} is also the {other} of this command and would be "
                    "overwritten: choose another path"
                )
        seen.append((name, path))


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False
