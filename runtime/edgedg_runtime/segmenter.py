"""The Segmenter: a model directory + a backend + the per-frame adaptation step (DESIGN 4).

    from edgedg_runtime import Segmenter
    with Segmenter("model_dir", backend="auto", norm="sib") as seg:
        result = seg(frame_bgr)     # labels at the frame's size, shift score, timings, k
        seg.bank.save("bank.npz")

Everything that can be done once is done in the constructor: the contract is validated, the
source statistics loaded, the backends opened and their I/O checked against the contract. A call
does per-frame work only: check + resize the frame, run the adaptation step (style graph, bank
selection, segment graph), resize the labels back.

Thread safety: a Segmenter holds one bank and one session/context per graph and is NOT safe to
call from two threads at once. Use one Segmenter per camera (they may share nothing but the
model directory); call it from the thread that reads that camera.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from edgedg_runtime.adapt import BANK_MODES, MODES, Adapter
from edgedg_runtime.backends import Backend, create_backend, resolve_kind
from edgedg_runtime.bank import SourceStats, StyleBank, load_bank
from edgedg_runtime.contract import Contract, load_contract, load_source_stats
from edgedg_runtime.errors import BankError, EdgeDGError, FrameError, require

BACKEND_NAMES = {"ort": "ONNX Runtime", "trt": "TensorRT"}


@dataclass
class Result:
    """One segmented frame. ``labels`` uint8 [h, w] at the frame's own size; ``shift`` the
    symmetric-KL distance of the frame's style from the source style (nan in ``source`` and
    ``target`` modes, which run no style graph); ``timings`` ms per stage; ``k`` bank entries
    (or stored images) that joined the frame."""

    labels: np.ndarray
    shift: float
    timings: dict[str, float] = field(default_factory=dict)
    k: int = 0


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


class Segmenter:
    """Segments BGR frames of any size with an exported model directory.

    ``norm``: source | target (default) | sib | qib | sib-exact (DESIGN 2). ``source`` runs
    plain.onnx (BatchNorm folded, no style graph, no bank): the fastest path. ``bank``: a
    StyleBank or the path of a saved one (refused when it belongs to another model).
    ``threads``: ONNX Runtime intra-op threads. ``m``, ``bank_size``, ``source_weight``:
    DESIGN 3. ``fold_source=False`` runs ``source`` on segment.onnx with the running-stats prior
    instead (the unfolded graph at w = 0, which benchmarks and checks compare against
    plain.onnx).
    """

    def __init__(
        self,
        model_dir: str,
        backend: str = "auto",
        norm: str = "target",
        m: int = 4,
        bank_size: int = 128,
        source_weight: float = 0.0,
        bank: None | str | StyleBank = None,
        threads: int | None = None,
        fold_source: bool = True,
    ):
        if norm not in MODES:
            raise EdgeDGError(f"unknown norm mode '{norm}': choose one of {', '.join(MODES)}")
        self.model_dir, self.norm = str(model_dir), norm
        self.contract: Contract = load_contract(model_dir)
        self._check_batch(m)
        stats, style = load_source_stats(model_dir, self.contract)
        self.source = SourceStats.from_layout(self.contract.stat_layout, stats, style)
        self.backend_kind = resolve_kind(backend)
        self._cv2 = require("cv2", "camera", "Resizing frames")
        self._backends: dict[str, Backend] = {}
        self.adapter: Adapter | None = None
        self._spent = {"style": 0.0, "segment": 0.0}  # ms in each graph during the current frame
        try:
            self._open(threads, m, bank_size, source_weight, bank, fold_source)
        except BaseException:
            self.close()
            raise
        self._size = (self.contract.input.width, self.contract.input.height)
        self._float_input = self.contract.input.dtype == "float32"

    # set-up -------------------------------------------------------------------------------
    def _check_batch(self, m: int) -> None:
        if m < 1:
            raise EdgeDGError(f"m must be >= 1, got {m}")
        if self.norm == "sib-exact" and m > self.contract.max_batch:
            raise EdgeDGError(
                f"sib-exact runs batches of m = {m} images, but this model was exported for at "
                f"most {self.contract.max_batch}: use --m {self.contract.max_batch} or re-export "
                f"with --max-batch {m}"
            )

    def _open(self, threads, m, bank_size, source_weight, bank, fold_source) -> None:
        image = {"image": self.contract.input.dtype}
        labels = {"labels": self.contract.labels_dtype}
        if self.norm == "source" and fold_source:
            self._open_graph("plain", threads).expect(image, labels)
            return
        stats = dict(labels, frame_stats="float32")
        self._open_graph("segment", threads).expect(dict(image, norm_prior="float32"), stats)
        if self.norm not in ("source", "target"):
            self._open_graph("style", threads).expect(image, {"style": "float32"})
        if isinstance(bank, str):
            bank = self._load_bank(bank, m, bank_size, source_weight)
        self.adapter = Adapter(self.norm, self.source, m, bank_size, source_weight, bank)

    def _open_graph(self, name: str, threads: int | None) -> Backend:
        path = os.path.join(self.model_dir, self.contract.graph(name).file)
        self._backends[name] = create_backend(path, self.backend_kind, threads).open()
        return self._backends[name]

    def _load_bank(self, path: str, m: int, bank_size: int, source_weight: float) -> StyleBank:
        exact = self.norm == "sib-exact"
        bank = load_bank(path, self.source, bank_size, m, source_weight, keep_images=exact)
        if exact and len(bank) and not bank.keep_images:
            raise BankError(
                f"style bank {path} holds statistics only; sib-exact needs the stored images of a "
                "bank saved in sib-exact mode. Use another file or --norm sib."
            )
        return bank

    # per frame ----------------------------------------------------------------------------
    def __call__(self, frame: np.ndarray) -> Result:
        """Segment one BGR uint8 frame [h, w, 3] of any size; see :class:`Result`."""
        t0 = time.perf_counter()
        frame = check_frame(frame)
        h, w = frame.shape[:2]
        image = frame
        if (w, h) != self._size:
            image = self._cv2.resize(frame, self._size, interpolation=self._cv2.INTER_LINEAR)
        image = np.ascontiguousarray(image)
        timings = {"preprocess": _ms(t0)}
        labels, shift, k = self._run(image, timings)
        t1 = time.perf_counter()
        labels = labels.astype(np.uint8, copy=False)
        if labels.shape != (h, w):
            labels = self._cv2.resize(labels, (w, h), interpolation=self._cv2.INTER_NEAREST)
        timings["postprocess"] = _ms(t1)
        timings["total"] = _ms(t0)
        return Result(labels, shift, timings, k)

    segment = __call__

    def _run(self, image: np.ndarray, timings: dict[str, float]):
        if self.adapter is None:  # source: the folded plain graph
            t = time.perf_counter()
            labels = self._backends["plain"].infer({"image": self._feed(image[None])})["labels"]
            timings["segment"] = _ms(t)
            return labels[0], float("nan"), 0
        self._spent["style"] = self._spent["segment"] = 0.0
        t = time.perf_counter()
        style = self._style_fn if "style" in self._backends else None
        outputs, info = self.adapter.step(image, style, self._segment_fn)
        step = _ms(t)
        if style is not None:
            timings["style"] = self._spent["style"]
        timings["select"] = max(0.0, step - self._spent["style"] - self._spent["segment"])
        timings["segment"] = self._spent["segment"]
        return outputs["labels"][0], float(info.shift_score), int(info.k)

    def _style_fn(self, images: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        out = self._backends["style"].infer({"image": self._feed(images)})["style"]
        self._spent["style"] += _ms(t)
        return out

    def _segment_fn(self, images: np.ndarray, prior: np.ndarray) -> dict[str, np.ndarray]:
        t = time.perf_counter()
        out = self._backends["segment"].infer({"image": self._feed(images), "norm_prior": prior})
        self._spent["segment"] += _ms(t)
        return out

    def _feed(self, images: np.ndarray) -> np.ndarray:
        return images.astype(np.float32) if self._float_input else images

    # properties and lifecycle --------------------------------------------------------------
    @property
    def bank(self) -> StyleBank | None:
        """The style bank (None in ``source`` mode). ``seg.bank.save(path)`` persists it."""
        return self.adapter.bank if self.adapter is not None else None

    @property
    def class_names(self) -> list:
        return [c.name for c in self.contract.classes]

    @property
    def class_colors(self) -> list:
        """RGB colours, one per class."""
        return [c.color for c in self.contract.classes]

    @property
    def input_size(self) -> tuple:
        """(height, width) every frame is resized to."""
        return self.contract.input.height, self.contract.input.width

    def describe(self) -> str:
        """One line: mode, backend (and ONNX Runtime provider), model and input size."""
        backend = BACKEND_NAMES[self.backend_kind]
        provider = getattr(next(iter(self._backends.values()), None), "provider", None)
        where = f"{backend} ({provider})" if provider else backend
        h, w = self.input_size
        return f"norm {self.norm} on {where}, {self.contract.model.name} at {h}x{w}"

    def close(self) -> None:
        """Release the backends. The bank stays readable."""
        for backend in self._backends.values():
            backend.close()
        self._backends = {}

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


__all__ = ["BANK_MODES", "MODES", "Result", "Segmenter", "check_frame"]
