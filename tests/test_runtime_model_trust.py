"""Every byte a graph reads is covered by the contract, files we create never follow a symlink we
did not expect, and no cache or contract file can hang or crash a start (DESIGN 2, "Trust")."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from _runtime_helpers import copy_tiny_model

from edgedg_runtime import engine_build, fileio, ort_layout
from edgedg_runtime.contract import CONTRACT_FILE, load_contract
from edgedg_runtime.errors import ContractError, EdgeDGError
from edgedg_runtime.segmenter import Segmenter

pytest.importorskip("onnxruntime")


def _edit_contract(model: Path, edit) -> None:
    path = model / CONTRACT_FILE
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _list(model: Path, name: str, sha: str | None = None) -> None:
    digest = sha or fileio.sha256_file(model / name)
    _edit_contract(model, lambda d: d["files"].__setitem__(name, digest))


def _externalize(model: Path, location: str = "weights.bin") -> None:
    """Move segment.onnx's largest initializer to ``location`` (ONNX external data) and update
    the contract's hash of segment.onnx, as someone able to write the directory could."""
    onnx = pytest.importorskip("onnx")
    from onnx import external_data_helper, numpy_helper

    proto = onnx.load(str(model / "segment.onnx"))
    tensor = max(proto.graph.initializer, key=lambda t: numpy_helper.to_array(t).size)
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))
    external_data_helper.set_external_data(tensor, location)
    onnx.save_model(proto, str(model / "segment.onnx"))
    assert (model / "segment.onnx").parent.joinpath(location).is_file()
    _list(model, "segment.onnx")


def _labels(model: Path) -> np.ndarray:
    frame = np.random.default_rng(0).integers(0, 255, (32, 64, 3), np.uint8)
    with Segmenter(str(model), backend="ort", norm="target", ort_layout="nchwc") as seg:
        return seg(frame).labels


# --- item 1: external data ----------------------------------------------------------------------
def test_external_data_the_contract_does_not_list_is_refused(tmp_path):
    model = copy_tiny_model(tmp_path)
    _externalize(model)
    with pytest.raises(ContractError, match=r"weights\.bin.*not listed"):
        Segmenter(str(model), backend="ort", norm="target", ort_layout="nchwc")


def test_listed_external_data_runs_from_the_verified_bytes(tmp_path):
    want = _labels(copy_tiny_model(tmp_path / "a"))
    model = copy_tiny_model(tmp_path / "b")
    _externalize(model)
    _list(model, "weights.bin")
    np.testing.assert_array_equal(_labels(model), want)


def test_listed_external_data_with_a_wrong_hash_is_refused(tmp_path):
    model = copy_tiny_model(tmp_path)
    _externalize(model)
    _list(model, "weights.bin", sha="0" * 64)
    with pytest.raises(ContractError, match="weights.bin was modified"):
        Segmenter(str(model), backend="ort", norm="target", ort_layout="nchwc")


def test_external_data_outside_the_directory_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = copy_tiny_model(tmp_path / "in")
    _externalize(model)
    os.replace(model / "weights.bin", tmp_path / "outside.bin")
    proto = onnx.load(str(model / "segment.onnx"), load_external_data=False)
    for tensor in proto.graph.initializer:  # onnx.save refuses '..': write the bytes directly
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../outside.bin"
    (model / "segment.onnx").write_bytes(proto.SerializeToString())
    _list(model, "segment.onnx")
    with pytest.raises(ContractError, match="outside the model directory"):
        Segmenter(str(model), backend="ort", norm="target", ort_layout="nchwc")


def test_tensorrt_refuses_a_graph_with_external_data(tmp_path, monkeypatch):
    """TensorRT's parser would open the data file itself, after our check: never given one."""
    pytest.importorskip("onnx")  # the fake TensorRT parses with onnx (the build box has it)
    from _fake_tensorrt import FakeTensorRT

    model = copy_tiny_model(tmp_path)
    _externalize(model)
    _list(model, "weights.bin")
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT("10.3.0", 2))
    monkeypatch.setattr(engine_build, "cuda_runtime", lambda: None)
    monkeypatch.setattr(engine_build, "gpu_identity", lambda cudart: ("FakeGPU", "8.7"))
    with pytest.raises(ContractError, match="external data"):
        engine_build.engine_for(model, "fp32", "segment")


# --- item 2: symlinks ---------------------------------------------------------------------------
def _ort_layout_auto(model: Path, **kwargs) -> Segmenter:
    return Segmenter(str(model), backend="ort", norm="target", ort_layout="auto", **kwargs)


def test_engines_symlinked_elsewhere_is_not_written_silently(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("EDGEDG_ENGINE_DIR", raising=False)
    model, elsewhere = copy_tiny_model(tmp_path), tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, model / "engines")
    with caplog.at_level(logging.WARNING), _ort_layout_auto(model) as seg:
        assert seg.ort_layout in ("nchwc", "nchw")  # chosen for this run only
    assert not (elsewhere / ort_layout.CACHE_FILE).exists()
    assert "engine-dir" in caplog.text and "symlink" in caplog.text


