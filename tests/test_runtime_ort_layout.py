"""ONNX Runtime CPU layouts: nchwc vs nchw through the backend's own session options, the same
outputs from both, and ``auto``'s measured choice with its cache (engines/ort-layout.json)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from edgedg_runtime import ort_layout
from edgedg_runtime.backends.ort import OrtBackend, session_options
from edgedg_runtime.benchmark import bench, format_table, synthetic_frames
from edgedg_runtime.contract import load_contract, load_source_stats
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.segmenter import Segmenter

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
    session.run(None, ort_layout.synthetic_feeds(session))
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
    with pytest.raises(EdgeDGError, match="auto, nchwc, nchw"):
        OrtBackend(str(tiny_model / "plain.onnx"), layout="bogus")


def test_both_layouts_give_the_same_outputs(tiny_model):
    contract = load_contract(tiny_model)
    stats, _ = load_source_stats(tiny_model, contract)
    prior = np.concatenate([stats, np.full((1, stats.shape[1]), 0.5, np.float32)])
    image = np.stack(synthetic_frames(32, 64, 2))
    priors = np.stack([prior, prior]).astype(np.float32)
    feeds = {"image": image, "norm_prior": priors, "batch_mix": np.eye(2, dtype=np.float32)}
    out = {}
    for layout in ("nchwc", "nchw"):
        with OrtBackend(str(tiny_model / "segment.onnx"), threads=1, layout=layout) as backend:
            out[layout] = {k: v.copy() for k, v in backend.infer(feeds).items()}
    a, b = out["nchwc"], out["nchw"]
    assert np.mean(a["labels"] == b["labels"]) >= LABELS_AGREE
    assert np.all(np.isfinite(a["frame_stats"]))
    np.testing.assert_allclose(b["frame_stats"], a["frame_stats"], rtol=STATS_RTOL, atol=STATS_ATOL)


# auto: the choice and its cache, with a fake build and measurer ---------------------------------
class _Fakes:
    """A build that records which layouts it built, and a measurer that returns given times."""

    def __init__(self, ms: dict | None = None):
        self.ms, self.built, self.measured = ms or {"nchwc": 10.0, "nchw": 5.0}, [], 0

    def build(self, layout: str) -> str:
        self.built.append(layout)
        return f"session-{layout}"

    def measure(self, sessions: dict, runs: int) -> dict:
        assert sorted(sessions) == ["nchw", "nchwc"] and runs == 3
        self.measured += 1
        return dict(self.ms)


def _choose(graph, fakes: _Fakes, threads=1):
    return ort_layout.choose_session(str(graph), fakes.build, threads, measure=fakes.measure)


def _cache(model: Path) -> dict:
    return json.loads((model / "engines" / ort_layout.CACHE_FILE).read_text())


@pytest.mark.parametrize(
    ("nchw_ms", "want"), [(9.0, "nchw"), (9.8, "nchwc"), (10.0, "nchwc"), (12.0, "nchwc")]
)
def test_auto_picks_nchw_only_when_clearly_faster(tiny_model, nchw_ms, want):
    fakes = _Fakes({"nchwc": 10.0, "nchw": nchw_ms})
    session, layout = _choose(tiny_model / "segment.onnx", fakes)
    assert (session, layout) == (f"session-{want}", want)
    assert sorted(fakes.built) == ["nchw", "nchwc"]  # the kept session is not built again
    (entry,) = _cache(tiny_model)["entries"].values()
    assert entry["layout"] == want and entry["ms"] == {"nchwc": 10.0, "nchw": nchw_ms}
    assert entry["graph"] == "segment.onnx" and entry["measured"][:2] == "20"


def test_second_open_uses_the_cache(tiny_model, caplog):
    graph = tiny_model / "segment.onnx"
    _choose(graph, _Fakes())
    again = _Fakes()
    caplog.set_level(logging.INFO, logger="edgedg_runtime.ort_layout")
    assert _choose(graph, again) == ("session-nchw", "nchw")
    assert again.measured == 0 and again.built == ["nchw"]
    assert "from the cache" in caplog.text


def test_a_key_change_remeasures_and_keeps_both_choices(tiny_model):
    graph = tiny_model / "segment.onnx"
    _choose(graph, _Fakes(), threads=1)
    other = _Fakes({"nchwc": 5.0, "nchw": 10.0})
    assert _choose(graph, other, threads=2)[1] == "nchwc"
    assert other.measured == 1
    layouts = sorted(e["layout"] for e in _cache(tiny_model)["entries"].values())
    assert layouts == ["nchw", "nchwc"]
    before = ort_layout.cache_key(str(graph), 1)
    graph.write_bytes(graph.read_bytes() + b"\0")  # another graph under the same name
    assert ort_layout.cache_key(str(graph), 1) != before


def test_the_batch_size_is_part_of_the_key(tiny_model):
    """A rig of 4 cameras runs the graph at N = 4: its best layout is measured (at N = 4) and
    cached apart from a single camera's."""
    graph = str(tiny_model / "segment.onnx")
    assert ort_layout.cache_key(graph, 1, batch=4) != ort_layout.cache_key(graph, 1)
    seen = []
    fakes = _Fakes()
    build = fakes.build

    def measure(sessions, runs):
        seen.append(runs)
        return fakes.ms

    for batch in (1, 4, 4):
        ort_layout.choose_session(graph, build, 1, measure=measure, batch=batch)
    assert len(seen) == 2 and len(_cache(tiny_model)["entries"]) == 2


