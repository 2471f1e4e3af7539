"""The style bank: distance, selection, pooled priors, FIFO, persistence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgedg_runtime.bank import BankOptions, SourceStats, StyleBank, load_bank, sym_kl
from edgedg_runtime.errors import BankError
from edgedg_runtime.layout import StatLayout

RNG = np.random.default_rng(0)


def _style(c: int = 8, shift: float = 0.0) -> np.ndarray:
    return np.stack([RNG.normal(shift, 1.0, c), RNG.uniform(0.5, 2.0, c)]).astype(np.float32)


def _source(layout: StatLayout) -> SourceStats:
    stats = np.stack([RNG.normal(0, 1, layout.total), RNG.uniform(0.5, 2, layout.total)])
    return SourceStats.from_layout(layout, stats)


def _unfolded_stats(x: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DESIGN section 2 statistics for x [P, C] (pixels, channels) and a prior [3, C]."""
    mu_f, var_f = x.mean(0), x.var(0)
    mu_p, var_p, w = prior
    mu = w * mu_f + (1 - w) * mu_p
    var = w * (var_f + (mu_f - mu) ** 2) + (1 - w) * (var_p + (mu_p - mu) ** 2)
    return mu, var


def test_sym_kl_matches_a_per_channel_loop():
    a, bank = _style(), np.stack([_style(shift=s) for s in (0.0, 0.5, 2.0)])
    got = sym_kl(a, bank)
    assert got.shape == (3,)
    for q in range(3):
        total = 0.0
        for c in range(a.shape[1]):
            mi, si = float(a[0, c]), math.sqrt(float(a[1, c]) + 1e-5)
            mj, sj = float(bank[q, 0, c]), math.sqrt(float(bank[q, 1, c]) + 1e-5)
            total += math.log(sj / si) + (si**2 + (mi - mj) ** 2) / (2 * sj**2) - 0.5
            total += math.log(si / sj) + (sj**2 + (mj - mi) ** 2) / (2 * si**2) - 0.5
        assert got[q] == pytest.approx(total, rel=1e-9)
    assert sym_kl(a, a) == pytest.approx(0.0, abs=1e-9)


def test_select_returns_the_closest_styles_closest_first():
    bank = StyleBank(BankOptions(m=4, capacity=16))
    shifts = [3.0, 0.1, 5.0, 0.0, 1.0, 8.0]
    base = _style()
    for s in shifts:
        bank.add(base + np.array([[s], [0.0]], np.float32), np.zeros((2, 5)))
    assert bank.select(base).tolist() == [3, 1, 4]
    assert bank.recent().tolist() == [5, 4, 3]


def test_prior_of_a_single_norm_layer_equals_the_concatenated_frames():
    frames = [RNG.normal(RNG.normal(0, 2, 6), RNG.uniform(0.5, 3, 6), (50, 6)) for _ in range(4)]
    bank = StyleBank(BankOptions(m=4, capacity=8))
    for x in frames[:3]:
        bank.add(_style(), np.stack([x.mean(0), x.var(0)]))
    prior = bank.prior(np.arange(3))
    assert prior[2, 0] == pytest.approx(0.25)
    mu, var = _unfolded_stats(frames[3], prior.astype(np.float64))
    joint = np.concatenate(frames)
    np.testing.assert_allclose(mu, joint.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(var, joint.var(0), rtol=1e-5, atol=1e-5)


def test_empty_selection_is_pure_tn_and_fixed_columns_keep_the_source():
    layout = StatLayout.from_channels([("bn1", 4, False), ("pool.bn", 3, True), ("bn2", 5, False)])
    source = _source(layout)
    bank = StyleBank(BankOptions(m=4), source)
    empty = bank.prior(bank.select(_style(4)))
    assert np.all(empty[2, ~layout.fixed_mask()] == 1.0)
    for mode_prior in (empty, source.batch_prior()):
        np.testing.assert_array_equal(mode_prior[:2, 4:7], source.stats[:, 4:7])
        assert np.all(mode_prior[2, 4:7] == 0.0)
    bank.add(_style(4), np.ones((2, layout.total)))
    one = bank.prior(bank.select(_style(4)))
    assert np.all(one[2, layout.fixed_mask()] == 0.0)
    np.testing.assert_array_equal(one[:2, 4:7], source.stats[:, 4:7])
    assert np.all(one[:2, ~layout.fixed_mask()] == 1.0) and one[2, 0] == pytest.approx(0.5)


def test_source_weight_pools_the_source_as_pseudo_frames():
    layout = StatLayout.from_channels([("bn1", 3, False)])
    source = SourceStats.from_layout(layout, np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]))
    bank = StyleBank(BankOptions(m=4, source_weight=2.0), source)
    entry = np.array([[3.0, 1.0, 5.0], [2.0, 4.0, 1.0]])
    bank.add(_style(3), entry)
    prior = bank.prior(np.array([0]))
    mu = (2 * source.stats[0] + entry[0]) / 3
    var = (
        2 * (source.stats[1] + (source.stats[0] - mu) ** 2) + entry[1] + (entry[0] - mu) ** 2
    ) / 3
    np.testing.assert_allclose(prior[0], mu, rtol=1e-6)
    np.testing.assert_allclose(prior[1], var, rtol=1e-6)
    assert prior[2, 0] == pytest.approx(1 / 4)
    assert bank.prior(np.zeros(0, np.int64))[2, 0] == pytest.approx(1 / 3)


