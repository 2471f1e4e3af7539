"""Frame sources: cameras, CSI, RTSP, GStreamer pipelines, video files, image folders and globs.

``open_source(spec)`` understands the URIs users know from NVIDIA's jetson-inference: an integer
webcam index, ``/dev/videoN`` or ``v4l2://N``, ``csi://N``, ``rtsp://...``, ``gst://PIPELINE``,
a video file, an image folder or a glob. A source iterates ``(name, frame)`` pairs: ``frame`` is a
BGR uint8 array, or None for an unreadable image (the stream loop counts and skips it).

Live sources run a capture thread that keeps only the LATEST frame (stale frames are dropped and
counted, so latency never grows) and time out when no frame arrives; RTSP reconnects with
exponential backoff. Files and folders give every frame, in order, and end at the last one (a
truncated video simply ends where it breaks). OpenCV is imported inside functions.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import threading
import time
from typing import Iterator, Optional, Tuple

import numpy as np

from edgedg_runtime.errors import EdgeDGError, require

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
Item = Tuple[str, Optional[np.ndarray]]


def _cv2():
    return require("cv2", "camera", "Reading cameras, videos and images")


def csi_pipeline(sensor_id: int, width: int = 1280, height: int = 720, rate: int = 30) -> str:
    """The Jetson CSI camera pipeline (nvarguscamerasrc -> BGR appsink that keeps 1 buffer)."""
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! video/x-raw(memory:NVMM),width={width},"
        f"height={height},framerate={rate}/1,format=NV12 ! nvvidconv flip-method=0 ! "
        "video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
        "appsink drop=true max-buffers=1"
    )


def parse_source(spec: str) -> tuple[str, object]:
    """(kind, target) for a source spec. Kinds: webcam, v4l2, csi, rtsp, gst, video, images."""
    spec = str(spec).strip()
    if re.fullmatch(r"\d+", spec):
        return "webcam", int(spec)
    match = re.fullmatch(r"(v4l2|csi)://(\d+)", spec)
    if match:
        kind, index = match.group(1), int(match.group(2))
        return (kind, f"/dev/video{index}") if kind == "v4l2" else (kind, index)
    if re.fullmatch(r"/dev/video\d+", spec):
        return "v4l2", spec
    if spec.startswith(("rtsp://", "rtsps://", "rtmp://", "http://", "https://")):
        return "rtsp", spec
    if spec.startswith("gst://"):
        return "gst", spec[len("gst://") :]
    if os.path.isdir(spec):
        return "images", _images_in(os.path.join(spec, "*"), spec)
    if any(ch in spec for ch in "*?["):
        return "images", _images_in(spec, spec)
    if os.path.isfile(spec):
        if spec.lower().endswith(IMAGE_EXTENSIONS):
            return "images", [spec]
        return "video", spec
    raise EdgeDGError(
        f"input '{spec}' is neither an existing file, folder or glob, nor a source URI "
        "(0, /dev/video0, v4l2://0, csi://0, rtsp://..., gst://PIPELINE)"
    )


def _images_in(pattern: str, spec: str) -> list:
    files = sorted(p for p in glob.glob(pattern) if p.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise EdgeDGError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in '{spec}'")
    return files


class FrameSource:
    """Base: iterate ``(name, frame)``; ``fps`` (None when unknown), ``live``, ``dropped``."""

    live = False

    def __init__(self, name: str):
        self.name = name
        self.fps: float | None = None
        self.dropped = 0
        self.end_reason = "end of input"
        self.interrupted = False  # set by interrupt(): a live source stops waiting for a frame

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        raise NotImplementedError

    running = False  # a capture thread is running (live sources)

    def interrupt(self) -> None:
        """Ask the source to end: a live source stops waiting for a frame at once. Safe to call
        from a signal handler (it only sets a flag)."""
        self.interrupted = True

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageFiles(FrameSource):
    """Every image of a list, in order; an unreadable one yields ``(name, None)``."""

    def __init__(self, files: list, size: tuple[int, int] | None = None):
        super().__init__(os.path.dirname(files[0]) or ".")
        self.files, self.size, self._i = list(files), size, 0

    def __next__(self) -> Item:
        if self._i >= len(self.files):
            raise StopIteration
        path = self.files[self._i]
        self._i += 1
        frame, why = None, ""
        try:
            frame = _cv2().imread(path, _cv2().IMREAD_COLOR)
        except _cv2().error as exc:  # e.g. a header claiming more pixels than OpenCV allows
            why = f" ({str(exc).strip().splitlines()[-1]})"
        if frame is None:
            log.warning("cannot read image %s%s: skipped", path, why)
        return os.path.splitext(os.path.basename(path))[0], _resize(frame, self.size)


class VideoFile(FrameSource):
    """Every frame of a video file, in order; ends at the last readable frame."""

    def __init__(self, path: str, size: tuple[int, int] | None = None):
        super().__init__(path)
        cv2 = _cv2()
        self._cap = cv2.VideoCapture(path)
        if not self._cap.isOpened():
            raise EdgeDGError(
                f"OpenCV cannot open the video '{path}' (unknown codec or not a video)"
            )
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        self.frame_count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self.size, self._i = size, 0

    def __next__(self) -> Item:
        if self._cap is None:
            raise StopIteration
        try:
            ok, frame = self._cap.read()
        except _cv2().error as exc:  # a damaged stream can make the decoder raise
            ok, frame, self.end_reason = False, None, f"read error ({exc})"
        if not ok or frame is None:
            if self._i < self.frame_count:
                self.end_reason = f"video breaks after frame {self._i} of {self.frame_count}"
            self.close()
            raise StopIteration
        self._i += 1
        return f"frame_{self._i:06d}", _resize(frame, self.size)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class LiveCapture(FrameSource):
    """A camera or network stream read by a thread that keeps only the latest frame.

    ``timeout``: seconds without a new frame before the stream ends. ``reconnect``: on a read
    failure, reopen with exponential backoff (``backoff`` s, doubling up to 30 s) instead of
    ending. ``interrupt()`` (a signal) ends the wait for a frame within 0.1 s.

    The capture thread owns the OpenCV capture: only it reads, reopens and releases it. A read
    can block inside OpenCV (a stalled network stream until OpenCV's own read timeout), and no
    other thread may release a capture in the middle of a read, so ``close()`` waits
    ``close_wait`` seconds at most and then leaves the thread to release the capture when its
    read returns. Such a thread must not still be inside OpenCV when the interpreter exits: at
    exit CPython ends daemon threads with pthread_exit as they return from C code, and that
    unwinding through OpenCV's C++ frames calls std::terminate ("terminate called without an
    active exception", SIGABRT). A program that exits while ``running`` is still True after
    ``close()`` must end with ``os._exit`` after its own clean-up, as `edgedg stream` does.
    """

    live = True
    close_wait = 1.0

    def __init__(
        self,
        name: str,
        opener,
        timeout: float = 5.0,
        reconnect: bool = False,
        backoff: float = 1.0,
    ):
        super().__init__(name)
        self._opener, self.timeout, self.reconnect = opener, float(timeout), reconnect
        self.backoff = float(backoff)
        self._cap = opener()
        fps = self._cap.get(_cv2().CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = self._taken = 0
        self._stop = self._ended = False
        self._thread = threading.Thread(target=self._run, name=f"capture {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = self.backoff
        try:
            while not self._stop:
                ok, frame = self._cap.read() if self._cap is not None else (False, None)
                if ok and frame is not None:
                    backoff = self.backoff
                    with self._cond:
                        self.dropped += int(self._seq > self._taken)  # the previous one was unread
                        self._frame, self._seq = frame, self._seq + 1
                        self._cond.notify_all()
                    continue
                if not self.reconnect or self._stop:
                    break
                backoff = self._reopen(backoff)
        finally:
            self._release()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _reopen(self, backoff: float) -> float:
        log.warning("%s: no frame; reconnecting in %.2g s", self.name, backoff)
        self._release()
        deadline = time.monotonic() + backoff
        while not self._stop and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._stop:
            return backoff
        try:
            self._cap = self._opener()
        except EdgeDGError as exc:
            log.warning("%s", exc)
        return min(backoff * 2.0, 30.0)

    def __next__(self) -> Item:
        deadline = time.monotonic() + self.timeout
        with self._cond:
            # short waits: a signal handler cannot notify a condition, it sets ``interrupted``
            while not (self._seq > self._taken or self._ended or self.interrupted):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
            if self._seq > self._taken and not self.interrupted:
                self._taken = self._seq
                return f"frame_{self._seq:06d}", self._frame
            if self.interrupted:
                self.end_reason = "interrupted"
            elif self._ended:
                self.end_reason = "source ended"
            else:
                self.end_reason = f"no frame for {self.timeout:g} s"
        raise StopIteration

    @property
    def running(self) -> bool:
        """True while the capture thread runs (after ``close()``: still blocked in OpenCV)."""
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop = True
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self.close_wait)


def _resize(frame: np.ndarray | None, size: tuple[int, int] | None):
    if frame is None or size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return _cv2().resize(frame, tuple(size), interpolation=_cv2().INTER_LINEAR)


def _capture(target, api: int, what: str, width=None, height=None, rate=None, timeout=None):
    """An opened cv2.VideoCapture, or an EdgeDGError that says what to check. ``timeout`` (s)
    bounds opening and each read of a network stream (OpenCV's FFmpeg default is 30 s)."""
    cv2 = _cv2()
    start = time.monotonic()
    if timeout:
        ms = int(timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(target, api, params)
    else:
        cap = cv2.VideoCapture(target, api)
    if not cap.isOpened() and timeout and time.monotonic() - start >= 0.9 * timeout:
        raise EdgeDGError(
            f"{what} '{target}' gave no answer within {timeout:g} s: check the URL, the network "
            "and that the camera is up, or raise --timeout"
        )
    if not cap.isOpened():
        raise EdgeDGError(
            f"cannot open {what} '{target}': check that it is connected and not used by another "
            "program, and that you may read it (Linux: the 'video' group for /dev/video*)"
        )
    for prop, value in (
        (cv2.CAP_PROP_FRAME_WIDTH, width),
        (cv2.CAP_PROP_FRAME_HEIGHT, height),
        (cv2.CAP_PROP_FPS, rate),
    ):
        if value:
            cap.set(prop, float(value))
    return cap


def _require_gstreamer(what: str) -> None:
    cv2 = _cv2()
    if not cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER):
        raise EdgeDGError(
            f"{what} needs OpenCV built with GStreamer, and this OpenCV has none (pip's "
            "opencv-python never does). On Jetson use JetPack's OpenCV: a venv made with "
            "--system-site-packages and without opencv-python from pip"
        )


def open_source(
    spec: str,
    width: int | None = None,
    height: int | None = None,
    rate: int | None = None,
    timeout: float = 5.0,
) -> FrameSource:
    """Open ``spec`` (see the module docstring). ``width``/``height``/``rate`` request a capture
    mode from live sources and resize frames of files and folders; ``timeout`` (s) ends a live
    source that delivers no frame for that long (RTSP: after its reconnect attempts)."""
    kind, target = parse_source(spec)
    size = (int(width), int(height)) if width and height else None
    if kind == "images":
        return ImageFiles(target, size)
    if kind == "video":
        return VideoFile(target, size)
    cv2 = _cv2()
    if kind in ("csi", "gst"):
        _require_gstreamer(f"'{spec}'")
        pipeline = (
            csi_pipeline(target, width or 1280, height or 720, rate or 30)
            if kind == "csi"
            else target
        )
        return LiveCapture(spec, lambda: _capture(pipeline, cv2.CAP_GSTREAMER, kind), timeout)
    if kind == "rtsp":
        return LiveCapture(
            spec,
            lambda: _capture(target, cv2.CAP_FFMPEG, "stream", timeout=timeout),
            timeout * 6,
            reconnect=True,
        )
    api = cv2.CAP_V4L2 if kind == "v4l2" and hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY
    return LiveCapture(spec, lambda: _capture(target, api, "camera", width, height, rate), timeout)
