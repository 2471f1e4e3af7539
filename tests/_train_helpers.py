"""Small learnable multi-domain data and the torchrun worker used by the training tests.

Run as a script under ``python -m torch.distributed.run`` it trains on `make_domains` data and
leaves RUN/last.pt: ``_train_helpers.py OUT METHOD ORDER ITERS``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

CLASSES = 3
SIZE = 32


def make_domains(
    num_domains: int = 3, per_domain: int = 4, size: int = SIZE, seed: int = 0
) -> list[list[tuple[Tensor, Tensor]]]:
    """Each domain: images whose three regions (top strip, left, right) carry classes 2, 0, 1 with
    region-specific brightness, plus a per-domain colour shift and noise (a learnable task)."""
    gen = torch.Generator().manual_seed(seed)
    domains = []
    for d in range(num_domains):
        shift = torch.randn(3, 1, 1, generator=gen) * 0.5
        images = []
        for _ in range(per_domain):
            label = torch.zeros(size, size, dtype=torch.long)
            cut = int(torch.randint(size // 4, 3 * size // 4, (1,), generator=gen))
            label[:, cut:] = 1
            label[: size // 4] = 2
            label[0, :3] = 255
            image = torch.randn(3, size, size, generator=gen) * 0.3 + shift
            image += (label.clamp(max=2).float()[None] - 1.0) * (1.0 + 0.2 * d)
            images.append((image, label))
        domains.append(images)
    return domains


def write_cityscapes_domains(
    root: Path, num_domains: int = 3, per_domain: int = 5, split: str = "train"
) -> list[str]:
    """Write `make_domains` style data as real Cityscapes-format datasets; returns source specs."""
    from edgedg.data.formats import open_writer

    specs = []
    for d, dom in enumerate(make_domains(num_domains, per_domain, size=48, seed=0)):
        path = root / f"dom{d}"
        with open_writer("cityscapes", path) as writer:
            for i, (image, label) in enumerate(dom):
                rgb = ((image - image.min()) / (image.max() - image.min()) * 255).byte()
                lab = label.numpy().astype(np.uint8)
                lab[lab < 255] = np.array([0, 13, 10], dtype=np.uint8)[lab[lab < 255]]
                writer.add(split, i, rgb.permute(1, 2, 0).numpy(), lab)
        specs.append(f"cityscapes:{path}")
    return specs


class RankChunked(nn.Module):
    """One-process reference of a data-parallel forward: the domain-major global batch is split
    into the rows each of ``world`` ranks would hold and each part runs separately (its own batch
    statistics and its rank's dropout RNG stream), then the outputs are put back in order."""

    def __init__(self, model: nn.Module, world: int, rows_per_rank: int, seed: int):
        super().__init__()
        self.model, self.world, self.rows = model, world, rows_per_rank
        self.rng = []
        for rank in range(world):
            torch.manual_seed(seed + rank)
            self.rng.append(torch.get_rng_state())

    def forward(self, x: Tensor) -> Tensor:
        n, rows_per_rank = x.shape[0], self.rows
        block = rows_per_rank * self.world  # rows of one domain
        out = [None] * n
        for rank in range(self.world):
            idx = [
                d * block + rank * rows_per_rank + j
                for d in range(n // block)
                for j in range(rows_per_rank)
            ]
            torch.set_rng_state(self.rng[rank])
            y = self.model(x[idx])
            self.rng[rank] = torch.get_rng_state()
            for k, i in enumerate(idx):
                out[i] = y[k]
        return torch.stack(out)


def _config(out: str, method: str, order: int, iters: int):
    from edgedg.train import DataOptions, MethodOptions, ModelOptions, TrainConfig

    return TrainConfig(
        out=out,
        iters=iters,
        save_every=iters,
        model=ModelOptions(backbone="tiny", num_classes=CLASSES),
        method=MethodOptions(method=method, order=order, inner_lr=0.05),
        data=DataOptions(batch_per_domain=2, crop=SIZE),
        device="cpu",
        seed=3,
    )


def main(argv: list[str]) -> None:
    from edgedg.train import memory_data, train

    out, method, order, iters = argv[0], argv[1], int(argv[2]), int(argv[3])
    torch.set_num_threads(1)
    train(_config(out, method, order, iters), memory_data(make_domains(), 2))


if __name__ == "__main__":
    main(sys.argv[1:])
