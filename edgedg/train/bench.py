"""Training step time: AGG vs MLDG (order 1 and 2) at the same number of images per step."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch

from edgedg.models import create_model
from edgedg.train.config import DataOptions, MethodOptions, ModelOptions, TrainConfig
from edgedg.train.distributed import DistEnv, resolve_device
from edgedg.train.loop import Stepper

MODES = (("agg", "agg", 1), ("mldg-1", "mldg", 1), ("mldg-2", "mldg", 2))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_times(
    backbone: str, method: str, order: int, batch, device: torch.device, iters: int, warmup: int
) -> list[float]:
    domains = int(batch[2].max()) + 1
    cfg = TrainConfig(
        out="",
        iters=warmup + iters + 1,
        model=ModelOptions(backbone=backbone),
        method=MethodOptions(method=method, order=order),
        data=DataOptions(batch_per_domain=batch[0].shape[0] // domains),
        device=device.type,
    )
    torch.manual_seed(0)
    model = create_model(backbone).to(device).train()
    stepper = Stepper(cfg, model, DistEnv(device=device), domains)
    times = []
    for step in range(warmup + iters):
        _sync(device)
        start = time.perf_counter()
        stepper.train_batch(step, batch)
        _sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def bench_train(
    backbones: Sequence[str] = ("resnet18", "resnet50"),
    size: int = 256,
    batch_per_domain: int = 2,
    domains: int = 3,
    iters: int = 5,
    warmup: int = 2,
    device: str = "auto",
) -> list[dict]:
    """Median step time of AGG, MLDG order 1 and order 2 per backbone, with ratios to AGG.

    Every mode sees the same random batch of ``domains`` x ``batch_per_domain`` images of
    ``size`` x ``size``; MLDG uses the default random meta split (seeded by the step).
    """
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(0)
    n = domains * batch_per_domain
    batch = (
        torch.randn(n, 3, size, size, generator=gen),
        torch.randint(0, 19, (n, size, size), generator=gen),
        torch.arange(domains).repeat_interleave(batch_per_domain),
    )
    rows = []
    for backbone in backbones:
        base = None
        for name, method, order in MODES:
            times = _step_times(backbone, method, order, batch, dev, iters, warmup)
            median = statistics.median(times)
            base = median if base is None else base
            rows.append(
                {
                    "backbone": backbone,
                    "mode": name,
                    "median_s": median,
                    "ratio_to_agg": median / base,
                    "images_per_step": n,
                    "size": size,
                    "device": str(dev),
                }
            )
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table of `bench_train` rows."""
    head = f"{'backbone':<10} {'mode':<7} {'median step (s)':>16} {'x AGG':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['backbone']:<10} {r['mode']:<7} {r['median_s']:>16.3f} {r['ratio_to_agg']:>7.2f}"
        )
    return "\n".join(lines)
