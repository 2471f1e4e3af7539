"""Where a stream's segmented frames go: an overlay video, a folder of PNGs, an OpenCV window.

A sink has ``write(name, frame, labels)`` and ``close()``; ``make_sinks`` builds them for the
OUTPUT argument of `edgedg stream` and ``--display``. OpenCV is imported inside functions.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Sequence

import numpy as np

from edgedg_runtime.errors import EdgeDGError, require
from edgedg_runtime.visualize import VIEWS, palette_bgr, render

if TYPE_CHECKING:
    from edgedg_runtime.stream import StreamOptions

log = logging.getLogger(__name__)
VIDEO_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


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
