"""CUDA device and pinned host buffers through cuda-python, without TensorRT.

The TensorRT backend binds one device buffer per engine tensor and stages every copy through a
pinned host buffer of the same size on one CUDA stream. That handling lives here so that it can
be tested on a GPU machine without TensorRT (``tests/test_cuda_buffers.py``, marker ``gpu``).

cuda-python's runtime module is ``cuda.bindings.runtime`` (cuda-python >= 12.6, the only one in
13.x) or ``cuda.cudart`` (older releases); every call returns ``(error, *values)``.
Python 3.8 syntax; numpy and the standard library only.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from edgedg_runtime.errors import EdgeDGError, MissingDependencyError

CUDA_PYTHON_PINS = {
    11: "cuda-python>=11.8,<12",
    12: "cuda-python>=12,<13",
    13: "cuda-python>=13,<14",
}


def cuda_runtime() -> Any:
    """The cuda-python runtime module, or a MissingDependencyError saying what to install."""
    try:
        from cuda.bindings import runtime  # type: ignore[import-not-found]

        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # type: ignore[import-not-found]

        return cudart
    except ImportError as exc:
        raise MissingDependencyError(
            f"CUDA buffers need cuda-python ({exc}). Install the one of your CUDA major: "
            f"pip install '{CUDA_PYTHON_PINS[12]}' (JetPack 6 / CUDA 12), "
            f"'{CUDA_PYTHON_PINS[11]}' (JetPack 5), '{CUDA_PYTHON_PINS[13]}' (CUDA 13); "
            "`edgedg doctor` says which"
        ) from exc


def cuda_call(result: Any) -> Any:
    """Unwrap a cuda-python result ``(err, *values)``; raise an EdgeDGError on an error code."""
    values = result if isinstance(result, tuple) else (result,)
    err = values[0]
    if int(getattr(err, "value", err)) != 0:
        raise EdgeDGError(f"CUDA call failed: {getattr(err, 'name', err)}")
    rest = values[1:]
    return rest[0] if len(rest) == 1 else (rest or None)


def gpu_identity(cudart: Any, device: int = 0) -> tuple[str, str]:
    """(name, compute capability "M.m") of a CUDA device."""
    props = cuda_call(cudart.cudaGetDeviceProperties(device))
    name = props.name
    text = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    return text.strip("\x00 "), f"{props.major}.{props.minor}"


class CudaStream:
    """One CUDA stream; ``int(stream)`` is the handle TensorRT's ``execute_async_v3`` takes."""

    def __init__(self, cudart: Any):
        self.cudart = cudart
        self.handle = cuda_call(cudart.cudaStreamCreate())

    def __int__(self) -> int:
        return int(self.handle)

    def synchronize(self) -> None:
        cuda_call(self.cudart.cudaStreamSynchronize(self.handle))

    def close(self) -> None:
        if self.handle is not None:
            cuda_call(self.cudart.cudaStreamSynchronize(self.handle))
            self.cudart.cudaStreamDestroy(self.handle)
            self.handle = None


class PinnedBuffer:
    """``nbytes`` of device memory and as much pinned host memory, copied on a stream.

    ``upload(array, stream)`` copies an array's bytes host -> device (enqueued);
    ``download(dtype, shape, stream)`` enqueues device -> host and returns a numpy view of the
    pinned memory, valid after ``stream.synchronize()`` and until the next download.
    """

    def __init__(self, cudart: Any, nbytes: int):
        self.cudart, self.nbytes = cudart, max(1, int(nbytes))
        self.device = int(cuda_call(cudart.cudaMalloc(self.nbytes)))
        self._host_ptr = int(cuda_call(cudart.cudaMallocHost(self.nbytes)))
        raw = (ctypes.c_uint8 * self.nbytes).from_address(self._host_ptr)
        self.host = np.frombuffer(raw, dtype=np.uint8)

    def upload(self, array: np.ndarray, stream: CudaStream) -> None:
        array = np.ascontiguousarray(array)
        if array.nbytes > self.nbytes:
            raise EdgeDGError(f"{array.nbytes} bytes do not fit a {self.nbytes}-byte buffer")
        host = self.host[: array.nbytes]
        host[...] = array.reshape(-1).view(np.uint8)
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        cuda_call(
            self.cudart.cudaMemcpyAsync(
                self.device, host.ctypes.data, array.nbytes, kind, stream.handle
            )
        )

    def download(self, dtype: Any, shape: tuple, stream: CudaStream) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if nbytes > self.nbytes:
            raise EdgeDGError(f"{nbytes} bytes do not fit a {self.nbytes}-byte buffer")
        host = self.host[:nbytes]
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        cuda_call(
            self.cudart.cudaMemcpyAsync(host.ctypes.data, self.device, nbytes, kind, stream.handle)
        )
        return host.view(dtype).reshape(shape)

    def close(self) -> None:
        if self.device:
            self.cudart.cudaFree(self.device)
            self.cudart.cudaFreeHost(self._host_ptr)
            self.device = self._host_ptr = 0
            self.host = np.zeros(0, np.uint8)
