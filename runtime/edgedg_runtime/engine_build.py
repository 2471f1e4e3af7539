"""TensorRT engines from a model directory, with TensorRT alone (8.5 to 11): ``engine_for``.

The loader/builder step in front of the TensorRT backend (which only loads and runs an engine):
``engine_for(model_dir, precision, graph)`` returns the engine file of one graph for this
TensorRT + GPU from ``MODEL_DIR/engines``, building it with TensorRT's own ONNX parser when it
is not there. Everything a build parses is a file of the model directory listed in the contract
with its sha256 (the FP16-typed graph TensorRT 11 needs is made at export time), so this module
needs no onnx, no torch and no edgedg_export; ``edgedg export --trt`` calls it too, and both
sides key engines with ``engine_cache.engine_key``.

One code path: named tensors, ``build_serialized_network``, memory-pool workspace limits, one
optimisation profile for the batch N in 1..max_batch. FP16 is ``BuilderFlag.FP16`` with the
statistic layers pinned to FP32 where the flag exists (<= 10), the FP16-typed graph in a
strongly typed network where it does not (11). After every build the engine inspector, given an
execution context with input shapes set, reports each layer's precision and it is CHECKED.
``import tensorrt`` happens only inside these functions. Python 3.8 syntax.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedg_runtime import engine_cache as cache
from edgedg_runtime.contract import Contract, load_contract
from edgedg_runtime.cuda_buffers import cuda_runtime, gpu_identity
from edgedg_runtime.engine_dir import engine_dir_for
from edgedg_runtime.errors import ContractError, EdgeDGError, MissingDependencyError
from edgedg_runtime.fileio import read_regular, write_atomic
from edgedg_runtime.layout import STAT_MARK
from edgedg_runtime.names import GRAPH_NAMES
from edgedg_runtime.verified_graph import graph_from_model_dir, refuse_external_data

log = logging.getLogger(__name__)
GRAPHS = GRAPH_NAMES
# Graphs whose convolutions must get FP16 when FP16 is asked; the style graph is one stem conv
# plus statistics, which a builder may legitimately keep FP32 (BuilderFlag.FP16 = FP16 allowed,
# FP32 fallback).
FP16_REQUIRED = ("segment", "plain")
INT8_REQUIRED = ("segment", "plain")  # the graphs with a Q/DQ variant; INT8 convolutions checked
MAX_TIMING_CACHE_BYTES = 256 << 20


@dataclass(frozen=True)
class BuildOptions:
    """Builder options that do not change what an engine computes: workspace limit (MiB) and
    timing cache file (default: one per TensorRT + GPU in the engine folder)."""

    workspace_mib: int | None = None
    timing_cache: str | None = None


def import_tensorrt() -> Any:
    """``tensorrt``, or a MissingDependencyError saying how to get it on this kind of machine."""
    try:
        import tensorrt
    except ImportError as exc:
        raise MissingDependencyError(
            f"TensorRT engines need the 'tensorrt' Python package ({exc}). On a Jetson: "
            "sudo apt install python3-libnvinfer and make the venv with "
            "--system-site-packages (pip's tensorrt is not for Jetson). On a desktop GPU: "
            "pip install tensorrt. Or run on ONNX Runtime: --backend ort"
        ) from exc
    return tensorrt


def build_target(trt: Any) -> cache.BuildTarget:
    """This machine's cache target: TensorRT version, GPU 0, Jetson board and L4T release."""
    return cache.BuildTarget.here(str(trt.__version__), *gpu_identity(cuda_runtime()))


