"""Will TensorRT X parse this graph? A static check per TensorRT version, without TensorRT.

Each supported version has a data file in ``trt_versions/`` read from onnx-tensorrt's
``docs/operators.md`` and importer source of that release (each restriction cites its tag and
file; rows that could not be read at the tag are listed under ``inferred``): the parser's opset
range, the operators it supports and the per-node restrictions (``trt_rules``: weights inputs,
rank-1 inputs, types, attribute values, Einsum features, the Q/DQ rules), the data types allowed
at the network's inputs and outputs, INT64 handling, and the types a Cast to or from UINT8 may
involve. The check adds the rule of our engine profiles: only the batch dimension of an input may
be dynamic.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import onnx
from onnx import helper

from edgedg_export.trt_rules import graph_facts, node_problems, placement_warnings
from edgedg_runtime.contract import load_contract
from edgedg_runtime.errors import EdgeDGError

VERSIONS = ("8.5", "8.6", "10.3", "10", "11")  # every JetPack's TensorRT (reference table)
_FIX_OPSET = "export with --opset {max} or lower"
_FIX_OPS = "export with the default --opset and without --simplify"
_FIX_QDQ = "see TensorRT's Q/DQ placement recommendations"
_FIX_CAST = "re-export with this edgedg (uint8 labels go ArgMax -> FLOAT -> UINT8)"


@dataclass(frozen=True)
class Finding:
    """One thing TensorRT ``version`` would refuse in ``graph`` (or, with ``warning``, a placement
    it parses but may not fuse into INT8 layers), and the export option that avoids it."""

    version: str
    graph: str
    problem: str
    fix: str
    warning: bool = False


@dataclass
class Row:
    """The verdict for one graph file on one TensorRT version."""

    version: str
    graph: str
    findings: list = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if not f.warning]

    @property
    def ok(self) -> bool:
        """Warnings alone do not fail a row."""
        return not self.errors


def versions_for(spec: str | tuple | list) -> tuple[str, ...]:
    """``"all"`` or version names (a comma list or a sequence) -> known version names."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    if "all" in names:
        return VERSIONS
    bad = [n for n in names if n not in VERSIONS]
    if bad:
        raise EdgeDGError(f"unknown TensorRT version {bad}: choose from {', '.join(VERSIONS)}, all")
    return tuple(dict.fromkeys(names))


def rules_for(version: str) -> dict:
    """The rules of one TensorRT version (``trt_versions/<version>.json``)."""
    folder = resources.files("edgedg_export").joinpath("trt_versions")
    return json.loads(folder.joinpath(f"{version}.json").read_text(encoding="utf-8"))


def check_graph(model: onnx.ModelProto, version: str, graph: str = "graph") -> list[Finding]:
    """Everything TensorRT ``version``'s ONNX parser would refuse in ``model``."""
    rules = rules_for(version)
    model = onnx.shape_inference.infer_shapes(model)
    opset = _opset(model)
    facts = graph_facts(model, opset)
    found = []

    def add(problem: str, fix: str) -> None:
        found.append(Finding(version, graph, problem, fix))

    lo, hi = rules["opset"]
    if not lo <= opset <= hi:
        add(f"opset {opset} is outside the parser's {lo}..{hi}", _FIX_OPSET.format(max=hi))
    _check_io(model, rules, add)
    ops = set(rules["ops"])
    for node in model.graph.node:
        name = f"{node.op_type} '{node.name}'"
        if node.domain not in ("", "ai.onnx") or node.op_type not in ops:
            add(f"{name} is not supported", _FIX_OPS)
            continue
        for problem in node_problems(node, rules, facts):
            add(f"{name}: {problem}", _FIX_OPS)
        if node.op_type == "Cast":
            _check_cast(node, rules, facts.types, add)
    for problem in placement_warnings(model, rules["qdq"], facts):
        found.append(Finding(version, graph, problem, _FIX_QDQ, warning=True))
    return found


def _check_io(model: onnx.ModelProto, rules: dict, add) -> None:
    n_inputs = len(model.graph.input)
    for k, value in enumerate([*model.graph.input, *model.graph.output]):
        tensor = value.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        if dtype == "int64" and rules["int64"] == "cast-down":
            add(f"I/O tensor '{value.name}' is int64 (this parser casts INT64 down)", _FIX_OPS)
        elif dtype not in rules["io_dtypes"]:
            fix = "--io float" if value.name == "image" else _FIX_OPS
            add(f"I/O tensor '{value.name}' is {dtype}", fix)
        dims = list(tensor.shape.dim)
        batch = dims[0].dim_param if dims else ""  # `batch_mix` is [N, N]: both are the batch
        dynamic = [d for d in dims[1:] if not d.HasField("dim_value")]
        if k < n_inputs and any(not batch or d.dim_param != batch for d in dynamic):
            add(f"input '{value.name}' has a dynamic dimension other than the batch", "--imgsz HxW")


def _check_cast(node: onnx.NodeProto, rules: dict, types: dict, add) -> None:
    to = next(a.i for a in node.attribute if a.name == "to")
    target = helper.tensor_dtype_to_np_dtype(to).name
    source = types.get(node.input[0], "unknown")
    if target == "uint8" and source not in rules["cast_to_uint8_from"]:
        add(f"Cast '{node.name}' {source.upper()} -> UINT8 (only from FLOAT/HALF)", _FIX_CAST)
    elif source == "uint8" and target not in rules["cast_from_uint8_to"]:
        add(f"Cast '{node.name}' UINT8 -> {target.upper()} (only to FLOAT/HALF)", _FIX_OPS)


def _opset(model: onnx.ModelProto) -> int:
    return next(int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx"))


def trt_rows(model_dir: str | os.PathLike, versions: tuple = VERSIONS) -> list[Row]:
    """One row per graph file and version; FP16-typed variants only for versions that parse
    them (TensorRT 11); INT8 (Q/DQ) variants on every version (each builds them for INT8)."""
    model_dir = Path(model_dir)
    contract = load_contract(model_dir)
    rows = []
    for version in versions:
        rules = rules_for(version)
        for info in contract.graphs.values():
            files = [info.file]
            if rules["fp16_graph"] and "fp16" in info.variants:
                files.append(info.variants["fp16"])
            if "int8" in info.variants:
                files.append(info.variants["int8"])
            for file in files:
                model = onnx.load(str(model_dir / file), load_external_data=False)
                rows.append(Row(version, file, check_graph(model, version, file)))
    return rows


def format_rows(rows: list[Row]) -> str:
    """One line per graph and version: ok, or what fails and the export option that fixes it."""
    lines = []
    for row in rows:
        head = f"{'ok  ' if row.ok else 'FAIL'} TensorRT {row.version:<5} {row.graph}"
        warned = [f.problem for f in row.findings if f.warning]
        tail = f" (warning: {'; '.join(warned[:4])}{_more(warned)})" if warned else ""
        if row.ok:
            lines.append(head + tail)
            continue
        fixes = sorted({f.fix for f in row.errors})
        problems = "; ".join(f.problem for f in row.errors[:4])
        lines.append(f"{head}: {problems}{_more(row.errors)} -> {'; '.join(fixes)}{tail}")
    return "\n".join(lines)


def _more(items: list) -> str:
    return f" (+{len(items) - 4} more)" if len(items) > 4 else ""
