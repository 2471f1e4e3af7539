"""Pass: every BatchNormalization -> the unfolded form of DESIGN section 2, fed per image by
`norm_prior` [N, 3, S] and mixed across the batch by `batch_mix` [N, N].

For the layer's channels (offset o, count C), image n with (mu_p, var_p, w) =
norm_prior[n, :, o:o+C] and the shift c = the layer's source running mean (an initializer):

    xs      = x - c                         (folded into the producing Conv's bias: free)
    xv      = xs viewed as [1, N*C, H, W]   (a Reshape: no copy; image n's channels side by side)
    m1, m2  = mean(xv), mean(xv * xv) over H W, each [N, C]   (over W, then H)
    M1 | M2 = batch_mix @ [m1 | m2]         ([N, N] x [N, 2C]: identity = each image alone;
                                             1/N everywhere = one pooled batch, exact: raw moments)
    mu_f    = M1 + c                        var_f = max(M2 - M1^2, 0)
    delta   = mu_f - mu_p
    mu      = mu_p + w * delta                                (= w mu_f + (1 - w) mu_p)
    var     = var_p + w * (var_f - var_p) + w (1 - w) delta^2
    y       = BatchNormalization(xv, tile(gamma), tile(beta), mean = (mu - c) as [N*C],
                                 var = var as [N*C], eps), viewed back as [N, C, H, W]

Why this form: the full-size work is the two reductions and ONE per-channel affine, a
BatchNormalization whose parameters are graph tensors. Viewing the map as [1, N*C, H, W] gives
each image its own parameters while every BatchNormalization parameter stays rank 1 ([N*C]), the
form the ONNX-TensorRT parser imports through its element-wise fallback on every version
(8.5 to 11; a [1, N*C, 1, 1] or [N, C] parameter is kINVALID_NODE), and ONNX Runtime runs it as
one pass. The moments read the same view, so ONNX Runtime reorders a blocked (NCHWc) conv output
to NCHW once per layer. Raw moments lose precision as (mean / std)^2; the shift keeps that ratio
at the frame's distance from the source statistics, and the two-stage means keep each float32 sum
short (tests/test_unfold_numerics.py). The mixing MatMul is [N, N] x [N, 2C] in float32.

The graph gains the inputs `norm_prior` [N, 3, S] and `batch_mix` [N, N] and the output
`frame_stats` [N, 2, S] (= [mu_f; var_f] of every layer for each image, after mixing, concatenated
in layout order). Every node computing statistics is named ``<layer>/stat/...`` so that an FP16
build keeps them in FP32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from edgedg_export.passes._graph import const, constant_values, op, opset_of, reduce_mean
from edgedg_runtime.layout import STAT_MARK, NormLayer, StatLayout

PRIOR, MIX, FRAME_STATS = "norm_prior", "batch_mix", "frame_stats"


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
    prior = gs.Variable(PRIOR, dtype=np.float32, shape=("N", 3, layout.total))
    mix = gs.Variable(MIX, dtype=np.float32, shape=("N", "N"))
    # [N] as a 1-D tensor, once: how often each layer tiles its gamma and beta
    dims = op(graph, "Shape", "batch/count/shape", [mix])
    first = [const(f"batch/count/{k}", np.int64([v])) for k, v in (("n0", 0), ("n1", 1))]
    n = op(graph, "Slice", "batch/count/n", [dims, *first])
    matched = _match_layers(graph, layout, layer_of)
    priors = _prior_rows(graph, prior, layout)
    stats = [
        _unfold_one(graph, node, layer, priors[i], (mix, n), opset)
        for i, (node, layer) in enumerate(matched)
    ]
    # every layer's mu_f side by side, then every var_f: two Concats for the whole graph
    rows = [
        op(graph, "Concat", f"frame_stats/stat/{k}", [s[j] for s in stats], {"axis": 2})
        for j, k in enumerate(("mu_f", "var_f"))
    ]
    frame_stats = gs.Variable(FRAME_STATS, dtype=np.float32, shape=("N", 2, layout.total))
    graph.nodes.append(
        gs.Node("Concat", "frame_stats/stat/concat", {"axis": 1}, rows, [frame_stats])
    )
    graph.inputs += [prior, mix]
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
    graph: gs.Graph, node: gs.Node, layer: NormLayer, prior: list, batch: tuple, opset: int
) -> tuple[gs.Variable, gs.Variable]:
    """Rewire one BN node's output to the unfolded form; return its frame statistics (mu_f,
    var_f), each [N, 1, C]. ``prior``: the layer's (mu_p, var_p, w), each [N, 1, C];
    ``batch``: the graph's (batch_mix, [N]) tensors."""
    x, y, c, s = node.inputs[0], node.outputs[0], layer.channels, layer.name + STAT_MARK
    mix, n = batch
    gamma = constant_values(node.inputs[1]).astype(np.float32).reshape(c)
    beta = constant_values(node.inputs[2]).astype(np.float32).reshape(c)
    centre = constant_values(node.inputs[3]).astype(np.float32).reshape(c)
    eps = float(node.attrs.get("epsilon", 1e-5))
    node.outputs.clear()  # the BN node is now dangling; cleanup() removes it

    def stat(kind: str, name: str, *inputs: gs.Tensor, **attrs) -> gs.Variable:
        return op(graph, kind, s + name, list(inputs), attrs)

    def shape(name: str, dims: list[int]) -> gs.Constant:
        return const(s + name, np.int64(dims))

    mu_p, var_p, w = prior
    xs = _shifted(graph, x, centre.reshape(1, c, 1, 1), layer.name)
    # Each image's channels side by side: per-image parameters for a rank-1 BatchNormalization.
    # Not a stat node: in an FP16 graph the map stays FP16 (the moments cast their own copy).
    xv = op(graph, "Reshape", layer.name + "/norm/view", [xs, const(s + "view", [1, -1, 0, 0])])
    m1 = _mean_hw(graph, xv, opset, s + "m1")
    m2 = _mean_hw(graph, stat("Mul", "square", xv, xv), opset, s + "m2")
    per_image = shape("per_image", [-1, c])
    moments = stat(
        "Concat",
        "moments",
        stat("Reshape", "m1_nc", m1, per_image),
        stat("Reshape", "m2_nc", m2, per_image),
        axis=1,
    )
    mixed_moments = stat("MatMul", "mix", mix, moments)  # [N, N] x [N, 2C]
    rows = stat("Reshape", "mixed_rows", mixed_moments, shape("rows", [0, 2, c]))
    big_m1, big_m2 = op(
        graph, "Split", s + "mixed_split", [rows, shape("split2", [1, 1])], {"axis": 1}, n=2
    )
    c_shift = const(s + "shift", centre.reshape(1, 1, c))
    mu_f = stat("Add", "mu_f", big_m1, c_shift)
    raw_var = stat("Sub", "raw_var", big_m2, stat("Mul", "m1_sq", big_m1, big_m1))
    var_f = stat("Max", "var_f", raw_var, const(s + "zero", np.zeros((1, 1, 1))))

    delta = stat("Sub", "delta", mu_f, mu_p)
    mu = stat("Add", "mu", mu_p, stat("Mul", "w_delta", w, delta))
    one_minus_w = stat("Sub", "one_minus_w", const(s + "one", np.ones((1, 1, 1))), w)
    between = stat(
        "Mul", "between", stat("Mul", "w_1mw", w, one_minus_w), stat("Mul", "delta2", delta, delta)
    )
    mixed = stat("Mul", "w_dvar", w, stat("Sub", "dvar", var_f, var_p))
    var = stat("Add", "var", stat("Add", "var0", var_p, mixed), between)

    # ONNX and the TensorRT parser want the four BatchNorm parameters as rank-1 [N*C] vectors
    flat = shape("flat", [-1])
    mean_xs = stat("Reshape", "bn_mean", stat("Sub", "mu_minus_c", mu, c_shift), flat)
    yv = op(
        graph,
        "BatchNormalization",
        layer.name + "/norm/bn",
        [
            xv,
            stat("Tile", "gamma_n", const(s + "gamma", gamma), n),
            stat("Tile", "beta_n", const(s + "beta", beta), n),
            mean_xs,
            stat("Reshape", "bn_var", var, flat),
        ],
        {"epsilon": eps},
    )
    back = const(s + "unview", np.int64([-1, c, 0, 0]))
    graph.nodes.append(gs.Node("Reshape", layer.name + "/norm/unview", {}, [yv, back], [y]))
    return mu_f, var_f


