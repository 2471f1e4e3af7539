"""A vehicle's cameras in one runtime: one model directory, named cameras, one batch per tick.

    from edgedg_runtime.rig import Rig
    with Rig("model_dir", ["front", "rear"], norm="sib") as rig:
        results = rig({"front": frame_f, "rear": frame_r}, stamps={"front": 17, "rear": 17})
        results["front"].labels, results["front"].shift
        rig.health("rear").frames

One backend session (or TensorRT engine and execution context) per graph whatever the number of
cameras: the weights are held once. Each camera has its own Adapter: its own style bank and
normalisation state. A call segments the frames it is given in one batch per graph, each frame
normalised with its own statistics and prior (the segment graph's per-image `norm_prior` and an
identity `batch_mix`, DESIGN section 2); a camera with no new frame is simply left out, and more
frames than the contract's ``max_batch`` run in several batches. ``sib-exact`` runs one pooled
batch per frame (the frame and its stored images), as a Segmenter does.

Thread safety: a Rig serialises its calls with a lock, so its one execution context per graph
serves one caller at a time; give each thread that must run concurrently its own Rig.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from edgedg_runtime.adapt import Adapter
from edgedg_runtime.bank import BankOptions, StyleBank
from edgedg_runtime.batch import check_frame, segment_batch
from edgedg_runtime.errors import EdgeDGError, FrameError
from edgedg_runtime.segmenter import Result, Segmenter

CAMERA_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class CameraHealth:
    """One camera's counters. ``frames``: segmented; ``bad``: refused frames (None, wrong shape
    or dtype); ``dropped`` and ``reconnecting``: what the application's source reports through
    :meth:`Rig.report` (the rig never reads cameras itself); ``last_stamp``: the stamp of the
    last segmented frame."""

    frames: int = 0
    bad: int = 0
    dropped: int = 0
    reconnecting: bool = False
    last_stamp: Any = None


def check_camera_names(names: Sequence[str]) -> list[str]:
    """The names as a list, or an EdgeDGError: each letters, digits, '-' and '_' (a name becomes
    a file name), none twice, at least one."""
    names = [str(n) for n in names]
    if not names:
        raise EdgeDGError("a rig needs at least one camera")
    bad = [n for n in names if not CAMERA_NAME.match(n)]
    if bad:
        raise EdgeDGError(
            f"camera names may hold letters, digits, '-' and '_' only (they become file "
            f"names): {', '.join(repr(n) for n in bad)}"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise EdgeDGError(f"camera names must differ: {', '.join(twice)} given twice")
    return names


class Rig:
    """Segments the frames of named cameras with one model directory (module docstring).

    ``banks``: camera name -> a StyleBank or the path of a saved one (refused when it belongs to
    another model); cameras not named start an empty bank. The other options are the
    :class:`~edgedg_runtime.segmenter.Segmenter`'s and apply to every camera.
    """

    def __init__(
        self,
        model_dir: str,
        cameras: Sequence[str],
        backend: str = "auto",
        norm: str = "target",
        bank_options: BankOptions = BankOptions(),
        banks: Mapping[str, str | StyleBank] | None = None,
        threads: int | None = None,
        fold_source: bool = True,
        ort_layout: str = "auto",
        precision: str | None = None,
        engine_dir: str | None = None,
        trust_key: str | None = None,
    ):
        self.cameras = check_camera_names(cameras)
        banks = dict(banks or {})
        unknown = sorted(set(banks) - set(self.cameras))
        if unknown:
            raise EdgeDGError(f"banks given for cameras the rig does not have: {unknown}")
        first = self.cameras[0]
        # the core: the contract, the source statistics and one backend per graph
        self.core = Segmenter(
            model_dir,
            backend,
            norm,
            bank_options,
            banks.get(first),
            threads,
            fold_source,
            ort_layout,
            precision=precision,
            engine_dir=engine_dir,
            trust_key=trust_key,
            batch=len(self.cameras),
        )
        self.adapters: dict[str, Adapter | None] = {first: self.core.adapter}
        for name in self.cameras[1:]:
            self.adapters[name] = self._adapter(bank_options, banks.get(name))
        self._health = {name: CameraHealth() for name in self.cameras}
        self._lock = threading.Lock()

    def _adapter(self, options: BankOptions, bank: None | str | StyleBank) -> Adapter | None:
        if self.core.adapter is None:  # folded source: no statistics, no bank
            return None
        if isinstance(bank, str):
            bank = self.core._load_bank(bank, options)
        return Adapter(self.core.norm, self.core.source, options, bank)

    # per tick ------------------------------------------------------------------------------
    def __call__(
        self, frames: Mapping[str, np.ndarray], stamps: Mapping[str, Any] | None = None
    ) -> dict[str, Result]:
        """Segment the frames given (camera name -> BGR uint8 frame of any size) in as few
        batches as the contract's max_batch allows; returns camera name -> Result (with its
        ``camera`` and ``stamp``: the caller's sequence number or capture time). A bad frame
        (None, wrong shape or dtype) is counted in that camera's health and left out."""
        unknown = sorted(set(frames) - set(self.cameras))
        if unknown:
            raise EdgeDGError(f"frames from cameras the rig does not have: {unknown}")
        stamps = stamps or {}
        with self._lock:
            names = [n for n in self.cameras if n in frames and self._good(n, frames[n])]
            step = self.core.contract.max_batch
            results: dict[str, Result] = {}
            for start in range(0, len(names), step):
                chunk = names[start : start + step]
                done = segment_batch(
                    self.core, [self.adapters[n] for n in chunk], [frames[n] for n in chunk]
                )
                for name, out in zip(chunk, done):
                    stamp = stamps.get(name)
                    results[name] = Result(out.labels, out.shift, out.timings, out.k, name, stamp)
                    self._health[name].frames += 1
                    self._health[name].last_stamp = stamp
            return results

    def _good(self, name: str, frame: object) -> bool:
        try:
            check_frame(frame)
        except FrameError:
            self._health[name].bad += 1
            return False
        return True

    # health and banks ----------------------------------------------------------------------
    def health(self, camera: str) -> CameraHealth:
        """The counters of ``camera`` (a live object: read it, :meth:`report` updates it)."""
        if camera not in self._health:
            raise EdgeDGError(f"no camera {camera!r}: the rig has {', '.join(self.cameras)}")
        return self._health[camera]

    def report(self, camera: str, dropped: int | None = None, reconnecting: bool | None = None):
        """What the application's source knows of ``camera``: frames it dropped so far (stale
        frames a latest-frame reader replaced) and whether it is reconnecting."""
        health = self.health(camera)
        if dropped is not None:
            health.dropped = int(dropped)
        if reconnecting is not None:
            health.reconnecting = bool(reconnecting)

    def bank(self, camera: str) -> StyleBank | None:
        """The style bank of ``camera`` (None in ``source`` mode)."""
        self.health(camera)  # the name check
        adapter = self.adapters[camera]
        return adapter.bank if adapter is not None else None

    @property
    def sessions(self) -> int:
        """Backend sessions (or TensorRT engines) open: one per graph, whatever the cameras."""
        return len(self.core._backends)

    def describe(self) -> str:
        return f"{len(self.cameras)} cameras ({', '.join(self.cameras)}), {self.core.describe()}"

    def close(self) -> None:
        """Release the backends. The banks stay readable."""
        self.core.close()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["CAMERA_NAME", "CameraHealth", "Rig", "check_camera_names"]
