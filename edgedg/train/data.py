"""The training data of a run: step-indexed multi-domain batches and the validation sets."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from torch import Tensor

from edgedg.train.config import TrainConfig
from edgedg_runtime.errors import EdgeDGError

Batch = tuple[Tensor, Tensor, Tensor]  # images [D*B,3,h,w], labels [D*B,h,w], domain ids [D*B]
Sample = tuple[Tensor, Tensor]  # normalised image [3,H,W], label [H,W]


@dataclass
class TrainData:
    """What the loop needs from the data layer, so tests can supply it from memory.

    ``batches(start_step)`` yields the GLOBAL batch of step start_step, start_step + 1, ...
    (domain-major, equal rows per domain) and must depend on the step only (exact resume).
    ``val_sets`` maps a name to a factory of (image, label) samples.
    """

    batches: Callable[[int], Iterable[Batch]]
    domains: list[str]
    imgsz: tuple[int, int]
    val_sets: dict[str, Callable[[], Iterable[Sample]]] = field(default_factory=dict)
    oracle: bool = False  # validation on a target domain (the published code's selection)


def _eval_samples(dataset, limit: int) -> Callable[[], Iterable[Sample]]:
    from edgedg.data import eval_transform

    def samples() -> Iterable[Sample]:
        for i in range(min(limit, len(dataset))):
            item = dataset[i]
            yield eval_transform(item["image"], item["label"], protocol="full")

    return samples


def data_from_config(cfg: TrainConfig) -> TrainData:
    """Open the ``--source`` datasets (train split), carve the source validation sets (or open the
    ``--val`` targets) and build the step-indexed batches of the configured crop and batch size."""
    from edgedg.data import MultiDomainBatches, TrainTransform, holdout, open_dataset

    opts = cfg.data
    if not opts.sources:
        raise EdgeDGError("no training data: give at least one --source FORMAT:PATH")
    train_sets, val_sets = [], {}
    for spec in opts.sources:
        ds = open_dataset(spec, "train", long_side=opts.long_side)
        if not opts.val and opts.val_fraction > 0:
            ds, held = holdout(ds, opts.val_fraction, cfg.seed)
            val_sets[f"{ds.domain}"] = _eval_samples(held, opts.val_max_images)
        train_sets.append(ds)
    for spec in opts.val:
        target = open_dataset(spec, "val", long_side=opts.long_side)
        val_sets[f"{target.domain}"] = _eval_samples(target, opts.val_max_images)
    imgsz = tuple(train_sets[0][0]["image"].shape[:2])
    transform = TrainTransform(crop=opts.crop)

    def batches(start: int) -> Iterable[Batch]:
        return MultiDomainBatches(
            train_sets,
            opts.batch_per_domain,
            transform,
            cfg.seed,
            num_workers=opts.workers,
            start_step=start,
            steps=max(0, cfg.iters - start),
        )

    domains = [getattr(ds, "domain", str(i)) for i, ds in enumerate(train_sets)]
    return TrainData(batches, domains, imgsz, val_sets, oracle=bool(opts.val))


def memory_data(
    domains: Sequence[Sequence[Sample]],
    batch_per_domain: int,
    val: Sequence[Sample] = (),
) -> TrainData:
    """Deterministic in-memory data (tests, benchmarks): step t takes images t*B.. of each domain,
    cycling; no augmentation."""
    import torch

    def batches(start: int) -> Iterable[Batch]:
        for step in itertools.count(start):
            rows = [
                (d, dom[(step * batch_per_domain + j) % len(dom)])
                for d, dom in enumerate(domains)
                for j in range(batch_per_domain)
            ]
            yield (
                torch.stack([s[1][0] for s in rows]),
                torch.stack([s[1][1] for s in rows]),
                torch.tensor([s[0] for s in rows]),
            )

    imgsz = tuple(domains[0][0][0].shape[-2:])
    val_sets = {"val": lambda: iter(val)} if val else {}
    return TrainData(batches, [str(i) for i in range(len(domains))], imgsz, val_sets)
