"""The normalisation layer: BatchNorm in training, the unfolded statistic form at test time.

`StatNorm2d` is a `torch.nn.BatchNorm2d` (same parameters, buffers and state-dict keys, so
torchvision weights load) that also knows its deploy form, DESIGN section 2:

    mu_f, var_f = per-channel mean and biased variance of x over N, H, W   (float32, two-pass)
    mu  = w * mu_f + (1 - w) * mu_p
    var = w * (var_f + (mu_f - mu)^2) + (1 - w) * (var_p + (mu_p - mu)^2)
    y   = gamma * (x - mu) / sqrt(var + eps) + beta

with (mu_p, var_p, w) its slice of the packed `norm_prior`: [3, S] for one pooled batch, or
[N, 3, S] with a `batch_mix` [N, N] for per-image statistics (row n: the weights with which the
images' statistics pool into image n's; the identity normalises each image on its own, as a
camera rig does). With no prior set (or in training) it is plain BatchNorm. Export and the
test-time reference ask these modules for their
layout and deploy form; nothing matches class names from outside.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from edgedg_runtime.layout import StatLayout


def unfolded_batchnorm(
    x: Tensor, prior: Tensor, weight: Tensor, bias: Tensor, eps: float, mix: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The DESIGN section 2 formula. x [N, C, H, W]; prior [3, C] (one pooled batch: mix 1/N) or
    [N, 3, C] with ``mix`` [N, N] (None: the identity). Returns (y, frame_stats), frame_stats
    [2, C] for a [3, C] prior, else [N, 2, C].

    The statistic arithmetic runs in float32 whatever the input dtype; each image's statistics
    are two-pass and pool exactly (mean of means, variance with the between-image term).
    """
    xf = x.float()
    n, c = xf.shape[:2]
    pooled = prior.dim() == 2
    if pooled:
        prior, mix = prior.float().expand(n, 3, c), xf.new_full((n, n), 1.0 / n)
    elif mix is None:
        mix = torch.eye(n, dtype=xf.dtype, device=xf.device)
    mix = mix.float()
    mu_i = xf.mean(dim=(2, 3))
    var_i = (xf - mu_i[:, :, None, None]).square().mean(dim=(2, 3))
    mu_f = mix @ mu_i
    var_f = torch.einsum("rj,rjc->rc", mix, var_i[None] + (mu_i[None] - mu_f[:, None]).square())
    mu_p, var_p, w = prior[:, 0].float(), prior[:, 1].float(), prior[:, 2].float()
    mu = w * mu_f + (1 - w) * mu_p
    var = w * (var_f + (mu_f - mu).square()) + (1 - w) * (var_p + (mu_p - mu).square())
    scale = weight.float() / torch.sqrt(var + eps)
    y = (xf - mu[:, :, None, None]) * scale[:, :, None, None] + bias.float()[None, :, None, None]
    stats = torch.stack([mu_f, var_f], dim=1)
    return y.to(x.dtype), stats[0] if pooled else stats


class StatNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with a test-time unfolded form fed by an explicit statistic prior.

    ``fixed=True`` marks a layer whose per-frame statistics are meaningless (1x1 spatial maps,
    e.g. a global-pooling branch): the prior builders give it w = 0 and the source running stats.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, fixed: bool = False
    ):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.fixed = fixed
        self.prior: Tensor | None = None  # [3, C] or [N, 3, C] while a test-time prior is set
        self.mix: Tensor | None = None  # [N, N] batch mixing with an [N, 3, C] prior
        self.frame_stats: Tensor | None = None  # [2, C] or [N, 2, C] after a forward with a prior

    def forward(self, x: Tensor) -> Tensor:
        if self.training or self.prior is None:
            return super().forward(x)
        y, self.frame_stats = unfolded_batchnorm(
            x, self.prior, self.weight, self.bias, self.eps, self.mix
        )
        return y

    def source_stats(self) -> Tensor:
        """[2, C]: the training running mean and variance (the `source` prior)."""
        return torch.stack([self.running_mean, self.running_var]).float()


def norm_layers(model: nn.Module) -> list[tuple[str, StatNorm2d]]:
    """The model's StatNorm2d layers in registration order, which the models keep equal to forward
    order (tests check it), with their module names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, StatNorm2d)]


def stat_layout(model: nn.Module) -> StatLayout:
    """The packed statistic layout of ``model`` (DESIGN section 2)."""
    return StatLayout.from_channels([(n, m.num_features, m.fixed) for n, m in norm_layers(model)])


def source_stats(model: nn.Module) -> Tensor:
    """[2, S] running mean / variance of every norm layer, packed in layout order."""
    return torch.cat([m.source_stats() for _, m in norm_layers(model)], dim=1)


def set_prior(model: nn.Module, prior: Tensor | None, mix: Tensor | None = None) -> None:
    """Give each norm layer its slice of the packed prior, [3, S] (one pooled batch) or
    [N, 3, S] with ``mix`` [N, N] (None: identity); None: back to plain BatchNorm."""
    layers = norm_layers(model)
    if prior is not None:
        total = sum(m.num_features for _, m in layers)
        if tuple(prior.shape[-2:]) != (3, total) or prior.dim() not in (2, 3):
            raise ValueError(
                f"norm_prior must be [3, {total}] or [N, 3, {total}], got {list(prior.shape)}"
            )
    offset = 0
    for _, m in layers:
        m.prior = None if prior is None else prior[..., offset : offset + m.num_features]
        m.mix = None if prior is None else mix
        m.frame_stats = None
        offset += m.num_features


def collect_frame_stats(model: nn.Module) -> Tensor:
    """[2, S] (or [N, 2, S] after a per-image prior) frame statistics written by the last forward
    with a prior set."""
    stats = [m.frame_stats for _, m in norm_layers(model)]
    if any(s is None for s in stats):
        raise RuntimeError("no frame statistics: run a forward in eval mode with a prior set first")
    return torch.cat(stats, dim=-1)


@contextmanager
def prior_set(model: nn.Module, prior: Tensor, mix: Tensor | None = None) -> Iterator[None]:
    """Run the model's norm layers in their unfolded form with ``prior`` (and ``mix``, see
    :func:`set_prior`) inside the block."""
    set_prior(model, prior, mix)
    try:
        yield
    finally:
        set_prior(model, None)
