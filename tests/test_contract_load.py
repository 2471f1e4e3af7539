"""The model-directory contract: round trip, validation, tampering, unknown schema, source stats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgedg_runtime.contract import (
    CONTRACT_FILE,
    SCHEMA_VERSION,
    SOURCE_STATS_FILE,
    ClassInfo,
    Contract,
    GraphInfo,
    InputSpec,
    ModelInfo,
    Normalization,
    Provenance,
    StyleSpec,
    TensorInfo,
    load_contract,
    load_source_stats,
)
from edgedg_runtime.errors import ContractError
from edgedg_runtime.fileio import sha256_file, write_json
from edgedg_runtime.layout import StatLayout

LAYOUT = StatLayout.from_channels(
    [("bn1", 4, False), ("layer1.0.bn1", 6, False), ("aspp", 2, True)]
)


def _graph(file: str, inputs: list, outputs: list) -> GraphInfo:
    return GraphInfo(
        file, tuple(TensorInfo(*t) for t in inputs), tuple(TensorInfo(*t) for t in outputs)
    )


def _contract(files: dict) -> Contract:
    image = ("image", "uint8", ("N", 8, 16, 3))
    return Contract(
        model=ModelInfo("tiny", "tiny", "fcn", 8, 2),
        classes=(ClassInfo("road", (128, 64, 128)), ClassInfo("car", (0, 0, 142))),
        input=InputSpec(8, 16),
        normalization=Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        stat_layout=LAYOUT,
        style=StyleSpec(4, "bn1"),
        graphs={
            "style": _graph("style.onnx", [image], [("style", "float32", ("N", 2, 4))]),
            "segment": _graph(
                "segment.onnx",
                [image, ("norm_prior", "float32", (3, 12))],
                [("labels", "uint8", ("N", 8, 16)), ("frame_stats", "float32", (2, 12))],
            ),
            "plain": _graph("plain.onnx", [image], [("labels", "uint8", ("N", 8, 16))]),
        },
        labels_dtype="uint8",
        max_batch=4,
        provenance=Provenance("0.1.0", "ab" * 32, 17, "test", "2025-01-01T00:00:00Z"),
        files=files,
    )


def _model_dir(tmp_path: Path) -> Path:
    for name in ("style.onnx", "segment.onnx", "plain.onnx"):
        (tmp_path / name).write_bytes(name.encode() * 10)
    stats = np.stack([np.linspace(-1, 1, 12), np.linspace(0.5, 2, 12)]).astype(np.float32)
    np.savez(tmp_path / SOURCE_STATS_FILE, stats=stats, style=stats[:, :4])
    names = ["style.onnx", "segment.onnx", "plain.onnx", SOURCE_STATS_FILE]
    files = {n: sha256_file(tmp_path / n) for n in names}
    write_json(tmp_path / CONTRACT_FILE, _contract(files).to_json())
    return tmp_path


def test_round_trip_and_load(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path)
    contract = load_contract(model_dir)
    assert contract == Contract.from_json(json.loads(json.dumps(contract.to_json())))
    assert contract.schema_version == SCHEMA_VERSION
    assert contract.stat_layout.total == 12
    assert contract.graph("segment").input("norm_prior").shape == (3, 12)
    assert contract.graph("style").output("style").shape == ("N", 2, 4)
    assert not contract.has_logits
    assert contract.classes[1].color == (0, 0, 142)
    stats, style = load_source_stats(model_dir, contract)
    assert stats.shape == (2, 12) and style.shape == (2, 4) and stats.dtype == np.float32


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path)
    with open(model_dir / "segment.onnx", "ab") as f:
        f.write(b"x")
    with pytest.raises(ContractError, match="modified after export"):
        load_contract(model_dir)
    load_contract(model_dir, verify=False)  # the structure alone is still valid


def test_missing_file_is_refused(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path)
    (model_dir / "plain.onnx").unlink()
    with pytest.raises(ContractError, match="plain.onnx is missing"):
        load_contract(model_dir)


@pytest.mark.parametrize("version", [0, 99, "1"])
def test_unknown_schema_is_refused(tmp_path: Path, version: object) -> None:
    model_dir = _model_dir(tmp_path)
    data = json.loads((model_dir / CONTRACT_FILE).read_text())
    data["schema_version"] = version
    (model_dir / CONTRACT_FILE).write_text(json.dumps(data))
    with pytest.raises(ContractError, match="re-export with this edgedg version"):
        load_contract(model_dir)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("stat_layout"), "malformed.*stat_layout"),
        (lambda d: d["graphs"].pop("plain"), "graphs \\['plain'\\] are missing"),
        (lambda d: d["input"].update(dtype="float16"), "input dtype"),
        (lambda d: d.update(labels_dtype="int64"), "labels_dtype"),
        (lambda d: d["files"].pop(SOURCE_STATS_FILE), "source_stats.npz has no sha256"),
        (lambda d: d["classes"].pop(), "1 classes listed"),
        (lambda d: d["classes"][0].update(color=[300, -5, 0]), "colours .* not RGB 0..255"),
        (lambda d: d["stat_layout"]["layers"][1].update(offset=5), "malformed"),
    ],
)
def test_malformed_contract_is_refused(tmp_path: Path, edit, message: str) -> None:
    model_dir = _model_dir(tmp_path)
    data = json.loads((model_dir / CONTRACT_FILE).read_text())
    edit(data)
    (model_dir / CONTRACT_FILE).write_text(json.dumps(data))
    with pytest.raises(ContractError, match=message):
        load_contract(model_dir)


def test_no_contract_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="edgedg export"):
        load_contract(tmp_path)
    (tmp_path / CONTRACT_FILE).write_text("{not json")
    with pytest.raises(ContractError, match="not readable JSON"):
        load_contract(tmp_path)


def test_source_stats_shape_is_checked(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path)
    contract = load_contract(model_dir)
    np.savez(
        model_dir / SOURCE_STATS_FILE, stats=np.ones((2, 11), np.float32), style=np.ones((2, 4))
    )
    with pytest.raises(ContractError, match="'stats' is \\[2, 11\\]"):
        load_source_stats(model_dir, contract)
    bad = np.ones((2, 12), np.float32)
    bad[1, 3] = -1
    np.savez(model_dir / SOURCE_STATS_FILE, stats=bad, style=np.ones((2, 4)))
    with pytest.raises(ContractError, match="negative variances"):
        load_source_stats(model_dir, contract)


def test_graph_variants_round_trip_and_must_be_hashed(tmp_path: Path) -> None:
    """An export-time variant (the FP16-typed graph) is part of the contract: listed with its
    sha256, verified at load, and refused when 'files' does not list it."""
    model_dir = _model_dir(tmp_path)
    data = json.loads((model_dir / CONTRACT_FILE).read_text())
    (model_dir / "segment.fp16.onnx").write_bytes(b"half" * 10)
    data["graphs"]["segment"]["variants"] = {"fp16": "segment.fp16.onnx"}
    write_json(model_dir / CONTRACT_FILE, data)
    with pytest.raises(ContractError, match="segment.fp16.onnx has no sha256"):
        load_contract(model_dir)
    data["files"]["segment.fp16.onnx"] = sha256_file(model_dir / "segment.fp16.onnx")
    write_json(model_dir / CONTRACT_FILE, data)
    contract = load_contract(model_dir)
    assert contract.graph("segment").variants == {"fp16": "segment.fp16.onnx"}
    assert contract == Contract.from_json(json.loads(json.dumps(contract.to_json())))
    (model_dir / "segment.fp16.onnx").write_bytes(b"changed")
    with pytest.raises(ContractError, match="modified after export"):
        load_contract(model_dir)
