"""The runtime trusts no file it did not check: contract paths stay inside the model directory,
graphs match the contract's shapes and class count, and source statistics are readable."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _runtime_helpers import ASSETS, invoke

from edgedg_runtime.contract import CONTRACT_FILE, SOURCE_STATS_FILE, load_contract
from edgedg_runtime.errors import ContractError
from edgedg_runtime.fileio import sha256_file
from edgedg_runtime.segmenter import Segmenter


def _edit_contract(tiny_model: Path, edit) -> None:
    path = tiny_model / CONTRACT_FILE
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _rehash(tiny_model: Path, name: str) -> None:
    _edit_contract(
        tiny_model, lambda d: d["files"].__setitem__(name, sha256_file(tiny_model / name))
    )


# --- contract paths (item 3) -------------------------------------------------------------------
def _point_segment_at(tiny_model: Path, target: str) -> None:
    def edit(d: dict) -> None:
        sha = d["files"].pop("segment.onnx")
        d["files"][target] = sha
        d["graphs"]["segment"]["file"] = target

    _edit_contract(tiny_model, edit)


def test_contract_path_outside_the_model_directory_is_refused(tiny_model, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(tiny_model / "segment.onnx", other / "segment.onnx")
    for target in ("../other/segment.onnx", str(other / "segment.onnx")):
        _point_segment_at(tiny_model, target)
        with pytest.raises(ContractError, match="outside the model directory"):
            load_contract(tiny_model)
        shutil.copytree(ASSETS / "tiny_model", tiny_model, dirs_exist_ok=True)
        (tiny_model / CONTRACT_FILE).write_text((ASSETS / "tiny_model" / CONTRACT_FILE).read_text())


def test_contract_symlink_escaping_the_model_directory_is_refused(tiny_model, tmp_path):
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(tiny_model / "segment.onnx", outside)
    os.symlink(outside, tiny_model / "segment.onnx")
    with pytest.raises(ContractError, match="outside the model directory"):
        load_contract(tiny_model)


# --- graphs vs contract (item 4) ---------------------------------------------------------------
def test_graph_shapes_that_differ_from_the_contract_are_refused_at_open(tiny_model):
    def taller(d: dict) -> None:
        d["input"]["height"] = 40
        for graph in d["graphs"].values():
            for tensor in graph["inputs"] + graph["outputs"]:
                if tensor["name"] in ("image", "labels"):
                    tensor["shape"][1] = 40

    _edit_contract(tiny_model, taller)
    with pytest.raises(ContractError, match="shape"):
        Segmenter(str(tiny_model), backend="ort", norm="sib")


def test_contract_with_fewer_classes_than_the_graph_is_refused(tiny_model, frames_dir):
    def ten(d: dict) -> None:
        d["classes"] = d["classes"][:10]
        d["model"]["num_classes"] = 10

    _edit_contract(tiny_model, ten)
    result = invoke(["stream", tiny_model, frames_dir, "--backend", "ort"])
    assert result.exit_code == 1, result.output
    assert "class" in result.output and "contract lists 10" in result.output


# --- source statistics: one-line errors ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["zero-byte", "npy"])
def test_unreadable_source_stats_is_a_one_line_error(tiny_model, frames_dir, kind):
    path = tiny_model / SOURCE_STATS_FILE
    if kind == "zero-byte":
        path.write_bytes(b"")
    else:
        with open(path, "wb") as handle:
            np.save(handle, np.ones((2, 512), np.float32))
    _rehash(tiny_model, SOURCE_STATS_FILE)  # as if the contract were re-written for it
    result = invoke(["stream", tiny_model, frames_dir, "--backend", "ort"])
    assert result.exit_code == 1 and "Aborted" not in result.output, result.output
    assert SOURCE_STATS_FILE in result.output and "re-export" in result.output
