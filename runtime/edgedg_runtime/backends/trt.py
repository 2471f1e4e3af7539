"""TensorRT backend: the named-tensor API (TensorRT 8.5 to 11) with cuda-python buffers.

A runner only: it loads an engine file and runs it; ``engine_build.engine_for`` finds or builds
the engine (as Polygraphy separates loaders from runners). Everything is set up once at open: the
engine, one execution context, one CUDA stream, device buffers sized for the profile's MAX shapes
and pinned host buffers of the same size (``cuda_buffers``). Per frame:
copy feeds into pinned memory, set input shapes only when they change, enqueue H2D copies,
``execute_async_v3``, D2H copies, one stream synchronisation.

The pure parts (dtype mapping, shape and profile logic) are plain functions tested with fakes;
the parts that need a GPU are thin and follow the documented API.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Sequence

import numpy as np

from edgedg_runtime.backends.base import Backend, TensorSpec
from edgedg_runtime.cuda_buffers import CudaStream, PinnedBuffer, cuda_call, cuda_runtime
from edgedg_runtime.errors import ContractError, EdgeDGError, require

log = logging.getLogger(__name__)

# TensorRT DataType names -> numpy (BF16/FP8/INT4 never appear at edgedg's graph boundary)
_TRT_DTYPES = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
}


def dtype_from_trt(dtype: object) -> np.dtype:
    """numpy dtype of a ``tensorrt.DataType`` (matched by enum name, stable across versions)."""
    name = getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]
    if name not in _TRT_DTYPES:
        raise ContractError(
            f"TensorRT tensor type {name} is not supported at an edgedg graph boundary"
        )
    return np.dtype(_TRT_DTYPES[name])


def is_input(engine: object, name: str) -> bool:
    mode = engine.get_tensor_mode(name)
    return getattr(mode, "name", str(mode)).endswith("INPUT")


def io_names(engine: object) -> tuple[list[str], list[str]]:
    """(input names, output names) of an engine, in engine order."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    return [n for n in names if is_input(engine, n)], [n for n in names if not is_input(engine, n)]


def max_input_shapes(engine: object, inputs: Sequence[str], profile: int = 0) -> dict[str, tuple]:
    """Each input's largest shape: the engine shape, or the profile's max where a dim is -1."""
    shapes = {}
    for name in inputs:
        shape = tuple(engine.get_tensor_shape(name))
        if any(d < 0 for d in shape):
            shape = tuple(engine.get_tensor_profile_shape(name, profile)[2])
        shapes[name] = shape
    return shapes


def output_shapes(context: object, outputs: Sequence[str]) -> dict[str, tuple]:
    """Each output's shape for the input shapes currently set on ``context``."""
    shapes = {n: tuple(context.get_tensor_shape(n)) for n in outputs}
    bad = {n: s for n, s in shapes.items() if any(d < 0 for d in s)}
    if bad:
        raise ContractError(f"TensorRT cannot resolve output shapes {bad}: set every input first")
    return shapes


def spec_shape(shape: Sequence[int], batch_name: str = "N") -> tuple:
    """An engine shape as a TensorSpec shape: dynamic (-1) dims become ``batch_name``/None."""
    return tuple(
        d if d >= 0 else (batch_name if i == 0 else None) for i, d in enumerate(tuple(shape))
    )


def engine_provenance(engine_path: str) -> str:
    """Who built an engine, from its JSON sidecar when there is one (for error messages)."""
    for sidecar in (engine_path + ".json", os.path.splitext(engine_path)[0] + ".json"):
        if os.path.isfile(sidecar):
            try:
                with open(sidecar) as f:
                    meta = json.load(f)
            except (OSError, ValueError):
                return "unknown (unreadable sidecar)"
            target = meta.get("key", {}).get("target") if isinstance(meta, dict) else None
            if isinstance(target, dict):  # an engine_cache sidecar
                meta = {f"{k}": v for k, v in target.items()}
            keys = ("tensorrt", "tensorrt_version", "gpu", "gpu_name", "compute_capability")
            found = [f"{k}={meta[k]}" for k in (*keys, "jetson_model") if meta.get(k)]
            return ", ".join(found) or "unknown"
    return "unknown (no sidecar)"


