"""edgedg_runtime: the torch-free runtime that runs an exported edgedg model on a camera stream.

Depends on numpy only at import; ONNX Runtime, TensorRT, cuda-python and OpenCV load on use.
"""

from __future__ import annotations

__version__ = "0.3.0"

from edgedg_runtime.errors import EdgeDGError  # noqa: E402

__all__ = ["BankOptions", "EdgeDGError", "Result", "Segmenter", "__version__"]

_LAZY = {
    "Segmenter": "edgedg_runtime.segmenter",
    "Result": "edgedg_runtime.segmenter",
    "BankOptions": "edgedg_runtime.bank",
}


def __getattr__(name: str):
    # The Segmenter pulls in the contract, bank and backends: load it on first use only, so that
    # `import edgedg_runtime` stays numpy-only.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgedg_runtime' has no attribute {name!r}")
