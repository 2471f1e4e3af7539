"""Write a whole model directory (DESIGN section 2) from a checkpoint or a model in memory.

Everything is written into a temporary sibling directory first and moved into place at the end,
so a failed export never leaves a half-written MODEL_DIR behind. Re-exporting into an existing
model directory replaces only the files export writes (contract.json last), so a bank, notes or
engines kept there survive.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import torch
from torch import nn

from edgedg.norm import source_stats, stat_layout
from edgedg_export import contract_writer
from edgedg_export.calibrate import Calibration, Int8Options, add_int8_variants, calibration_for
from edgedg_export.onnx_export import (
    DEFAULT_OPSET,
    GraphOptions,
    plain_onnx,
    segment_onnx,
)
from edgedg_export.passes.fp16 import fp16_except_statistics
from edgedg_export.style_graph import style_onnx
from edgedg_export.trt import EngineOptions, build_engines, import_tensorrt
from edgedg_runtime.contract import (
    CONTRACT_FILE,
    SOURCE_STATS_FILE,
    Contract,
    InputSpec,
    StyleSpec,
)
from edgedg_runtime.errors import EdgeDGError, require
from edgedg_runtime.fileio import sha256_file, write_json
from edgedg_runtime.names import GRAPH_NAMES
from edgedg_runtime.signing import sign_contract

GRAPH_FILES = {name: f"{name}.onnx" for name in GRAPH_NAMES}


@dataclass(frozen=True)
class ExportOptions:
    """`edgedg export` options. ``imgsz`` None: the checkpoint's meta["imgsz"]. ``labels_dtype``
    None: uint8 with uint8 image I/O (int32 above 256 classes), int32 with float I/O."""

    imgsz: tuple[int, int] | None = None
    opset: int = DEFAULT_OPSET
    logits: bool = False
    max_batch: int = 4
    io: str = "uint8"
    labels_dtype: str | None = None
    simplify: bool = False
    fp16_graphs: bool = True  # <graph>.fp16.onnx for TensorRT 11's strongly typed FP16 builds
    int8: Int8Options | None = None  # <graph>.int8.onnx: Q/DQ segment and plain (calibrate.py)


def export_model_dir(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    options: ExportOptions = ExportOptions(),
    engines: EngineOptions | None = None,
    sign_key: str | os.PathLike | None = None,
) -> Contract:
    """Export the checkpoint written by `edgedg train` into the model directory ``out``; with
    ``engines``, also build the TensorRT engines into ``out/engines``; with ``sign_key`` (an
    Ed25519 private key, PEM), sign its contract (``edgedg_runtime.signing``) before that."""
    from edgedg.checkpoint import load_model

    if engines is not None:
        import_tensorrt()  # fail before the export, not after it
    if sign_key is not None:
        require("cryptography", "sign", "--sign")
    model, meta = load_model(checkpoint)
    calibration = None
    if options.int8 is not None:  # find and read the images before the export, not after it
        opts = _graph_options(meta, options)
        calibration = calibration_for(options.int8, meta, (opts.height, opts.width))
    contract = export_model(
        model, meta, out, options, checkpoint_sha256=sha256_file(checkpoint),
        calibration=calibration,
    )  # fmt: skip
    if sign_key is not None:
        sign_contract(out, sign_key)
    if engines is not None:
        build_engines(out, engines)
    return contract


def export_model(
    model: nn.Module,
    meta: Mapping[str, Any],
    out: str | os.PathLike,
    options: ExportOptions = ExportOptions(),
    checkpoint_sha256: str = "",
    calibration: Calibration | None = None,
) -> Contract:
    """Export ``model`` (a SegModel-like module with `.stem` and StatNorm2d layers) with the
    checkpoint ``meta`` (model, classes, colors, mean, std, imgsz) into ``out``; with
    ``calibration``, also the INT8 (Q/DQ) variants of segment and plain calibrated on it."""
    opts = _graph_options(meta, options)
    model = model.eval()
    out = Path(out)
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the model directory is not
    try:
        contract = _write(model, meta, tmp, opts, options, checkpoint_sha256)
        if calibration is not None:
            contract = add_int8_variants(tmp, calibration)
        if (out / CONTRACT_FILE).is_file():
            replace_own_files(tmp, out)
        else:
            move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return contract


def _graph_options(meta: Mapping[str, Any], options: ExportOptions) -> GraphOptions:
    imgsz = options.imgsz or tuple(meta.get("imgsz") or ())
    if len(imgsz) != 2 or min(imgsz) < 32:
        raise EdgeDGError(f"input size {imgsz} is not HxW with both >= 32: pass --imgsz 512x1024")
    if options.max_batch < 1:
        raise EdgeDGError(f"--max-batch must be >= 1, got {options.max_batch}")
    if options.io not in ("uint8", "float"):
        raise EdgeDGError(f"--io must be uint8 or float, got {options.io!r}")
    labels = options.labels_dtype or ("uint8" if options.io == "uint8" else "int32")
    if labels == "uint8" and int(meta["model"]["num_classes"]) > 256:
        labels = "int32"
    return GraphOptions(
        height=int(imgsz[0]),
        width=int(imgsz[1]),
        mean=tuple(float(v) for v in meta["mean"]),
        std=tuple(float(v) for v in meta["std"]),
        opset=options.opset,
        io=options.io,
        labels_dtype=labels,
        logits=options.logits,
    )


def _check_target(out: Path) -> None:
    """Refuse to replace a non-empty folder that is not a model directory."""
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / CONTRACT_FILE).exists())
    ):
        raise EdgeDGError(
            f"{out} exists and is not an edgedg model directory: choose a new or empty folder"
        )


def _write(
    model: nn.Module,
    meta: Mapping[str, Any],
    root: Path,
    opts: GraphOptions,
    options: ExportOptions,
    checkpoint_sha256: str,
) -> Contract:
    layout = stat_layout(model)  # once per export: the segment graph and the contract share it
    protos = {
        "style": style_onnx(model, opts),
        "segment": segment_onnx(model, opts, layout),
        "plain": plain_onnx(model, opts),
    }
    if options.simplify:
        protos = {k: simplified(p) for k, p in protos.items()}
    variants = {name: {} for name in protos}
    for name, proto in protos.items():
        onnx.save(proto, str(root / GRAPH_FILES[name]))
        if options.fp16_graphs:  # made here: the runtime builds engines without onnx
            file = GRAPH_FILES[name].replace(".onnx", ".fp16.onnx")
            onnx.save(fp16_except_statistics(proto), str(root / file))
            variants[name]["fp16"] = file
    stats = source_stats(model).detach().cpu().numpy().astype(np.float32)
    first = layout.layers[0]
    style = stats[:, : first.channels]
    np.savez(root / SOURCE_STATS_FILE, stats=stats, style=style)
    extra = [f for v in variants.values() for f in v.values()]
    files = {f: sha256_file(root / f) for f in [*GRAPH_FILES.values(), *extra, SOURCE_STATS_FILE]}
    contract = contract_writer.build_contract(
        meta,
        layout,
        {k: contract_writer.graph_info(GRAPH_FILES[k], p, variants[k]) for k, p in protos.items()},
        InputSpec(opts.height, opts.width, "uint8" if opts.io == "uint8" else "float32"),
        opts.labels_dtype,
        options.max_batch,
        StyleSpec(int(style.shape[1]), first.name),
        contract_writer.provenance(checkpoint_sha256, opts.opset, _exporter()),
        files,
    )
    write_json(root / CONTRACT_FILE, contract.to_json())
    return contract


def _exporter() -> str:
    return (
        f"torch {torch.__version__} + onnx {onnx.__version__} + onnx-graphsurgeon {gs.__version__}"
    )


def simplified(proto: onnx.ModelProto) -> onnx.ModelProto:
    """onnxsim's simplification, refused unless every graph input and output (the statistic I/O
    included) keeps its name, dtype and shape."""
    onnxsim = require("onnxsim", "export", "--simplify")
    new, ok = onnxsim.simplify(proto)
    if not ok or _io(new) != _io(proto):
        raise EdgeDGError(
            "onnxsim changed the graph's inputs/outputs or failed its check: "
            "export without --simplify"
        )
    return new


def _io(proto: onnx.ModelProto) -> list[tuple[str, str]]:
    return [(v.name, str(v.type)) for v in [*proto.graph.input, *proto.graph.output]]


def replace_own_files(tmp: Path, out: Path) -> None:
    """Move each file of the finished export ``tmp`` over its namesake in the model directory
    ``out``, contract.json last; files export did not write are left alone. Interrupted half
    way, the old contract's hashes no longer match and the runtime refuses the directory."""
    names = sorted(p.name for p in tmp.iterdir() if p.name != CONTRACT_FILE)
    for name in [*names, CONTRACT_FILE]:
        os.replace(tmp / name, out / name)


def move_into_place(tmp: Path, out: Path) -> None:
    """Swap the finished directory in: the old one (if any) is renamed aside onto a fresh empty
    folder of our own (``.NAME.XXXXXXXX.old``), then deleted; nothing else beside it is touched."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old")
    os.replace(out, old)  # a directory may replace an empty one
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