def test_a_choice_cached_by_another_process_meanwhile_is_kept(tiny_model):
    """The file is read again right before the write: another graph's entry written while this
    one was measured survives."""
    fakes = _Fakes()
    path = tiny_model / "engines" / ort_layout.CACHE_FILE
    theirs = {"layout": "nchwc", "ms": {"nchwc": 1, "nchw": 2}, "graph": "plain.onnx"}
    theirs["measured"] = "2026-01-01T00:00:00+00:00"

    def measure(sessions, runs):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"schema": 1, "entries": {"k-plain": theirs}}))
        return fakes.measure(sessions, runs)

    ort_layout.choose_session(str(tiny_model / "segment.onnx"), fakes.build, 1, measure=measure)
    entries = _cache(tiny_model)["entries"]
    assert entries.pop("k-plain") == theirs
    assert [e["graph"] for e in entries.values()] == ["segment.onnx"]


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffnot json at all",
        b'{"schema": 2, "entries": {}}',
        b'["schema", 1]',
        b'{"schema": 1, "entries": {"k": {"layout": "nhwc", "ms": {"nchwc": 1, "nchw": 2}, '
        b'"graph": "segment.onnx", "measured": "x"}}}',
        b'{"schema": 1, "entries": {"k": {"layout": "nchw", "ms": {"nchwc": "1", "nchw": 2}, '
        b'"graph": "segment.onnx", "measured": "x"}}}',
    ],
    ids=["garbage", "schema", "not-an-object", "unknown-layout", "wrong-types"],
)
def test_corrupt_cache_is_remeasured_and_rewritten(tiny_model, caplog, content):
    path = tiny_model / "engines" / ort_layout.CACHE_FILE
    path.parent.mkdir()
    path.write_bytes(content)
    fakes = _Fakes()
    assert _choose(tiny_model / "segment.onnx", fakes)[1] == "nchw"
    assert fakes.measured == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0] and "re-measured" in warnings[0]
    data = _cache(tiny_model)
    assert data["schema"] == 1 and [e["layout"] for e in data["entries"].values()] == ["nchw"]


def test_unwritable_engines_folder_warns_once_and_still_opens(tiny_model, caplog, monkeypatch):
    """``engines`` is a file (chmod would not stop root): every write fails with an OSError."""
    monkeypatch.setattr(ort_layout, "_warned_unwritable", set())
    (tiny_model / "engines").write_text("a file where the folder should be")
    for _ in range(2):
        fakes = _Fakes()
        assert _choose(tiny_model / "segment.onnx", fakes) == ("session-nchw", "nchw")
        assert fakes.measured == 1  # nothing cached: measured again
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "for this run only" in warnings[0]
    assert (tiny_model / "engines").read_text() == "a file where the folder should be"


def test_permission_error_on_write_warns_and_still_opens(tiny_model, caplog, monkeypatch):
    monkeypatch.setattr(ort_layout, "_warned_unwritable", set())

    def refuse(path, data, indent=2):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ort_layout.fileio, "write_json", refuse)
    assert _choose(tiny_model / "segment.onnx", _Fakes())[1] == "nchw"
    assert "for this run only" in caplog.text and "Permission denied" in caplog.text


