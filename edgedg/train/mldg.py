"""MLDG meta-gradients and the meta-train / meta-test domain split.

One iteration (Li et al., MLDG; the method's Algorithm 1):

    theta' = theta - eta * grad L_ds(theta)        # inner SGD step on the meta-train domains
    order 1 (published code): g = grad L_ds(theta) + alpha * grad L_dg(theta'), inner grad constant
    order 2 (paper, MAML):    g = d/dtheta [L_ds(theta) + alpha * L_dg(theta - eta grad L_ds)]

Both forwards use batch statistics (train mode). Only the meta-train forward updates the running
statistics: the fast-weight forward runs on copies of the buffers.

Distributed (torchrun): each rank holds a slice of every domain's images and its ``loss_fn`` must
be normalised by the GLOBAL pixel count (local sum / global count), so that SUMMING a gradient over
ranks gives the gradient of the global-batch loss. Then:
  * the inner gradient is all-reduce-summed before forming theta', so every rank steps to the same
    theta' (the gradient of the global meta-train batch). For order 2 the sum is
    ``torch.distributed.nn.functional.all_reduce``, which is differentiable: its backward sums the
    upstream gradients over ranks, so each rank's Hessian-vector term sees every rank's meta-test
    gradient, and the final sum over ranks is the exact global meta-gradient;
  * the outer gradient is all-reduce-summed like DDP's reducer (which averages a loss scaled by
    the world size: the same number).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from edgedg_runtime.errors import EdgeDGError

LossFn = Callable[[Tensor, Tensor], Tensor]
Batch = tuple[Tensor, Tensor]


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def allreduce_sum(tensors: Sequence[Tensor], differentiable: bool = False) -> list[Tensor]:
    """Sum each tensor over ranks in one flat collective; differentiable when asked."""
    import torch.distributed as dist

    flat = torch.cat([t.reshape(-1) for t in tensors])
    if differentiable:
        from torch.distributed.nn.functional import all_reduce

        flat = all_reduce(flat)
    else:
        dist.all_reduce(flat)
    out, offset = [], 0
    for t in tensors:
        out.append(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()
    return out


def _grads(loss: Tensor, inputs: Sequence[Tensor], create_graph: bool = False) -> list[Tensor]:
    got = torch.autograd.grad(loss, inputs, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, got, strict=True)]


def meta_grads_and_losses(
    model: nn.Module,
    loss_fn: LossFn,
    meta_train: Batch,
    meta_test: Batch,
    inner_lr: float,
    alpha: float = 1.0,
    order: int = 2,
    allreduce: bool | None = None,
) -> tuple[list[Tensor], Tensor, Tensor]:
    """`meta_grads` plus the detached meta-train and meta-test losses (for logging)."""
    if order not in (1, 2):
        raise EdgeDGError(f"MLDG order must be 1 or 2, got {order}")
    reduce = _distributed() if allreduce is None else allreduce
    named = list(model.named_parameters())
    train_idx = [i for i, (_, p) in enumerate(named) if p.requires_grad]
    theta = [named[i][1] for i in train_idx]

    loss_ds = loss_fn(model(meta_train[0]), meta_train[1])  # updates the running statistics
    g_ds = _grads(loss_ds, theta, create_graph=order == 2)
    if reduce:
        g_ds = allreduce_sum(g_ds, differentiable=order == 2)
    if order == 1:  # theta' as fresh leaves: the inner gradient is a constant
        fast = [
            (p.detach() - inner_lr * g.detach()).requires_grad_()
            for p, g in zip(theta, g_ds, strict=True)
        ]
    else:
        fast = [p - inner_lr * g for p, g in zip(theta, g_ds, strict=True)]
    state = {n: p for n, p in named}
    state.update({named[i][0]: f for i, f in zip(train_idx, fast, strict=True)})
    # Buffer copies: the fast-weight forward's running-stat updates land there and are dropped.
    state.update({n: b.clone() for n, b in model.named_buffers()})
    loss_dg = loss_fn(functional_call(model, state, (meta_test[0],)), meta_test[1])

    if order == 1:
        g_dg = _grads(loss_dg, fast)
        if reduce:
            g_dg = allreduce_sum(g_dg)
        total = [a.detach() + alpha * b for a, b in zip(g_ds, g_dg, strict=True)]
    else:
        total = _grads(loss_ds + alpha * loss_dg, theta)
        if reduce:
            total = allreduce_sum(total)
    out = [torch.zeros_like(p) for _, p in named]
    for i, g in zip(train_idx, total, strict=True):
        out[i] = g.detach()
    return out, loss_ds.detach(), loss_dg.detach()


def meta_grads(
    model: nn.Module,
    loss_fn: LossFn,
    meta_train: Batch,
    meta_test: Batch,
    inner_lr: float,
    alpha: float = 1.0,
    order: int = 2,
    allreduce: bool | None = None,
) -> list[Tensor]:
    """One MLDG meta-gradient per ``model.parameters()`` entry (zeros where a parameter is unused
    or frozen). ``meta_train`` / ``meta_test`` are (images, labels); the model must be in train
    mode. ``allreduce`` None: sum over ranks when a process group with > 1 ranks is initialised
    (``loss_fn`` must then be normalised by the global count; see the module docstring)."""
    return meta_grads_and_losses(
        model, loss_fn, meta_train, meta_test, inner_lr, alpha, order, allreduce
    )[0]


def parse_split(spec: str, num_domains: int) -> tuple[int, int] | None:
    """'random' -> None; 'A:B' -> (A, B) with A, B >= 1 and A + B == number of sources."""
    if spec == "random":
        if num_domains < 2:
            raise EdgeDGError("MLDG needs at least 2 source domains; give more --source or use agg")
        return None
    try:
        a, b = (int(x) for x in spec.split(":"))
    except ValueError:
        raise EdgeDGError(
            f"meta split must be 'random' or 'A:B' (e.g. 2:2), got '{spec}'"
        ) from None
    if a < 1 or b < 1 or a + b != num_domains:
        raise EdgeDGError(
            f"meta split {spec} needs A, B >= 1 and A + B = {num_domains} (the number of sources)"
        )
    return a, b


def meta_split(
    num_domains: int, step: int, seed: int, fixed: tuple[int, int] | None = None
) -> tuple[list[int], list[int]]:
    """(meta-train domains, meta-test domains) for iteration ``step``.

    ``fixed`` (A, B): the first A sources are meta-train, the rest meta-test. Otherwise the
    published code's rule: k ~ U{1..D-1} meta-train domains from a random permutation. The draw is
    seeded from (seed, step) only, so every rank and a resumed run make the same split.
    """
    if fixed is not None:
        return list(range(fixed[0])), list(range(fixed[0], num_domains))
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    k = int(torch.randint(1, num_domains, (1,), generator=gen))
    perm = torch.randperm(num_domains, generator=gen).tolist()
    return sorted(perm[:k]), sorted(perm[k:])
