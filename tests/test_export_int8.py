"""The INT8 (Q/DQ) variants: where the quantizer puts Q/DQ, what the export writes, what the runtime
runs. The statistic subgraph must stay FP32 and read unquantized values."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from _eval_helpers import write_domain
from _export_helpers import export_tiny
from onnx import TensorProto, helper, numpy_helper

from edgedg_export.calibrate import FeedReader, Int8Options, calibration_specs
from edgedg_export.passes import unfold_batchnorm
from edgedg_export.passes.int8 import qdq_counts, qdq_from_onnx, statistics_unquantized
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.layout import STAT_MARK, StatLayout

RNG = np.random.default_rng(0)
LAYOUT = StatLayout.from_channels([("a", 4, False), ("b", 5, False)])


def _unfolded_graph() -> onnx.ModelProto:
    """input -> Conv -> BN 'a' -> Relu -> Conv -> BN 'b' (+ residual-free), unfolded: the segment
    graph's pattern, each BN's statistics reading the Conv output."""
    inits = {
        "w1": RNG.normal(size=(4, 3, 3, 3)),
        "w2": RNG.normal(size=(5, 4, 1, 1)),
    }
    for name, c in (("a", 4), ("b", 5)):
        inits |= {
            f"{name}.weight": RNG.uniform(0.5, 1.5, c),
            f"{name}.bias": RNG.normal(size=c),
            f"{name}.running_mean": RNG.normal(size=c),
            f"{name}.running_var": RNG.uniform(0.5, 2, c),
        }
    bn = [f"{{}}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", *[k.format("a") for k in bn]], ["y1"]),
        helper.make_node("Relu", ["y1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
        helper.make_node("BatchNormalization", ["c2", *[k.format("b") for k in bn]], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 6, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5, 6, 8])],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return unfold_batchnorm(model, LAYOUT)


def _feeds(n: int = 4) -> list[dict]:
    prior = np.ones((1, 3, LAYOUT.total), np.float32)  # target: w = 1, one image
    mix = np.ones((1, 1), np.float32)  # one image: its own statistics
    return [
        {
            "input": RNG.normal(size=(1, 3, 6, 8)).astype(np.float32),
            "norm_prior": prior,
            "batch_mix": mix,
        }
        for _ in range(n)
    ]


def assert_statistics_float(model: onnx.ModelProto) -> None:
    """The graph walk: no statistic node is a Q/DQ node or reads a DequantizeLinear output; no
    Conv output is quantized; every Q/DQ is INT8 with zero point 0."""
    assert statistics_unquantized(model) == []
    nodes = model.graph.node
    dq_out = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    conv_out = {n.output[0] for n in nodes if n.op_type == "Conv"}
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in nodes:
        if STAT_MARK in node.name:
            assert node.op_type not in ("QuantizeLinear", "DequantizeLinear"), node.name
            assert not set(node.input) & dq_out, node.name
        if node.op_type == "QuantizeLinear":
            assert node.input[0] not in conv_out, f"{node.name} quantizes a conv output"
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            assert len(node.input) == 3, f"{node.name}: TensorRT 8.x wants the zero point"
            zero = inits.get(node.input[2])
            if zero is not None:
                assert zero.dtype == np.int8 and not zero.any(), node.name


def test_qdq_on_conv_inputs_and_weights_only() -> None:
    model = _unfolded_graph()
    q = qdq_from_onnx(model, FeedReader(_feeds()))
    assert_statistics_float(q)
    counts = qdq_counts(q)
    assert counts["Conv"] == 2 and counts["QuantizeLinear"] == 2  # the two conv activations
    assert counts["DequantizeLinear"] == 4  # + the two INT8 weights
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    for conv in (n for n in q.graph.node if n.op_type == "Conv"):
        producer = next(n for n in q.graph.node if conv.input[1] in n.output)
        assert producer.op_type == "DequantizeLinear"
        scale = inits[producer.input[1]]
        assert scale.size == inits[producer.input[0]].shape[0]  # per output channel
    bns = [n for n in q.graph.node if n.op_type == "BatchNormalization"]
    producer_of = {o: n for n in q.graph.node for o in n.output}

    def through_views(name: str) -> onnx.NodeProto:
        # per-image statistics view the map as [1, N*C, H, W]: a Reshape (no data changes)
        node = producer_of[name]
        while node.op_type == "Reshape":
            node = producer_of[node.input[0]]
        return node

    assert bns and all(through_views(n.input[0]).op_type == "Conv" for n in bns)  # float conv


def test_the_walk_finds_a_quantized_statistic() -> None:
    q = qdq_from_onnx(_unfolded_graph(), FeedReader(_feeds()))
    stat = next(n for n in q.graph.node if STAT_MARK in n.name and n.op_type == "ReduceMean")
    dq = next(n for n in q.graph.node if n.op_type == "DequantizeLinear")
    stat.input[0] = dq.output[0]
    assert any("reads the DequantizeLinear output" in p for p in statistics_unquantized(q))


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("int8")
    spec = write_domain(root / "day", 2, brightness=90.0, seed=3, n_train=4)
    return export_tiny(root, int8=Int8Options((spec,), images=4))


def test_export_int8_lists_variants_and_keeps_statistics_float(int8_dir) -> None:
    from edgedg_runtime.contract import load_contract

    contract = load_contract(int8_dir)  # verifies every sha256
    for name in ("segment", "plain"):
        file = contract.graph(name).variants["int8"]
        assert file == f"{name}.int8.onnx" and file in contract.files
        model = onnx.load(str(int8_dir / file))
        assert_statistics_float(model)
        assert qdq_counts(model)["QuantizeLinear"] > 0
    assert "int8" not in contract.graph("style").variants


@pytest.mark.parametrize("norm", ["source", "target", "sib"])
def test_segmenter_runs_the_int8_graphs(int8_dir, norm) -> None:
    from edgedg_runtime import Segmenter

    frame = RNG.integers(0, 255, (40, 70, 3), dtype=np.uint8)
    with Segmenter(str(int8_dir), "ort", norm, precision="int8", ort_layout="nchwc") as seg:
        graph = seg._backends["plain" if norm == "source" else "segment"]
        assert graph.path.endswith(".int8.onnx")
        assert seg(frame).labels.shape == (40, 70)
        assert "int8" in seg.describe()


def test_segmenter_refuses_a_missing_variant() -> None:
    from pathlib import Path

    from edgedg_runtime import Segmenter
    from edgedg_runtime.errors import ContractError

    tiny = Path(__file__).parent / "assets" / "tiny_model"
    with pytest.raises(ContractError, match="--int8"):
        Segmenter(str(tiny), "ort", "target", precision="int8")


def test_calibration_images_come_from_calib_or_the_training_sources(tmp_path) -> None:
    assert calibration_specs(["cityscapes:/x"], {}) == ["cityscapes:/x"]
    meta = {"args": {"data": {"sources": [f"cityscapes:{tmp_path}", "gta5:/not/here"]}}}
    assert calibration_specs([], meta) == [f"cityscapes:{tmp_path}"]
    with pytest.raises(EdgeDGError, match="pass --calib"):
        calibration_specs([], {"args": {"data": {"sources": ["gta5:/not/here"]}}})


def test_check_reports_int8_agreement_per_mode(int8_dir) -> None:
    from click.testing import CliRunner

    from edgedg.cli import cli as main

    checkpoint = int8_dir.parent / "tiny.pt"
    result = CliRunner().invoke(
        main, ["check", str(int8_dir), str(checkpoint), "--precision", "int8"]
    )
    assert result.exit_code == 0, result.output
    assert "int8 graphs vs the FP32 PyTorch reference" in result.output
    for mode in ("source", "target", "sib", "sib-exact"):
        assert mode in result.output


def test_bench_times_fp32_and_int8_rows_against_fp32_plain(int8_dir) -> None:
    from edgedg_runtime.benchmark import bench

    report = bench(str(int8_dir), frames=2, warmup=1, backend="ort", modes=("plain", "target"),
                   ort_layouts=("nchwc",), precisions=("fp32", "int8"))  # fmt: skip
    assert set(report["modes"]) == {"plain fp32", "plain int8", "target fp32", "target int8"}
    assert report["baseline"] == "plain fp32"


def test_int8_graphs_pass_every_tensorrt_parser_rule(int8_dir) -> None:
    from edgedg_export.trt_check import VERSIONS, check_graph

    for name in ("segment.int8.onnx", "plain.int8.onnx"):
        model = onnx.load(str(int8_dir / name))
        for version in VERSIONS:
            assert check_graph(model, version, name) == [], (version, name)