def engine_for(
    model_dir: str | os.PathLike,
    precision: str | None = None,
    graph: str = "segment",
    options: BuildOptions = BuildOptions(),
    build: bool = True,
    engine_dir: str | os.PathLike | None = None,
    trust_key: str | os.PathLike | None = None,
    contract: Contract | None = None,
) -> Path:
    """The engine file of ``graph`` for this TensorRT + GPU, built when missing (``build``).

    ``precision`` None: an engine already built in either precision (the newest), else FP32.
    ``engine_dir``: the engine folder (``engine_dir.engine_dir_for``: default ``engines/`` of
    the model directory, never through a symlink). ``trust_key``: see ``load_contract``.
    ``contract``: the model directory's contract as ``load_contract`` returned it (a Segmenter
    passes its own), so that the files it lists are not hashed again; ``trust_key`` is not used
    then."""
    model_dir = Path(model_dir)
    if contract is None:
        contract = load_contract(model_dir, trust_key=trust_key)
    engine_dir = engine_dir_for(model_dir, engine_dir)
    trt = import_tensorrt()
    target = build_target(trt)
    fp16_flag = hasattr(trt.BuilderFlag, "FP16")
    wanted = cache.PRECISIONS if precision is None else (precision,)
    found = [_lookup(contract, engine_dir, graph, p, target, fp16_flag) for p in wanted]
    found = [e for e in found if e is not None]
    if found:
        return max(found, key=lambda e: e.sidecar.get("created", "")).engine
    _say_why_missing(engine_dir, graph, target)
    if not build:
        raise ContractError(
            f"no TensorRT engine for '{graph}' in {engine_dir} for {target.describe()}: build "
            f"one with `edgedg export CHECKPOINT --out {model_dir} --trt` on this machine"
        )
    key, file = cache.engine_key(contract, graph, precision or "fp32", target, fp16_flag)
    source = graph_from_model_dir(model_dir, contract, file)  # the bytes the parser gets
    refuse_external_data(source, f"TensorRT {trt.__version__}'s parser")
    return _build_cached(trt, engine_dir, graph, key, source, options).engine


