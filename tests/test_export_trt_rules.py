"""The parser rules of `edgedg check --trt`, one tiny hand-built graph per rule: each graph that
breaks a rule FAILS the check on the versions whose parser refuses it, and passes elsewhere."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgedg_export import trt_check

ALL = trt_check.VERSIONS
V8 = ("8.5", "8.6")
V10 = ("10.3", "10", "11")


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    """Inputs/outputs as (name, elem_type, shape); initializers as (name, numpy array)."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _problems(model: onnx.ModelProto, version: str) -> list[str]:
    """What ``version`` refuses (warnings left out)."""
    findings = trt_check.check_graph(model, version, "hand.onnx")
    return [f.problem for f in findings if not f.warning]


def _warnings(model: onnx.ModelProto, version: str) -> list[str]:
    return [f.problem for f in trt_check.check_graph(model, version, "hand.onnx") if f.warning]


def _failing(model: onnx.ModelProto, needle: str) -> tuple[str, ...]:
    """The versions whose findings mention ``needle``."""
    return tuple(v for v in ALL if any(needle in p for p in _problems(model, v)))


# --- Q/DQ -------------------------------------------------------------------------------------

F = TensorProto.FLOAT
I8 = np.int8


def _qdq_conv(
    w_zp=None, a_zp=None, w_scale=None, axis=0, opset=13, w_shape=(4, 3, 1, 1), a_scale=None
) -> onnx.ModelProto:
    """x -> Q -> DQ -> Conv <- DQ(int8 weights, per-channel): the graph explicit INT8 needs."""
    k = w_shape[0]
    w_scale = np.full(k, 0.1, np.float32) if w_scale is None else w_scale
    a_scale = np.float32(0.05) if a_scale is None else a_scale
    w_zp = np.zeros(k, I8) if w_zp is None else w_zp
    a_zp = I8(0) if a_zp is None else a_zp
    inits = [
        ("w_q", np.ones(w_shape, I8)),
        ("w_s", w_scale),
        ("w_zp", w_zp),
        ("a_s", a_scale),
        ("a_zp", a_zp),
    ]
    w_attrs = {} if axis is None else {"axis": axis}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "a_s", "a_zp"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "a_s", "a_zp"], ["xd"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w"], name="dq_w", **w_attrs),
        helper.make_node("Conv", ["xd", "w"], ["y"], name="conv"),
    ]
    c = w_shape[1]
    return _model(nodes, [("x", F, [1, c, 8, 8])], [("y", F, [1, k, 8, 8])], inits, opset)


def test_qdq_conv_passes_every_version() -> None:
    """DQ -> Conv weights: a tensor W goes to the multi-input conv path on 8.5/8.6 too."""
    for v in ALL:
        assert _problems(_qdq_conv(), v) == [], v


def test_qdq_zero_point_must_be_zero() -> None:
    assert _failing(_qdq_conv(a_zp=I8(3)), "zero point") == ALL


def test_qdq_uint8_zero_point_on_quantize_is_rejected() -> None:
    model = _qdq_conv(a_zp=np.uint8(0))
    assert _failing(model, "UINT8") == ALL


def test_qdq_zero_point_required_on_8x_only() -> None:
    model = _qdq_conv()
    for node in model.graph.node:
        if node.name in ("q_x", "dq_x"):
            del node.input[2]
    assert _failing(model, "3 inputs") == V8


def test_qdq_scales_must_be_positive_on_every_version() -> None:
    """8.x builtin_op_importers.cpp and 10.x onnxOpImporters.cpp both assert it (kINVALID_NODE)."""
    scale = np.array([0.1, 0.0, 0.1, 0.1], np.float32)
    assert _failing(_qdq_conv(w_scale=scale), "positive") == ALL
    assert _failing(_qdq_conv(a_scale=np.float32(-0.05)), "positive") == ALL


def test_qdq_per_channel_scale_count_must_equal_dim_axis() -> None:
    assert _failing(_qdq_conv(w_scale=np.full(3, 0.1, np.float32), w_zp=np.zeros(3, I8)), "scales")


def test_qdq_missing_axis_means_0_before_10_16_and_1_after() -> None:
    """W [4, 3, 1, 1] with 4 scales: axis 0 fits, axis 1 does not."""
    assert _failing(_qdq_conv(axis=None), "scales") == ("10", "11")


def test_qdq_activations_are_per_tensor() -> None:
    model = _qdq_conv(a_scale=np.full(3, 0.05, np.float32), a_zp=np.zeros(3, I8))
    for node in model.graph.node:
        if node.name in ("q_x", "dq_x"):
            node.attribute.append(helper.make_attribute("axis", 1))
    assert _failing(model, "per-channel") == ALL


def test_qdq_per_tensor_at_opset_10_to_12_passes_every_version() -> None:
    """QuantizeLinear-10 (scalar scale and zero point) parses on every version: the importers
    read the node the same way at any opset."""
    for opset in (10, 11, 12):
        model = _qdq_conv(w_scale=np.float32(0.1), w_zp=I8(0), axis=None, opset=opset)
        for v in ALL:
            assert _problems(model, v) == [] and _warnings(model, v) == [], (opset, v)