def _mean_hw(graph: gs.Graph, x: gs.Tensor, opset: int, name: str) -> gs.Variable:
    """Mean over H, W in two stages, over W (rows), then over H: each float32 sum runs over one
    row or one column of the map instead of the whole map, which keeps the raw moments within
    1e-4 at (mean / std) = 10 on 128 x 256 maps (one stage: up to 1.2e-4). The first stage is the
    full-size pass; the second reads 1 / W of it."""
    rows = reduce_mean(graph, x, [3], opset, name + "_w")
    return reduce_mean(graph, rows, [2], opset, name)


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


def _prior_rows(graph: gs.Graph, prior: gs.Variable, layout: StatLayout) -> list[list]:
    """Per layer (mu_p, var_p, w), each [N, 1, C], from the [N, 3, S] prior: one Split into the
    three rows and one Split per row into the layers, for the whole graph (a Slice and a Split
    per layer would be 2 x L more nodes, each a fixed cost per frame on ONNX Runtime)."""
    split3 = const("norm_prior/stat/rows_split", np.int64([1, 1, 1]))
    rows = op(graph, "Split", "norm_prior/stat/rows", [prior, split3], {"axis": 1}, n=3)
    sizes = const("norm_prior/stat/layer_split", np.int64([x.channels for x in layout.layers]))
    per_row = [
        _split(graph, row, sizes, f"norm_prior/stat/{k}_layers", len(layout.layers))
        for row, k in zip(rows, ("mu_p", "var_p", "w"), strict=True)
    ]
    return [list(values) for values in zip(*per_row, strict=True)]


def _split(graph: gs.Graph, x: gs.Tensor, sizes: gs.Constant, name: str, n: int) -> list:
    out = op(graph, "Split", name, [x, sizes], {"axis": 2}, n=n)
    return out if n > 1 else [out]
