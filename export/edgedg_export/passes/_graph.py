"""Small helpers shared by the passes: constants, opset-aware reductions, node naming."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs


def opset_of(model: onnx.ModelProto) -> int:
    """The default-domain opset the model imports."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ValueError("the model imports no default-domain opset")


def const(name: str, values: np.ndarray | list | float) -> gs.Constant:
    """A named constant; Python floats become float32, ints int64."""
    arr = np.asarray(values)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return gs.Constant(name, arr)


def constant_values(tensor: gs.Tensor) -> np.ndarray:
    """The values behind ``tensor``: a Constant, or an Identity/Constant node feeding it (the
    exporter de-duplicates equal initializers through Identity nodes)."""
    if isinstance(tensor, gs.Constant):
        return np.asarray(tensor.values)
    producer = tensor.inputs[0] if tensor.inputs else None
    if producer is not None and producer.op == "Identity":
        return constant_values(producer.inputs[0])
    if producer is not None and producer.op == "Constant":
        return np.asarray(producer.attrs["value"].values)
    raise ValueError(f"tensor '{tensor.name}' is not a constant")


def op(graph: gs.Graph, kind: str, name: str, inputs: list, attrs: dict | None = None, n: int = 1):
    """Add node ``kind`` named ``name`` with ``n`` fresh outputs named after it; return them."""
    outputs = [gs.Variable(f"{name}_out{i}" if n > 1 else f"{name}_out") for i in range(n)]
    graph.nodes.append(gs.Node(kind, name=name, inputs=inputs, outputs=outputs, attrs=attrs or {}))
    return outputs if n > 1 else outputs[0]


def reduce_mean(
    graph: gs.Graph, x: gs.Tensor, axes: list[int], opset: int, name: str
) -> gs.Variable:
    """ReduceMean with keepdims=1: ``axes`` is an attribute before opset 18, an input from 18."""
    if opset >= 18:
        axes_c = const(f"{name}_axes", np.int64(axes))
        return op(graph, "ReduceMean", name, [x, axes_c], {"keepdims": 1})
    return op(graph, "ReduceMean", name, [x], {"axes": list(axes), "keepdims": 1})
