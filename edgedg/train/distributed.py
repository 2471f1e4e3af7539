"""torchrun support: process-group set-up from the environment and the per-rank batch slice.

Data parallelism splits each domain's B images of the global batch evenly over the ranks (B must
be divisible by the world size). Norm layers use their rank's batch statistics (plain BatchNorm,
as the method prescribes: no SyncBN); the running statistics are averaged over ranks before a
checkpoint or a validation, so the saved model reflects every rank's data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgedg_runtime.errors import EdgeDGError


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> CUDA when available; 'cuda' without a GPU is a user error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise EdgeDGError("--device cuda was asked for but no CUDA GPU is visible; use cpu")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise EdgeDGError(f"--device must be auto, cpu or cuda, got '{name}'")
    return torch.device("cpu")


def init_distributed(device: str = "auto") -> DistEnv:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return DistEnv(device=dev)
    import torch.distributed as dist

    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def close_distributed(env: DistEnv) -> None:
    if env.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def local_rows(
    batch: tuple[Tensor, Tensor, Tensor], num_domains: int, env: DistEnv
) -> tuple[Tensor, Tensor, Tensor]:
    """This rank's slice of a domain-major global batch: B/world images of every domain."""
    if not env.active:
        return batch
    per = batch[0].shape[0] // num_domains
    if per % env.world:
        raise EdgeDGError(f"--batch-per-domain {per} is not divisible by the {env.world} processes")
    share = per // env.world
    idx = torch.cat(
        [
            torch.arange(d * per + env.rank * share, d * per + (env.rank + 1) * share)
            for d in range(num_domains)
        ]
    )
    return tuple(t[idx] for t in batch)  # type: ignore[return-value]


def sum_over_ranks(value: Tensor, env: DistEnv) -> Tensor:
    """A (detached) tensor summed over ranks; itself when not distributed."""
    if not env.active:
        return value
    import torch.distributed as dist

    value = value.detach().clone()
    dist.all_reduce(value)
    return value


def average_running_stats(model: nn.Module, env: DistEnv) -> None:
    """Average floating-point buffers (norm running statistics) over ranks, in place."""
    if not env.active:
        return
    import torch.distributed as dist

    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf /= env.world


def gather_rng_states(env: DistEnv) -> dict[str, list[Tensor]]:
    """Every rank's torch CPU (and CUDA) generator state, rank-ordered, for an exact resume."""
    mine = {"cpu": torch.get_rng_state()}
    if env.device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(env.device)
    states: list = [mine]
    if env.active:
        import torch.distributed as dist

        states = [None] * env.world
        dist.all_gather_object(states, mine)
    return {key: [s[key] for s in states] for key in mine}


def restore_rng_states(states: dict[str, list[Tensor]], env: DistEnv) -> bool:
    """Set this rank's generators from ``gather_rng_states`` output; False if the saved run had
    another number of ranks (the generators are then left as seeded)."""
    if len(states.get("cpu", [])) != env.world:
        return False
    torch.set_rng_state(states["cpu"][env.rank].cpu())
    if env.device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"][env.rank].cpu(), env.device)
    return True
