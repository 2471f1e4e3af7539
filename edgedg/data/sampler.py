"""Reproducible multi-domain batches: B crops from EVERY source domain at every step.

Step t, domain d, slot j: the dataset index is position t*B + j of domain d's epoch permutation
(seeded by (seed, d, epoch): each domain is read without replacement, epoch after epoch), and the
augmentation draws from ``np.random.default_rng([seed, t, d, j])``. Nothing else is random, so a run
resumed at ``start_step`` sees exactly the batches an uninterrupted run would, for any number of
workers, and per-worker seeding needs no care.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.utils.data

from edgedg_runtime.errors import DataError

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class _StepItems(torch.utils.data.Dataset):
    """Map-style view: item (t, d, j) -> one augmented (image, label, domain id)."""

    def __init__(self, datasets: Sequence, batch: int, transform: Callable, seed: int) -> None:
        self.datasets, self.batch, self.transform, self.seed = (
            list(datasets),
            batch,
            transform,
            seed,
        )
        self._perm: dict[int, tuple[int, np.ndarray]] = {}  # domain -> (epoch, its permutation)

    def index_of(self, step: int, domain: int, slot: int) -> int:
        """The dataset index read at (step, domain, slot)."""
        n = len(self.datasets[domain])
        epoch, pos = divmod(step * self.batch + slot, n)
        if self._perm.get(domain, (None,))[0] != epoch:
            rng = np.random.default_rng([self.seed, domain, epoch])
            self._perm[domain] = (epoch, rng.permutation(n))
        return int(self._perm[domain][1][pos])

    def __getitem__(self, key: tuple[int, int, int]):
        step, domain, slot = key
        sample = self.datasets[domain][self.index_of(step, domain, slot)]
        rng = np.random.default_rng([self.seed, step, domain, slot])
        image, label = self.transform(sample["image"], sample["label"], rng)
        return image, label, domain


def _collate(items: list) -> Batch:
    images, labels, domains = zip(*items, strict=True)
    return torch.stack(images), torch.stack(labels), torch.tensor(domains, dtype=torch.int64)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # the workers are the parallelism; OpenCV's own threads oversubscribe


class MultiDomainBatches:
    """Iterable over steps; step t gives (images [D*B,3,h,w], labels [D*B,h,w], domain ids [D*B]).

    Rows are domain-major: rows d*B .. d*B+B-1 come from ``datasets[d]``. Iteration starts at
    ``start_step`` and runs ``steps`` steps (None: without end). ``transform(image, label, rng)``
    must return equally sized tensors (e.g. ``TrainTransform``); with ``num_workers`` > 0 a torch
    DataLoader builds batches in worker processes, in the same order and with the same content.
    Workers start with ``mp_context`` "spawn" by default: a worker forked from a process whose
    OpenCV thread pool has run deadlocks in its first OpenCV call, so "fork" is only safe when the
    parent never used OpenCV.
    """

    def __init__(
        self,
        datasets: Sequence,
        batch_per_domain: int,
        transform: Callable,
        seed: int,
        num_workers: int = 0,
        start_step: int = 0,
        steps: int | None = None,
        pin_memory: bool = False,
        mp_context: str = "spawn",
    ) -> None:
        if not datasets or batch_per_domain < 1:
            raise DataError(
                "MultiDomainBatches needs at least one dataset and batch_per_domain >= 1"
            )
        for i, ds in enumerate(datasets):
            if len(ds) == 0:
                raise DataError(f"source dataset {i} ({getattr(ds, 'domain', '?')}) is empty")
        self.items = _StepItems(datasets, batch_per_domain, transform, seed)
        self.batch, self.num_workers = batch_per_domain, num_workers
        self.start_step, self.steps, self.pin_memory = start_step, steps, pin_memory
        self.mp_context = mp_context

    @property
    def domains(self) -> list[str]:
        """Each domain id's name (the datasets' ``domain`` attribute where they have one)."""
        return [getattr(ds, "domain", str(i)) for i, ds in enumerate(self.items.datasets)]

    def _step_keys(self) -> Iterator[list[tuple[int, int, int]]]:
        step, d_count = self.start_step, len(self.items.datasets)
        while self.steps is None or step < self.start_step + self.steps:
            yield [(step, d, j) for d in range(d_count) for j in range(self.batch)]
            step += 1

    def __iter__(self) -> Iterator[Batch]:
        if self.num_workers == 0:
            for keys in self._step_keys():
                yield _collate([self.items[k] for k in keys])
            return
        loader = torch.utils.data.DataLoader(
            self.items,
            batch_sampler=self._step_keys(),
            num_workers=self.num_workers,
            collate_fn=_collate,
            worker_init_fn=_worker_init,
            pin_memory=self.pin_memory,
            multiprocessing_context=self.mp_context,
        )
        yield from loader


class _DomainSubset(torch.utils.data.Subset):
    """A Subset that keeps the parent's ``domain`` name."""

    @property
    def domain(self) -> str:
        return getattr(self.dataset, "domain", "")


def holdout(
    ds, fraction: float, seed: int
) -> tuple[torch.utils.data.Subset, torch.utils.data.Subset]:
    """Split ``ds`` into (train, held-out validation) subsets; ``fraction`` goes to validation.

    The split is a permutation seeded by ``seed`` alone, so it is the same on every run; both parts
    are non-empty when ``ds`` has at least two items and 0 < fraction < 1.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"holdout fraction must be in (0, 1), got {fraction}")
    n = len(ds)
    if n < 2:
        raise DataError(f"cannot hold out part of a dataset with {n} item(s)")
    n_val = min(n - 1, max(1, round(fraction * n)))
    order = np.random.default_rng(seed).permutation(n)
    val, train = sorted(order[:n_val].tolist()), sorted(order[n_val:].tolist())
    return _DomainSubset(ds, train), _DomainSubset(ds, val)
