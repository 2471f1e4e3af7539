"""CUDA device + pinned host buffers (cuda_buffers): a real round trip where a GPU and
cuda-python exist (marker `gpu`; no TensorRT needed), the size checks everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from edgedg_runtime import cuda_buffers
from edgedg_runtime.errors import EdgeDGError, MissingDependencyError


def _real_cudart():
    try:
        return cuda_buffers.cuda_runtime()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_host_device_host_round_trip_on_a_real_gpu(dtype) -> None:
    cudart = _real_cudart()
    assert cuda_buffers.cuda_call(cudart.cudaGetDeviceCount()) >= 1
    name, capability = cuda_buffers.gpu_identity(cudart)
    assert name and capability.count(".") == 1
    rng = np.random.default_rng(0)
    data = (rng.random((3, 17, 5)) * 250).astype(dtype)  # 255 bytes / 1020 bytes: odd sizes
    stream = cuda_buffers.CudaStream(cudart)
    first, second = (cuda_buffers.PinnedBuffer(cudart, data.nbytes) for _ in range(2))
    try:
        first.upload(data, stream)
        kind = cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        copy = cudart.cudaMemcpyAsync(second.device, first.device, data.nbytes, kind, stream.handle)
        cuda_buffers.cuda_call(copy)
        out = second.download(dtype, data.shape, stream)
        stream.synchronize()
        np.testing.assert_array_equal(out, data)  # exact: bytes copied, no arithmetic
        assert out.dtype == np.dtype(dtype)
    finally:
        first.close()
        second.close()
        stream.close()


class _Cudart:
    """Just enough of cuda-python's runtime for the size checks."""

    class cudaMemcpyKind:  # noqa: N801
        cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost = 1, 2

    def __init__(self):
        self.keep = []

    def cudaMalloc(self, nbytes):  # noqa: N802
        return (0, 4096)

    def cudaMallocHost(self, nbytes):  # noqa: N802
        buf = np.zeros(nbytes, np.uint8)
        self.keep.append(buf)
        return (0, buf.ctypes.data)

    def cudaMemcpyAsync(self, *args):  # noqa: N802
        return (0,)

    def cudaFree(self, ptr):  # noqa: N802
        return (0,)

    cudaFreeHost = cudaFree  # noqa: N815


def test_buffers_refuse_what_does_not_fit() -> None:
    buffer = cuda_buffers.PinnedBuffer(_Cudart(), 16)
    stream = type("S", (), {"handle": 0})()
    with pytest.raises(EdgeDGError, match="do not fit"):
        buffer.upload(np.zeros(5, np.float32), stream)
    with pytest.raises(EdgeDGError, match="do not fit"):
        buffer.download(np.float32, (5,), stream)
    buffer.upload(np.arange(4, dtype=np.float32), stream)
    np.testing.assert_array_equal(buffer.host.view(np.float32), np.arange(4, dtype=np.float32))
    buffer.close()
    assert buffer.device == 0 and buffer.host.size == 0
    with pytest.raises(EdgeDGError, match="CUDA call failed: cudaErrorMemoryAllocation"):
        cuda_buffers.cuda_call(
            (type("E", (), {"name": "cudaErrorMemoryAllocation", "value": 2})(),)
        )
