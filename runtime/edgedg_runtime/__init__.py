"""edgedg_runtime: the torch-free runtime that runs an exported edgedg model on a camera stream.

Depends on numpy only at import; ONNX Runtime, TensorRT, cuda-python and OpenCV load on use.
"""

from __future__ import annotations

__version__ = "0.1.0"

from edgedg_runtime.errors import EdgeDGError  # noqa: E402

__all__ = ["EdgeDGError", "__version__"]