# auto for real: the backend, the Segmenter, the bench -------------------------------------------
def test_backend_auto_measures_once_then_reads_the_cache(tiny_model, monkeypatch):
    graph = str(tiny_model / "segment.onnx")
    with OrtBackend(graph, threads=1, layout="auto") as backend:
        chosen = backend.layout
        assert chosen in ("nchwc", "nchw")
    (entry,) = _cache(tiny_model)["entries"].values()
    assert entry["layout"] == chosen and min(entry["ms"].values()) > 0

    def no_measuring(sessions, runs=3):
        raise AssertionError("measured although the choice is cached")

    monkeypatch.setattr(ort_layout, "measure_ms", no_measuring)
    with OrtBackend(graph, threads=1, layout="auto") as backend:
        assert backend.layout == chosen


def test_auto_on_another_provider_first_keeps_nchwc_and_measures_nothing(tiny_model, monkeypatch):
    """The CUDA provider (faked as available; ORT then falls back to CPU): no layout to choose."""
    import onnxruntime as ort

    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    with OrtBackend(str(tiny_model / "segment.onnx"), threads=1, layout="auto") as backend:
        assert backend.layout == "nchwc"
    assert not (tiny_model / "engines").exists()


def test_segmenter_tunes_segment_not_style(tiny_model):
    with Segmenter(tiny_model, backend="ort", norm="sib", threads=1, ort_layout="auto") as seg:
        result = seg(synthetic_frames(48, 96, 1)[0])
        assert result.labels.shape == (48, 96)
        assert seg._backends["style"].layout == "nchwc"
        assert f"{seg.ort_layout} layout" in seg.describe()
    assert [e["graph"] for e in _cache(tiny_model)["entries"].values()] == ["segment.onnx"]
    with Segmenter(tiny_model, backend="ort", norm="source", ort_layout="nchw") as seg:
        assert seg.ort_layout == "nchw" and seg._backends["plain"].layout == "nchw"
        assert "nchw layout" in seg.describe()
    with pytest.raises(EdgeDGError, match="unknown ONNX Runtime layout"):
        Segmenter(tiny_model, backend="ort", ort_layout="NCHW")


def test_bench_rows_per_layout_and_ratio_to_the_fastest_plain(tiny_model):
    layouts = ("nchwc", "nchw", "auto")
    modes = ("plain", "target")
    report = bench(str(tiny_model), 2, 0, "ort", modes, threads=1, ort_layouts=layouts)
    rows = list(report["modes"])
    assert rows[:2] == ["plain [nchwc]", "plain [nchw]"]
    assert rows[3:5] == ["target [nchwc]", "target [nchw]"]
    assert rows[2] in ("plain [auto->nchwc]", "plain [auto->nchw]")
    assert rows[5] in ("target [auto->nchwc]", "target [auto->nchw]") and len(rows) == 6
    plain = {r: report["modes"][r]["total"]["median"] for r in rows if r.startswith("plain")}
    fastest = min(plain, key=plain.get)
    assert report["baseline"] == fastest
    for entry in report["modes"].values():
        assert entry["ratio"] == pytest.approx(entry["total"]["median"] / plain[fastest])
    assert min(report["modes"][r]["ratio"] for r in plain) == pytest.approx(1.0)
    assert f"total / {fastest}, the fastest plain row" in format_table(report).splitlines()[0]
    one = bench(str(tiny_model), frames=1, warmup=0, backend="ort", modes=("plain",), threads=1)
    assert list(one["modes"]) == ["plain"] and one["baseline"] == "plain"
    with pytest.raises(EdgeDGError, match="TensorRT"):
        bench(str(tiny_model), backend="trt", ort_layouts=("nchwc", "nchw"))


def test_ort_layout_options_of_bench_and_stream(tiny_model, frames_dir, tmp_path):
    from _runtime_helpers import invoke

    out = tmp_path / "bench.json"
    args = ["bench", tiny_model, "--frames", "1", "--warmup", "0", "--backend", "ort"]
    args += ["--mode", "plain", "--ort-layout", "nchwc", "--ort-layout", "nchw", "--json", out]
    result = invoke([*args, "--compare", tiny_model])
    assert result.exit_code == 0, result.output
    other = f"target@{tiny_model}"
    rows = ["plain [nchwc]", "plain [nchw]", f"{other} [nchwc]", f"{other} [nchw]"]
    assert list(json.loads(out.read_text())["modes"]) == rows
    result = invoke(["stream", tiny_model, frames_dir, "--backend", "ort", "--ort-layout", "nchw"])
    assert result.exit_code == 0, result.output
    assert "(CPUExecutionProvider), nchw layout" in result.output
    bad = invoke(["stream", tiny_model, frames_dir, "--ort-layout", "nhwc"])
    assert bad.exit_code == 2 and "--ort-layout" in bad.output
    assert not (tiny_model / "engines").exists()  # explicit layouts measure and cache nothing
