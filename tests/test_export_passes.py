"""Each graph pass on a tiny hand-built graph, against numpy."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgedg_export.passes import add_labels, add_preprocessing, unfold_batchnorm
from edgedg_export.passes.fp16 import fp16_except_statistics
from edgedg_runtime.layout import StatLayout

RNG = np.random.default_rng(0)
C1, C2, EPS = 3, 4, 1e-3


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def _bn_graph(opset: int = 17) -> tuple[onnx.ModelProto, dict]:
    """input [N,2,5,6] -> Conv(2->C1) -> BN 'a' -> Relu -> Conv(C1->C2) -> BN 'b' -> logits."""
    p = {
        "w1": RNG.normal(size=(C1, 2, 3, 3)),
        "w2": RNG.normal(size=(C2, C1, 1, 1)),
        "a.weight": RNG.uniform(0.5, 1.5, C1),
        "a.bias": RNG.normal(size=C1),
        "b.weight": RNG.uniform(0.5, 1.5, C2),
        "b.bias": RNG.normal(size=C2),
    }
    for name, c in (("a", C1), ("b", C2)):
        p[f"{name}.running_mean"] = RNG.normal(size=c)
        p[f"{name}.running_var"] = RNG.uniform(0.5, 2, c)
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node(
            "BatchNormalization",
            ["c1", "a.weight", "a.bias", "a.running_mean", "a.running_var"],
            ["y1"],
            epsilon=EPS,
        ),
        helper.make_node("Relu", ["y1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"]),
        helper.make_node(
            "BatchNormalization",
            ["c2", "b.weight", "b.bias", "b.running_mean", "b.running_var"],
            ["logits"],
            epsilon=EPS,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 5, 6])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", C2, 5, 6])],
        [_init(k, v) for k, v in p.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return model, p


def _conv(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    n, _, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(k):
        for j in range(k):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i : i + h, j : j + wd], w[:, :, i, j])
    return out


def _unfolded(x: np.ndarray, prior: np.ndarray, gamma, beta) -> tuple[np.ndarray, np.ndarray]:
    """DESIGN section 2, literally, in float64."""
    mu_f = x.mean(axis=(0, 2, 3))
    var_f = ((x - mu_f[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
    mu_p, var_p, w = prior
    mu = w * mu_f + (1 - w) * mu_p
    var = w * (var_f + (mu_f - mu) ** 2) + (1 - w) * (var_p + (mu_p - mu) ** 2)
    y = (
        gamma[None, :, None, None]
        * (x - mu[None, :, None, None])
        / np.sqrt(var[None, :, None, None] + EPS)
        + beta[None, :, None, None]
    )
    return y, np.stack([mu_f, var_f])


def _reference(x: np.ndarray, prior: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    y1, s1 = _unfolded(_conv(x, p["w1"], 1), prior[:, :C1], p["a.weight"], p["a.bias"])
    y2, s2 = _unfolded(
        _conv(np.maximum(y1, 0), p["w2"], 0), prior[:, C1:], p["b.weight"], p["b.bias"]
    )
    return y2, np.concatenate([s1, s2], axis=1)


LAYOUT = StatLayout.from_channels([("a", C1, False), ("b", C2, False)])


def _feeds(x: np.ndarray, prior: np.ndarray, pooled: bool) -> dict[str, np.ndarray]:
    """One pooled batch (prior [3, S] for every image, batch_mix 1/N) or each image alone."""
    n = x.shape[0]
    priors = np.broadcast_to(prior, (n, *prior.shape)) if pooled else prior
    mix = np.full((n, n), 1.0 / n, np.float32) if pooled else np.eye(n, dtype=np.float32)
    return {"input": x, "norm_prior": np.ascontiguousarray(priors, np.float32), "batch_mix": mix}


def _prior(w: float) -> np.ndarray:
    return np.stack(
        [RNG.normal(size=C1 + C2), RNG.uniform(0.5, 2, C1 + C2), np.full(C1 + C2, w)]
    ).astype(np.float32)


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize("w", [0.0, 1.0, 0.25])
def test_unfold_matches_numpy_formula(opset: int, w: float) -> None:
    model, p = _bn_graph(opset)
    unfolded = unfold_batchnorm(model, LAYOUT)
    onnx.checker.check_model(unfolded, full_check=True)
    constants = {t.name for t in unfolded.graph.initializer}
    bns = [n for n in unfolded.graph.node if n.op_type == "BatchNormalization"]
    # one BatchNorm per layer, its mean and variance computed in the graph, never the running stats
    assert len(bns) == len(LAYOUT.layers)
    assert all(n.input[3] not in constants and n.input[4] not in constants for n in bns)
    assert [i.name for i in unfolded.graph.input] == ["input", "norm_prior", "batch_mix"]
    assert [o.name for o in unfolded.graph.output] == ["logits", "frame_stats"]
    x = RNG.normal(1.0, 2.0, size=(2, 2, 5, 6)).astype(np.float32)
    prior = _prior(w)
    sess = ort.InferenceSession(unfolded.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, stats = sess.run(None, _feeds(x, prior, pooled=True))
    ref_logits, ref_stats = _reference(x.astype(np.float64), prior.astype(np.float64), p)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-4)
    for row in stats:  # pooled: every image's row holds the batch's statistics
        np.testing.assert_allclose(row, ref_stats, rtol=1e-5, atol=1e-5)


def test_unfold_each_image_alone_with_its_own_prior() -> None:
    """batch_mix = identity: image n is normalised with its own statistics and prior n, as if it
    ran alone (a camera rig)."""
    model, p = _bn_graph()
    sess = ort.InferenceSession(
        unfold_batchnorm(model, LAYOUT).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    x = RNG.normal(1.0, 2.0, size=(3, 2, 5, 6)).astype(np.float32)
    x[1] = x[1] * 3 - 2  # another "camera style"
    priors = np.stack([_prior(w) for w in (0.0, 1.0, 0.25)])
    logits, stats = sess.run(None, _feeds(x, priors, pooled=False))
    for n in range(3):
        ref_logits, ref_stats = _reference(x[n : n + 1].astype(np.float64), priors[n], p)
        np.testing.assert_allclose(logits[n : n + 1], ref_logits, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(stats[n], ref_stats, rtol=1e-5, atol=1e-5)


def test_unfold_params_are_rank_one() -> None:
    """The ONNX-TensorRT parser imports a BatchNormalization with computed parameters only when
    all four are rank 1: per-image parameters are [N * C] on a [1, N * C, H, W] view."""
    model, _ = _bn_graph()
    unfolded = onnx.shape_inference.infer_shapes(unfold_batchnorm(model, LAYOUT))
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in unfolded.graph.value_info}
    for node in (n for n in unfolded.graph.node if n.op_type == "BatchNormalization"):
        assert [ranks[name] for name in node.input[1:]] == [1, 1, 1, 1]


def test_unfold_source_prior_equals_batchnorm() -> None:
    """w = 0 with the running stats as prior is the original (folded-able) BatchNorm."""
    model, p = _bn_graph()
    x = RNG.normal(size=(1, 2, 5, 6)).astype(np.float32)
    bn = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = bn.run(None, {"input": x})
    prior = np.zeros((3, C1 + C2), np.float32)
    prior[0] = np.concatenate([p["a.running_mean"], p["b.running_mean"]])
    prior[1] = np.concatenate([p["a.running_var"], p["b.running_var"]])
    sess = ort.InferenceSession(
        unfold_batchnorm(model, LAYOUT).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    logits, _ = sess.run(None, _feeds(x, prior, pooled=True))
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_unfold_refuses_a_layout_that_does_not_match() -> None:
    model, _ = _bn_graph()
    wrong = StatLayout.from_channels([("a", C1, False), ("c", C2, False)])
    with pytest.raises(ValueError, match="c: no node"):
        unfold_batchnorm(model, wrong)


def _identity_graph() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["logits"])],
        "id",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 4, 5])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, 4, 5])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("io", ["uint8", "float"])
def test_preprocessing_is_bgr_nhwc_normalisation(io: str) -> None:
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    model = add_preprocessing(_identity_graph(), mean, std, io)
    onnx.checker.check_model(model, full_check=True)
    img = RNG.integers(0, 256, size=(2, 4, 5, 3)).astype(np.uint8 if io == "uint8" else np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"image": img})
    rgb = img[..., ::-1].astype(np.float64).transpose(0, 3, 1, 2) / 255.0
    expected = (rgb - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["uint8", "int32"])
@pytest.mark.parametrize("keep", [False, True])
def test_labels_are_argmax_over_classes(dtype: str, keep: bool) -> None:
    model = add_labels(_identity_graph(), dtype, keep_logits=keep)
    onnx.checker.check_model(model, full_check=True)
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    assert names == (["labels", "logits"] if keep else ["labels"])
    out = sess.run(None, {"input": x})[0]
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, x.argmax(1))


def test_uint8_labels_cast_from_float_and_stay_exact_for_256_classes() -> None:
    """TensorRT 8.5/8.6 convert to UINT8 only from FLOAT/HALF: the UINT8 Cast reads a float;
    indices up to 255 survive the float detour exactly."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["logits"])],
        "id",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 256, 2, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 256, 2, 3])],
    )
    model = add_labels(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    (to_uint8,) = [
        n
        for n in inferred.graph.node
        if n.op_type == "Cast" and n.attribute[0].i == TensorProto.UINT8
    ]
    assert types[to_uint8.input[0]] == TensorProto.FLOAT
    x = RNG.normal(size=(1, 256, 2, 3)).astype(np.float32)
    x[0, 255, 0, 0] = x[0, 254, 1, 2] = 100.0
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": x})[0]
    np.testing.assert_array_equal(out, x.argmax(1))
    assert out[0, 0, 0] == 255 and out[0, 1, 2] == 254


def test_fp16_pass_keeps_statistics_fp32() -> None:
    model, _ = _bn_graph()
    unfolded = onnx.shape_inference.infer_shapes(unfold_batchnorm(model, LAYOUT))
    half = fp16_except_statistics(unfolded)
    onnx.checker.check_model(half, full_check=True)
    types = {v.name: v.type.tensor_type.elem_type for v in half.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in half.graph.output})
    by_node = {n.name: types.get(n.output[0]) for n in half.graph.node}
    stat = [t for name, t in by_node.items() if "/stat/" in name]
    convs = [by_node[n.name] for n in half.graph.node if n.op_type == "Conv"]
    assert stat and all(t == TensorProto.FLOAT for t in stat)
    assert convs and all(t == TensorProto.FLOAT16 for t in convs)
    assert [types[o.name] for o in half.graph.output] == [TensorProto.FLOAT] * 2
    x = RNG.normal(size=(1, 2, 5, 6)).astype(np.float32)
    prior = np.stack([np.zeros(7), np.ones(7), np.ones(7)]).astype(np.float32)
    run = {
        k: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        for k, m in (("fp32", unfolded), ("fp16", half))
    }
    a, b = (run[k].run(None, _feeds(x, prior, pooled=True)) for k in ("fp32", "fp16"))
    np.testing.assert_allclose(b[0], a[0], atol=2e-2)  # FP16 body
    np.testing.assert_allclose(b[1], a[1], rtol=2e-3, atol=2e-3)  # statistics of an FP16 conv
