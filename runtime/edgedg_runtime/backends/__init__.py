"""Inference backends behind one interface, and ``open_backend`` which picks one.

``auto`` picks TensorRT when it is usable (tensorrt + cuda-python importable and a CUDA device),
else ONNX Runtime, and logs which and why. Nothing heavy is imported here.
"""

from __future__ import annotations

import logging

from edgedg_runtime.backends.base import Backend, TensorSpec
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.names import BACKENDS

log = logging.getLogger(__name__)


def resolve_kind(kind: str = "auto") -> str:
    """``ort`` or ``trt`` for a requested backend kind; ``auto`` probes TensorRT (not at import)."""
    if kind not in BACKENDS:
        raise EdgeDGError(f"unknown backend '{kind}': choose one of {', '.join(BACKENDS)}")
    if kind != "auto":
        return kind
    from edgedg_runtime.backends.trt import trt_usable

    usable, why = trt_usable()
    chosen = "trt" if usable else "ort"
    log.info("backend auto -> %s (TensorRT: %s)", chosen, why)
    return chosen


def create_backend(path: str, kind: str = "auto", threads: int = None, **options) -> Backend:
    """A backend (not yet open) for the graph or engine at ``path``.

    ``path``: an ONNX graph for ONNX Runtime, an engine file for TensorRT (see
    ``engine_build.engine_for``). ``threads``: ONNX Runtime intra-op threads (ignored by
    TensorRT). ``options`` go to the backend class (``providers`` for ONNX Runtime).
    """
    kind = resolve_kind(kind)
    if kind == "trt":
        from edgedg_runtime.backends.trt import TrtBackend

        return TrtBackend(path, **options)
    from edgedg_runtime.backends.ort import OrtBackend

    return OrtBackend(path, threads=threads, **options)


def open_backend(path: str, kind: str = "auto", threads: int = None, **options) -> Backend:
    """``create_backend(...)``, opened. Close it (or use it as a context manager) when done."""
    return create_backend(path, kind, threads, **options).open()


__all__ = ["BACKENDS", "Backend", "TensorSpec", "create_backend", "open_backend", "resolve_kind"]
