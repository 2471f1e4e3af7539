"""The per-node rules of onnx-tensorrt's importers, as a version's data file states them.

``node_problems`` reads one node against ``rules["restrictions"][op_type]`` (inputs that must be
weights, rank-1 inputs, input types and ranks, attribute values, Einsum features) and, for
QuantizeLinear/DequantizeLinear, against ``rules["qdq"]``; ``placement_warnings`` reads where
Q/DQ sit against TensorRT's placement recommendations (warnings: the parser accepts the graph,
the builder may not fuse it into INT8 layers). "Weights" means what the parser holds
as weights: an initializer or a Constant node's output (an Identity of an initializer is a tensor
to the parser, so it does not count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass(frozen=True)
class GraphFacts:
    """What the rules read off a graph: dtypes and shapes as TensorRT sees them, weight values."""

    types: dict  # tensor name -> numpy dtype name
    shapes: dict  # tensor name -> list of dims (int, or None where unknown)
    weights: dict  # initializer / Constant output name -> numpy array
    opset: int


def graph_facts(model: onnx.ModelProto, opset: int) -> GraphFacts:
    """Facts of a shape-inferred ``model``."""
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    types, shapes = {}, {}
    for v in values:
        t = v.type.tensor_type
        if t.elem_type:
            types[v.name] = helper.tensor_dtype_to_np_dtype(t.elem_type).name
        if t.HasField("shape"):
            shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            weights[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        if node.op_type in ("ArgMax", "ArgMin"):  # INT32 inside TensorRT
            types.update({o: "int32" for o in node.output})
    for name, array in weights.items():
        types[name] = array.dtype.name
        shapes[name] = list(array.shape)
    return GraphFacts(types, shapes, weights, opset)


def node_problems(node: onnx.NodeProto, rules: dict, facts: GraphFacts) -> list[str]:
    """What ``rules`` refuse in ``node``; each problem ends with the rule's reason."""
    rule = rules["restrictions"].get(node.op_type, {})
    problems = _restriction_problems(node, rule, facts)
    if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
        problems += _qdq_problems(node, rules["qdq"], facts)
    return problems


def _inputs(node: onnx.NodeProto, indices: list) -> list[tuple[int, str]]:
    return [(i, node.input[i]) for i in indices if i < len(node.input) and node.input[i]]


def _restriction_problems(node, rule: dict, facts: GraphFacts) -> list[str]:
    problems = []
    why = rule.get("why", "")
    for i, name in _inputs(node, rule.get("constant_inputs", [])):
        if name not in facts.weights:
            problems.append(f"input {i} '{name}' is computed: {why}")
    for i, name in _inputs(node, rule.get("rank1_inputs", [])):
        shape = facts.shapes.get(name)
        if shape is not None and len(shape) != 1:
            problems.append(f"input {i} '{name}' has shape {shape}, not rank 1: {why}")
    first = node.input[0] if node.input else ""
    allowed = rule.get("input_types")
    if allowed and facts.types.get(first) not in allowed:
        problems.append(f"input is {facts.types.get(first)}: {why}")
    lo_hi = rule.get("input_rank")
    rank = len(facts.shapes.get(first) or []) or None
    if lo_hi and rank is not None and not lo_hi[0] <= rank <= lo_hi[1]:
        problems.append(f"input rank {rank} outside {lo_hi[0]}..{lo_hi[1]}")
    for a in node.attribute:
        values = rule.get("attributes", {}).get(a.name)
        value = helper.get_attribute_value(a)
        value = value.decode() if isinstance(value, bytes) else value
        if values is not None and value not in values:
            problems.append(f"{a.name}={value} unsupported")
    if rule.get("einsum_unsupported"):
        problems += _einsum_problems(node, rule["einsum_unsupported"], facts)
    return problems


def _einsum_problems(node, unsupported: list, facts: GraphFacts) -> list[str]:
    equation = helper.get_attribute_value(node.attribute[0]).decode().replace(" ", "")
    terms = equation.split("->")[0].split(",")
    found = []
    if "..." in equation:
        found.append("ellipsis")
    if any(len(set(t)) < len(t) for t in terms):
        found.append("diagonal")
    sizes = {}
    for term, name in zip(terms, node.input, strict=False):
        for letter, dim in zip(term, facts.shapes.get(name) or [], strict=False):
            sizes.setdefault(letter, set()).add(dim)
    if any(len(s) > 1 and 1 in s for s in sizes.values()):
        found.append("broadcasting")
    return [f"Einsum {f} is not supported" for f in found if f in unsupported]


_INT32_DQ = (
    "quantized type int32, not INT8 (an INT32 bias DequantizeLinear: keep biases float, "
    "e.g. ONNX Runtime's quantize_static with extra_options QuantizeBias=False)"
)


