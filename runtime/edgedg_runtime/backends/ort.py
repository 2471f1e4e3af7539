"""ONNX Runtime backend: CPU everywhere, the CUDA execution provider when it is installed.

On the CPU provider the graph runs in one of two layouts (``LAYOUTS``). ORT's optimisation levels
are basic, extended and layout optimisations, all on by default ("Graph Optimizations in ONNX
Runtime", onnxruntime.ai/docs/performance/model-optimizations/graph-optimizations.html); the
layout level is the NCHWc optimizer, which runs convolutions in a blocked layout and puts
ReorderInput / ReorderOutput nodes around every op that cannot run blocked. ``nchwc`` is
ORT_ENABLE_ALL (ORT's default); ``nchw`` is ORT_ENABLE_EXTENDED, which keeps the basic and
extended fusions and leaves the layout alone. Which is faster depends on the graph, the input size
and the CPU (segment.onnx gets a reorder pair around every unfolded BatchNorm), so ``auto``
measures both once and caches the choice (``ort_layout``).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Sequence

import numpy as np

from edgedg_runtime import ort_layout
from edgedg_runtime.backends.base import Backend, TensorSpec
from edgedg_runtime.errors import ContractError, EdgeDGError, require
from edgedg_runtime.names import ORT_LAYOUT_CHOICES
from edgedg_runtime.verified_graph import VerifiedGraph, graph_from_file

log = logging.getLogger(__name__)

# ONNX Runtime's type strings -> numpy
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def dtype_from_ort(type_str: str) -> np.dtype:
    """numpy dtype of an ONNX Runtime type string such as ``tensor(uint8)``."""
    if type_str not in _ORT_DTYPES:
        raise ContractError(f"unsupported tensor type {type_str} in an edgedg graph")
    return np.dtype(_ORT_DTYPES[type_str])


LAYOUTS = ORT_LAYOUT_CHOICES
_LEVELS = {"nchwc": "ORT_ENABLE_ALL", "nchw": "ORT_ENABLE_EXTENDED"}  # GraphOptimizationLevel


def check_layout(layout: str) -> str:
    """``layout`` if it is one of ``LAYOUTS``, else an EdgeDGError listing them."""
    if layout not in LAYOUTS:
        raise EdgeDGError(
            f"unknown ONNX Runtime layout '{layout}': choose one of {', '.join(LAYOUTS)}"
        )
    return layout


def session_options(ort: object, layout: str, threads: int | None = None, spin: bool = False):
    """The ``SessionOptions`` every edgedg session is built with, for layout nchwc or nchw."""
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[layout])
    options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spin)))
    options.add_session_config_entry("session.inter_op.allow_spinning", str(int(spin)))
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return options


def choose_providers(requested: str | Sequence[str], available: Sequence[str]) -> list:
    """The execution providers to use: ``auto`` = CUDA when available, always CPU last."""
    if isinstance(requested, str) and requested != "auto":
        requested = [requested]
    if requested == "auto":
        wanted = [p for p in ("CUDAExecutionProvider",) if p in available]
        return wanted + ["CPUExecutionProvider"]
    missing = [p for p in requested if p not in available]
    if missing:
        raise EdgeDGError(
            f"ONNX Runtime provider(s) {missing} are not available here (available: "
            f"{list(available)}); install onnxruntime-gpu for CUDA or use providers='auto'"
        )
    return list(requested)


class OrtBackend(Backend):
    """Runs one ONNX graph with ONNX Runtime.

    ``providers``: ``"auto"`` (CUDA EP when present, then CPU) or a list of provider names.
    ``threads``: intra-op threads (None: ONNX Runtime's default, one per physical core).
    ``spin``: let idle pool threads busy-wait for the next run. Off by default: the Segmenter
    alternates between two sessions (style, segment), and threads of one spinning while the
    other runs steal the cores it needs (measured: +20% on sib latency on 2 cores).
    ``layout``: ``nchwc`` (ORT's default), ``nchw``, or ``auto``: the faster of the two on this
    CPU, measured at the first open and cached in ``engines/ort-layout.json`` beside the graph
    (see ``edgedg_runtime.ort_layout``). On the CUDA provider the layout does not apply: the
    session is built as ``nchwc`` and nothing is measured. ``layout`` after open: the one that
    runs.
    """

    def __init__(
        self,
        path: str,
        providers: str | Sequence[str] = "auto",
        threads: int | None = None,
        spin: bool = False,
        layout: str = "nchwc",
        graph: VerifiedGraph | None = None,
        cache_dir: str | None = None,
        batch: int = 1,
    ):
        super().__init__(path)
        self.graph = graph  # the verified bytes to run (None: read ``path`` once, at open)
        self.cache_dir = cache_dir  # where ``auto`` caches its choice (None: engines/)
        self.batch = int(batch)  # the images per call ``auto`` measures the layouts at
        self.providers = providers
        self.threads = threads
        self.spin = spin
        self.requested_layout = check_layout(layout)
        self._layout: str | None = None
        self._session = None
        self._output_names: list = []

    def _open(self):
        ort = require("onnxruntime", "ort", "The ONNX Runtime backend")
        if self.graph is None and not os.path.isfile(self.path):
            raise ContractError(f"no ONNX graph at {self.path}; re-export with `edgedg export`")
        graph = self.graph or graph_from_file(self.path)  # ORT gets bytes, never opens a file
        providers = choose_providers(self.providers, ort.get_available_providers())
        # NCHWc is the CPU provider's own rewrite: on any other provider first (CUDA) ORT's
        # default level stays and there is nothing to choose or measure.
        layout = self.requested_layout if providers[0] == "CPUExecutionProvider" else "nchwc"
        if layout == "auto":
            build = functools.partial(self._new_session, ort, graph=graph, providers=providers)
            self._session, self._layout = ort_layout.choose_session(
                self.path,
                build,
                self.threads,
                cache_dir=self.cache_dir,
                graph_sha256=graph.sha256,
                batch=self.batch,
            )
        else:
            self._session = self._new_session(ort, layout, graph, providers)
            self._layout = layout
        running = self._session.get_providers()[0]
        log.info("ONNX Runtime %s on %s, %s layout", self.path, running, self._layout)
        if "CUDAExecutionProvider" in providers and running != "CUDAExecutionProvider":
            log.warning(
                "the CUDA execution provider did not load for %s; running on %s (check the "
                "CUDA / cuDNN libraries onnxruntime-gpu needs: `edgedg doctor`)",
                self.path,
                running,
            )
        self._output_names = [o.name for o in self._session.get_outputs()]
        return _specs(self._session.get_inputs()), _specs(self._session.get_outputs())

    def _new_session(self, ort: object, layout: str, graph: VerifiedGraph, providers: list):
        options = session_options(ort, layout, self.threads, self.spin)
        if graph.external:  # the verified bytes of each data file, from memory (ORT copies them)
            if not hasattr(options, "add_external_initializers_from_files_in_memory"):
                raise ContractError(
                    f"{self.path} keeps tensors in external data files, which this ONNX Runtime "
                    f"{ort.__version__} cannot take from memory: upgrade onnxruntime"
                )
            names = list(graph.external)
            buffers = [graph.external[n] for n in names]
            options.add_external_initializers_from_files_in_memory(
                names, buffers, [len(b) for b in buffers]
            )
        try:
            return ort.InferenceSession(graph.data, options, providers=providers)
        except Exception as exc:  # ORT raises its own classes for unreadable or invalid models
            raise ContractError(f"ONNX Runtime cannot load {self.path}: {exc}") from exc

    def _close(self) -> None:
        self._session = self._layout = None

    @property
    def layout(self) -> str:
        """The layout the open session runs in: ``nchwc`` or ``nchw`` (never ``auto``)."""
        self._specs(self._inputs)
        return self._layout

    @property
    def provider(self) -> str:
        """The execution provider that runs the graph (e.g. CPUExecutionProvider)."""
        self._specs(self._inputs)
        return self._session.get_providers()[0]

    def _infer(self, feeds):
        values = self._session.run(self._output_names, feeds)
        return dict(zip(self._output_names, values))


def _specs(args) -> tuple:
    return tuple(
        TensorSpec(a.name, dtype_from_ort(a.type), tuple(_dim(d) for d in a.shape)) for a in args
    )


def _dim(d):
    return d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None)
