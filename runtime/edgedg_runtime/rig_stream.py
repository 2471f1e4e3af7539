"""The multi-camera stream loop: named sources through one Rig into per-camera outputs.

``stream_rig(model_dir, cameras, out_dir, options)`` is ``edgedg stream MODEL_DIR --camera
NAME=INPUT ... --out DIR``. Per camera it writes what one stream writes (``DIR/NAME.mp4``, or
``DIR/NAME/`` PNGs with ``folders=True``; ``BANK_DIR/NAME.npz`` with a bank directory) and
returns a StreamSummary per camera.

Each camera has a feeder thread that reads its source (a live camera through its latest-frame
capture thread, as one stream does; files and folders every frame, in order) into a one-slot
mailbox; each tick the loop takes the frames that are there, segments them in one Rig call and
writes them. A camera with no new frame sits the tick out; one that ends, fails to open or
breaks is closed and the others go on. SIGINT, SIGTERM and SIGHUP finish the tick, close every
video and save every bank.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from edgedg_runtime.adapt import BANK_MODES
from edgedg_runtime.bank_lock import BankLock
from edgedg_runtime.errors import EdgeDGError, OutputError
from edgedg_runtime.fileio import remove_orphan_temps
from edgedg_runtime.resilience import BankSaver, StopSignals
from edgedg_runtime.rig import check_camera_names
from edgedg_runtime.sinks import FolderSink, Renderer, VideoSink
from edgedg_runtime.sources import open_source
from edgedg_runtime.stream import (
    StageTimes,
    StreamOptions,
    StreamSummary,
    check_distinct,
    exit_code_of,
)

log = logging.getLogger(__name__)
_END = object()  # a feeder's last mailbox item


def parse_cameras(specs: Sequence[str]) -> list[tuple[str, str]]:
    """``NAME=INPUT`` strings -> (name, input) pairs; names checked (letters, digits, - and _,
    none twice)."""
    pairs = []
    for spec in specs:
        name, sep, source = spec.partition("=")
        if not sep or not source:
            raise EdgeDGError(f"--camera takes NAME=INPUT (e.g. front=/dev/video0), got {spec!r}")
        pairs.append((name, source))
    check_camera_names([name for name, _ in pairs])
    return pairs


def rig_outputs(
    cameras: Sequence[tuple[str, str]], out_dir: str | None, bank_dir: str | None, folders: bool
) -> dict[str, str]:
    """What a rig writes, by option name: each camera's video (or PNG folder) and bank."""
    outputs = {}
    for name, _ in cameras:
        if out_dir:
            path = os.path.join(out_dir, name if folders else f"{name}.mp4")
            outputs[f"--out of camera {name}"] = path
        if bank_dir:
            outputs[f"--bank-dir of camera {name}"] = os.path.join(bank_dir, f"{name}.npz")
    return outputs


def check_rig_paths(
    model_dir: str,
    cameras: Sequence[tuple[str, str]],
    out_dir: str | None,
    bank_dir: str | None,
    folders: bool,
) -> None:
    """Refuse a rig output that is an input (the model directory, a camera's recording) or
    another output, before anything is opened (as ``check_distinct`` does for one stream)."""
    inputs = {"MODEL_DIR": model_dir, **{f"the input of camera {n}": i for n, i in cameras}}
    check_distinct(inputs, rig_outputs(cameras, out_dir, bank_dir, folders))


def rig_exit_code(summaries: dict[str, StreamSummary]) -> int:
    """The rig's exit code, with one stream's precedence over all cameras: a failed final bank
    save of any camera wins (4: adaptation lost); then a failed output of any camera (5); then a
    stop signal (128 + N); then 3 when NO camera read a frame; else 0. A camera that ended
    early, failed or read nothing while others did is reported in its summary line, not in the
    exit code."""
    return exit_code_of(list(summaries.values()))


@dataclass
class _Camera:
    """One camera's source, feeder thread, mailbox, outputs and counters."""

    name: str
    spec: str
    summary: StreamSummary = field(default_factory=StreamSummary)
    times: StageTimes = field(default_factory=StageTimes)
    mailbox: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=1))
    source: object = None
    sink: object = None
    saver: object = None
    shifts: list[float] = field(default_factory=list)
    ended: bool = False
    started: float = 0.0