def test_qdq_per_channel_below_opset_13_is_a_warning_not_a_failure() -> None:
    """The parsers read it along axis 0; QuantizeLinear-10 itself allows only a scalar scale."""
    model = _qdq_conv(opset=12, axis=None)
    assert _failing(model, "") == ()
    assert all(any("opset 13" in w for w in _warnings(model, v)) for v in ALL)


def test_qdq_missing_axis_below_opset_13_means_0_on_every_version() -> None:
    """W [3, 4, 1, 1] with 3 scales and no axis at opset 12: axis 0, also on 10.16+ / 11."""
    model = _qdq_conv(w_shape=(3, 4, 1, 1), axis=None, opset=12)
    assert _failing(model, "scales") == ()


def test_qdq_dequantize_reads_int8() -> None:
    model = _qdq_conv()
    w = next(t for t in model.graph.initializer if t.name == "w_q")
    w.CopyFrom(numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w_q"))
    assert _failing(model, "INT8") == ALL


# --- normalisation ----------------------------------------------------------------------------


def _computed_bn(shape, training_mode=None) -> onnx.ModelProto:
    """BatchNormalization whose four parameters are graph inputs (computed, not weights)."""
    names = ["scale", "b", "mean", "var"]
    attrs = {} if training_mode is None else {"training_mode": training_mode}
    node = helper.make_node("BatchNormalization", ["x", *names], ["y"], name="bn", **attrs)
    ins = [("x", F, [1, 4, 8, 8])] + [(n, F, list(shape)) for n in names]
    return _model([node], ins, [("y", F, [1, 4, 8, 8])], opset=15)


def test_batchnorm_with_computed_rank1_parameters_passes() -> None:
    for v in ALL:
        assert _problems(_computed_bn([4]), v) == [], v


@pytest.mark.parametrize("shape", [[1, 4], [1, 4, 1, 1]])
def test_batchnorm_parameters_must_be_rank_1(shape) -> None:
    assert _failing(_computed_bn(shape), "rank 1") == ALL


def test_batchnorm_training_mode_is_rejected() -> None:
    assert _failing(_computed_bn([4], training_mode=1), "training_mode") == ALL


def test_instance_norm_scale_and_bias_must_be_initializers_on_8x() -> None:
    node = helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], name="inorm")
    ins = [("x", F, [1, 4, 8, 8]), ("s", F, [4]), ("b", F, [4])]
    assert _failing(_model([node], ins, [("y", F, [1, 4, 8, 8])]), "initializer") == V8


# --- other importer restrictions --------------------------------------------------------------


def test_reduce_sum_axes_must_be_an_initializer() -> None:
    node = helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="rsum")
    ins = [("x", F, [1, 4]), ("axes", TensorProto.INT64, [1])]
    assert _failing(_model([node], ins, [("y", F, None)], opset=13), "computed") == ALL


def test_identity_of_an_initializer_is_not_a_constant() -> None:
    """8.x: TopK's K must be an initializer; an Identity of one is a tensor to the parser."""
    nodes = [
        helper.make_node("Identity", ["k0"], ["k"], name="ident"),
        helper.make_node("TopK", ["x", "k"], ["y", "i"], name="topk"),
    ]
    model = _model(nodes, [("x", F, [1, 4])], [("y", F, None)], [("k0", np.array([2], np.int64))])
    assert _failing(model, "computed") == V8


def test_uint8_cast_to_a_non_float_type_fails() -> None:
    node = helper.make_node("Cast", ["img"], ["y"], name="cast", to=TensorProto.INT32)
    model = _model([node], [("img", TensorProto.UINT8, [1, 4])], [("y", TensorProto.INT32, [1, 4])])
    assert _failing(model, "UINT8 -> INT32") == ALL


@pytest.mark.parametrize(
    "equation,inputs,fails",
    [
        ("ij,jk->ik", [[2, 3], [3, 4]], ()),
        ("...ij,jk->...ik", [[5, 2, 3], [3, 4]], V8),
        ("ii->i", [[3, 3]], V8),
        ("ij,ij->ij", [[1, 3], [2, 3]], V8),
    ],
)
def test_einsum_ellipsis_diagonal_and_broadcasting_fail_on_8x(equation, inputs, fails) -> None:
    names = [f"in{i}" for i in range(len(inputs))]
    node = helper.make_node("Einsum", names, ["y"], name="einsum", equation=equation)
    model = _model(
        [node], [(n, F, s) for n, s in zip(names, inputs, strict=True)], [("y", F, None)], opset=12
    )
    assert _failing(model, "Einsum") == fails


def test_pad_axes_must_be_an_initializer_before_10_4() -> None:
    node = helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], name="pad")
    ins = [("x", F, [1, 4]), ("axes", TensorProto.INT64, [1])]
    model = _model([node], ins, [("y", F, None)], [("pads", np.array([1, 1], np.int64))], 18)
    assert _failing(model, "computed") == ("10.3",)


