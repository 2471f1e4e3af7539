"""Pass: float32 graph -> Q/DQ (explicit INT8) graph; statistics stay FP32 and unquantized.

ONNX Runtime's static quantizer (``quantize_static``, QDQ format) inserts the Q/DQ pairs and
calibrates their ranges; this module only says where (DESIGN section 2):

- every Conv gets a QuantizeLinear -> DequantizeLinear on its activation input and a
  DequantizeLinear on its INT8 weight (per output channel); nothing else is quantized;
- a Conv's OUTPUT is never quantized (``OpTypesToExcludeOutputQuantization``): in the segment graph
  it feeds the statistic nodes (``<layer>/stat/...``) and the normalisation, which must read the
  exact values the float graph would compute from the quantized inputs;
- symmetric INT8 for activations and weights, zero points 0 (TensorRT's explicit quantization is
  symmetric); the bias stays float (``QuantizeBias`` off: TensorRT fuses a float bias);
- the statistic, normalisation, pre- and post-processing nodes are excluded by name.

:func:`statistics_unquantized` is the check: no statistic node reads a DequantizeLinear output and
none is a Q/DQ node itself.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import onnx

from edgedg_runtime.errors import EdgeDGError, require
from edgedg_runtime.layout import STAT_MARK

NORM_MARK = "/norm/"  # the unfolded BatchNorm's own nodes (onnx_export names them)
KEEP_FLOAT_PREFIXES = ("pre/", "post/")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def keeps_float(node: onnx.NodeProto) -> bool:
    """True for the nodes the INT8 graph leaves in float: statistics, normalisation, pre/post."""
    return (
        STAT_MARK in node.name
        or NORM_MARK in node.name
        or node.name.startswith(KEEP_FLOAT_PREFIXES)
    )


def qdq_from_onnx(
    model: onnx.ModelProto, reader: object, method: str = "minmax"
) -> onnx.ModelProto:
    """The Q/DQ graph of ``model`` calibrated on the feeds of ``reader`` (a CalibrationDataReader)
    with ``method`` (minmax | percentile); see the module docstring."""
    q = require("onnxruntime.quantization", "export", "INT8 export")
    methods = {
        "minmax": q.CalibrationMethod.MinMax,
        "percentile": q.CalibrationMethod.Percentile,
    }
    if method not in methods:
        raise EdgeDGError(f"unknown calibration method {method!r}: use {', '.join(methods)}")
    exclude = [n.name for n in model.graph.node if keeps_float(n)]
    with tempfile.TemporaryDirectory(prefix="edgedg-int8-") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        onnx.save(model, str(src))
        # its advice to pre-process (shape inference + graph optimisation) is not taken: that
        # renames and fuses nodes, and the exclusions above go by node name
        with _quiet_root_logger():
            _quantize(q, src, dst, reader, exclude, methods[method])
        out = onnx.load(str(dst))
    problems = statistics_unquantized(out)
    if problems:  # a quantizer change must not slip Q/DQ into the statistics unnoticed
        raise EdgeDGError("the INT8 graph quantizes statistics: " + "; ".join(problems[:5]))
    return out


def _quantize(q, src: Path, dst: Path, reader, exclude: list, method) -> None:
    q.quantize_static(
        str(src),
        str(dst),
        reader,
        quant_format=q.QuantFormat.QDQ,
        op_types_to_quantize=["Conv"],
        per_channel=True,
        activation_type=q.QuantType.QInt8,
        weight_type=q.QuantType.QInt8,
        nodes_to_exclude=exclude,
        calibrate_method=method,
        extra_options={
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "OpTypesToExcludeOutputQuantization": ["Conv"],
            "QuantizeBias": False,
            "CalibTensorRangeSymmetric": True,
        },
        calibration_providers=["CPUExecutionProvider"],
    )


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def statistics_unquantized(model: onnx.ModelProto) -> list[str]:
    """Problems (empty when none): a statistic node that is a Q/DQ node or reads a
    DequantizeLinear output, and a Q/DQ node with a non-zero zero point."""
    dq_out = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    inits = {t.name: t for t in model.graph.initializer}
    problems = []
    for node in model.graph.node:
        if STAT_MARK in node.name and node.op_type in QDQ_OPS:
            problems.append(f"{node.name} is a {node.op_type} node")
        if STAT_MARK in node.name:
            bad = [i for i in node.input if i in dq_out]
            problems += [f"{node.name} reads the DequantizeLinear output {i}" for i in bad]
        zero_point = inits.get(node.input[2]) if len(node.input) > 2 else None
        if node.op_type in QDQ_OPS and zero_point is not None and _nonzero(zero_point):
            problems.append(f"{node.name} has a non-zero zero point")
    return problems


def qdq_counts(model: onnx.ModelProto) -> dict[str, int]:
    """How many Conv, QuantizeLinear and DequantizeLinear nodes the graph holds."""
    ops = [n.op_type for n in model.graph.node]
    return {op: ops.count(op) for op in ("Conv", *QDQ_OPS)}


def _nonzero(tensor: onnx.TensorProto) -> bool:
    return bool(onnx.numpy_helper.to_array(tensor).any())
