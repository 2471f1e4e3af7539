"""A saved style bank is checked before it is trusted: values, shapes, schema, model identity,
capacity and stored images survive a round trip; non-finite entries never enter a bank."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edgedg_runtime.bank import BankOptions, SourceStats, StyleBank, load_bank
from edgedg_runtime.errors import BankError
from edgedg_runtime.layout import StatLayout

RNG = np.random.default_rng(13)
LAYOUT = StatLayout.from_channels([("bn1", 4, False), ("bn2", 2, False)])


def _source(layout: StatLayout = LAYOUT, seed: int = 0) -> SourceStats:
    rng = np.random.default_rng(seed)
    stats = np.stack([rng.normal(0, 1, layout.total), rng.uniform(0.5, 2, layout.total)])
    return SourceStats.from_layout(layout, stats)


def _entry(c: int = 4, s: int = 6) -> tuple[np.ndarray, np.ndarray]:
    style = np.stack([RNG.normal(0, 1, c), RNG.uniform(0.5, 2, c)]).astype(np.float32)
    stats = np.stack([RNG.normal(0, 1, s), RNG.uniform(0.5, 2, s)]).astype(np.float32)
    return style, stats


def _saved(tmp_path, source: SourceStats, n: int = 5, capacity: int = 8, images=False) -> str:
    bank = StyleBank(BankOptions(capacity=capacity), source, keep_images=images)
    for _ in range(n):
        image = RNG.integers(0, 255, (4, 6, 3), dtype=np.uint8) if images else None
        bank.add(*_entry(), image)
    path = str(tmp_path / "bank.npz")
    bank.save(path)
    return path


def _edit(path: str, **changes) -> str:
    with np.load(path, allow_pickle=False) as npz:
        arrays = dict(npz)
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "what, bad_rows",
    [("nan-mean", [1]), ("inf-var", [0, 3]), ("negative-var", [2]), ("nan-style", [4])],
)
def test_bank_with_bad_values_is_refused_with_the_count(tmp_path, what, bad_rows):
    source = _source()
    path = _saved(tmp_path, source)
    with np.load(path, allow_pickle=False) as npz:
        style, stats = npz["style"].copy(), npz["frame_stats"].copy()
    for row in bad_rows:
        if what == "nan-mean":
            stats[row, 0, 1] = np.nan
        elif what == "inf-var":
            stats[row, 1, 0] = np.inf
        elif what == "negative-var":
            stats[row, 1, 3] = -0.5
        else:
            style[row, 0, 2] = np.nan
    _edit(path, style=style, frame_stats=stats)
    with pytest.raises(BankError, match=rf"{len(bad_rows)} of 5 entries .*Delete"):
        load_bank(path, source=source)


def test_non_finite_entries_are_skipped_and_counted():
    bank = StyleBank(BankOptions(capacity=4), _source())
    style, stats = _entry()
    bank.add(style, stats)
    broken = stats.copy()
    broken[0, 2] = np.nan
    assert bank.add(style, broken) is False
    neg = stats.copy()
    neg[1, 0] = -1.0
    assert bank.add(style, neg) is False
    assert bank.add(style, stats) is True
    assert len(bank) == 2 and bank.rejected == 2
    assert np.isfinite(bank.entries()[1]).all()


def test_bank_of_another_model_with_the_same_layout_is_refused(tmp_path):
    path = _saved(tmp_path, _source(seed=0))
    other = _source(seed=1)  # same architecture (layout hash), other weights
    assert other.layout_hash == _source(seed=0).layout_hash
    with pytest.raises(BankError, match="another model"):
        load_bank(path, source=other)
    # the same weights (the same source statistics) load, however the graphs were exported
    assert len(load_bank(path, source=_source(seed=0))) == 5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"schema_version": np.array("one")}, "schema version"),
        ({"capacity": np.array("big")}, "malformed"),
        ({"style": np.ones((5, 2, 7), np.float32)}, "style channels"),
        ({"frame_stats": np.ones((5, 2, 9), np.float32)}, "columns"),
        ({"style": np.ones((5, 2, 4), np.int64)}, "float32"),
        ({"images": np.ones((5, 4, 6), np.uint8)}, "images"),
        ({"capacity": np.array(0)}, "capacity"),
    ],
)
def test_malformed_bank_is_a_bank_error(tmp_path, change, message):
    source = _source()
    path = _edit(_saved(tmp_path, source), **change)
    with pytest.raises(BankError, match=message):
        load_bank(path, source=source)


def test_npy_renamed_npz_is_a_bank_error(tmp_path):
    path = tmp_path / "bank.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.ones((3, 3), np.float32))
    with pytest.raises(BankError, match="not a bank"):
        load_bank(str(path), source=_source())


def test_saved_capacity_is_kept_and_dropped_entries_are_reported(tmp_path, caplog):
    source = _source()
    path = _saved(tmp_path, source, n=40, capacity=4000)
    assert load_bank(path, source=source).capacity == 4000
    with caplog.at_level(logging.WARNING):
        small = load_bank(path, source, BankOptions(capacity=16))
    assert small.capacity == 16 and len(small) == 16
    assert "drops the 24 oldest" in caplog.text


def test_image_bank_keeps_its_images_when_loaded_for_statistics(tmp_path):
    source = _source()
    path = _saved(tmp_path, source, n=3, images=True)
    bank = load_bank(path, source=source)  # as `sib` loads it
    assert bank.keep_images
    bank.add(*_entry(), RNG.integers(0, 255, (4, 6, 3), dtype=np.uint8))
    bank.save(path)
    assert load_bank(path, source=source, keep_images=True).entries()[2].shape == (4, 4, 6, 3)