def default_axes(qdq: dict, opset: int) -> list[int]:
    """The axes a per-channel Q/DQ without an ``axis`` attribute may mean on this parser."""
    return qdq["default_axis"] if opset >= 13 else qdq["default_axis_below_opset_13"]


def _qdq_problems(node, qdq: dict, facts: GraphFacts) -> list[str]:
    is_q = node.op_type == "QuantizeLinear"
    inputs = list(node.input) + [""] * (3 - len(node.input))
    data, scale, zero = inputs[:3]
    problems = []
    if not zero and qdq["zero_point"] == "required":
        problems.append("needs 3 inputs (a zero point) on this parser")
    quantized = (facts.types.get(zero) if zero else None) if is_q else facts.types.get(data)
    if is_q and quantized == "uint8":
        problems.append("UINT8 zero point: the parser rejects UINT8 quantization")
    elif quantized == "int32" and not is_q:
        problems.append(_INT32_DQ)
    elif quantized is not None and quantized not in qdq["types"]:
        problems.append(f"quantized type {quantized}, not INT8")
    if zero in facts.weights and np.any(facts.weights[zero] != 0):
        problems.append("zero point must be all zeros (symmetric quantization only)")
    if qdq.get("positive_scales") and scale in facts.weights and np.any(facts.weights[scale] <= 0):
        problems.append("scales must all be positive")
    return problems + _per_channel_problems(node, data, scale, qdq, facts)


def _per_channel_problems(node, data: str, scale: str, qdq: dict, facts: GraphFacts) -> list:
    scale_shape = facts.shapes.get(scale)
    if scale_shape is None:
        return ["scale shape unknown: it must be static"] if qdq.get("static_scale_shape") else []
    count = int(np.prod(scale_shape)) if scale_shape else 1
    if count == 1:
        return []
    problems = []
    if data not in facts.weights:
        problems.append("per-channel quantization of an activation: activations are per-tensor")
    shape = facts.shapes.get(data) or []
    given = [a.i for a in node.attribute if a.name == "axis"]
    for axis in given or default_axes(qdq, facts.opset):
        if shape and shape[axis] is not None and shape[axis] != count:
            where = f"axis {axis}" + ("" if given else " (the parser's default)")
            problems.append(f"{count} scales but dim[{where}] is {shape[axis]}")
    return problems


def placement_warnings(model: onnx.ModelProto, qdq: dict, facts: GraphFacts) -> list[str]:
    """Where Q/DQ sit against ``qdq["placement"]``: a QuantizeLinear that feeds anything but
    DequantizeLinear, a weighted op with some inputs quantized and some not, weights quantized
    per-channel along another axis than the op's output channels, per-channel Q/DQ below opset 13
    (the parsers read it along axis 0; QuantizeLinear-10 defines a scalar scale only)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers: dict = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found = []
    for node in model.graph.node:
        name = f"{node.op_type} '{node.name}'"
        if node.op_type == "QuantizeLinear":
            found += [f"{name}: {w}" for w in _pair_warnings(node, consumers)]
        is_qdq = node.op_type in ("QuantizeLinear", "DequantizeLinear")
        if is_qdq and facts.opset < 13 and _scale_count(node, facts) > 1:
            found.append(f"{name}: per-channel Q/DQ below opset 13 (ONNX defines axis from 13)")
        axis = qdq["placement"]["weight_axis"].get(node.op_type)
        if axis is not None:
            found += [f"{name}: {w}" for w in _weighted_warnings(node, axis, producers, qdq, facts)]
    return found


def _scale_count(node, facts: GraphFacts) -> int:
    shape = facts.shapes.get(node.input[1]) if len(node.input) > 1 else None
    return int(np.prod(shape)) if shape else 1


def _pair_warnings(node, consumers: dict) -> list[str]:
    others = [c for c in consumers.get(node.output[0], []) if c.op_type != "DequantizeLinear"]
    return [
        f"output feeds {c.op_type} '{c.name}', not a DequantizeLinear (TensorRT expects Q/DQ pairs)"
        for c in others
    ]


def _weighted_warnings(node, axis: int, producers: dict, qdq: dict, facts: GraphFacts) -> list:
    dqs = [producers.get(i) for i in node.input[:2]]
    dqs = [d if d is not None and d.op_type == "DequantizeLinear" else None for d in dqs]
    found = []
    if (dqs[0] is None) != (dqs[1] is None):
        found.append("only some inputs are dequantized: quantize all inputs of weighted ops")
    weights = dqs[1]
    if weights is None or _scale_count(weights, facts) <= 1:
        return found
    given = [a.i for a in weights.attribute if a.name == "axis"]
    rank = len(facts.shapes.get(weights.input[0]) or []) or 4
    for a in sorted({x % rank for x in given or default_axes(qdq, facts.opset)}):
        if a != axis:
            found.append(
                f"weights quantized per-channel along axis {a}, not the output-channel axis {axis}"
            )
    return found