def _feed(camera: _Camera, wake: threading.Event, stop: threading.Event) -> None:
    """Read the source into the one-slot mailbox: files wait for the slot (every frame, in
    order); a live camera replaces an untaken frame (counted as dropped)."""
    live = getattr(camera.source, "live", False)
    try:
        for item in camera.source:
            while not stop.is_set():
                try:
                    camera.mailbox.put(item, timeout=0.1)
                    break
                except queue.Full:
                    if live:
                        try:
                            camera.mailbox.get_nowait()
                            camera.summary.dropped += 1
                        except queue.Empty:
                            pass
            wake.set()
            if stop.is_set():
                return
        camera.summary.end_reason = camera.source.end_reason
    except Exception as exc:  # a broken source ends this camera only
        camera.summary.end_reason = f"source failed ({type(exc).__name__}: {exc})"
        log.warning("camera %s: %s", camera.name, camera.summary.end_reason)
    while not stop.is_set():
        try:
            camera.mailbox.put(_END, timeout=0.1)
            break
        except queue.Full:
            continue
    wake.set()


def stream_rig(
    model_dir: str,
    cameras: Sequence[tuple[str, str]],
    out_dir: str | None,
    options: StreamOptions,
    bank_dir: str | None = None,
    folders: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, StreamSummary]:
    """Run the cameras ((name, input) pairs) through one Rig until every camera has ended or a
    signal stops the run; returns name -> StreamSummary (``rig_exit_code`` maps them)."""
    from edgedg_runtime.rig import Rig

    names = check_camera_names([n for n, _ in cameras])
    check_rig_paths(model_dir, cameras, out_dir, bank_dir, folders)
    if bank_dir and options.norm not in BANK_MODES:
        raise EdgeDGError(
            f"--bank-dir needs a bank mode ({', '.join(BANK_MODES)}), not --norm {options.norm}"
        )
    banks = {n: os.path.join(bank_dir, f"{n}.npz") for n in names} if bank_dir else {}
    if bank_dir:
        os.makedirs(bank_dir, exist_ok=True)
    locks = [BankLock(path).acquire() for path in banks.values()]
    try:
        for path in banks.values():
            remove_orphan_temps(path)
        existing = {n: p for n, p in banks.items() if os.path.exists(p)}
        with Rig(model_dir, names, banks=existing, **options.model_options()) as rig:
            echo(f"streaming {len(names)} cameras -> {out_dir or '(no output)'}: {rig.describe()}")
            return _run(rig, cameras, out_dir, options, banks, folders, echo)
    finally:
        for lock in locks:
            lock.release()


def _run(rig, cameras, out_dir, options, banks, folders, echo) -> dict[str, StreamSummary]:
    renderer = Renderer(rig.core.class_names, rig.core.class_colors, options.alpha)
    wake, stop = threading.Event(), threading.Event()
    cams = [_Camera(name, spec) for name, spec in cameras]
    threads = []
    try:
        for cam in cams:
            _open_camera(cam, rig, out_dir, options, banks, folders, renderer)
            if cam.source is not None:
                thread = threading.Thread(
                    target=_feed, args=(cam, wake, stop), name=f"feed {cam.name}", daemon=True
                )
                thread.start()
                threads.append(thread)
        with StopSignals() as signals:
            try:
                _loop(rig, cams, options, wake, signals, echo)
            except KeyboardInterrupt:  # a second signal: stop now, still close and save
                for cam in cams:
                    cam.summary.signal, cam.summary.end_reason = int(signal.SIGINT), "interrupted"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2.0)
        for cam in cams:
            _close_camera(cam)
    return {cam.name: cam.summary for cam in cams}


def _open_camera(cam, rig, out_dir, options, banks, folders, renderer) -> None:
    try:
        cam.source = open_source(
            cam.spec, options.input_width, options.input_height, options.input_rate, options.timeout
        )
    except EdgeDGError as exc:  # this camera ends; the others run
        cam.ended, cam.summary.end_reason = True, f"cannot open {cam.spec}: {exc}"
        log.warning("camera %s: %s", cam.name, cam.summary.end_reason)
    if out_dir and cam.source is not None:
        os.makedirs(out_dir, exist_ok=True)
        if folders:
            cam.sink = FolderSink(os.path.join(out_dir, cam.name), options.visualize, renderer)
        else:
            fps = getattr(cam.source, "fps", None) or options.input_rate or 30.0
            cam.sink = VideoSink(os.path.join(out_dir, f"{cam.name}.mp4"), fps, renderer)
    if cam.name in banks and rig.bank(cam.name) is not None:
        cam.saver = BankSaver(rig.bank(cam.name), banks[cam.name])
    cam.started = time.perf_counter()


