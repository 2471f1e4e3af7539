"""ONNX Runtime CPU layouts: nchwc vs nchw through the backend's own session options, and the
same outputs from both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgedg_runtime.backends.ort import OrtBackend, session_options
from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.contract import load_contract, load_source_stats
from edgedg_runtime.errors import EdgeDGError

# Both layouts compute the same float32 arithmetic in another order (blocked convolutions, other
# fusions): labels may flip only where two classes tie, statistics differ by summation order.
LABELS_AGREE = 0.999
STATS_ATOL, STATS_RTOL = 1e-5, 1e-4


def _profiled_ops(graph: str, layout: str, tmp_path: Path) -> list:
    """(node name, op name) of every node ONNX Runtime ran for ``graph`` in ``layout``, from its
    profiler (the optimised graph needs no onnx package this way)."""
    import onnxruntime as ort

    options = session_options(ort, layout, threads=1)
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / layout)
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    feeds = {
        i.name: np.zeros([1, 32, 64, 3] if i.name == "image" else i.shape, np.float32)
        for i in session.get_inputs()
    }
    feeds["image"] = feeds["image"].astype(np.uint8)
    session.run(None, feeds)
    with open(session.end_profiling(), encoding="utf-8") as handle:
        events = json.load(handle)
    return [
        (e["name"], e["args"]["op_name"])
        for e in events
        if e.get("cat") == "Node" and "op_name" in e.get("args", {})
    ]


def test_nchw_runs_no_blocked_nodes_and_nchwc_does(tiny_model, tmp_path):
    """ORT_ENABLE_EXTENDED (nchw) leaves the layout alone; ORT_ENABLE_ALL (nchwc) runs the
    convolutions blocked with reorders around the unfolded BatchNorms."""
    graph = str(tiny_model / "segment.onnx")
    nchw, nchwc = (_profiled_ops(graph, layout, tmp_path) for layout in ("nchw", "nchwc"))
    assert [n for n, op in nchw if "nchwc" in n or op.startswith("Reorder")] == []
    assert any(op == "Conv" for _, op in nchw)
    blocked_convs = [n for n, op in nchwc if op == "Conv" and "_nchwc" in n]
    assert blocked_convs, "no convolution ran in NCHWc under ORT_ENABLE_ALL"
    assert {"ReorderInput", "ReorderOutput"} <= {op for _, op in nchwc}


def test_backend_builds_its_session_at_the_layouts_level(tiny_model):
    import onnxruntime as ort

    levels = {
        "nchw": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "nchwc": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    for layout, level in levels.items():
        with OrtBackend(str(tiny_model / "plain.onnx"), threads=1, layout=layout) as backend:
            assert backend.layout == layout
            assert backend._session.get_session_options().graph_optimization_level == level
    with pytest.raises(EdgeDGError, match="nchwc, nchw"):
        OrtBackend(str(tiny_model / "plain.onnx"), layout="bogus")


def test_both_layouts_give_the_same_outputs(tiny_model):
    contract = load_contract(tiny_model)
    stats, _ = load_source_stats(tiny_model, contract)
    prior = np.concatenate([stats, np.full((1, stats.shape[1]), 0.5, np.float32)])
    image = np.stack(synthetic_frames(32, 64, 2))
    feeds = {"image": image, "norm_prior": prior.astype(np.float32)}
    out = {}
    for layout in ("nchwc", "nchw"):
        with OrtBackend(str(tiny_model / "segment.onnx"), threads=1, layout=layout) as backend:
            out[layout] = {k: v.copy() for k, v in backend.infer(feeds).items()}
    a, b = out["nchwc"], out["nchw"]
    assert np.mean(a["labels"] == b["labels"]) >= LABELS_AGREE
    assert np.all(np.isfinite(a["frame_stats"]))
    np.testing.assert_allclose(b["frame_stats"], a["frame_stats"], rtol=STATS_RTOL, atol=STATS_ATOL)