@pytest.mark.parametrize("op", ["Squeeze", "Unsqueeze"])
def test_tensor_axes_for_squeeze_parse_from_10_7(op) -> None:
    node = helper.make_node(op, ["x", "axes"], ["y"], name="sq")
    ins = [("x", F, [1, 4]), ("axes", TensorProto.INT64, [1])]
    model = _model([node], ins, [("y", F, None)], opset=13)
    assert _failing(model, "computed") == ("8.5", "8.6", "10.3")


def test_window_ops_are_not_in_10_3() -> None:
    node = helper.make_node("HannWindow", ["n"], ["y"], name="hann")
    model = _model([node], [], [("y", F, [8])], [("n", np.int64(8))], opset=17)
    assert _failing(model, "not supported") == ("8.5", "8.6", "10.3")


# --- wrongly failing before: operators, types and modes the parsers accept -----------------------


@pytest.mark.parametrize("op", ["Trilu", "Reciprocal", "NonZero", "MeanVarianceNormalization"])
def test_ops_of_the_8_5_table_pass(op) -> None:
    node = helper.make_node(op, ["x"], ["y"], name="op")
    model = _model([node], [("x", F, [2, 3, 4, 4])], [("y", F, None)], opset=14)
    assert _failing(model, "not supported") == ()


def test_layer_normalization_and_int32_argmax_pass_on_8_6() -> None:
    nodes = [
        helper.make_node("LayerNormalization", ["x", "g"], ["n"], name="ln"),
        helper.make_node("Cast", ["n"], ["i"], name="to_i32", to=TensorProto.INT32),
        helper.make_node("ArgMax", ["i"], ["a"], name="argmax", axis=1),
        helper.make_node("Cast", ["a"], ["y"], name="out", to=TensorProto.INT32),
    ]
    g = np.ones(4, np.float32)
    model = _model(nodes, [("x", F, [1, 4])], [("y", TensorProto.INT32, None)], [("g", g)])
    assert _problems(model, "8.6") == []
    assert _failing(model, "LayerNormalization") == ("8.5",)


def test_bfloat16_io_passes_on_10_and_11() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    bf16 = TensorProto.BFLOAT16
    model = _model([node], [("x", bf16, [1, 4])], [("y", bf16, [1, 4])])
    assert _failing(model, "bfloat16") == V8


def test_resize_cubic_passes() -> None:
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="resize", mode="cubic")
    scales = np.array([1, 1, 2, 2], np.float32)
    model = _model([node], [("x", F, [1, 1, 4, 4])], [("y", F, None)], [("scales", scales)], 13)
    assert _failing(model, "") == ()


def test_every_restriction_cites_its_source() -> None:
    for v in ALL:
        rules = trt_check.rules_for(v)
        for op, rule in rules["restrictions"].items():
            assert rule.get("cite"), (v, op)
        assert rules["qdq"].get("cite"), v


# --- where Q/DQ may sit (placement recommendations: warnings, never failures) -------------------


def test_qdq_pair_feeding_a_conv_has_no_placement_warning() -> None:
    for v in ALL:
        assert _warnings(_qdq_conv(), v) == [], v


def test_quantize_must_feed_dequantize() -> None:
    """x -> Q -> Reshape -> DQ: TensorRT expects a Q/DQ pair; a warning on every version."""
    model = _qdq_conv()
    q = next(n for n in model.graph.node if n.name == "q_x")
    q.output[0] = "xq0"
    model.graph.node.insert(1, helper.make_node("Identity", ["xq0"], ["xq"], name="ident"))
    assert all(any("not a DequantizeLinear" in w for w in _warnings(model, v)) for v in ALL)
    assert _failing(model, "") == ()


def test_weighted_op_with_only_its_weights_quantized_warns() -> None:
    model = _qdq_conv()
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    conv.input[0] = "x"
    assert all(any("quantize all inputs" in w for w in _warnings(model, v)) for v in ALL)


@pytest.mark.parametrize(
    "op,w_shape,axis,warns",
    [
        ("Conv", (4, 4, 1, 1), 0, False),
        ("Conv", (4, 4, 1, 1), 1, True),
        ("ConvTranspose", (4, 4, 1, 1), 1, False),
        ("ConvTranspose", (4, 4, 1, 1), 0, True),
    ],
)
def test_weights_are_quantized_along_the_output_channel_axis(op, w_shape, axis, warns) -> None:
    """Conv W is [M, C, kH, kW] (axis 0); ConvTranspose W is [C, M/group, kH, kW] (axis 1)."""
    model = _qdq_conv(w_shape=w_shape, axis=axis)
    next(n for n in model.graph.node if n.op_type == "Conv").op_type = op
    for v in ALL:
        found = any("output-channel axis" in w for w in _warnings(model, v))
        assert found == warns, (op, axis, v)
        assert _problems(model, v) == [], (op, axis, v)
