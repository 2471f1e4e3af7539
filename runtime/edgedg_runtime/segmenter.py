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
call from two threads at once. For several cameras use one ``Rig`` (edgedg_runtime.rig): one
session per graph, one bank per camera, the cameras' frames in one batch. A Segmenter is the
rig's core and runs its frame through the same batch step (``edgedg_runtime.batch``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgedg_runtime import names
from edgedg_runtime.adapt import BANK_MODES, MODES, Adapter
from edgedg_runtime.backends import Backend, create_backend, resolve_kind
from edgedg_runtime.backends.ort import check_layout
from edgedg_runtime.bank import BankOptions, SourceStats, StyleBank, load_bank
from edgedg_runtime.batch import check_frame, segment_batch
from edgedg_runtime.contract import Contract, load_contract, load_source_stats
from edgedg_runtime.errors import BankError, ContractError, EdgeDGError, require
from edgedg_runtime.verified_graph import graph_from_model_dir

BACKEND_NAMES = {"ort": "ONNX Runtime", "trt": "TensorRT"}
PRECISIONS = (None, *names.PRECISIONS)
VARIANT_GRAPHS = ("segment", "plain")  # the graphs every precision must have a variant of


@dataclass
class Result:
    """One segmented frame. ``labels`` uint8 [h, w] at the frame's own size; ``shift`` the
    symmetric-KL distance of the frame's style from the source style (nan in ``source`` and
    ``target`` modes, which run no style graph); ``timings`` ms per stage; ``k`` bank entries
    (or stored images) that joined the frame. From a ``Rig``: ``camera`` its name, ``stamp`` the
    caller's sequence number or capture time, ``timings`` those of the batch the frame was in."""

    labels: np.ndarray
    shift: float
    timings: dict[str, float] = field(default_factory=dict)
    k: int = 0
    camera: str = ""
    stamp: Any = None


