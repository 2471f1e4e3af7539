"""MLDG meta-gradients: order 2 vs finite differences, order 1 vs the published formula."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from edgedg.models import create_model
from edgedg.train.mldg import meta_grads, meta_split, parse_split
from edgedg_runtime.errors import EdgeDGError

ETA = 0.05  # large inner step so the second-order term is visible against the tolerance


def _loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels, ignore_index=255)


def _setup(dtype=torch.float64):
    torch.manual_seed(0)
    model = create_model("tiny", num_classes=4).to(dtype).train()
    for m in model.modules():
        if isinstance(m, nn.Dropout2d):
            m.p = 0.0  # deterministic objective for finite differences
    x_tr, x_te = torch.randn(2, 3, 32, 32, dtype=dtype), torch.randn(2, 3, 32, 32, dtype=dtype)
    y_tr, y_te = torch.randint(0, 4, (2, 32, 32)), torch.randint(0, 4, (2, 32, 32))
    y_tr[0, :4] = 255
    return model, (x_tr, y_tr), (x_te, y_te)


def _objective(model, params: dict, tr, te, alpha: float) -> torch.Tensor:
    """L_ds(theta) + alpha * L_dg(theta - eta * grad L_ds(theta)), with buffers copied."""
    bufs = {n: b.clone() for n, b in model.named_buffers()}
    theta = {n: p.detach().requires_grad_() for n, p in params.items()}
    loss_ds = _loss(functional_call(model, {**theta, **bufs}, (tr[0],)), tr[1])
    grads = torch.autograd.grad(loss_ds, list(theta.values()))
    fast = {n: p.detach() - ETA * g for (n, p), g in zip(theta.items(), grads, strict=True)}
    loss_dg = _loss(functional_call(model, {**fast, **bufs}, (te[0],)), te[1])
    return (loss_ds + alpha * loss_dg).detach()


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_order2_matches_finite_differences(alpha: float) -> None:
    model, tr, te = _setup()
    grads = meta_grads(model, _loss, tr, te, ETA, alpha=alpha, order=2)
    grads1 = meta_grads(model, _loss, tr, te, ETA, alpha=alpha, order=1)
    params = dict(model.named_parameters())
    gen = torch.Generator().manual_seed(1)
    # ReLU / max-pool kinks make larger steps unreliable; 1e-7 in float64 gives ~1e-10 error.
    eps, worst, gap1 = 1e-7, 0.0, 0.0
    for _ in range(3):
        v = {n: torch.randn(p.shape, generator=gen, dtype=p.dtype) for n, p in params.items()}
        plus = {n: p + eps * v[n] for n, p in params.items()}
        minus = {n: p - eps * v[n] for n, p in params.items()}
        fd = (_objective(model, plus, tr, te, alpha) - _objective(model, minus, tr, te, alpha)) / (
            2 * eps
        )
        an = sum((g * v[n]).sum() for g, n in zip(grads, params, strict=True))
        an1 = sum((g * v[n]).sum() for g, n in zip(grads1, params, strict=True))
        worst = max(worst, abs(float(an - fd)) / abs(float(fd)))
        gap1 = max(gap1, abs(float(an1 - fd)) / abs(float(fd)))
    assert worst < 1e-6, worst  # float64 central differences: relative error along each direction
    assert gap1 > 100 * worst  # the first-order gradient is measurably different


def test_order1_is_published_formula_exactly() -> None:
    model, tr, te = _setup()
    ref = copy.deepcopy(model)
    got = meta_grads(model, _loss, tr, te, ETA, alpha=1.0, order=1)
    params = list(ref.parameters())
    g_ds = torch.autograd.grad(_loss(ref(tr[0]), tr[1]), params)
    with torch.no_grad():
        for p, g in zip(params, g_ds, strict=True):
            p -= ETA * g
    g_dg = torch.autograd.grad(_loss(ref(te[0]), te[1]), params)
    for a, b, c in zip(got, g_ds, g_dg, strict=True):
        torch.testing.assert_close(a, b + c, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("order", [1, 2])
def test_only_meta_train_forward_updates_running_stats(order: int) -> None:
    model, tr, te = _setup(torch.float32)
    ref = copy.deepcopy(model)
    with torch.no_grad():
        ref(tr[0])  # exactly one forward on the meta-train images
    meta_grads(model, _loss, tr, te, ETA, order=order)
    for (name, a), b in zip(model.named_buffers(), ref.buffers(), strict=True):
        assert torch.equal(a, b), name
    assert int(model.backbone.bn1.num_batches_tracked) == 1


def test_one_grad_per_parameter_zeros_where_unused() -> None:
    model, tr, te = _setup(torch.float32)
    model.register_parameter("unused", nn.Parameter(torch.ones(3)))
    model.head[4].bias.requires_grad_(False)
    grads = meta_grads(model, _loss, tr, te, ETA, order=2)
    params = list(model.parameters())
    assert len(grads) == len(params)
    assert all(g.shape == p.shape for g, p in zip(grads, params, strict=True))
    by_name = dict(zip([n for n, _ in model.named_parameters()], grads, strict=True))
    assert torch.count_nonzero(by_name["unused"]) == 0
    assert torch.count_nonzero(by_name["head.4.bias"]) == 0
    assert torch.count_nonzero(by_name["head.4.weight"]) > 0


def test_meta_split() -> None:
    assert meta_split(4, 7, 0, (2, 2)) == ([0, 1], [2, 3])
    seen = set()
    for step in range(200):
        tr, te = meta_split(3, step, 5)
        assert tr and te and sorted(tr + te) == [0, 1, 2]
        assert (tr, te) == meta_split(3, step, 5)  # a function of (seed, step) only
        seen.add(len(tr))
    assert seen == {1, 2}
    assert parse_split("random", 3) is None and parse_split("1:2", 3) == (1, 2)
    with pytest.raises(EdgeDGError, match="A \\+ B = 3"):
        parse_split("2:2", 3)
    with pytest.raises(EdgeDGError, match="at least 2"):
        parse_split("random", 1)
