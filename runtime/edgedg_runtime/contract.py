"""The model-directory contract (DESIGN section 2): what `edgedg export` writes, the runtime reads.

`contract.json` describes the graphs' I/O, the input pixel format, the stat layout and the
provenance, and lists the sha256 of every file in the directory. `load_contract` validates it once
(schema known, keys present, files present and unmodified); after that the runtime trusts it.

numpy and the standard library only; Python 3.8 syntax.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from edgedg_runtime import fileio, signing
from edgedg_runtime.errors import ContractError
from edgedg_runtime.layout import StatLayout
from edgedg_runtime.model_files import REEXPORT as _REEXPORT
from edgedg_runtime.model_files import check_paths_inside, escapes, verify_files
from edgedg_runtime.names import GRAPH_NAMES

# 2: segment.onnx takes a per-image `norm_prior` [N, 3, S] and `batch_mix` [N, N] and gives
#    `frame_stats` [N, 2, S] (schema 1: one pooled batch, [3, S] and [2, S])
SCHEMA_VERSION = 2
KNOWN_SCHEMAS = (2,)
CONTRACT_FILE = "contract.json"
SOURCE_STATS_FILE = "source_stats.npz"

# One dimension of a graph tensor as contract.json writes it: an int, or "N" for the batch
ContractDim = Union[int, str]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    backbone: str
    head: str
    output_stride: int
    num_classes: int


@dataclass(frozen=True)
class ClassInfo:
    name: str
    color: tuple[int, int, int]  # RGB, 0..255


@dataclass(frozen=True)
class InputSpec:
    """The image every graph takes: ``dtype`` uint8 (or float32 for old TensorRT), NHWC, BGR."""

    height: int
    width: int
    dtype: str = "uint8"
    layout: str = "NHWC"
    channels: str = "BGR"


@dataclass(frozen=True)
class Normalization:
    """Mean / std (RGB, 0..1 scale) baked into the graphs; informational for the runtime."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class StyleSpec:
    """The style graph's output: per-image mean/var of the ``channels`` stem channels that feed
    the first norm layer ``layer``."""

    channels: int
    layer: str


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output; ``shape`` holds ints and "N" for the dynamic batch."""

    name: str
    dtype: str
    shape: tuple[ContractDim, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorInfo:
        shape = tuple(d if isinstance(d, str) else int(d) for d in data["shape"])
        return cls(str(data["name"]), str(data["dtype"]), shape)


@dataclass(frozen=True)
class GraphInfo:
    """One ONNX graph of the directory: its file name and typed I/O. ``variants`` maps a
    variant name to the file of a graph made from this one at export time for an engine build
    (``fp16``: the FP16-typed graph, statistics FP32, that strongly typed TensorRT parses)."""

    file: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    variants: dict = field(default_factory=dict)

    def input(self, name: str) -> TensorInfo:
        return _named(self.inputs, name, f"{self.file} input")

    def output(self, name: str) -> TensorInfo:
        return _named(self.outputs, name, f"{self.file} output")

    def to_json(self) -> dict[str, Any]:
        data = {
            "file": self.file,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
        }
        if self.variants:
            data["variants"] = dict(self.variants)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GraphInfo:
        return cls(
            str(data["file"]),
            tuple(TensorInfo.from_json(t) for t in data["inputs"]),
            tuple(TensorInfo.from_json(t) for t in data["outputs"]),
            {str(k): str(v) for k, v in data.get("variants", {}).items()},
        )


@dataclass(frozen=True)
class Provenance:
    edgedg_version: str
    checkpoint_sha256: str
    opset: int
    exporter: str  # e.g. "torch 2.13.0 + onnx-graphsurgeon 0.5.2"
    created: str  # UTC ISO 8601


@dataclass(frozen=True)
class Contract:
    """The whole contract.json. ``files`` maps each file name in the directory to its sha256."""

    model: ModelInfo
    classes: tuple[ClassInfo, ...]
    input: InputSpec
    normalization: Normalization
    stat_layout: StatLayout
    style: StyleSpec
    graphs: dict[str, GraphInfo]
    labels_dtype: str
    max_batch: int
    provenance: Provenance
    files: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def graph(self, name: str) -> GraphInfo:
        """The graph ``name`` (style | segment | plain), or a ContractError."""
        if name not in self.graphs:
            raise ContractError(f"the model directory has no '{name}' graph; {_REEXPORT}")
        return self.graphs[name]

    @property
    def has_logits(self) -> bool:
        return any(t.name == "logits" for t in self.graph("segment").outputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "model": _plain(self.model),
            "classes": [{"name": c.name, "color": list(c.color)} for c in self.classes],
            "input": _plain(self.input),
            "normalization": {
                "mean": list(self.normalization.mean),
                "std": list(self.normalization.std),
            },
            "stat_layout": self.stat_layout.to_json(),
            "style": _plain(self.style),
            "graphs": {k: g.to_json() for k, g in self.graphs.items()},
            "labels_dtype": self.labels_dtype,
            "max_batch": self.max_batch,
            "files": dict(self.files),
            "provenance": _plain(self.provenance),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Contract:
        """Parse and check a contract dict; any problem is a ContractError naming the key."""
        _check_schema(data)
        try:
            contract = _parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(
                f"contract.json is malformed ({type(exc).__name__}: {exc}); {_REEXPORT}"
            ) from exc
        _check_consistency(contract)
        return contract


def _plain(obj: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(obj).items()}


def _named(items: tuple[TensorInfo, ...], name: str, what: str) -> TensorInfo:
    for item in items:
        if item.name == name:
            return item
    raise ContractError(f"{what} '{name}' is not in the contract; {_REEXPORT}")


def _check_schema(data: Any) -> None:
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ContractError(f"contract.json has no schema_version; {_REEXPORT}")
    version = data["schema_version"]
    if isinstance(version, int) and version < min(KNOWN_SCHEMAS):
        raise ContractError(
            f"contract.json has schema_version {version}, written by an older edgedg whose "
            "segment graph takes one pooled prior; this edgedg feeds per-image statistics "
            f"(schema {SCHEMA_VERSION}): re-export it with `edgedg export CHECKPOINT --out DIR`"
        )
    if version not in KNOWN_SCHEMAS:
        raise ContractError(
            f"contract.json has schema_version {data['schema_version']!r}, this edgedg knows "
            f"{list(KNOWN_SCHEMAS)}: re-export with this edgedg version "
            "(`edgedg export CHECKPOINT --out DIR`) or install the edgedg that wrote it"
        )


def _parse(data: dict[str, Any]) -> Contract:
    m, i, n, s, p = (
        data["model"],
        data["input"],
        data["normalization"],
        data["style"],
        data["provenance"],
    )
    return Contract(
        schema_version=int(data["schema_version"]),
        model=ModelInfo(
            str(m["name"]),
            str(m["backbone"]),
            str(m["head"]),
            int(m["output_stride"]),
            int(m["num_classes"]),
        ),
        classes=tuple(ClassInfo(str(c["name"]), _color(c["color"])) for c in data["classes"]),
        input=InputSpec(
            int(i["height"]),
            int(i["width"]),
            str(i["dtype"]),
            str(i["layout"]),
            str(i["channels"]),
        ),
        normalization=Normalization(_triple(n["mean"]), _triple(n["std"])),
        stat_layout=StatLayout.from_json(data["stat_layout"]),
        style=StyleSpec(int(s["channels"]), str(s["layer"])),
        graphs={str(k): GraphInfo.from_json(g) for k, g in data["graphs"].items()},
        labels_dtype=str(data["labels_dtype"]),
        max_batch=int(data["max_batch"]),
        files={str(k): str(v) for k, v in data["files"].items()},
        provenance=Provenance(
            str(p["edgedg_version"]),
            str(p["checkpoint_sha256"]),
            int(p["opset"]),
            str(p["exporter"]),
            str(p["created"]),
        ),
    )


def _color(value: Any) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in value)
    return (r, g, b)


def _triple(value: Any) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in value)
    return (a, b, c)


def _check_consistency(c: Contract) -> None:
    problems: list[str] = []
    if c.input.dtype not in ("uint8", "float32"):
        problems.append(f"input dtype {c.input.dtype!r} is not uint8 or float32")
    if (c.input.layout, c.input.channels) != ("NHWC", "BGR"):
        problems.append(f"input is {c.input.layout} {c.input.channels}, expected NHWC BGR")
    if c.labels_dtype not in ("uint8", "int32"):
        problems.append(f"labels_dtype {c.labels_dtype!r} is not uint8 or int32")
    if c.max_batch < 1 or c.input.height < 1 or c.input.width < 1:
        problems.append("max_batch, input height and width must be positive")
    if len(c.classes) != c.model.num_classes:
        problems.append(f"{len(c.classes)} classes listed for num_classes {c.model.num_classes}")
    off_scale = [k.name for k in c.classes if not all(0 <= v <= 255 for v in k.color)]
    if off_scale:
        problems.append(f"the colours of classes {off_scale} are not RGB 0..255")
    missing = [g for g in GRAPH_NAMES if g not in c.graphs]
    if missing:
        problems.append(f"graphs {missing} are missing")
    for name, graph in c.graphs.items():
        for file in (graph.file, *graph.variants.values()):
            if file not in c.files:
                problems.append(f"graph '{name}' file {file} has no sha256 in 'files'")
    problems += [f"file {f!r} points outside the model directory" for f in c.files if escapes(f)]
    if SOURCE_STATS_FILE not in c.files:
        problems.append(f"{SOURCE_STATS_FILE} has no sha256 in 'files'")
    if problems:
        raise ContractError(
            "contract.json is inconsistent: " + "; ".join(problems) + f"; {_REEXPORT}"
        )


def load_contract(
    model_dir: str | os.PathLike, verify: bool = True, trust_key: str | os.PathLike | None = None
) -> Contract:
    """Read and validate ``MODEL_DIR/contract.json`` once: schema known, keys present, consistent,
    and (``verify``) every listed file present with its sha256. With a trusted public key
    (``trust_key``, else ``$EDGEDG_TRUST_KEY``) the bytes parsed must carry its signature
    (:mod:`edgedg_runtime.signing`). Raises ContractError otherwise."""
    path = Path(model_dir) / CONTRACT_FILE
    if not path.is_file():
        raise ContractError(
            f"{path} not found: pass a model directory written by "
            "`edgedg export CHECKPOINT --out DIR`"
        )
    try:  # read once: the bytes verified are the bytes parsed
        raw = fileio.read_regular(path, fileio.MAX_JSON_BYTES)
    except OSError as exc:
        raise ContractError(f"{path} is not readable ({exc}); {_REEXPORT}") from exc
    key = signing.trust_key_from(trust_key)
    if key is not None:
        signing.verify_contract(model_dir, raw, key)
    try:
        data = fileio.parse_json(raw, str(path))
    except ValueError as exc:
        raise ContractError(f"{exc}; {_REEXPORT}") from exc
    contract = Contract.from_json(data)
    check_paths_inside(model_dir, contract.files)
    if verify:
        verify_files(model_dir, contract.files)
    return contract


def load_source_stats(
    model_dir: str | os.PathLike, contract: Contract
) -> tuple[np.ndarray, np.ndarray]:
    """(stats float32 [2, S], style float32 [2, C]) from ``source_stats.npz``: the training running
    mean / variance in stat-layout order, and the source style (the first norm layer's running
    stats). Shapes are checked against the contract; variances must be finite and >= 0."""
    path = Path(model_dir) / SOURCE_STATS_FILE
    try:
        with np.load(path, allow_pickle=False) as npz:
            stats = np.asarray(npz["stats"], dtype=np.float32)
            style = np.asarray(npz["style"], dtype=np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ContractError(f"{path} is missing or unreadable ({exc}); {_REEXPORT}") from exc
    except (AttributeError, TypeError):  # one array (.npy), not an .npz: no context manager
        raise ContractError(f"{path} is one array, not an .npz archive; {_REEXPORT}") from None
    want = {"stats": (2, contract.stat_layout.total), "style": (2, contract.style.channels)}
    for key, arr in (("stats", stats), ("style", style)):
        if arr.shape != want[key]:
            raise ContractError(
                f"{path}: '{key}' is {list(arr.shape)}, the contract says {list(want[key])}; "
                f"{_REEXPORT}"
            )
        if not np.all(np.isfinite(arr)) or np.any(arr[1] < 0):
            raise ContractError(f"{path}: '{key}' holds non-finite values or negative variances")
    return stats, style
