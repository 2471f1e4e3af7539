"""Pass: every BatchNormalization -> the unfolded form of DESIGN section 2, fed by `norm_prior`:
a BatchNormalization whose mean and variance are computed in the graph.

For the layer's channels (offset o, count C) with (mu_p, var_p, w) = norm_prior[:, o:o+C] and the
shift c = the layer's source running mean (an initializer):

    xs    = x - c                           (folded into the producing Conv's bias: free)
    m1    = mean(xs, N H W)                 m2 = mean(xs * xs, N H W)    (each over W, then N H)
    mu_f  = m1 + c                          var_f = max(m2 - m1^2, 0)
    delta = mu_f - mu_p
    mu    = mu_p + w * delta                                  (= w mu_f + (1 - w) mu_p)
    var   = var_p + w * (var_f - var_p) + w (1 - w) delta^2
            (= w (var_f + (mu_f - mu)^2) + (1 - w) (var_p + (mu_p - mu)^2), expanded)
    y     = BatchNormalization(xs, gamma, beta, mean = mu - c, var = var, eps)
          = gamma (x - mu) / sqrt(var + eps) + beta

Why this form: the full-size work is the two reductions (of xs and xs * xs, which TensorRT can
merge) and ONE per-channel affine: a BatchNormalization whose mean and variance are graph
tensors. ONNX Runtime runs it as one pass (its kernel folds scale and shift per channel; a Mul
and an Add were two passes over the map), and the ONNX-TensorRT parser imports a BatchNorm with
non-initializer inputs as element-wise layers (its "Elementwise fallback"), which TensorRT fuses
with the residual Add and the ReLU that follow into one point-wise kernel. Raw moments lose
precision as (mean / std)^2; the shift keeps that ratio at the frame's distance from the source
statistics rather than its absolute mean, and the two-stage means keep each float32 sum short
(measured: tests/test_unfold_numerics.py). The shift also keeps FP16 engines exact enough: the
BatchNorm subtracts (mu - c), a small number, from xs, a small number.

The graph gains the input `norm_prior` [3, S] and the output `frame_stats` [2, S] (= [mu_f; var_f]
of every layer, concatenated in layout order). Every node computing statistics is named
``<layer>/stat/...`` so that an FP16 build keeps them in FP32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from edgedg_export.passes._graph import const, constant_values, op, opset_of, reduce_mean
from edgedg_runtime.layout import STAT_MARK, NormLayer, StatLayout

PRIOR, FRAME_STATS = "norm_prior", "frame_stats"


def layer_from_scale_name(node: gs.Node) -> str:
    """The norm layer of a BatchNormalization node, from its scale input: the exporter names it
    after the parameter, ``<module name>.weight``, even when it routes it through an Identity."""
    scale = node.inputs[1].name
    return scale[: -len(".weight")] if scale.endswith(".weight") else scale


def unfold_batchnorm(
    model: onnx.ModelProto,
    layout: StatLayout,
    layer_of: Callable[[gs.Node], str] = layer_from_scale_name,
) -> onnx.ModelProto:
    """Replace each BatchNormalization of ``model`` by its unfolded form (module docstring).

    ``layer_of`` maps a BN node to its layout layer name; every layout layer must match exactly
    one node and every BN node one layer, else ValueError (a bug, not a user error).
    """
    graph = gs.import_onnx(model)
    opset = opset_of(model)
    prior = gs.Variable(PRIOR, dtype=np.float32, shape=(3, layout.total))
    stats = [
        _unfold_one(graph, node, layer, prior, opset)
        for node, layer in _match_layers(graph, layout, layer_of)
    ]
    frame_stats = gs.Variable(FRAME_STATS, dtype=np.float32, shape=(2, layout.total))
    graph.nodes.append(
        gs.Node("Concat", "frame_stats/stat/concat", {"axis": 1}, stats, [frame_stats])
    )
    graph.inputs.append(prior)
    graph.outputs.append(frame_stats)
    graph.cleanup().toposort()
    return gs.export_onnx(graph)


def _match_layers(
    graph: gs.Graph, layout: StatLayout, layer_of: Callable[[gs.Node], str]
) -> list[tuple[gs.Node, NormLayer]]:
    """(node, layer) pairs in layout order; each layer matched exactly once."""
    by_name: dict[str, list[gs.Node]] = {}
    for node in graph.nodes:
        if node.op == "BatchNormalization":
            by_name.setdefault(layer_of(node), []).append(node)
    wanted = {layer.name for layer in layout.layers}
    problems = [f"{n}: {len(v)} nodes" for n, v in by_name.items() if n in wanted and len(v) != 1]
    problems += [f"{n}: no node" for n in sorted(wanted - set(by_name))]
    problems += [f"node for unknown layer {n}" for n in sorted(set(by_name) - wanted)]
    if problems:
        raise ValueError(
            "BatchNormalization nodes do not match the stat layout: " + "; ".join(problems)
        )
    return [(by_name[layer.name][0], layer) for layer in layout.layers]


def _unfold_one(
    graph: gs.Graph, node: gs.Node, layer: NormLayer, prior: gs.Variable, opset: int
) -> gs.Variable:
    """Rewire one BN node's output to the unfolded form; return its [2, C] frame statistics."""
    x, y, c, s = node.inputs[0], node.outputs[0], layer.channels, layer.name + STAT_MARK
    gamma = constant_values(node.inputs[1]).astype(np.float32).reshape(c)
    beta = constant_values(node.inputs[2]).astype(np.float32).reshape(c)
    centre = constant_values(node.inputs[3]).astype(np.float32).reshape(1, c, 1, 1)
    eps = float(node.attrs.get("epsilon", 1e-5))
    node.outputs.clear()  # the BN node is now dangling; cleanup() removes it

    def stat(kind: str, name: str, *inputs: gs.Tensor, **attrs) -> gs.Variable:
        return op(graph, kind, s + name, list(inputs), attrs)

    mu_p, var_p, w = _prior_rows(graph, prior, layer, s)
    xs = _shifted(graph, x, centre, layer.name)
    # The same shape: ONNX Runtime reorders the blocked (NCHWc) conv output to NCHW for it, once,
    # and the square then runs on that copy instead of getting a second reorder of its own.
    xr = stat("Reshape", "plain_layout", xs, const(s + "nchw", np.int64([0, c, -1, 0])))
    m1 = _mean_nhw(graph, xr, opset, s + "m1")
    m2 = _mean_nhw(graph, stat("Mul", "square", xr, xr), opset, s + "m2")
    c_shift = const(s + "shift", centre)
    mu_f = stat("Add", "mu_f", m1, c_shift)
    raw_var = stat("Sub", "raw_var", m2, stat("Mul", "m1_sq", m1, m1))
    var_f = stat("Max", "var_f", raw_var, const(s + "zero", np.zeros((1, 1, 1, 1))))

    delta = stat("Sub", "delta", mu_f, mu_p)
    mu = stat("Add", "mu", mu_p, stat("Mul", "w_delta", w, delta))
    one_minus_w = stat("Sub", "one_minus_w", const(s + "one", np.ones((1, 1, 1, 1))), w)
    between = stat(
        "Mul", "between", stat("Mul", "w_1mw", w, one_minus_w), stat("Mul", "delta2", delta, delta)
    )
    mixed = stat("Mul", "w_dvar", w, stat("Sub", "dvar", var_f, var_p))
    var = stat("Add", "var", stat("Add", "var0", var_p, mixed), between)

    # ONNX and the TensorRT parser want the four BatchNorm parameters as [C] vectors
    flat = const(s + "flat", np.int64([c]))
    mean_xs = stat("Reshape", "bn_mean", stat("Sub", "mu_minus_c", mu, c_shift), flat)
    graph.nodes.append(
        gs.Node(
            "BatchNormalization",
            layer.name + "/norm/bn",
            {"epsilon": eps},
            [
                xs,
                const(s + "gamma", gamma),
                const(s + "beta", beta),
                mean_xs,
                stat("Reshape", "bn_var", var, flat),
            ],
            [y],
        )
    )

    both = stat("Concat", "frame", mu_f, var_f, axis=0)
    return stat("Reshape", "frame_2c", both, const(s + "shape_2c", np.int64([2, c])))