def test_an_engine_dir_named_explicitly_is_used(tmp_path, monkeypatch):
    model, chosen = copy_tiny_model(tmp_path), tmp_path / "rw" / "engines"
    monkeypatch.delenv("EDGEDG_ENGINE_DIR", raising=False)
    with _ort_layout_auto(model, engine_dir=str(chosen)):
        pass
    assert (chosen / ort_layout.CACHE_FILE).is_file()
    assert not (model / "engines").exists()
    other = tmp_path / "env-engines"
    monkeypatch.setenv("EDGEDG_ENGINE_DIR", str(other))
    with _ort_layout_auto(model):
        pass
    assert (other / ort_layout.CACHE_FILE).is_file()


def test_tensorrt_engines_are_not_built_through_a_symlinked_engines(tmp_path, monkeypatch):
    pytest.importorskip("onnx")  # the fake TensorRT parses with onnx (the build box has it)
    from _fake_tensorrt import FakeTensorRT

    monkeypatch.delenv("EDGEDG_ENGINE_DIR", raising=False)
    model, elsewhere = copy_tiny_model(tmp_path), tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, model / "engines")
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT("10.3.0", 2))
    monkeypatch.setattr(engine_build, "cuda_runtime", lambda: None)
    monkeypatch.setattr(engine_build, "gpu_identity", lambda cudart: ("FakeGPU", "8.7"))
    with pytest.raises(EdgeDGError, match="symlink"):
        engine_build.engine_for(model, "fp32", "segment")
    assert os.listdir(elsewhere) == []
    engine = engine_build.engine_for(model, "fp32", "segment", engine_dir=elsewhere)
    assert engine.parent == elsewhere


def test_atomic_temp_files_never_follow_a_symlink(tmp_path, monkeypatch):
    """A temp name that already exists (here a symlink to a victim) is skipped, not followed,
    and the name carries the writer's pid, so that two writers never share one."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    names = iter(["fixed", "fixed", "other"])
    monkeypatch.setattr(fileio, "_token", lambda: next(names))
    os.symlink(victim, tmp_path / f".out.json.{os.getpid()}-fixed.tmp")
    fileio.write_atomic(tmp_path / "out.json", b"new")
    assert victim.read_bytes() == b"keep"
    assert (tmp_path / "out.json").read_bytes() == b"new"


# --- item 10: FIFOs -----------------------------------------------------------------------------
def _measure(sessions, runs):
    return {"nchwc": 1.0, "nchw": 2.0}


@pytest.mark.timeout(30)
def test_a_fifo_layout_cache_is_re_measured_not_waited_on(tmp_path, caplog):
    model = copy_tiny_model(tmp_path)
    (model / "engines").mkdir()
    os.mkfifo(model / "engines" / ort_layout.CACHE_FILE)
    graph = str(model / "segment.onnx")
    with caplog.at_level(logging.WARNING):
        _, layout = ort_layout.choose_session(graph, lambda layout: layout, None, 1, _measure)
    assert layout == "nchwc" and "not a regular file" in caplog.text
    assert (model / "engines" / ort_layout.CACHE_FILE).is_file()  # replaced by the cache


@pytest.mark.timeout(30)
def test_read_regular_refuses_a_fifo_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(fileio.NotRegularFileError):
        fileio.read_regular(tmp_path / "fifo", 1 << 20)


# --- item 11: bombs -----------------------------------------------------------------------------
def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_deeply_nested_layout_cache_is_re_measured(tmp_path, caplog):
    model = copy_tiny_model(tmp_path)
    (model / "engines").mkdir()
    (model / "engines" / ort_layout.CACHE_FILE).write_text(_nested(5000))
    graph = str(model / "segment.onnx")
    with caplog.at_level(logging.WARNING):
        _, layout = ort_layout.choose_session(graph, lambda layout: layout, None, 1, _measure)
    assert layout == "nchwc" and "re-measured" in caplog.text
    assert json.loads((model / "engines" / ort_layout.CACHE_FILE).read_text())["schema"] == 1


@pytest.mark.parametrize("kind", ["nested", "oversized"])
def test_a_contract_bomb_is_refused_with_one_clear_error(tmp_path, kind):
    model = copy_tiny_model(tmp_path)
    path = model / CONTRACT_FILE
    if kind == "nested":
        data = json.loads(path.read_text())
        path.write_text(json.dumps(data)[:-1] + ', "notes": ' + _nested(5000) + "}")
    else:
        with open(path, "a") as handle:
            handle.write(" " * (fileio.MAX_JSON_BYTES + 1))
    with pytest.raises(ContractError, match="nested too deeply|larger than"):
        load_contract(model)
