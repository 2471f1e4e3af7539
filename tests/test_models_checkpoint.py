"""Checkpoints: atomic save, weights_only load, model rebuild, clear errors."""

from __future__ import annotations

import pytest
import torch

from edgedg.checkpoint import class_table, load_checkpoint, load_model, save_checkpoint
from edgedg.models import create_model
from edgedg_runtime.errors import CheckpointError


def _meta(model) -> dict:
    classes, colors = class_table()
    return {
        "model": {
            "name": model.config.name,
            "num_classes": model.config.num_classes,
            "output_stride": model.config.output_stride,
            "head": model.config.head,
        },
        "classes": classes,
        "colors": colors,
        "iteration": 3,
    }


def test_roundtrip_with_optimizer(tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model("tiny", head="aspp")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(path, model, _meta(model), opt, {"rng": torch.get_rng_state(), "step": 3})
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left
    raw = torch.load(path, weights_only=True)
    assert raw["extra_state"]["step"] == 3
    loaded, meta = load_model(path)
    assert not loaded.training and meta["classes"][0] == "road" and len(meta["colors"]) == 19
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    opt2 = torch.optim.SGD(loaded.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(load_checkpoint(path)["optimizer"])
    assert torch.equal(
        opt2.state_dict()["state"][0]["momentum_buffer"],
        opt.state_dict()["state"][0]["momentum_buffer"],
    )


def test_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_model(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save(create_model("tiny").state_dict(), foreign)
    with pytest.raises(CheckpointError, match="not an edgedg checkpoint"):
        load_model(foreign)
    model = create_model("tiny")
    meta = _meta(model)
    meta["model"]["num_classes"] = 5
    wrong = tmp_path / "wrong.pt"
    save_checkpoint(wrong, model, meta)
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(wrong)
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "x.pt", model, {"classes": []})