def _loop(rig, cams, options, wake, signals, echo) -> None:
    ticks = 0
    while not all(c.ended for c in cams):
        if signals.signum:
            for cam in cams:
                cam.summary.signal = signals.signum
                cam.summary.end_reason = f"stopped by {signal.Signals(signals.signum).name}"
            return
        frames, names = _take(cams)
        if not frames:
            wake.wait(0.1)
            wake.clear()
            continue
        results = rig(frames)
        for cam in cams:
            if cam.name in frames:
                _deliver(cam, names[cam.name], frames[cam.name], results.get(cam.name), options)
        ticks += 1
        if options.profile and ticks % options.profile == 0:
            line = " | ".join(f"{c.name} {c.times.window().get('total', 0.0):.2f} ms" for c in cams)
            echo(f"[{ticks:6d} ticks] {line}")


def _take(cams) -> tuple[dict, dict]:
    """The frames waiting in the live cameras' mailboxes (camera -> frame, camera -> name)."""
    frames, names = {}, {}
    for cam in cams:
        if cam.ended:
            continue
        try:
            item = cam.mailbox.get_nowait()
        except queue.Empty:
            continue
        if item is _END:
            cam.ended = True
            continue
        names[cam.name], frames[cam.name] = item
    return frames, names


def _deliver(cam: _Camera, name: str, frame, result, options: StreamOptions) -> None:
    summary = cam.summary
    if result is None:  # a bad frame: the rig counted and skipped it
        summary.bad += 1
        log.warning("camera %s: frame %s skipped (not a uint8 [H, W, 3] image)", cam.name, name)
        return
    if cam.sink is not None:
        try:
            cam.sink.write(name, frame, result.labels)
        except OutputError as exc:  # this camera's recording is lost; the others go on
            _output_failed(cam, exc)
            return
    summary.frames += 1
    cam.times.add(result.timings)
    if result.shift is not None and not math.isnan(result.shift):
        cam.shifts.append(float(result.shift))
    every = options.bank_save_every
    if cam.saver is not None and every and summary.frames % every == 0:
        cam.saver.save()
    if options.max_frames and summary.frames >= options.max_frames:
        cam.ended, summary.end_reason = True, f"--max-frames {options.max_frames}"


def _output_failed(cam: _Camera, exc: OutputError) -> None:
    """End this camera: its output failed (a full disk, a folder removed). Its bank is still
    saved at the end."""
    cam.ended = True
    cam.summary.end_reason, cam.summary.output_error = "output failed", str(exc)
    log.warning("camera %s: output failed (%s)", cam.name, exc)
    sink, cam.sink = cam.sink, None
    with contextlib.suppress(OutputError):  # the first failure is the one reported
        sink.close()


def _close_camera(cam: _Camera) -> None:
    summary = cam.summary
    summary.seconds = time.perf_counter() - cam.started if cam.started else 0.0
    summary.stage_ms = cam.times.means()
    summary.mean_shift = sum(cam.shifts) / len(cam.shifts) if cam.shifts else float("nan")
    try:
        if cam.sink is not None:
            cam.sink.close()
    except OutputError as exc:  # never stops the other cameras' closes nor this bank's save
        summary.output_error = summary.output_error or str(exc)
    finally:
        if cam.source is not None:
            summary.dropped += getattr(cam.source, "dropped", 0)
            cam.source.close()
        if cam.saver is not None:
            if not cam.saver.save():
                summary.bank_error = cam.saver.error
            summary.bank_skipped = getattr(cam.saver.bank, "rejected", 0)


def format_summaries(summaries: dict[str, StreamSummary]) -> str:
    """One line per camera: frames, bad, dropped, fps, mean shift, how it ended."""
    lines = []
    for name, s in summaries.items():
        shift = "n/a" if math.isnan(s.mean_shift) else f"{s.mean_shift:.3f}"
        total = s.stage_ms.get("total")
        ms = f", {total:.1f} ms per batch" if total is not None else ""
        line = (
            f"{name}: {s.frames} frames, {s.bad} bad, {s.dropped} dropped in {s.seconds:.1f} s "
            f"({s.fps:.1f} fps{ms}; shift {shift}; {s.end_reason})"
        )
        if s.bank_error:
            line += f"; style bank NOT saved: {s.bank_error}"
        lines.append(line)
    return "\n".join(lines)


__all__ = ["format_summaries", "parse_cameras", "rig_exit_code", "stream_rig"]
