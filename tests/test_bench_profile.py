"""`edgedg bench --profile`: ONNX Runtime's breakdown of plain vs segment on the tiny model."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from edgedg.cli import cli as main
from edgedg.ort_profile import conv_gflop, format_profiles, profile_model_dir

TINY = Path(__file__).parent / "assets" / "tiny_model"


def test_profile_counts_nodes_fusions_and_time_per_graph():
    plain, segment = profile_model_dir(str(TINY), runs=1)
    assert (plain.name, segment.name) == ("plain", "segment")
    # BatchNorm folded: no statistics in plain; unfolded: two means of two stages per layer.
    assert plain.nodes["ReduceMean"] == 0 and segment.nodes["ReduceMean"] > 0
    assert segment.nodes["ReduceMean"] % 4 == 0
    assert plain.total_ms > 0 and segment.total_ms > 0
    assert plain.gflop == segment.gflop > 0
    table = format_profiles([plain, segment])
    assert "conv + fused activation" in table and "ReduceMean" in table


def test_profile_of_the_nchw_layout_runs_no_blocked_nodes():
    profiles = {p.name: p for p in profile_model_dir(str(TINY), runs=1, layouts=("nchwc", "nchw"))}
    assert set(profiles) == {"plain", "segment", "plain@nchw", "segment@nchw"}
    assert profiles["segment"].nodes["nchwc.ReorderOutput"] > 0  # ORT's default: blocked convs
    for name in ("plain@nchw", "segment@nchw"):
        assert not [k for k in profiles[name].nodes if k.startswith("nchwc.")], name
        assert profiles[name].nodes["Conv"] + profiles[name].nodes["FusedConv"] > 0


def test_conv_gflop_counts_two_flops_per_multiply_add():
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 2, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "one_conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert conv_gflop(model) * 1e9 == 2 * (4 * 5 * 6) * (2 * 3 * 3)


def test_bench_profile_option_prints_the_breakdown(tiny_model):
    args = ["bench", str(tiny_model), "--frames", "1", "--warmup", "0", "--mode", "plain"]
    result = CliRunner().invoke(main, [*args, "--mode", "sib", "--backend", "ort", "--profile"])
    assert result.exit_code == 0, result.output
    assert "nchwc" in result.output or "Conv" in result.output
    assert "total kernel ms" in result.output
