"""Build the model directory's Contract from the checkpoint meta and the exported graphs."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import onnx
from onnx import helper

from edgedg_runtime import __version__
from edgedg_runtime.contract import (
    SCHEMA_VERSION,
    ClassInfo,
    Contract,
    GraphInfo,
    InputSpec,
    ModelInfo,
    Normalization,
    Provenance,
    StyleSpec,
    TensorInfo,
)
from edgedg_runtime.layout import StatLayout


def tensor_infos(values: Any) -> tuple[TensorInfo, ...]:
    """Name, numpy dtype name and shape (symbolic "N" for the batch) of graph inputs/outputs."""
    infos = []
    for value in values:
        t = value.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name
        shape = tuple(
            int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
            for d in t.shape.dim
        )
        infos.append(TensorInfo(value.name, dtype, shape))
    return tuple(infos)


def graph_info(
    file: str, proto: onnx.ModelProto, variants: Mapping[str, str] | None = None
) -> GraphInfo:
    """The contract entry of one graph file and its export-time variants (name -> file)."""
    inputs, outputs = tensor_infos(proto.graph.input), tensor_infos(proto.graph.output)
    return GraphInfo(file, inputs, outputs, dict(variants or {}))


def classes_of(meta: Mapping[str, Any], num_classes: int) -> tuple[ClassInfo, ...]:
    """Class names and RGB colours from the checkpoint meta (generic ones when it has none)."""
    names = list(meta.get("classes") or [f"class{i}" for i in range(num_classes)])
    colors = list(
        meta.get("colors")
        or [[(37 * i) % 256, (91 * i) % 256, (173 * i) % 256] for i in range(num_classes)]
    )
    if len(names) != num_classes or len(colors) != num_classes:
        raise ValueError(
            f"the checkpoint meta lists {len(names)} classes and {len(colors)} colours for "
            f"num_classes {num_classes}"
        )
    return tuple(
        ClassInfo(str(n), (int(c[0]), int(c[1]), int(c[2])))
        for n, c in zip(names, colors, strict=True)
    )


def build_contract(
    meta: Mapping[str, Any],
    layout: StatLayout,
    graphs: Mapping[str, GraphInfo],
    input_spec: InputSpec,
    labels_dtype: str,
    max_batch: int,
    style: StyleSpec,
    provenance: Provenance,
    files: Mapping[str, str],
) -> Contract:
    """The Contract object; ``files`` maps every file of the directory to its sha256."""
    cfg = meta["model"]
    return Contract(
        model=ModelInfo(
            name=f"{cfg['name']}-{cfg.get('head', 'fcn')}",
            backbone=str(cfg["name"]),
            head=str(cfg.get("head", "fcn")),
            output_stride=int(cfg.get("output_stride", 8)),
            num_classes=int(cfg["num_classes"]),
        ),
        classes=classes_of(meta, int(cfg["num_classes"])),
        input=input_spec,
        normalization=Normalization(
            tuple(float(v) for v in meta["mean"]), tuple(float(v) for v in meta["std"])
        ),
        stat_layout=layout,
        style=style,
        graphs=dict(graphs),
        labels_dtype=labels_dtype,
        max_batch=int(max_batch),
        provenance=provenance,
        files=dict(files),
        schema_version=SCHEMA_VERSION,
    )


def provenance(checkpoint_sha256: str, opset: int, exporter: str) -> Provenance:
    """Who made the directory, from what, and when (UTC)."""
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    return Provenance(__version__, checkpoint_sha256, int(opset), exporter, created)