def test_fifo_eviction_keeps_the_newest_entries():
    bank = StyleBank(BankOptions(m=3, capacity=3))
    for i in range(5):
        bank.add(_style(2), np.full((2, 2), float(i)))
    assert len(bank) == 3
    _, stats, _ = bank.entries()
    assert stats[:, 0, 0].tolist() == [2.0, 3.0, 4.0]
    assert sorted(bank.prior(bank.recent())[0].tolist()) == [3.5, 3.5]


def test_save_load_round_trip(tmp_path):
    layout = StatLayout.from_channels([("bn1", 4, False), ("bn2", 2, False)])
    source = _source(layout)
    bank = StyleBank(BankOptions(m=4, capacity=4), source)
    for _ in range(6):
        bank.add(_style(4), RNG.normal(size=(2, 6)))
    path = tmp_path / "bank.npz"
    bank.save(str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["bank.npz"]
    loaded = load_bank(str(path), source=source)
    for a, b in zip(bank.entries()[:2], loaded.entries()[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    probe = _style(4)
    np.testing.assert_array_equal(
        bank.prior(bank.select(probe)), loaded.prior(loaded.select(probe))
    )
    small = load_bank(str(path), source, BankOptions(capacity=2))
    np.testing.assert_array_equal(small.entries()[1], bank.entries()[1][-2:])


def test_load_refuses_corrupt_unknown_schema_and_foreign_banks(tmp_path):
    layout = StatLayout.from_channels([("bn1", 4, False)])
    source = _source(layout)
    bank = StyleBank(source=source)
    bank.add(_style(4), np.ones((2, 4)))
    good = tmp_path / "bank.npz"
    bank.save(str(good))

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(good.read_bytes()[:50])
    with pytest.raises(BankError, match="corrupt.*Delete"):
        load_bank(str(corrupt), source=source)

    with np.load(good, allow_pickle=False) as npz:
        arrays = dict(npz)
    arrays["schema_version"] = np.array(99)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(BankError, match="schema version 99"):
        load_bank(str(tmp_path / "future.npz"), source=source)

    other = _source(StatLayout.from_channels([("other", 4, False)]))
    with pytest.raises(BankError, match="another model"):
        load_bank(str(good), source=other)
    with pytest.raises(BankError, match="no style bank"):
        load_bank(str(tmp_path / "missing.npz"))


def test_bad_entries_are_refused():
    layout = StatLayout.from_channels([("bn1", 4, False)])
    bank = StyleBank(source=_source(layout))
    with pytest.raises(BankError, match="columns"):
        bank.add(_style(4), np.ones((2, 5)))
    with pytest.raises(BankError, match="keeps no images"):
        bank.images(np.zeros(0, np.int64))
