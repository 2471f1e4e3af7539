"""Training checkpoints: one file that rebuilds the model and, for resume, the whole run state.

The file is a plain dict of tensors and JSON-like values, so it loads with
``torch.load(weights_only=True)``:

    {"format": "edgedg-checkpoint", "format_version": 1,
     "meta": {...},             # model config, classes, colours, mean/std, imgsz, method, args, ...
     "model": state_dict, "optimizer": state_dict | None, "extra_state": dict | None}

``meta`` keys other parts rely on: "model" {name, num_classes, output_stride, head}, "classes",
"colors", "mean", "std", "imgsz" [H, W], "method", "args", "version", "iteration",
"oracle_selection", and "val_miou" when validated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedg.models import SegModel, create_model
from edgedg_runtime.errors import CheckpointError
from edgedg_runtime.fileio import atomic_open

FORMAT = "edgedg-checkpoint"
FORMAT_VERSION = 1
MODEL_KEYS = ("name", "num_classes", "output_stride", "head")


def first_non_finite(tensors: Mapping[str, Any]) -> str | None:
    """The name of the first floating-point tensor holding a nan or an inf; None when all are
    finite (one device sync in that case, the common one)."""
    floats = [(k, t) for k, t in tensors.items() if torch.is_tensor(t) and t.is_floating_point()]
    if not floats or bool(torch.stack([torch.isfinite(t).all() for _, t in floats]).all()):
        return None
    return next(k for k, t in floats if not bool(torch.isfinite(t).all()))


def check_finite_weights(state: Mapping[str, Any], source: str) -> None:
    """Refuse a state dict with a nan or inf weight: the run that wrote it diverged."""
    bad = first_non_finite(state)
    if bad is not None:
        raise CheckpointError(
            f"{source}: its weights are not finite ({bad} holds nan or inf; the run that wrote "
            "it diverged): use an earlier checkpoint, or retrain with a lower --lr"
        )


def class_table() -> tuple[list[str], list[list[int]]]:
    """The 19 Cityscapes training classes (trainIds 0..18): names and RGB colours."""
    try:
        from edgedg.data.labels import CLASSES, COLORS
    except ImportError:  # the data package is optional at this layer
        from cityscapesscripts.helpers.labels import trainId2label

        labels = [trainId2label[i] for i in range(19)]
        return [x.name for x in labels], [list(x.color) for x in labels]
    return [str(c) for c in CLASSES], [[int(v) for v in rgb] for rgb in COLORS]


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    extra_state: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` (+ optimizer and extra run state) atomically: temp file, then os.replace.

    ``meta["model"]`` must hold the model config; ``extra_state`` may hold only tensors and plain
    containers of str/int/float/bool/None (e.g. RNG states as tensors).
    """
    if not isinstance(meta.get("model"), dict) or any(k not in meta["model"] for k in MODEL_KEYS):
        raise ValueError(f"meta['model'] must be a dict with keys {MODEL_KEYS}")
    model = getattr(model, "module", model)  # a DDP wrapper saves its inner model
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": meta,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "extra_state": extra_state,
    }
    with atomic_open(path) as f:
        torch.save(payload, f)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The whole checkpoint dict (meta, model, optimizer, extra_state), validated; for resume."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}: pass a file written by `edgedg train` (RUN/last.pt or "
            "RUN/best.pt)"
        )
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is corrupt or not a safe edgedg checkpoint ({type(exc).__name__}): "
            "use a RUN/last.pt or RUN/best.pt written by `edgedg train`"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an edgedg checkpoint (a plain state dict or another tool's file?): "
            "use a file written by `edgedg train`"
        )
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {ckpt['format_version']}, newer than this edgedg "
            f"understands ({FORMAT_VERSION}): upgrade edgedg"
        )
    meta = ckpt.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise CheckpointError(f"{path} has no model description in its meta: re-save it")
    _check_class_lists(path, meta)
    return ckpt


def _check_class_lists(path: Path, meta: dict[str, Any]) -> None:
    """meta["classes"] and meta["colors"], when present, hold one entry per class."""
    n = meta["model"].get("num_classes")
    for key in ("classes", "colors"):
        items = meta.get(key)
        if isinstance(items, list) and len(items) != n:
            raise CheckpointError(
                f"{path}: its meta lists {len(items)} {key} but num_classes is {n} (they do not "
                f"match): give meta['{key}'] one entry per class, or use the checkpoint `edgedg "
                "train` wrote"
            )


def _class_mismatch(model: nn.Module, state: dict[str, Any], n: int) -> str | None:
    """The first weight whose leading size is the meta's class count in the model built from
    the meta but not in the checkpoint: the classifier of another class count."""
    for key, want in model.state_dict().items():
        have = state.get(key)
        if have is not None and want.ndim and want.shape[0] == n and have.shape[0] != n:
            return f"{key} has {have.shape[0]}"
    return None


def model_from_checkpoint(ckpt: dict[str, Any], source: str = "checkpoint") -> SegModel:
    """Rebuild the model of a loaded checkpoint dict and load its weights (strict)."""
    cfg = ckpt["meta"]["model"]
    try:
        model = create_model(**{k: cfg[k] for k in MODEL_KEYS})
    except KeyError as exc:
        raise CheckpointError(f"{source}: meta['model'] lacks {exc}: re-save it") from None
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as exc:
        other = _class_mismatch(model, ckpt["model"], int(cfg["num_classes"]))
        if other is not None:
            raise CheckpointError(
                f"{source}: the weights do not match the meta's class count: num_classes is "
                f"{cfg['num_classes']} but {other}: fix meta['model']['num_classes'], or use the "
                "checkpoint these weights came from"
            ) from None
        first = str(exc).strip().splitlines()[0:3]
        raise CheckpointError(
            f"{source}: weights do not match the model {cfg}: {' '.join(first)}"
        ) from None
    check_finite_weights(ckpt["model"], source)
    return model


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[SegModel, dict[str, Any]]:
    """Rebuild the model stored in ``path`` on ``device``, in eval mode, with its meta dict."""
    ckpt = load_checkpoint(path, device="cpu")
    model = model_from_checkpoint(ckpt, str(path))
    return model.to(device).eval(), ckpt["meta"]
