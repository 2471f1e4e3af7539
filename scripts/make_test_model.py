"""Regenerate the committed test assets under tests/assets/.

- ``tiny_model/``: what `edgedg export --imgsz 32x64` writes for a `tiny` checkpoint made with a
  fixed seed (random weights, non-trivial running statistics, 19 classes). The runtime's tests
  run on it where torch is not installed.
- ``double.onnx``: a hand-built graph (uint8 image -> 2 * image and the channel count) for the
  backend tests, which then need no onnx package.

    python scripts/make_test_model.py            # rewrite what changed
    python scripts/make_test_model.py --check    # exit 1 if the assets are stale

Needs the export extra (torch, onnx). The output is deterministic except for provenance (export
time, checkpoint hash) and the .npz zip timestamps, so files whose content is unchanged are left
alone and a re-run leaves the checkout clean unless the exporter's output really changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "tests" / "assets"
MODEL_NAME = "tiny_model"
DOUBLE_NAME = "double.onnx"
IMGSZ = (32, 64)
SEED = 0


def tiny_model(seed: int = SEED) -> tuple[Any, dict[str, Any]]:
    """A tiny SegModel (19 classes) with random weights and non-trivial running statistics, and
    the checkpoint meta the exporter needs. The same seed gives the same weights."""
    import torch

    from edgedg.checkpoint import class_table
    from edgedg.models import create_model
    from edgedg.norm import norm_layers

    torch.manual_seed(seed)
    model = create_model("tiny", num_classes=19)
    with torch.no_grad():
        for _, layer in norm_layers(model):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
    names, colors = class_table()
    meta = {
        "model": {"name": "tiny", "num_classes": 19, "output_stride": 8, "head": "fcn"},
        "classes": names,
        "colors": colors,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "imgsz": list(IMGSZ),
        "version": "test",
    }
    return model.eval(), meta


def export_tiny(out: str | os.PathLike, seed: int = SEED) -> Path:
    """Save the tiny model as a checkpoint and export it into the model directory ``out``, as
    `edgedg export CHECKPOINT --out OUT --imgsz 32x64` does."""
    from edgedg.checkpoint import save_checkpoint
    from edgedg_export.model_dir import ExportOptions, export_model_dir

    out = Path(out)
    model, meta = tiny_model(seed)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "tiny.pt"
        save_checkpoint(checkpoint, model, meta)
        export_model_dir(checkpoint, out, ExportOptions(imgsz=IMGSZ))
    return out


def write_double_graph(path: str | os.PathLike) -> str:
    """A tiny ONNX graph: uint8 ``image`` [N, H, W, 3] -> float32 ``out`` = 2 * image, plus
    int32 ``count`` [1] = number of channels. Dynamic N, H, W."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["f", "two"], ["out"]),
        helper.make_node("Shape", ["image"], ["shape"], start=3),
        helper.make_node("Cast", ["shape"], ["count"], to=TensorProto.INT32),
    ]
    graph = helper.make_graph(
        nodes,
        "double",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", "H", "W", 3])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", "H", "W", 3]),
            helper.make_tensor_value_info("count", TensorProto.INT32, [1]),
        ],
        initializer=[helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def content(model_dir: str | os.PathLike) -> dict[str, Any]:
    """What a model directory says, without what changes on every export: the contract without
    the export time and checkpoint hash, the .npz by its arrays rather than its zip bytes."""
    model_dir = Path(model_dir)
    contract = json.loads((model_dir / "contract.json").read_text())
    for key in ("created", "checkpoint_sha256"):
        contract["provenance"].pop(key, None)
    files = contract.pop("files")
    with np.load(model_dir / "source_stats.npz", allow_pickle=False) as npz:
        arrays = {k: hashlib.sha256(npz[k].tobytes()).hexdigest() for k in sorted(npz.files)}
    files.pop("source_stats.npz", None)
    return {"contract": contract, "files": files, "source_stats": arrays}


def _same_model(new: Path, old: Path) -> bool:
    return old.is_dir() and (old / "contract.json").is_file() and content(new) == content(old)


def regenerate(assets: Path, check: bool) -> list[str]:
    """Build the assets next to ``assets``; return the names that differ from the committed
    ones. Unless ``check``, those are moved into place."""
    from edgedg_export.model_dir import move_into_place

    assets.mkdir(parents=True, exist_ok=True)
    stale = []
    with tempfile.TemporaryDirectory(prefix=".assets.", dir=assets) as tmp:
        fresh = export_tiny(Path(tmp) / MODEL_NAME)
        if not _same_model(fresh, assets / MODEL_NAME):
            stale.append(MODEL_NAME)
            if not check:
                move_into_place(fresh, assets / MODEL_NAME)
        double = Path(write_double_graph(Path(tmp) / DOUBLE_NAME))
        old = assets / DOUBLE_NAME
        if not old.is_file() or old.read_bytes() != double.read_bytes():
            stale.append(DOUBLE_NAME)
            if not check:
                os.replace(double, old)
    return stale


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ASSETS, help="assets folder (tests/assets)")
    parser.add_argument("--check", action="store_true", help="only report stale assets; exit 1")
    args = parser.parse_args(argv)
    stale = regenerate(args.out, args.check)
    size = tree_bytes(args.out / MODEL_NAME) if (args.out / MODEL_NAME).exists() else 0
    if args.check and stale:
        print(f"stale: {', '.join(stale)}: run python scripts/make_test_model.py", file=sys.stderr)
        return 1
    verb = "rewrote" if stale else "unchanged:"
    print(f"{verb} {', '.join(stale) or 'all assets'}; {MODEL_NAME} is {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
