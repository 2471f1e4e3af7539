"""Pass: float32 graph -> FP16 graph for strongly typed TensorRT (11+), statistics kept in FP32.

TensorRT 11 has no FP16 builder flag: the ONNX types decide. This pass makes every float tensor
of the network body FP16, except the nodes that must stay FP32 (DESIGN section 2): the statistic
nodes (``<layer>/stat/...``: reductions, variance, prior mixing), the pre- and post-processing
(``pre/``, ``post/``) and the graph I/O. Only the inputs and outputs an operator's schema ties to
its output type (type constraint of output 0) change type; a Cast joins the two regions.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from edgedg_export.passes._graph import opset_of
from edgedg_runtime.layout import STAT_MARK

FP32_PREFIXES = ("pre/", "post/")


def keeps_fp32(node: gs.Node) -> bool:
    """True for the nodes the FP16 graph keeps in FP32."""
    return (
        STAT_MARK in node.name
        or node.name.startswith(FP32_PREFIXES)
        or node.op in ("Cast", "Constant", "ConstantOfShape")
    )


def fp16_except_statistics(model: onnx.ModelProto) -> onnx.ModelProto:
    """The FP16 graph (module docstring). Graph inputs and outputs keep their types."""
    graph = gs.import_onnx(model)
    opset = opset_of(model)
    casts: dict[tuple[str, type], gs.Variable] = {}
    for node in list(graph.nodes):
        want = np.float32 if keeps_fp32(node) else np.float16
        for i in _typed_inputs(node, opset):
            node.inputs[i] = _as_type(graph, node.inputs[i], want, casts)
        if want is np.float16:
            for j in _typed_outputs(node, opset):
                if node.outputs[j].dtype == np.float32:
                    node.outputs[j].dtype = np.float16
    _restore_outputs(graph)
    graph.cleanup().toposort()
    out = gs.export_onnx(graph)
    del out.graph.value_info[:]  # stale after the type changes; re-inferred below
    return onnx.shape_inference.infer_shapes(out, strict_mode=True)


def _tied_inputs(schema: onnx.defs.OpSchema, n_inputs: int) -> list[int]:
    tvar = schema.outputs[0].type_str
    formal = list(schema.inputs)
    tied = []
    for i in range(n_inputs):
        param = formal[min(i, len(formal) - 1)]  # a variadic last input repeats
        if param.type_str == tvar:
            tied.append(i)
    return tied


def _typed_inputs(node: gs.Node, opset: int) -> list[int]:
    """Indices of float inputs whose type follows the node's output type (or, for FP32 nodes,
    every float input)."""
    if keeps_fp32(node):
        return [i for i, t in enumerate(node.inputs) if _is_float(t)]
    schema = onnx.defs.get_schema(node.op, opset)
    return [i for i in _tied_inputs(schema, len(node.inputs)) if _is_float(node.inputs[i])]


def _typed_outputs(node: gs.Node, opset: int) -> list[int]:
    schema = onnx.defs.get_schema(node.op, opset)
    tvar = schema.outputs[0].type_str
    return [j for j, p in enumerate(schema.outputs[: len(node.outputs)]) if p.type_str == tvar]


def _is_float(t: gs.Tensor) -> bool:
    dtype = t.values.dtype if isinstance(t, gs.Constant) else t.dtype
    return dtype in (np.float32, np.float16, np.dtype("float32"), np.dtype("float16"))


def _as_type(graph: gs.Graph, t: gs.Tensor, want: type, casts: dict) -> gs.Tensor:
    """``t`` in dtype ``want``: a converted copy of a constant, or a (shared) Cast node."""
    if isinstance(t, gs.Constant):
        if t.values.dtype == want:
            return t
        return gs.Constant(f"{t.name}_{np.dtype(want).name}", t.values.astype(want))
    if t.dtype == want or t.dtype is None:
        return t
    key = (t.name, want)
    if key not in casts:
        out = gs.Variable(f"{t.name}_{np.dtype(want).name}", dtype=want, shape=t.shape)
        to = onnx.TensorProto.FLOAT16 if want is np.float16 else onnx.TensorProto.FLOAT
        # named without the tensor's name: a cast is never a statistic node
        cast_name = f"cast_{np.dtype(want).name}_{len(casts)}"
        graph.nodes.append(gs.Node("Cast", cast_name, {"to": to}, [t], [out]))
        casts[key] = out
    return casts[key]


def _restore_outputs(graph: gs.Graph) -> None:
    """Graph outputs made FP16 become FP32 again through a final Cast under their own name."""
    for k, out in enumerate(graph.outputs):
        if out.dtype != np.float16:
            continue
        name, out.name = out.name, f"{out.name}_fp16"  # renaming keeps every link to it
        final = gs.Variable(name, dtype=np.float32, shape=out.shape)
        cast = gs.Node("Cast", f"post/{name}_fp32", {"to": onnx.TensorProto.FLOAT}, [out], [final])
        graph.nodes.append(cast)
        graph.outputs[k] = final
