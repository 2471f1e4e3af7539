"""TensorRT backend: the named-tensor API (TensorRT 8.5 to 11) with cuda-python buffers.

Everything is set up once at open: the engine, one execution context, one CUDA stream, device
buffers sized for the profile's MAX shapes and pinned host buffers of the same size. Per frame:
copy feeds into pinned memory, set input shapes only when they change, enqueue H2D copies,
``execute_async_v3``, D2H copies, one stream synchronisation.

The pure parts (dtype mapping, shape and profile logic) are plain functions tested with fakes;
the parts that need a GPU are thin and follow the documented API.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
from typing import Sequence

import numpy as np

from edgedg_runtime.backends.base import Backend, TensorSpec
from edgedg_runtime.errors import ContractError, EdgeDGError, MissingDependencyError, require

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
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def dtype_from_trt(dtype: object) -> np.dtype:
    """numpy dtype of a ``tensorrt.DataType`` (matched by enum name, stable across versions)."""
    name = getattr(dtype, "name", None) or str(dtype).rsplit(".", 1)[-1]
    if name not in _TRT_DTYPES:
        raise ContractError(
            f"TensorRT tensor type {name} is not supported at an edgedg graph boundary"
        )
    return np.dtype(_TRT_DTYPES[name])


def cuda_runtime():
    """The cuda-python runtime module: ``cuda.bindings.runtime`` (>= 12.6), else ``cuda.cudart``."""
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
            f"The TensorRT backend needs cuda-python ({exc}). Install it with: "
            "pip install 'edgedg[trt]' (on Jetson: pip install cuda-python matching JetPack's CUDA)"
        ) from exc


def cuda_call(result: object) -> object:
    """Unwrap a cuda-python call result ``(err, *values)``; raise on an error code."""
    values = result if isinstance(result, tuple) else (result,)
    err = values[0]
    if int(getattr(err, "value", err)) != 0:
        raise EdgeDGError(f"CUDA call failed: {getattr(err, 'name', err)}")
    rest = values[1:]
    return rest[0] if len(rest) == 1 else (rest or None)


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
            keys = ("tensorrt_version", "gpu_name", "compute_capability", "jetson_model")
            return ", ".join(f"{k}={meta[k]}" for k in keys if meta.get(k)) or "unknown"
    return "unknown (no sidecar)"


class TrtBackend(Backend):
    """Runs a TensorRT engine. ``path`` is an engine file (.engine/.plan/.trt) or an ONNX graph,
    whose engine comes from the engine cache (built there when missing or stale).

    ``onnx`` (optional): the ONNX graph an engine file was built from, used to rebuild it when
    the engine does not deserialize (another TensorRT version or GPU).
    """

    kind = "trt"

    def __init__(self, path: str, onnx: str = None, cache_dir: str = None):
        super().__init__(path)
        self.onnx = onnx or (self.path if self.path.endswith(".onnx") else None)
        self.cache_dir = cache_dir
        self._cudart = None
        self._engine = self._context = self._stream = None
        self._device: dict[str, int] = {}
        self._host: dict[str, np.ndarray] = {}
        self._host_ptrs: list[int] = []
        self._shapes: dict[str, tuple] = {}
        self._in_names: list[str] = []
        self._out_names: list[str] = []

    # open / close ---------------------------------------------------------------------------
    def _open(self):
        trt = require("tensorrt", "trt", "The TensorRT backend")
        self._cudart = cuda_runtime()
        self._engine = self._load_engine(trt)
        self._context = self._engine.create_execution_context()
        self._in_names, self._out_names = io_names(self._engine)
        self._stream = cuda_call(self._cudart.cudaStreamCreate())
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
        engine, context, cudart = self._engine, self._context, self._cudart
        max_in = max_input_shapes(engine, self._in_names)
        for name, shape in max_in.items():
            context.set_input_shape(name, shape)
        shapes = dict(max_in, **output_shapes(context, self._out_names))
        for name, shape in shapes.items():
            dtype = dtype_from_trt(engine.get_tensor_dtype(name))
            nbytes = max(1, int(np.prod(shape)) * dtype.itemsize)
            self._device[name] = int(cuda_call(cudart.cudaMalloc(nbytes)))
            host_ptr = int(cuda_call(cudart.cudaMallocHost(nbytes)))
            self._host_ptrs.append(host_ptr)
            buf = (ctypes.c_uint8 * nbytes).from_address(host_ptr)
            self._host[name] = np.frombuffer(buf, dtype=np.uint8)
            context.set_tensor_address(name, self._device[name])
        self._shapes = dict(max_in)

    def _close(self) -> None:
        cudart = self._cudart
        if self._stream is not None:
            cuda_call(cudart.cudaStreamSynchronize(self._stream))
        for ptr in self._device.values():
            cudart.cudaFree(ptr)
        for ptr in self._host_ptrs:
            cudart.cudaFreeHost(ptr)
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
        self._device, self._host, self._host_ptrs, self._shapes = {}, {}, [], {}
        self._engine = self._context = self._stream = None

    # engines --------------------------------------------------------------------------------
    def _load_engine(self, trt):
        if self.path.endswith(".onnx"):
            return self._engine_from_cache(trt)
        if not os.path.isfile(self.path):
            raise ContractError(f"no TensorRT engine at {self.path}")
        engine = _deserialize(trt, self.path)
        if engine is not None:
            return engine
        message = (
            f"the TensorRT engine {self.path} does not load here: it was built by "
            f"{engine_provenance(self.path)}; this machine runs TensorRT {trt.__version__} on "
            f"{gpu_name(self._cudart)}. Engines are tied to the TensorRT version and the GPU"
        )
        if not self.onnx:
            raise ContractError(message + "; rebuild it on this machine with `edgedg export --trt`")
        log.warning("%s; rebuilding from %s", message, self.onnx)
        return self._engine_from_cache(trt)

    def _engine_from_cache(self, trt):
        """The engine for ``self.onnx`` from the engine cache (``engines/`` beside the ONNX); built
        through edgedg_export when no engine for this TensorRT + GPU is there or it won't load."""
        from edgedg_runtime import engine_cache
        from edgedg_runtime.contract import sha256_file

        graph = os.path.splitext(os.path.basename(self.onnx))[0]
        cache_dir = self.cache_dir or os.path.join(os.path.dirname(self.onnx), "engines")
        target = build_target(trt, self._cudart)
        entry = engine_cache.find_engine(cache_dir, graph, sha256_file(self.onnx), target)
        if entry is not None:
            engine = _deserialize(trt, str(entry.engine))
            if engine is not None:
                log.info("TensorRT engine %s (%s)", entry.engine, target.describe())
                return engine
            log.warning("cached engine %s does not deserialize; rebuilding", entry.engine)
        for other in engine_cache.entries(cache_dir, graph):
            if other.key.target != target:
                log.warning("%s", engine_cache.mismatch_message(other, target))
                break
        return self._build(trt, cache_dir)

    def _build(self, trt, cache_dir: str):
        try:
            from edgedg_export.trt import engine_from_onnx
        except ImportError as exc:
            raise MissingDependencyError(
                f"no TensorRT engine for {self.onnx} for this TensorRT/GPU in {cache_dir}, and "
                f"building one needs edgedg's export extra ({exc}): pip install "
                "'edgedg[export]' and run `edgedg export --trt` here, or use --backend ort"
            ) from exc
        log.warning("building a TensorRT engine from %s: this can take minutes", self.onnx)
        built = engine_from_onnx(self.onnx, cache_dir)
        engine_path = str(getattr(built, "engine", built))
        engine = _deserialize(trt, engine_path)
        if engine is None:
            raise ContractError(f"TensorRT built {engine_path} but cannot load it; delete it")
        return engine

    # per frame -----------------------------------------------------------------------------
    def infer(self, feeds):
        cudart, context, stream = self._cudart, self._context, self._stream
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self._in_names:
            array = np.ascontiguousarray(feeds[name])
            if array.shape != self._shapes.get(name):
                context.set_input_shape(name, array.shape)
                self._shapes[name] = array.shape
            host = self._host[name][: array.nbytes]
            host[...] = array.reshape(-1).view(np.uint8)
            cuda_call(
                cudart.cudaMemcpyAsync(
                    self._device[name], host.ctypes.data, array.nbytes, h2d, stream
                )
            )
        if not context.execute_async_v3(int(stream)):
            raise EdgeDGError(f"TensorRT failed to run {self.path}")
        results = {}
        for name, shape in output_shapes(context, self._out_names).items():
            dtype = dtype_from_trt(self._engine.get_tensor_dtype(name))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            host = self._host[name][:nbytes]
            cuda_call(
                cudart.cudaMemcpyAsync(host.ctypes.data, self._device[name], nbytes, d2h, stream)
            )
            results[name] = (host, dtype, shape)
        cuda_call(cudart.cudaStreamSynchronize(stream))
        return {n: h.view(d).reshape(s).copy() for n, (h, d, s) in results.items()}


def _deserialize(trt, path: str):
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    with open(path, "rb") as f:
        return runtime.deserialize_cuda_engine(f.read())


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


def build_target(trt, cudart):
    """This machine's engine-cache target: TensorRT version, GPU name + compute capability,
    Jetson board and L4T release."""
    from edgedg_runtime.engine_cache import BuildTarget

    props = cuda_call(cudart.cudaGetDeviceProperties(0))
    capability = f"{props.major}.{props.minor}"
    return BuildTarget.here(str(trt.__version__), gpu_name(cudart), capability)


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
