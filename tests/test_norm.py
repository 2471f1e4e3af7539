"""StatNorm2d: plain BatchNorm in training, the DESIGN section 2 unfolded formula at test time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgedg.norm import (
    StatNorm2d,
    collect_frame_stats,
    norm_layers,
    prior_set,
    source_stats,
    stat_layout,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        StatNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1),
        StatNorm2d(6),
        nn.ReLU(),
    )
    for m in net.modules():
        if isinstance(m, StatNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def _prior(net: nn.Module, w: float) -> torch.Tensor:
    stats = source_stats(net)
    return torch.cat([stats, torch.full((1, stats.shape[1]), w)])


def test_state_dict_keys_are_batchnorm_keys() -> None:
    assert set(StatNorm2d(3).state_dict()) == set(nn.BatchNorm2d(3).state_dict())


def test_source_prior_equals_eval_batchnorm() -> None:
    net, x = _net(), torch.randn(2, 3, 8, 8)
    expected = net(x)
    with prior_set(net, _prior(net, 0.0)):
        got = net(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_target_prior_equals_batch_statistics() -> None:
    net, x = _net(), torch.randn(3, 3, 8, 8)
    with prior_set(net, _prior(net, 1.0)):
        net(x)
        stats = collect_frame_stats(net)
    h = net[0](x)
    mean, var = h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(stats[0, :4], mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stats[1, :4], var, rtol=1e-5, atol=1e-6)
    bn = net[1]
    ref = nn.functional.batch_norm(h, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    with prior_set(net, _prior(net, 1.0)):
        torch.testing.assert_close(net[1](h), ref, rtol=1e-5, atol=1e-5)


def test_mixed_prior_pools_with_between_term() -> None:
    """w mixes frame and prior as two pooled populations: the law of total variance."""
    net, x = _net(), torch.randn(1, 3, 8, 8)
    w = 0.25
    with prior_set(net, _prior(net, w)):
        net(x)
        frame = collect_frame_stats(net)
    bn = net[1]
    mu_f, var_f = frame[0, :4], frame[1, :4]
    mu_p, var_p = bn.running_mean, bn.running_var
    mu = w * mu_f + (1 - w) * mu_p
    var = w * (var_f + (mu_f - mu) ** 2) + (1 - w) * (var_p + (mu_p - mu) ** 2)
    h = net[0](x)
    expected = (h - mu[None, :, None, None]) / torch.sqrt(var + bn.eps)[None, :, None, None]
    expected = expected * bn.weight[None, :, None, None] + bn.bias[None, :, None, None]
    with prior_set(net, _prior(net, w)):
        torch.testing.assert_close(bn(h), expected, rtol=1e-5, atol=1e-5)


def test_training_mode_ignores_prior_and_updates_running_stats() -> None:
    net = _net().train()
    before = net[1].running_mean.clone()
    with prior_set(net, _prior(net, 0.5)):
        net(torch.randn(2, 3, 8, 8))
    assert not torch.equal(before, net[1].running_mean)


def test_layout_and_prior_shape() -> None:
    net = _net()
    layout = stat_layout(net)
    assert [(x.name, x.channels, x.offset) for x in layout.layers] == [("1", 4, 0), ("4", 6, 4)]
    assert layout.total == 10 and len(norm_layers(net)) == 2
    with pytest.raises(ValueError, match=r"\[3, 10\]"), prior_set(net, torch.zeros(3, 9)):
        pass