def engines_for(
    model_dir: str | os.PathLike,
    precision: str = "fp32",
    options: BuildOptions = BuildOptions(),
    engine_dir: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Engines of style, segment and plain in ``precision``, built where missing. INT8 covers
    segment and plain; the style graph (no Q/DQ variant) is built FP16 then."""
    contract = load_contract(model_dir)
    return {
        g: engine_for(
            model_dir,
            graph_precision(precision, g),
            g,
            options,
            engine_dir=engine_dir,
            contract=contract,
        )
        for g in GRAPHS
    }


def graph_precision(precision: str | None, graph: str) -> str | None:
    """The precision ``graph`` is built in when the model runs in ``precision``: the style graph
    has no INT8 variant and runs FP16 beside INT8 segment / plain engines."""
    return "fp16" if precision == "int8" and graph not in INT8_REQUIRED else precision


def _lookup(contract, engine_dir, graph, precision, target, fp16_flag):
    try:
        key, _ = cache.engine_key(contract, graph, precision, target, fp16_flag)
    except ContractError:
        return None  # no FP16 graph for a strongly typed TensorRT: nothing to find either
    return cache.lookup(engine_dir, graph, key)


def _say_why_missing(engine_dir: Path, graph: str, target: cache.BuildTarget) -> None:
    for other in cache.entries(engine_dir, graph):
        if other.key.target != target:
            log.warning("%s", cache.mismatch_message(other, target))
            return


def _build_cached(trt, engine_dir: Path, graph: str, key, source, options: BuildOptions):
    with cache.build_lock(engine_dir, graph, key) as mine:
        found = None if mine else cache.lookup(engine_dir, graph, key)
        if found is not None:
            return found
        log.warning(
            "building the TensorRT %s engine for %s (%s): this can take several minutes "
            "on a Jetson; it is cached in %s afterwards",
            key.precision,
            graph,
            key.target.describe(),
            engine_dir,
        )
        tc_path = Path(options.timing_cache or cache.timing_cache_path(engine_dir, key.target))
        start = time.monotonic()
        plan, report = _build(trt, source.data, key, options.workspace_mib, tc_path)
        check_precision(report, key.precision, graph)
        facts = {"build_seconds": round(time.monotonic() - start, 1), "layers": report}
        return cache.write_entry(engine_dir, graph, key, plan, facts)


def _build(trt, data: bytes, key, workspace_mib, tc_path: Path):
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly_typed = bool(key.options.get("strongly_typed"))
    network = builder.create_network(network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EdgeDGError(
            f"TensorRT {trt.__version__} could not parse the graph: {errors}; "
            "`edgedg check MODEL_DIR --trt all` says which export option fixes it"
        )
    config = builder.create_builder_config()
    if workspace_mib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    profile = builder.create_optimization_profile()
    for p in key.profiles:
        profile.set_shape(p.name, p.min, p.opt, p.max)
    config.add_optimization_profile(profile)
    if key.precision in ("fp16", "int8") and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)  # int8: the layers without Q/DQ run FP16
        if key.precision == "int8":  # explicit quantization: the Q/DQ scales, no calibrator
            config.set_flag(trt.BuilderFlag.INT8)
        _pin_statistics_fp32(trt, network, config)
    timing = config.create_timing_cache(_timing_cache_bytes(tc_path))
    config.set_timing_cache(timing, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgeDGError(
            "TensorRT failed to build the engine (see its log above); on a small Jetson try "
            "--workspace 1024 and close other GPU programs"
        )
    write_atomic(tc_path, bytes(config.get_timing_cache().serialize()))
    return bytes(plan), precision_report(layer_info(trt, logger, bytes(plan), key.profiles))


def _timing_cache_bytes(path: Path) -> bytes:
    """The timing cache's bytes, or none for a missing one or one that is not a regular file (a
    FIFO would block; a bad cache only costs build time, and it is rewritten after the build)."""
    try:
        return read_regular(path, MAX_TIMING_CACHE_BYTES, nofollow=True)
    except OSError:
        return b""


def network_flags(trt: Any, strongly_typed: bool) -> int:
    """EXPLICIT_BATCH before TensorRT 10 (the ONNX parser needs it; deprecated and ignored in
    10, gone in 11); STRONGLY_TYPED for the FP16-typed graph."""
    flags = 0
    creation = trt.NetworkDefinitionCreationFlag
    if int(str(trt.__version__).split(".")[0]) < 10 and hasattr(creation, "EXPLICIT_BATCH"):
        flags |= 1 << int(creation.EXPLICIT_BATCH)
    if strongly_typed:
        flags |= 1 << int(creation.STRONGLY_TYPED)
    return flags


def _pin_statistics_fp32(trt: Any, network: Any, config: Any) -> None:
    """Statistic layers compute and output FP32 in an FP16-flag build."""
    flag = getattr(trt.BuilderFlag, "OBEY_PRECISION_CONSTRAINTS", None)
    config.set_flag(flag if flag is not None else trt.BuilderFlag.STRICT_TYPES)
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        floats = [
            layer.get_output(j).dtype in (trt.float32, trt.float16)
            for j in range(layer.num_outputs)
        ]
        if STAT_MARK not in layer.name or not all(floats):
            continue  # integer layers (shapes, counts) carry no float precision to pin
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)


def layer_info(trt: Any, logger: Any, plan: bytes, profiles) -> dict:
    """The inspector's JSON layer information, read through an execution context whose input
    shapes are set: without one, an engine with dynamic shapes reports no formats (TensorRT's
    IEngineInspector::setExecutionContext documentation)."""
    runtime = trt.Runtime(logger)  # held while the engine is in use
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise EdgeDGError("TensorRT built an engine it cannot deserialize; rebuild it")
    context = engine.create_execution_context()
    for p in profiles:
        context.set_input_shape(p.name, p.opt)
    inspector = engine.create_engine_inspector()
    if hasattr(inspector, "execution_context"):  # TensorRT >= 10 spelling
        inspector.execution_context = context
    else:  # TensorRT 8.5 / 8.6
        inspector.context = context
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


def _output_type(output: dict) -> str:
    """An output's data type from the layer info: TensorRT <= 10 writes it in one
    "Format/Datatype" field, TensorRT 11 in separate "Format" and "DataType" fields."""
    for field in ("DataType", "Format/Datatype", "Format/DataType", "Format"):
        if field in output:
            return str(output[field])
    return ""


def _is_int8(types: str) -> bool:
    return "Int8" in types or "INT8" in types


def precision_report(info: dict) -> dict[str, int]:
    """Count the engine's layers by output precision: ``fp16``/``fp32`` layers, ``conv_fp16``
    / ``conv_fp32`` convolutions, ``stat_fp16`` statistic layers with an FP16 output,
    ``stat_fused_fp16`` fused layers (names joined by " + ", Myelin foreign nodes) holding a
    statistic op and FP16 outputs, and ``unknown`` layers whose precision was not reported.
    Reformat layers (a copy into another format) are not statistic layers."""
    keys = ("fp16", "fp32", "int8", "conv_fp16", "conv_fp32", "conv_int8", "stat_fp16")
    keys += ("stat_fused_fp16",)
    report = dict.fromkeys((*keys, "unknown", "layers"), 0)
    for layer in info.get("Layers", []):
        if not isinstance(layer, dict):
            continue  # layer info without detail: names only
        report["layers"] += 1
        types = " ".join(_output_type(o) for o in layer.get("Outputs", []))
        half = "FP16" in types or "Half" in types
        full = "FP32" in types or "Float" in types
        if not (half or full or _is_int8(types)):
            report["unknown"] += 1
            continue
        kind_of = "fp16" if half else "fp32" if full else "int8"
        report[kind_of] += 1
        if "Conv" in str(layer.get("LayerType", "")):
            # a conv fused with its input DequantizeLinear reads INT8 and may write float
            inputs = " ".join(_output_type(i) for i in layer.get("Inputs", []))
            report["conv_int8" if _is_int8(inputs) else f"conv_{kind_of}"] += 1
        name, kind = str(layer.get("Name", "")), str(layer.get("LayerType", ""))
        if half and STAT_MARK in name and "Reformat" not in kind + name[:12]:
            fused = " + " in name or "ForeignNode" in name or "Myelin" in kind
            report["stat_fused_fp16" if fused else "stat_fp16"] += 1
    return report


def check_precision(report: dict[str, int], precision: str, graph: str) -> None:
    """Fail loudly when the engine is not what was asked for. FP16 may leave a small graph
    (style) FP32 — a warning — but not the convolutions of the segment / plain graphs."""
    what = f"{graph} engine"
    if report["layers"] == 0 or report["unknown"] == report["layers"]:
        raise EdgeDGError(f"{what}: the inspector reports no layer precisions; cannot verify it")
    if report["stat_fp16"] > 0:
        raise EdgeDGError(
            f"{what}: {report['stat_fp16']} statistic layers ran in FP16; they must stay FP32"
        )
    if report["stat_fused_fp16"] > 0:
        log.warning(
            "%s: %d fused layers that include statistic ops have FP16 outputs; the statistics "
            "inside are pinned to FP32, compare with `edgedg bench` / the ONNX Runtime labels",
            what,
            report["stat_fused_fp16"],
        )
    if precision == "fp32" and report["fp16"] + report["int8"] > 0:
        raise EdgeDGError(f"{what}: asked for FP32 but some layers are FP16 / INT8")
    if precision == "int8":
        _check_int8(report, graph, what)
        return
    if precision != "fp16" or report["conv_fp16"] > 0:
        return
    if graph in FP16_REQUIRED:
        raise EdgeDGError(
            f"{what}: asked for FP16 but its convolutions are FP32 (this GPU may lack fast "
            "FP16): build with --precision fp32"
        )
    log.warning("%s: FP16 allowed, but TensorRT kept this small graph in FP32", what)


def _check_int8(report: dict[str, int], graph: str, what: str) -> None:
    """An INT8 build of segment / plain must hold INT8 convolutions: convs that read INT8 (fused
    with their input DequantizeLinear; their output stays float for the statistics)."""
    if graph in INT8_REQUIRED and report["conv_int8"] == 0:
        raise EdgeDGError(
            f"{what}: asked for INT8 but no layer runs INT8 (this GPU may lack INT8 kernels): "
            "build with --precision fp16"
        )


__all__ = [
    "GRAPHS",
    "BuildOptions",
    "build_target",
    "check_precision",
    "engine_for",
    "engines_for",
    "graph_precision",
    "import_tensorrt",
    "precision_report",
]
