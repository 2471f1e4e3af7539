"""`edgedg check --trt`: each graph against each TensorRT version's parser, without TensorRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from _export_helpers import tiny_checkpoint
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from edgedg.cli import cli
from edgedg_export import trt_check

ASSETS = Path(__file__).resolve().parent / "assets" / "tiny_model"


def _int32_to_uint8_graph() -> onnx.ModelProto:
    """image float [N, 4] -> ArgMax (INT64 in ONNX, INT32 inside TensorRT) -> Cast UINT8."""
    nodes = [
        helper.make_node("ArgMax", ["x"], ["idx"], name="argmax", axis=1, keepdims=0),
        helper.make_node("Cast", ["idx"], ["i32"], name="to_int32", to=TensorProto.INT32),
        helper.make_node("Cast", ["i32"], ["labels"], name="to_uint8", to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("labels", TensorProto.UINT8, ["N"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("version", ["8.5", "8.6"])
def test_int32_to_uint8_cast_fails_on_8_5_and_8_6(version) -> None:
    findings = trt_check.check_graph(_int32_to_uint8_graph(), version, "hand.onnx")
    assert [f.problem for f in findings] == [
        "Cast 'to_uint8' INT32 -> UINT8 (only from FLOAT/HALF)"
    ]
    assert "ArgMax -> FLOAT -> UINT8" in findings[0].fix


def test_committed_tiny_model_passes_every_version() -> None:
    rows = trt_check.trt_rows(ASSETS, trt_check.VERSIONS)
    assert len(rows) == 3 * 5 + 3 and all(r.ok for r in rows), trt_check.format_rows(rows)


def test_int8_variants_are_checked_on_every_version(tmp_path) -> None:
    """Every TensorRT version builds the INT8 (Q/DQ) variant when asked for INT8, so each is
    checked on every version: a variant the 8.5 parser refuses fails its row."""
    import hashlib
    import json
    import shutil

    model_dir = Path(shutil.copytree(ASSETS, tmp_path / "model"))
    variant = onnx.load(str(model_dir / "segment.onnx"))
    variant.opset_import[0].version = 18  # beyond the 8.5 / 8.6 parsers' opset 17
    onnx.save(variant, str(model_dir / "segment.int8.onnx"))
    contract = json.loads((model_dir / "contract.json").read_text())
    contract["graphs"]["segment"]["variants"]["int8"] = "segment.int8.onnx"
    digest = hashlib.sha256((model_dir / "segment.int8.onnx").read_bytes()).hexdigest()
    contract["files"]["segment.int8.onnx"] = digest
    (model_dir / "contract.json").write_text(json.dumps(contract))
    rows = trt_check.trt_rows(model_dir, trt_check.VERSIONS)
    int8 = {r.version: r.ok for r in rows if r.graph == "segment.int8.onnx"}
    assert int8 == {"8.5": False, "8.6": False, "10.3": True, "10": True, "11": True}


def test_opset_unknown_ops_and_dynamic_sizes_are_reported() -> None:
    model = _int32_to_uint8_graph()
    model.opset_import[0].version = 18
    model.graph.node.append(helper.make_node("Unique", ["x"], ["u"], name="uniq"))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "C"
    problems = [f.problem for f in trt_check.check_graph(model, "8.5")]
    assert "opset 18 is outside the parser's 1..17" in problems
    assert "Unique 'uniq' is not supported" in problems
    assert "input 'x' has a dynamic dimension other than the batch" in problems
    assert not any("opset" in p for p in [f.problem for f in trt_check.check_graph(model, "10")])


def test_cli_check_trt_prints_a_line_per_graph_and_fails_non_zero(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["check", str(ASSETS), "--trt", "8.5", "--trt", "11"])
    assert result.exit_code == 0, result.output
    assert len([line for line in result.output.splitlines() if "TensorRT" in line]) == 3 + 6 + 1
    bad = tmp_path / "bad"
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    args = ["export", str(ckpt), "--out", str(bad), "--opset", "18", "--trt-version", "8.5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "warning: TensorRT 8.5 would not parse segment.onnx: opset 18" in result.output
    result = CliRunner().invoke(cli, ["check", str(bad), "--trt", "8.5"])
    assert result.exit_code == 1
    assert "FAIL TensorRT 8.5   segment.onnx: opset 18" in result.output
    assert "--opset 17 or lower" in result.output
    result = CliRunner().invoke(cli, ["check", str(bad)])
    assert result.exit_code == 1 and "CHECKPOINT" in result.output


def test_warnings_are_printed_but_do_not_fail_a_row() -> None:
    row = trt_check.Row("10", "g.onnx", [trt_check.Finding("10", "g.onnx", "odd", "fix", True)])
    assert row.ok and row.errors == []
    assert trt_check.format_rows([row]) == "ok   TensorRT 10    g.onnx (warning: odd)"


def _ort_quantized_conv(tmp_path, quantize_bias: bool) -> onnx.ModelProto:
    """A Conv + bias + Relu graph through ONNX Runtime's quantize_static: QDQ, per-channel,
    symmetric INT8 (zero points 0), the settings of the INT8 export."""
    q = pytest.importorskip("onnxruntime.quantization")
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.full(4, 0.1, np.float32), "b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "f.onnx"
    )
    frames = iter([{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(4)])

    class Frames(q.CalibrationDataReader):
        def get_next(self):
            return next(frames, None)

    extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": quantize_bias}
    q.quantize_static(
        str(tmp_path / "f.onnx"),
        str(tmp_path / "q.onnx"),
        Frames(),
        quant_format=q.QuantFormat.QDQ,
        per_channel=True,
        activation_type=q.QuantType.QInt8,
        weight_type=q.QuantType.QInt8,
        extra_options=extra,
    )
    return onnx.load(str(tmp_path / "q.onnx"))


def test_onnx_runtime_qdq_graph_passes_every_version(tmp_path) -> None:
    """Float bias (QuantizeBias off): what TensorRT parses; no failure and no warning."""
    model = _ort_quantized_conv(tmp_path, quantize_bias=False)
    for v in trt_check.VERSIONS:
        assert trt_check.check_graph(model, v) == [], v


def test_onnx_runtime_int32_bias_fails_every_version(tmp_path) -> None:
    """ORT's default INT32 bias DQ: TensorRT refuses it ("only activation types allowed as input
    to this layer", onnx/onnx-tensorrt#850)."""
    model = _ort_quantized_conv(tmp_path, quantize_bias=True)
    for v in trt_check.VERSIONS:
        problems = [f.problem for f in trt_check.check_graph(model, v) if not f.warning]
        assert problems and all("int32" in p and "QuantizeBias" in p for p in problems), v