class Segmenter:
    """Segments BGR frames of any size with an exported model directory.

    ``norm``: source | target (default) | sib | qib | sib-exact (DESIGN 2). ``source`` runs
    plain.onnx (BatchNorm folded, no style graph, no bank): the fastest path. ``bank``: a
    StyleBank or the path of a saved one (refused when it belongs to another model).
    ``threads``: ONNX Runtime intra-op threads. ``bank_options``: m, capacity (None: a loaded
    bank's, else 128) and source weight, see :class:`BankOptions` and DESIGN 3.
    ``fold_source=False`` runs ``source`` on segment.onnx with the running-stats prior instead
    (the unfolded graph at w = 0, which benchmarks and checks compare against plain.onnx).
    ``ort_layout``: auto | nchwc | nchw, the ONNX Runtime CPU layout of the segment or plain
    graph (``OrtBackend``; auto: the faster, measured once per graph and machine and cached in
    ``engines/ort-layout.json``). The small style graph always runs nchwc; TensorRT ignores it.
    ``precision``: None (ONNX Runtime: the FP32 graphs; TensorRT: an engine already built in any
    precision, else FP32) | fp32 | fp16 | int8. On ONNX Runtime fp16 / int8 run the graphs'
    variants of that name (int8: the Q/DQ segment and plain of ``edgedg export --int8``; the
    style graph has none and runs FP32); on TensorRT the engine is built in that precision.
    ``engine_dir``: where TensorRT engines and the layout cache are kept (default: ``engines/``
    in the model directory, or ``$EDGEDG_ENGINE_DIR``; an ``engines`` symlink is never
    followed). ``trust_key``: a PEM Ed25519 public key (default ``$EDGEDG_TRUST_KEY``); with one,
    only a model directory whose contract it signed is opened (DESIGN 2, "Trust").
    ``batch``: the images per call ``auto`` measures the layout at (a Rig passes its cameras,
    up to the contract's max_batch; part of the layout cache key).
    """

    def __init__(
        self,
        model_dir: str,
        backend: str = "auto",
        norm: str = "target",
        bank_options: BankOptions = BankOptions(),
        bank: None | str | StyleBank = None,
        threads: int | None = None,
        fold_source: bool = True,
        ort_layout: str = "auto",
        precision: str | None = None,
        engine_dir: str | None = None,
        trust_key: str | None = None,
        batch: int = 1,
    ):
        if precision not in PRECISIONS:
            raise EdgeDGError(f"unknown precision {precision!r}: choose one of {PRECISIONS[1:]}")
        self.precision = precision
        if norm not in MODES:
            raise EdgeDGError(f"unknown norm mode '{norm}': choose one of {', '.join(MODES)}")
        self.model_dir, self.norm = str(model_dir), norm
        self._engine_dir = engine_dir
        self.contract: Contract = load_contract(model_dir, trust_key=trust_key)
        self._check_batch(bank_options.m)
        stats, style = load_source_stats(model_dir, self.contract)
        self.source = SourceStats.from_layout(self.contract.stat_layout, stats, style)
        self.backend_kind = resolve_kind(backend)
        self._ort_layout = check_layout(ort_layout)
        self._batch = max(1, min(int(batch), self.contract.max_batch))
        self._cv2 = require("cv2", "camera", "Resizing frames")
        self._backends: dict[str, Backend] = {}
        self.adapter: Adapter | None = None
        try:
            self._open(threads, bank_options, bank, fold_source)
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

    def _open(self, threads, bank_options: BankOptions, bank, fold_source: bool) -> None:
        image = {"image": self.contract.input.dtype}
        labels = {"labels": self.contract.labels_dtype}
        if self.norm == "source" and fold_source:
            self._open_graph("plain", threads).expect(image, labels)
            return
        stats = dict(labels, frame_stats="float32")
        inputs = dict(image, norm_prior="float32", batch_mix="float32")
        self._open_graph("segment", threads).expect(inputs, stats)
        if self.norm not in ("source", "target"):
            self._open_graph("style", threads).expect(image, {"style": "float32"})
        if isinstance(bank, str):
            bank = self._load_bank(bank, bank_options)
        self.adapter = Adapter(self.norm, self.source, bank_options, bank)

    def _open_graph(self, name: str, threads: int | None) -> Backend:
        options = {}
        if self.backend_kind == "trt":  # the engine of this graph, found or built (cached)
            from edgedg_runtime.engine_build import engine_for, graph_precision

            precision = graph_precision(self.precision, name) if self.precision else None
            engine = engine_for(
                self.model_dir,
                precision,
                name,
                engine_dir=self._engine_dir,
                contract=self.contract,  # verified at open: its files are not hashed again
            )
            path = str(engine)
        else:
            file = self._graph_file(name)
            path = os.path.join(self.model_dir, file)
            options["graph"] = graph_from_model_dir(self.model_dir, self.contract, file)
            options["cache_dir"] = self._engine_dir
            # style is a few ms: measuring it would cost more than any layout could save
            options["layout"] = "nchwc" if name == "style" else self._ort_layout
            options["batch"] = self._batch
        self._backends[name] = create_backend(path, self.backend_kind, threads, **options).open()
        self._check_shapes(self._backends[name])
        return self._backends[name]

    def _graph_file(self, name: str) -> str:
        """The ONNX file ONNX Runtime runs for ``graph`` in this precision."""
        info = self.contract.graph(name)
        if self.precision in (None, "fp32"):
            return info.file
        if self.precision in info.variants:
            return info.variants[self.precision]
        if name not in VARIANT_GRAPHS:
            return info.file  # the style graph has no INT8 variant: it stays FP32
        raise ContractError(
            f"the model directory has no {self.precision} variant of '{name}': re-export it "
            f"with `edgedg export CHECKPOINT --out {self.model_dir} --{self.precision}`"
        )

    def _check_shapes(self, backend: Backend) -> None:
        """Refuse a graph whose fixed I/O dimensions differ from what the contract implies
        (input size, S, style channels, class count), before the first frame."""
        c = self.contract
        h, w, s = c.input.height, c.input.width, c.stat_layout.total
        want = {
            "image": (None, h, w, 3),
            "norm_prior": (None, 3, s),
            "batch_mix": (None, None),
            "frame_stats": (None, 2, s),
            "style": (None, 2, c.style.channels),
            "labels": (None, h, w),
            "logits": (None, c.model.num_classes, None, None),
        }
        for spec in (*backend.inputs, *backend.outputs):
            shape = want.get(spec.name)
            if shape is not None and not _fits(spec.shape, shape):
                raise ContractError(
                    f"{backend.path}: '{spec.name}' has shape {list(spec.shape)}, the contract "
                    f"implies {[d if d is not None else 'N' for d in shape]}; re-export the model "
                    "directory with `edgedg export`"
                )

    def _load_bank(self, path: str, bank_options: BankOptions) -> StyleBank:
        exact = self.norm == "sib-exact"
        bank = load_bank(path, self.source, bank_options, keep_images=exact)
        if exact and len(bank) and not bank.keep_images:
            raise BankError(
                f"style bank {path} holds statistics only; sib-exact needs the stored images of a "
                "bank saved in sib-exact mode. Use another file or --norm sib."
            )
        size = (self.contract.input.height, self.contract.input.width, 3)
        if bank.keep_images and len(bank) and bank.images(np.zeros(1, np.int64))[0].shape != size:
            raise BankError(f"style bank {path} stores images of another size than {size[:2]}")
        return bank

    # per frame ----------------------------------------------------------------------------
    def __call__(self, frame: np.ndarray) -> Result:
        """Segment one BGR uint8 frame [h, w, 3] of any size; see :class:`Result`."""
        (out,) = segment_batch(self, [self.adapter], [frame])
        return Result(out.labels, out.shift, out.timings, out.k)

    def _check_classes(self, labels: np.ndarray) -> None:
        """A label the contract has no class for means the contract belongs to other graphs:
        colours and names would be wrong without a word (one reduction per frame, ~40 us at
        512x1024 on a shared x86 core)."""
        top = int(labels.max())
        if top >= self.contract.model.num_classes:
            raise ContractError(
                f"the graph output class {top}, but the contract lists "
                f"{self.contract.model.num_classes} classes: contract.json does not belong to "
                "these graphs; re-export the model directory with `edgedg export`"
            )

    def _style(self, images: np.ndarray) -> np.ndarray:
        return self._backends["style"].infer(self.feeds("style", images))["style"]

    def _segment(self, images: np.ndarray, prior: np.ndarray) -> dict[str, np.ndarray]:
        """One pooled batch (the Adapter's segment function): every image gets ``prior`` [3, S]
        and the batch's pooled statistics; frame_stats [2, S]."""
        n = images.shape[0]
        priors = np.ascontiguousarray(np.broadcast_to(prior, (n,) + prior.shape), np.float32)
        mix = np.full((n, n), 1.0 / n, np.float32)
        out = self._infer_segment(images, priors, mix)
        out["frame_stats"] = out["frame_stats"][0]
        return out

    def _segment_each(self, images: np.ndarray, priors: np.ndarray) -> dict[str, np.ndarray]:
        """Each image with its own statistics and prior ``priors`` [N, 3, S]; frame_stats
        [N, 2, S]."""
        mix = np.eye(images.shape[0], dtype=np.float32)
        return self._infer_segment(images, priors.astype(np.float32, copy=False), mix)

    def _infer_segment(self, images, priors, mix) -> dict[str, np.ndarray]:
        return self._backends["segment"].infer(self.feeds("segment", images, priors, mix))

    def feeds(
        self,
        graph: str,
        images: np.ndarray,
        priors: np.ndarray | None = None,
        mix: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The inputs the Segmenter gives ``graph`` for ``images`` (uint8 [N, H, W, 3] at the
        input size) and, for segment, the per-image ``priors`` [N, 3, S] and ``mix`` [N, N]:
        every graph call goes through here (INT8 calibration records them to see what the
        graphs see at run time)."""
        feeds = {"image": self._feed(images)}
        if graph == "segment":
            feeds["norm_prior"], feeds["batch_mix"] = priors, mix
        return feeds

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

    @property
    def runs_on(self) -> str:
        """The backend, with ONNX Runtime's provider (``ONNX Runtime (CPUExecutionProvider)``)."""
        backend = BACKEND_NAMES[self.backend_kind]
        provider = getattr(next(iter(self._backends.values()), None), "provider", None)
        return f"{backend} ({provider})" if provider else backend

    @property
    def ort_layout(self) -> str | None:
        """The layout (nchwc or nchw) the segment or plain graph runs in on ONNX Runtime's CPU
        provider; None on TensorRT or another provider, where it does not apply."""
        graph = self._backends.get("plain") or self._backends.get("segment")
        if getattr(graph, "provider", None) != "CPUExecutionProvider":
            return None
        return graph.layout

    def describe(self) -> str:
        """One line: mode, backend (ONNX Runtime: provider, CPU layout), model and input size."""
        layout = f", {self.ort_layout} layout" if self.ort_layout else ""
        h, w = self.input_size
        precision = f" {self.precision}" if self.precision else ""
        return (
            f"norm {self.norm}{precision} on {self.runs_on}{layout}, {self.contract.model.name} "
            f"at {h}x{w}"
        )

    def close(self) -> None:
        """Release the backends. The bank stays readable."""
        for backend in self._backends.values():
            backend.close()
        self._backends = {}

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fits(have: tuple, want: tuple) -> bool:
    """True when a graph shape ``have`` (ints, None or names for dynamic dims) has the rank of
    ``want`` and equals it wherever both are fixed (None in ``want``: any)."""
    if len(have) != len(want):
        return False
    return all(not isinstance(a, int) or a < 0 or b is None or a == b for a, b in zip(have, want))


__all__ = ["BANK_MODES", "MODES", "BankOptions", "Result", "Segmenter", "check_frame"]
