"""PyTorch -> ONNX: the model's deploy forms, before and after the graph passes.

`onnx_from_model` traces the model (normalised float NCHW input `input` -> `logits`, dynamic
batch N) with BatchNorm either KEPT as BatchNormalization nodes (for the unfold pass) or FOLDED
into the convolutions (plain.onnx). `segment_onnx` and `plain_onnx` chain the passes into two of
the three graphs of a model directory; the third is `style_graph.style_onnx`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import onnx
import torch
from torch import nn

from edgedg.norm import norm_layers, stat_layout
from edgedg_export.passes import add_labels, add_preprocessing, unfold_batchnorm
from edgedg_runtime.layout import StatLayout

DEFAULT_OPSET = 17


@dataclass(frozen=True)
class GraphOptions:
    """What shapes the exported graphs: input size, opset, I/O dtypes, extra outputs."""

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    opset: int = DEFAULT_OPSET
    io: str = "uint8"  # image input dtype: uint8 | float
    labels_dtype: str = "uint8"  # uint8 | int32
    logits: bool = False  # keep `logits` as a segment output


def trace_onnx(module: nn.Module, shape: Sequence[int], outputs: list[str], opset: int, fold: bool):
    """torch.onnx (TorchScript exporter) of ``module`` with input `input` and a dynamic batch."""
    x = torch.zeros(*shape)
    sample = module(x)
    buf = io.BytesIO()
    axes = {name: {0: "N"} for name in ["input", *outputs]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module,
            (x,),
            buf,
            dynamo=False,
            training=torch.onnx.TrainingMode.EVAL,
            do_constant_folding=fold,
            input_names=["input"],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=opset,
        )
    proto = onnx.load_from_string(buf.getvalue())
    _declare_shape(proto.graph.output[0], sample.shape[1:])
    return proto


def _declare_shape(value: onnx.ValueInfoProto, dims: Sequence[int]) -> None:
    """Write the static trailing dims of an output the exporter left symbolic (the upsampling
    size is computed from the input's shape at run time, so inference cannot see it)."""
    shape = value.type.tensor_type.shape
    for dim, size in zip(shape.dim[1:], dims, strict=True):
        dim.Clear()
        dim.dim_value = int(size)


def onnx_from_model(
    model: nn.Module, height: int, width: int, opset: int = DEFAULT_OPSET, fold: bool = False
) -> onnx.ModelProto:
    """The model in eval mode as ONNX: `input` [N, 3, H, W] normalised float -> `logits`.

    ``fold=False`` keeps one BatchNormalization node per norm layer (checked); ``fold=True``
    folds them into the convolutions (checked: none left)."""
    model = model.eval()
    with torch.no_grad():
        proto = trace_onnx(model, (1, 3, height, width), ["logits"], opset, fold)
    count = sum(n.op_type == "BatchNormalization" for n in proto.graph.node)
    expected = 0 if fold else len(norm_layers(model))
    if count != expected:
        raise RuntimeError(
            f"the ONNX export has {count} BatchNormalization nodes, expected {expected} "
            f"({'folded' if fold else 'one per norm layer'})"
        )
    return proto


def segment_onnx(
    model: nn.Module, opts: GraphOptions, layout: StatLayout | None = None
) -> onnx.ModelProto:
    """segment.onnx: `image`, `norm_prior` [3, S] -> `labels`, `frame_stats` [2, S] (+ logits).
    ``layout``: the model's stat layout, when the caller has it already."""
    proto = onnx_from_model(model, opts.height, opts.width, opts.opset, fold=False)
    proto = unfold_batchnorm(proto, layout or stat_layout(model))
    proto = add_preprocessing(proto, opts.mean, opts.std, opts.io)
    return checked_graph(add_labels(proto, opts.labels_dtype, keep_logits=opts.logits))


def plain_onnx(model: nn.Module, opts: GraphOptions) -> onnx.ModelProto:
    """plain.onnx: `image` -> `labels`, BatchNorm folded, no statistic I/O (the fastest source)."""
    proto = onnx_from_model(model, opts.height, opts.width, opts.opset, fold=True)
    proto = add_preprocessing(proto, opts.mean, opts.std, opts.io)
    return checked_graph(add_labels(proto, opts.labels_dtype, keep_logits=opts.logits))


def checked_graph(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference (value_info for every tensor) and a strict validity check."""
    proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    onnx.checker.check_model(proto, full_check=True)
    return proto
