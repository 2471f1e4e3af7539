"""Where a stream's segmented frames go: an overlay video, a folder of PNGs, an OpenCV window.

A sink has ``write(name, frame, labels)`` and ``close()``; ``make_sinks`` builds them for the
OUTPUT argument of `edgedg stream` and ``--display``. OpenCV is imported inside functions.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from typing import Sequence

import numpy as np

from edgedg_runtime.errors import EdgeDGError, OutputError, require
from edgedg_runtime.fileio import atomic_path
from edgedg_runtime.visualize import VIEWS, palette_bgr, render

log = logging.getLogger(__name__)
VIDEO_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


class Renderer:
    """Draws a view (overlay / mask) of a result with the model's class colours and names."""

    def __init__(self, names: Sequence[str], colors_rgb, alpha: float = 0.5):
        self.names, self.palette, self.alpha = list(names), palette_bgr(colors_rgb), alpha

    def __call__(self, frame: np.ndarray, labels: np.ndarray, view: str = "overlay"):
        return render(frame, labels, self.palette, self.names, view, self.alpha)


class VideoSink:
    """An overlay video, one output frame per segmented input frame; written to a temp file of
    its own in the same folder (two streams on one OUTPUT never share it) and moved into place
    when closed. A failure is an :class:`OutputError`."""

    def __init__(self, path: str, fps: float, renderer: Renderer):
        ext = os.path.splitext(path)[1].lower()
        if ext not in VIDEO_FOURCC:
            raise EdgeDGError(f"output video must end in {' or '.join(VIDEO_FOURCC)}: {path}")
        self.path, self.fps, self.renderer, self._ext = path, float(fps), renderer, ext
        self._temp = contextlib.ExitStack()  # holds the atomic_path of the temp file
        self._tmp, self._writer, self._size, self.written = "", None, None, 0

    def write(self, name: str, frame: np.ndarray, labels: np.ndarray) -> None:
        cv2 = require("cv2", "camera", "Writing videos")
        image = self.renderer(frame, labels, "overlay")
        if self._writer is None:
            self._open(cv2, (image.shape[1], image.shape[0]))
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_NEAREST)
        try:
            self._writer.write(image)
        except cv2.error as exc:
            raise OutputError(f"cannot write the video {self.path} ({exc})") from None
        self.written += 1

    def _open(self, cv2, size: tuple) -> None:
        try:
            self._tmp = self._temp.enter_context(atomic_path(self.path, suffix=f".tmp{self._ext}"))
        except OSError as exc:
            raise OutputError(
                f"cannot write the video {self.path} ({exc.strerror or exc})"
            ) from None
        fourcc = cv2.VideoWriter_fourcc(*VIDEO_FOURCC[self._ext])
        self._writer, self._size = cv2.VideoWriter(self._tmp, fourcc, self.fps, size), size
        if not self._writer.isOpened():
            raise OutputError(
                f"OpenCV cannot write a {size[0]}x{size[1]} video to {self.path} (too large for "
                f"{VIDEO_FOURCC[self._ext]}, or the codec is missing)"
            )

    def close(self) -> None:
        """Finish the video and move it into place. OpenCV's writer reports no write error (a
        full disk leaves an unplayable file), so the frame count is read back first: a video
        that does not hold every frame written is an OutputError and its temp file is removed."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.release()
        held = _frame_count(self._tmp) if self.written else 0
        if held != self.written or not self.written:
            self._temp.__exit__(OutputError, OutputError(), None)  # removes the temp file
            if self.written:
                raise OutputError(
                    f"the video {self.path} holds {held} of the {self.written} frames written "
                    "(disk full, or its folder removed?)"
                )
            return
        try:
            self._temp.close()  # moves it into place
        except OSError as exc:
            raise OutputError(f"cannot move the video to {self.path} ({exc})") from None


def _frame_count(path: str) -> int:
    """Frames a video file holds by its container's index (0: unplayable)."""
    cv2 = require("cv2", "camera", "Writing videos")
    cap = cv2.VideoCapture(path)
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))) if cap.isOpened() else 0
    finally:
        cap.release()


class FolderSink:
    """PNG files ``<name>_<view>.png`` for each requested view, each written atomically. A
    folder that vanishes mid-run (a USB stick pulled) is an :class:`OutputError`, not recreated."""

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
            try:
                if not os.path.isdir(self.folder):
                    raise FileNotFoundError(errno.ENOENT, "the folder is gone")
                with atomic_path(path, suffix=".tmp.png") as tmp:
                    if not cv2.imwrite(tmp, self.renderer(frame, labels, view)):
                        raise OSError(errno.EIO, "OpenCV could not write it")
            except (OSError, cv2.error) as exc:
                raise OutputError(
                    f"cannot write {path} ({getattr(exc, 'strerror', exc)})"
                ) from None
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


def make_sinks(
    output: str | None, views: Sequence[str], display: bool, renderer: Renderer, fps: float
):
    """The sinks for an OUTPUT argument (.mp4/.avi video, or a folder for PNGs of ``views``)
    and ``--display``."""
    sinks = []
    if output:
        if os.path.splitext(output)[1].lower() in VIDEO_FOURCC:
            sinks.append(VideoSink(output, fps, renderer))
        elif os.path.splitext(output)[1]:
            raise EdgeDGError(f"OUTPUT must be a .mp4/.avi file or a folder for PNGs: {output}")
        else:
            sinks.append(FolderSink(output, views, renderer))
    if display:
        ok, why = display_available()
        if ok:
            sinks.append(DisplaySink(renderer))
        else:
            log.warning("--display ignored: %s; running headless", why)
    return sinks