def _mean_nhw(graph: gs.Graph, x: gs.Tensor, opset: int, name: str) -> gs.Variable:
    """Mean over N, H, W in two stages, over W (rows), then over N, H: each float32 sum runs
    over one row or one column of the map instead of the whole map, which keeps the raw moments
    within 1e-4 at (mean / std) = 10 on 128 x 256 maps (one stage: up to 1.2e-4). The first
    stage is the full-size pass; the second reads 1 / W of it."""
    rows = reduce_mean(graph, x, [3], opset, name + "_w")
    return reduce_mean(graph, rows, [0, 2], opset, name)


def _shifted(graph: gs.Graph, x: gs.Tensor, centre: np.ndarray, name: str) -> gs.Tensor:
    """``x - centre``: folded into the bias of the Conv that produces ``x`` when that Conv has
    constant weights and ``x`` feeds nothing else (every BN of our models); else a Sub node."""
    conv = x.inputs[0] if len(x.inputs) == 1 else None
    foldable = (
        conv is not None
        and conv.op == "Conv"
        and isinstance(conv.inputs[1], gs.Constant)
        and len(x.outputs) == 1
        and x not in graph.outputs
    )
    if not foldable:
        return op(graph, "Sub", name + "/norm/shift", [x, const(name + "/norm/centre", centre)])
    flat = centre.reshape(-1)
    if len(conv.inputs) > 2:
        conv.inputs[2] = const(name + "/norm/conv_bias", constant_values(conv.inputs[2]) - flat)
    else:
        conv.inputs.append(const(name + "/norm/conv_bias", -flat))
    return x


def _prior_rows(graph: gs.Graph, prior: gs.Variable, layer: NormLayer, s: str) -> list[gs.Variable]:
    """(mu_p, var_p, w), each [1, C, 1, 1], from the layer's columns of the [3, S] prior."""
    o, c = layer.offset, layer.channels
    bounds = [
        const(s + k, np.int64([v])) for k, v in (("p_start", o), ("p_end", o + c), ("p_axes", 1))
    ]
    cols = op(graph, "Slice", s + "prior", [prior, *bounds])
    rows = op(
        graph, "Reshape", s + "prior_4d", [cols, const(s + "p_shape", np.int64([3, c, 1, 1]))]
    )
    split = const(s + "p_split", np.int64([1, 1, 1]))
    return op(graph, "Split", s + "prior_rows", [rows, split], {"axis": 0}, n=3)
