"""The bytes of a graph, verified against the contract, and the only bytes a backend is given.

A graph is read once, its sha256 compared with the contract, and those same bytes are handed to
ONNX Runtime (``InferenceSession(bytes)``) or TensorRT's parser (``parse(bytes)``): no file is
opened after its check, so nothing can be swapped in between. An ONNX graph may keep tensors in
external data files, which a backend would open by name; here they are found by reading the
protobuf wire format (no onnx package), each must be a file the contract lists, inside the model
directory, and it is read and verified like the graph. ONNX Runtime then gets those bytes from
memory (``add_external_initializers_from_files_in_memory``); TensorRT's parser can only open them
itself, so for TensorRT a graph with external data is refused (DESIGN 2, "Trust").

Standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass, field
from typing import Iterator

from edgedg_runtime.contract import Contract, escapes
from edgedg_runtime.errors import ContractError
from edgedg_runtime.fileio import read_regular

MAX_GRAPH_BYTES = 2 << 30  # protobuf's own limit for one serialized message
_REEXPORT = "re-export the model directory with `edgedg export CHECKPOINT --out DIR`"
_MAX_DEPTH = 64  # nested subgraphs (If / Loop bodies); ONNX's own parser stops at 100

# protobuf field numbers (onnx.proto3) on the way from a ModelProto to every TensorProto
_MODEL_GRAPH, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 20, 25
_TRAINING_GRAPHS = (1, 2)  # TrainingInfoProto.initialization, .algorithm
_GRAPH_NODE, _GRAPH_INIT, _GRAPH_SPARSE_INIT = 1, 5, 15
_NODE_ATTRIBUTE = 5
_FUNCTION_NODE, _FUNCTION_ATTRIBUTE = 7, 11
_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS = 5, 6, 10, 11
_ATTR_SPARSE, _ATTR_SPARSES = 22, 23
_SPARSE_TENSORS = (1, 2)  # SparseTensorProto.values, .indices
_TENSOR_EXTERNAL, _TENSOR_LOCATION = 13, 14  # TensorProto.external_data, .data_location
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@dataclass(frozen=True)
class VerifiedGraph:
    """A graph's bytes, checked against the contract. ``external`` maps each external data
    location, as the graph spells it, to its verified bytes (empty for a self-contained graph)."""

    name: str
    data: bytes
    sha256: str
    external: dict = field(default_factory=dict)


def graph_from_model_dir(model_dir: str | os.PathLike, contract: Contract, file: str):
    """The graph ``file`` of the model directory, read once and verified with every external
    data file it names; a ContractError when anything it reads is unlisted, outside the
    directory or not what the contract says."""
    path = os.path.join(os.fspath(model_dir), file)
    data = _read_listed(model_dir, contract, file)
    external = {}
    for location in external_data_locations(data, path):
        name = posixpath.normpath(posixpath.join(posixpath.dirname(file), location))
        if escapes(location) or escapes(name):
            raise ContractError(
                f"{path} reads external data from {location!r}, outside the model directory; "
                f"{_REEXPORT}"
            )
        if name not in contract.files:
            raise ContractError(
                f"{path} reads external data from {name}, which is not listed in contract.json "
                f"with its sha256: the graph is refused; {_REEXPORT}"
            )
        external[location] = _read_listed(model_dir, contract, name)
    return VerifiedGraph(path, data, contract.files[file], external)


def graph_from_file(path: str | os.PathLike) -> VerifiedGraph:
    """A graph outside any model directory (no contract): read once, and refused when it needs
    external data, which nothing here could verify."""
    path = os.fspath(path)
    data = _read(path)
    if external_data_locations(data, path):
        raise ContractError(
            f"{path} keeps tensors in external data files; only a model directory whose "
            "contract lists them (with their sha256) can run such a graph"
        )
    return VerifiedGraph(path, data, hashlib.sha256(data).hexdigest())


def refuse_external_data(graph: VerifiedGraph, backend: str) -> None:
    """For a backend that can only open external data by name (TensorRT's parser)."""
    if graph.external:
        raise ContractError(
            f"{graph.name} keeps tensors in external data files ({', '.join(graph.external)}), "
            f"which {backend} would open itself after our check: refused. Run it on ONNX Runtime "
            "(--backend ort), or export graphs with their weights inside (below 2 GiB)"
        )


def _read_listed(model_dir: str | os.PathLike, contract: Contract, name: str) -> bytes:
    path = os.path.join(os.fspath(model_dir), name)
    root = os.path.realpath(model_dir)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise ContractError(f"{path} resolves outside the model directory (to {real}); {_REEXPORT}")
    data = _read(path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != contract.files[name]:
        raise ContractError(
            f"{path} was modified after export (sha256 {actual[:12]}..., contract says "
            f"{contract.files[name][:12]}...); {_REEXPORT}"
        )
    return data


def _read(path: str) -> bytes:
    try:
        return read_regular(path, MAX_GRAPH_BYTES)
    except OSError as exc:
        raise ContractError(f"cannot read {path} ({exc}); {_REEXPORT}") from exc


# --- the protobuf wire format, just enough to find external data ----------------------------------
def external_data_locations(data: bytes, what: str = "the graph") -> list:
    """The external data locations (file names, as written) of every tensor in the serialized
    ONNX ModelProto ``data``: initializers, sparse initializers, Constant and other tensor
    attributes, in the main graph, its subgraphs and its functions."""
    found: list = []
    try:
        _scan_model(memoryview(data), found)
    except (IndexError, ValueError) as exc:
        raise ContractError(f"cannot load {what}: not an ONNX graph ({exc}); {_REEXPORT}") from None
    return sorted(set(found))


def _fields(buf: memoryview) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of each field of one message: an int for varints and
    fixed-size fields, a memoryview for length-delimited ones."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = 0, pos + 8
        elif wire == 5:
            value, pos = 0, pos + 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"wire type {wire} (groups) is not used by ONNX")
        if pos > end:
            raise ValueError("a field runs past the end of its message")
        yield number, wire, value


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _messages(buf: memoryview, numbers: tuple) -> Iterator[tuple[int, memoryview]]:
    for number, wire, value in _fields(buf):
        if number in numbers and wire == 2:
            yield number, value


def _scan_model(buf: memoryview, found: list) -> None:
    for number, value in _messages(buf, (_MODEL_GRAPH, _MODEL_TRAINING, _MODEL_FUNCTIONS)):
        if number == _MODEL_GRAPH:
            _scan_graph(value, found, 1)
        elif number == _MODEL_TRAINING:
            for _, graph in _messages(value, _TRAINING_GRAPHS):
                _scan_graph(graph, found, 1)
        else:
            for number2, item in _messages(value, (_FUNCTION_NODE, _FUNCTION_ATTRIBUTE)):
                if number2 == _FUNCTION_NODE:
                    _scan_node(item, found, 1)
                else:
                    _scan_attribute(item, found, 1)


def _scan_graph(buf: memoryview, found: list, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError(f"subgraphs nested deeper than {_MAX_DEPTH}")
    for number, value in _messages(buf, (_GRAPH_NODE, _GRAPH_INIT, _GRAPH_SPARSE_INIT)):
        if number == _GRAPH_NODE:
            _scan_node(value, found, depth)
        elif number == _GRAPH_INIT:
            _scan_tensor(value, found)
        else:
            for _, tensor in _messages(value, _SPARSE_TENSORS):
                _scan_tensor(tensor, found)


def _scan_node(buf: memoryview, found: list, depth: int) -> None:
    for _, attribute in _messages(buf, (_NODE_ATTRIBUTE,)):
        _scan_attribute(attribute, found, depth)


def _scan_attribute(buf: memoryview, found: list, depth: int) -> None:
    wanted = (_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES)
    for number, value in _messages(buf, wanted):
        if number in (_ATTR_TENSOR, _ATTR_TENSORS):
            _scan_tensor(value, found)
        elif number in (_ATTR_GRAPH, _ATTR_GRAPHS):
            _scan_graph(value, found, depth + 1)
        else:
            for _, tensor in _messages(value, _SPARSE_TENSORS):
                _scan_tensor(tensor, found)


def _scan_tensor(buf: memoryview, found: list) -> None:
    locations, external = [], False
    for number, wire, value in _fields(buf):
        if number == _TENSOR_LOCATION and wire == 0:
            external = external or value == _EXTERNAL
        elif number == _TENSOR_EXTERNAL and wire == 2:
            entry = {n: bytes(v).decode("utf-8", "replace") for n, w, v in _fields(value) if w == 2}
            external = True
            if entry.get(1) == "location":
                locations.append(entry.get(2, ""))
    if external and not locations:
        raise ValueError("a tensor marked external names no location")
    found.extend(locations)


__all__ = [
    "VerifiedGraph",
    "external_data_locations",
    "graph_from_file",
    "graph_from_model_dir",
    "refuse_external_data",
]
