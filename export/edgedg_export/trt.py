"""TensorRT engines from the model directory's ONNX graphs (TensorRT 8.5 to 11).

One code path: the named-tensor API, `build_serialized_network`, memory-pool workspace limits, an
optimisation profile for the batch N in 1..M. FP16 uses `BuilderFlag.FP16` where it exists
(TensorRT <= 10) with the statistic layers pinned to FP32; TensorRT 11 (strongly typed) gets an
FP16-converted ONNX that keeps the statistic ops in FP32. After every build the engine inspector's
layer information is read back and the precision obtained is CHECKED. Engines are cached by the
key of `edgedg_runtime.engine_cache`. `import tensorrt` happens only inside these functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from edgedg_export.passes.fp16 import fp16_except_statistics
from edgedg_export.passes.unfold_batchnorm import STAT_MARK
from edgedg_runtime import engine_cache as cache
from edgedg_runtime.errors import EdgeDGError, MissingDependencyError

log = logging.getLogger(__name__)
GRAPHS = ("style", "segment", "plain")


@dataclass(frozen=True)
class EngineOptions:
    """`edgedg export --trt` options: precision, workspace limit in MiB, timing cache file."""

    precision: str = "fp32"
    workspace_mib: int | None = None
    timing_cache: str | None = None


def import_tensorrt() -> Any:
    """``tensorrt``, or a MissingDependencyError saying how to get it on this kind of machine."""
    try:
        import tensorrt
    except ImportError as exc:
        raise MissingDependencyError(
            f"building TensorRT engines needs the 'tensorrt' Python package ({exc}). On a Jetson: "
            "install JetPack's python3-libnvinfer and create the venv with "
            "--system-site-packages (pip's tensorrt is not for Jetson). On a desktop GPU: "
            "pip install tensorrt (or pip install 'edgedg[trt]')"
        ) from exc
    return tensorrt


def gpu_identity() -> tuple[str, str]:
    """(GPU name, compute capability "M.m") of device 0, via cuda-python or torch."""
    try:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart
        err, prop = cudart.cudaGetDeviceProperties(0)
        if int(err) == 0:
            name = prop.name.decode() if isinstance(prop.name, bytes) else str(prop.name)
            return name.strip("\x00 "), f"{prop.major}.{prop.minor}"
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return torch.cuda.get_device_name(0), f"{major}.{minor}"
    except ImportError:
        pass
    raise MissingDependencyError(
        "no CUDA GPU could be queried: TensorRT engines need a GPU and cuda-python "
        "(pip install 'edgedg[trt]')"
    )


def profiles_for(proto: onnx.ModelProto, max_batch: int, opt_batch: int = 1) -> tuple:
    """One profile per input with a symbolic (batch) dim: N in 1..max_batch, opt ``opt_batch``."""
    profiles = []
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            continue  # static inputs (norm_prior) need no profile
        fixed = [int(d.dim_value) for d in dims[1:]]
        profiles.append(
            cache.Profile(
                value.name,
                (1, *fixed),
                (min(opt_batch, max_batch), *fixed),
                (max_batch, *fixed),
            )
        )
    return tuple(profiles)


def precision_report(layer_info: dict) -> dict[str, int]:
    """Count the engine's layers by output precision, from the inspector's JSON layer info:
    ``fp16``/``fp32`` layers, and ``stat_fp16``: statistic-only layers with an FP16 output."""
    report = {"fp16": 0, "fp32": 0, "stat_fp16": 0, "layers": 0}
    for layer in layer_info.get("Layers", []):
        if not isinstance(layer, dict):
            continue  # layer info without detail: names only
        report["layers"] += 1
        formats = " ".join(str(o.get("Format/Datatype", "")) for o in layer.get("Outputs", []))
        half = "FP16" in formats or "Half" in formats
        report["fp16" if half else "fp32"] += int(half or "FP32" in formats or "Float" in formats)
        name = str(layer.get("Name", ""))
        if half and STAT_MARK in name and "/norm/" not in name:
            report["stat_fp16"] += 1
    return report


def check_precision(report: dict[str, int], precision: str, what: str) -> None:
    """Fail loudly when the engine is not in the precision asked for."""
    if report["layers"] == 0:
        raise EdgeDGError(f"{what}: the engine reports no layer information; cannot verify it")
    if precision == "fp16" and report["fp16"] == 0:
        raise EdgeDGError(
            f"{what}: asked for FP16 but every layer is FP32 (this GPU may lack fast FP16): "
            "build with --precision fp32"
        )
    if precision == "fp32" and report["fp16"] > 0:
        raise EdgeDGError(f"{what}: asked for FP32 but {report['fp16']} layers are FP16")
    if report["stat_fp16"] > 0:
        raise EdgeDGError(
            f"{what}: {report['stat_fp16']} statistic layers ran in FP16; they must stay FP32"
        )


def _network_onnx(onnx_path: Path, precision: str, trt: Any) -> tuple[bytes, str, bool]:
    """(ONNX bytes to parse, precision recipe, strongly typed?) for this TensorRT."""
    data = onnx_path.read_bytes()
    if precision == "fp32":
        return data, "fp32", False
    if hasattr(trt.BuilderFlag, "FP16"):
        return data, "fp16-flag+fp32-stats", False
    proto = fp16_except_statistics(onnx.load_from_string(data))
    return proto.SerializeToString(), "fp16-onnx+fp32-stats", True


def engine_from_onnx(
    onnx_path: str | os.PathLike,
    engine_dir: str | os.PathLike,
    precision: str = "fp32",
    max_batch: int = 4,
    workspace_mib: int | None = None,
    timing_cache: str | os.PathLike | None = None,
    graph: str | None = None,
) -> Path:
    """Build (or find in the cache) the engine of ``onnx_path``; returns the engine file.

    ``timing_cache`` defaults to one file per (TensorRT version, GPU) in ``engine_dir``."""
    if precision not in cache.PRECISIONS:
        raise EdgeDGError(f"precision must be one of {cache.PRECISIONS}, got {precision!r}")
    trt = import_tensorrt()
    onnx_path = Path(onnx_path)
    graph = graph or onnx_path.stem
    target = cache.BuildTarget.here(trt.__version__, *gpu_identity())
    data, recipe, strongly_typed = _network_onnx(onnx_path, precision, trt)
    profiles = profiles_for(onnx.load_from_string(data), max_batch)
    options = {"workspace_mib": workspace_mib, "strongly_typed": strongly_typed}
    key = cache.EngineKey(
        hashlib.sha256(data).hexdigest(), precision, recipe, profiles, target, options
    )
    found = cache.lookup(engine_dir, graph, key)
    if found is not None:
        return found.engine
    tc_path = Path(timing_cache) if timing_cache else cache.timing_cache_path(engine_dir, target)
    with cache.build_lock(engine_dir, graph, key) as mine:
        found = None if mine else cache.lookup(engine_dir, graph, key)
        if found is not None:
            return found.engine
        log.warning(
            "building the TensorRT %s engine for %s (%s): this can take several minutes "
            "on a Jetson; it is cached afterwards",
            precision,
            graph,
            target.describe(),
        )
        start = time.monotonic()
        plan, report = _build(
            trt, data, precision, strongly_typed, profiles, workspace_mib, tc_path
        )
        check_precision(report, precision, f"{graph} engine")
        facts = {"build_seconds": round(time.monotonic() - start, 1), "layers": report}
        return cache.write_entry(engine_dir, graph, key, plan, facts).engine


def _build(trt, data, precision, strongly_typed, profiles, workspace_mib, tc_path):
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EdgeDGError(f"TensorRT could not parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    if workspace_mib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    profile = builder.create_optimization_profile()
    for p in profiles:
        profile.set_shape(p.name, p.min, p.opt, p.max)
    config.add_optimization_profile(profile)
    if precision == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
        _pin_statistics_fp32(trt, network, config)
    timing = config.create_timing_cache(tc_path.read_bytes() if tc_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgeDGError(
            "TensorRT failed to build the engine (see its log above); on a small Jetson try "
            "--workspace 1024 and close other GPU programs"
        )
    cache.atomic_write(tc_path, bytes(config.get_timing_cache().serialize()))
    return bytes(plan), precision_report(_layer_info(trt, logger, plan))


def _network_flags(trt: Any, strongly_typed: bool) -> int:
    flags = 0
    creation = trt.NetworkDefinitionCreationFlag
    if hasattr(creation, "EXPLICIT_BATCH"):  # required before TensorRT 10, default after
        flags |= 1 << int(creation.EXPLICIT_BATCH)
    if strongly_typed:
        flags |= 1 << int(creation.STRONGLY_TYPED)
    return flags


def _pin_statistics_fp32(trt: Any, network: Any, config: Any) -> None:
    """Statistic layers (``<layer>/stat/...``) compute and output FP32 in an FP16 build."""
    flag = getattr(trt.BuilderFlag, "OBEY_PRECISION_CONSTRAINTS", None)
    config.set_flag(flag if flag is not None else trt.BuilderFlag.STRICT_TYPES)
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if STAT_MARK not in layer.name:
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            if layer.get_output(j).dtype in (trt.float32, trt.float16):
                layer.set_output_type(j, trt.float32)


def _layer_info(trt: Any, logger: Any, plan: bytes) -> dict:
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    inspector = engine.create_engine_inspector()
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


def build_engines(model_dir: str | os.PathLike, options: EngineOptions) -> dict[str, Path]:
    """Engines for style, segment and plain of a model directory, into MODEL_DIR/engines."""
    from edgedg_runtime.contract import load_contract

    contract = load_contract(model_dir)
    engine_dir = Path(model_dir) / "engines"
    return {
        name: engine_from_onnx(
            Path(model_dir) / contract.graph(name).file,
            engine_dir,
            options.precision,
            contract.max_batch,
            options.workspace_mib,
            options.timing_cache,
            graph=name,
        )
        for name in GRAPHS
    }
