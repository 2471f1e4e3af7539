"""The committed test assets (tests/assets, made by scripts/make_test_model.py): a valid, small
model directory, and still what the current exporter writes (structure, not bytes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _runtime_helpers import ASSETS, fresh_model_dir, make_test_model

from edgedg_runtime.contract import CONTRACT_FILE, SOURCE_STATS_FILE, load_contract

TINY = ASSETS / "tiny_model"
MAX_BYTES = 2 * 1024 * 1024
REGENERATE = "run python scripts/make_test_model.py and commit tests/assets"
# Provenance that changes with every export or tool version, not with the model's structure.
VOLATILE = ("created", "checkpoint_sha256", "exporter", "edgedg_version")


def _structure(model_dir: Path) -> dict:
    """The contract without volatile provenance and file hashes, plus the names, shapes and
    dtypes of the source statistics."""
    contract = json.loads((model_dir / CONTRACT_FILE).read_text())
    for key in VOLATILE:
        contract["provenance"].pop(key, None)
    contract["files"] = sorted(contract["files"])
    with np.load(model_dir / SOURCE_STATS_FILE, allow_pickle=False) as npz:
        contract["source_stats_arrays"] = {k: [npz[k].shape, npz[k].dtype.str] for k in npz.files}
    return contract


def test_committed_model_dir_is_valid_and_small():
    contract = load_contract(TINY)  # every file's sha256 checked
    files = sorted(p.name for p in TINY.iterdir())
    assert files == sorted([CONTRACT_FILE, *contract.files])
    size = sum(p.stat().st_size for p in TINY.iterdir())
    assert size < MAX_BYTES, f"tests/assets/tiny_model is {size} bytes"
    assert (contract.input.height, contract.input.width, contract.input.dtype) == (32, 64, "uint8")
    assert contract.model.backbone == "tiny" and len(contract.classes) == 19


def test_committed_graphs_have_the_contract_io():
    """ONNX Runtime reads each committed graph with exactly the I/O the contract lists."""
    from edgedg_runtime.backends.ort import OrtBackend

    contract = load_contract(TINY)
    for name, graph in contract.graphs.items():
        with OrtBackend(str(TINY / graph.file), threads=1) as backend:
            for specs, infos in ((backend.inputs, graph.inputs), (backend.outputs, graph.outputs)):
                got = [(s.name, np.dtype(s.dtype).name, tuple(s.shape)) for s in specs]
                want = [(t.name, t.dtype, tuple(t.shape)) for t in infos]
                assert got == want, f"{name}: {got} != {want}"


def test_committed_model_dir_matches_the_current_exporter(tmp_path_factory):
    fresh = Path(fresh_model_dir(tmp_path_factory))
    committed, current = _structure(TINY), _structure(fresh)
    for key in sorted(set(committed) | set(current)):
        assert committed.get(key) == current.get(key), f"contract '{key}' changed: {REGENERATE}"
    assert committed["stat_layout"]["hash"] == current["stat_layout"]["hash"]


def test_committed_double_graph_matches_its_builder(tmp_path):
    onnx = pytest.importorskip("onnx")
    built = make_test_model().write_double_graph(tmp_path / "double.onnx")
    assert onnx.load(str(ASSETS / "double.onnx")).graph == onnx.load(built).graph, REGENERATE
