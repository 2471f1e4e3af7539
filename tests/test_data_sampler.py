"""MultiDomainBatches (domain-major, reproducible, resumable, worker-independent) and holdout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _data_helpers import write_samples

from edgedg.data import open_dataset
from edgedg.data.sampler import MultiDomainBatches, holdout
from edgedg.data.transforms import TrainTransform
from edgedg_runtime.errors import DataError


class _Tagged:
    """A dataset whose items say which domain and index they are."""

    def __init__(self, domain: int, n: int) -> None:
        self.domain, self.n = f"d{domain}", n
        self._d = domain

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        image = np.full((2, 2, 3), 0, np.uint8)
        image[0, 0] = (self._d, i, 0)
        return {"image": image, "label": np.zeros((2, 2), np.uint8)}


def _tag_transform(image, label, rng):
    """(domain, index, one augmentation draw) as the image; the label is unused."""
    tag = torch.tensor([float(image[0, 0, 0]), float(image[0, 0, 1]), rng.random()])
    return tag, torch.zeros(1, dtype=torch.int64)


def _take(batches, n):
    out = []
    for batch in batches:
        out.append(batch)
        if len(out) == n:
            return out
    return out


def test_domain_major_and_epochs_without_replacement():
    sets = [_Tagged(0, 5), _Tagged(1, 7), _Tagged(2, 3)]
    batches = _take(MultiDomainBatches(sets, 2, _tag_transform, seed=1, steps=15), 100)
    assert len(batches) == 15
    images, labels, ids = batches[0]
    assert images.shape == (6, 3) and labels.shape == (6, 1) and ids.dtype == torch.int64
    assert ids.tolist() == [0, 0, 1, 1, 2, 2]
    assert images[:, 0].tolist() == [0, 0, 1, 1, 2, 2]  # each row from its domain
    seen = torch.cat([b[0] for b in batches])
    for d, ds in enumerate(sets):  # 30 reads of each: whole epochs cover every index
        idx = seen[seen[:, 0] == d, 1].long().tolist()
        full_epochs = 30 // len(ds)
        for e in range(full_epochs):
            assert sorted(idx[e * len(ds) : (e + 1) * len(ds)]) == list(range(len(ds)))


def test_reproducible_and_seed_dependent():
    sets = [_Tagged(0, 9), _Tagged(1, 4)]
    a = _take(MultiDomainBatches(sets, 3, _tag_transform, seed=5, steps=4), 4)
    b = _take(MultiDomainBatches(sets, 3, _tag_transform, seed=5, steps=4), 4)
    c = _take(MultiDomainBatches(sets, 3, _tag_transform, seed=6, steps=4), 4)
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(a, c, strict=True))


def test_start_step_resumes_exactly():
    sets = [_Tagged(0, 6), _Tagged(1, 11)]
    full = _take(MultiDomainBatches(sets, 4, _tag_transform, seed=3, steps=10), 10)
    tail = _take(MultiDomainBatches(sets, 4, _tag_transform, seed=3, start_step=7, steps=3), 3)
    for x, y in zip(full[7:], tail, strict=True):
        assert torch.equal(x[0], y[0]) and torch.equal(x[2], y[2])


def test_workers_give_identical_batches(tmp_path):
    for fmt in ("gta5", "synthia"):
        write_samples(fmt, tmp_path / fmt, n_train=3, n_val=0, h=32, w=48)
    sets = [open_dataset(f"{fmt}:{tmp_path / fmt}") for fmt in ("gta5", "synthia")]
    t = TrainTransform(crop=24)
    zero = _take(MultiDomainBatches(sets, 2, t, seed=9, start_step=2, steps=3), 3)
    two = _take(MultiDomainBatches(sets, 2, t, seed=9, start_step=2, steps=3, num_workers=2), 3)
    assert len(zero) == len(two) == 3
    for x, y in zip(zero, two, strict=True):
        assert x[0].shape == (4, 3, 24, 24) and x[1].shape == (4, 24, 24)
        for a, b in zip(x, y, strict=True):
            assert torch.equal(a, b)


def test_rejects_empty_input():
    with pytest.raises(DataError):
        MultiDomainBatches([], 2, _tag_transform, seed=0)
    with pytest.raises(DataError, match="empty"):
        MultiDomainBatches([_Tagged(0, 0)], 2, _tag_transform, seed=0)


def test_holdout_is_reproducible_and_disjoint(tmp_path):
    sets = _Tagged(0, 20)
    train, val = holdout(sets, 0.25, seed=4)
    again_train, again_val = holdout(sets, 0.25, seed=4)
    assert len(val) == 5 and len(train) == 15 and val.domain == "d0"
    assert list(val.indices) == list(again_val.indices)
    assert list(train.indices) == list(again_train.indices)
    assert not set(train.indices) & set(val.indices)
    assert set(train.indices) | set(val.indices) == set(range(20))
    assert list(holdout(sets, 0.25, seed=5)[1].indices) != list(val.indices)
    assert val[0]["image"][0, 0, 1] == val.indices[0]
    with pytest.raises(DataError):
        holdout(sets, 1.5, seed=0)