class TrtBackend(Backend):
    """Loads and runs one TensorRT engine file (.engine/.plan/.trt). It builds nothing: get the
    engine of a model directory's graph with ``edgedg_runtime.engine_build.engine_for``."""

    def __init__(self, path: str):
        super().__init__(path)
        self._cudart = None
        self._engine = self._context = self._stream = None
        self._buffers: dict[str, PinnedBuffer] = {}
        self._shapes: dict[str, tuple] = {}
        self._in_names: list[str] = []
        self._out_names: list[str] = []

    # open / close ---------------------------------------------------------------------------
    def _open(self):
        if self.path.endswith(".onnx"):
            raise ContractError(
                f"{self.path} is an ONNX graph; the TensorRT backend runs engines: get one with "
                "edgedg_runtime.engine_build.engine_for(model_dir, precision, graph)"
            )
        trt = require("tensorrt", "trt", "The TensorRT backend")
        self._cudart = cuda_runtime()
        self._engine = self._load_engine(trt)
        self._context = self._engine.create_execution_context()
        self._in_names, self._out_names = io_names(self._engine)
        self._stream = CudaStream(self._cudart)
        self._allocate()
        return self._specs_of(self._in_names), self._specs_of(self._out_names)

    def _specs_of(self, names: Sequence[str]) -> tuple:
        engine = self._engine
        return tuple(
            TensorSpec(
                n,
                dtype_from_trt(engine.get_tensor_dtype(n)),
                spec_shape(engine.get_tensor_shape(n)),
            )
            for n in names
        )

    def _allocate(self) -> None:
        """Device + pinned host buffers at max shapes, bound to the context once."""
        engine, context = self._engine, self._context
        max_in = max_input_shapes(engine, self._in_names)
        for name, shape in max_in.items():
            context.set_input_shape(name, shape)
        shapes = dict(max_in, **output_shapes(context, self._out_names))
        for name, shape in shapes.items():
            dtype = dtype_from_trt(engine.get_tensor_dtype(name))
            buffer = PinnedBuffer(self._cudart, int(np.prod(shape)) * dtype.itemsize)
            self._buffers[name] = buffer
            context.set_tensor_address(name, buffer.device)
        self._shapes = dict(max_in)

    def _close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        for buffer in self._buffers.values():
            buffer.close()
        self._buffers, self._shapes = {}, {}
        self._engine = self._context = self._stream = None

    def _load_engine(self, trt):
        if not os.path.isfile(self.path):
            raise ContractError(f"no TensorRT engine at {self.path}")
        engine = _deserialize(trt, self.path)
        if engine is not None:
            return engine
        raise ContractError(
            f"the TensorRT engine {self.path} does not load here: it was built by "
            f"{engine_provenance(self.path)}; this machine runs TensorRT {trt.__version__} on "
            f"{gpu_name(self._cudart)}. Engines are tied to the TensorRT version and the GPU: "
            "delete it and let engine_for (or `edgedg export --trt`) build one here"
        )

    # per frame -----------------------------------------------------------------------------
    def _infer(self, feeds):
        context, stream = self._context, self._stream
        for name in self._in_names:
            array = np.ascontiguousarray(feeds[name])
            if array.shape != self._shapes.get(name):
                context.set_input_shape(name, array.shape)
                self._shapes[name] = array.shape
            self._buffers[name].upload(array, stream)
        if not context.execute_async_v3(int(stream)):
            raise EdgeDGError(f"TensorRT failed to run {self.path}")
        results = {
            name: self._buffers[name].download(
                dtype_from_trt(self._engine.get_tensor_dtype(name)), shape, stream
            )
            for name, shape in output_shapes(context, self._out_names).items()
        }
        stream.synchronize()
        return {n: a.copy() for n, a in results.items()}


_RUNTIMES: dict = {}  # one trt.Runtime per tensorrt module, kept alive as long as its engines


def _deserialize(trt, path: str):
    if id(trt) not in _RUNTIMES:
        _RUNTIMES[id(trt)] = (trt, trt.Runtime(trt.Logger(trt.Logger.WARNING)))
    with open(path, "rb") as f:
        return _RUNTIMES[id(trt)][1].deserialize_cuda_engine(f.read())


def gpu_name(cudart) -> str:
    """Name of CUDA device 0, or 'an unknown GPU'."""
    try:
        props = cuda_call(cudart.cudaGetDeviceProperties(0))
        name = props.name
        return (
            name.decode(errors="replace").rstrip("\x00") if isinstance(name, bytes) else str(name)
        )
    except Exception:  # only for a message: never mask the real error with this one
        return "an unknown GPU"


def trt_usable() -> tuple[bool, str]:
    """(usable, why): TensorRT and cuda-python importable and at least one CUDA device."""
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return False, "tensorrt is not importable"
    try:
        cudart = cuda_runtime()
        count = cuda_call(cudart.cudaGetDeviceCount())
    except EdgeDGError as exc:
        return False, str(exc)
    return (count > 0, f"{count} CUDA device(s)")
