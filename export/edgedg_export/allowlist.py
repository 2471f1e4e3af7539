"""The ONNX operators a TensorRT target can parse (`trt_ops.txt`, TensorRT 8.5 and later)."""

from __future__ import annotations

import os
from importlib import resources

import onnx

from edgedg_runtime.errors import EdgeDGError


def trt_ops() -> frozenset[str]:
    """Operator names from the packaged `trt_ops.txt` (comments and blank lines skipped)."""
    text = resources.files("edgedg_export").joinpath("trt_ops.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def unsupported_ops(model: onnx.ModelProto | str | os.PathLike) -> list[str]:
    """Sorted op types of ``model`` (default domain, subgraphs excluded) not on the allow-list;
    ops of other domains are reported as ``domain::Op``."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    allowed = trt_ops()
    bad = set()
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            bad.add(f"{node.domain}::{node.op_type}")
        elif node.op_type not in allowed:
            bad.add(node.op_type)
    return sorted(bad)


def check_trt_ops(model: onnx.ModelProto | str | os.PathLike, what: str = "graph") -> None:
    """Raise EdgeDGError naming the operators TensorRT 8.5+ cannot parse."""
    bad = unsupported_ops(model)
    if bad:
        raise EdgeDGError(
            f"{what} uses operators TensorRT's ONNX parser does not support: {', '.join(bad)}; "
            "export with a lower --opset or without --simplify"
        )
