"""The PyTorch reference of every test-time mode: the runtime's adaptation step on torch callables.

The callables take what the exported graphs take (uint8 BGR NHWC frames at the model's input size)
and do the graphs' preprocessing, so `edgedg check` and the runtime parity tests compare like with
like. The per-frame algorithm itself (style -> select -> prior -> segment -> append) is
:class:`edgedg_runtime.adapt.Adapter`, shared with the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from edgedg.norm import collect_frame_stats, prior_set, source_stats, stat_layout
from edgedg_runtime.adapt import Adapter, SegmentFn, StepInfo, StyleFn
from edgedg_runtime.bank import BankOptions, SourceStats, StyleBank
from edgedg_runtime.errors import FrameError


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def preprocess(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """uint8 BGR [N, H, W, 3] -> float32 RGB [N, 3, H, W], /255, (x - mean) / std (RGB order)."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise FrameError("frames must be uint8 BGR arrays [N, H, W, 3]")
    if images.shape[-1] != 3:
        raise FrameError(f"frames must have 3 channels (BGR), got {images.shape[-1]}")
    x = torch.from_numpy(np.ascontiguousarray(images[..., ::-1])).permute(0, 3, 1, 2).float()
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x / 255.0 - m) / s


def _mean_std(meta: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    from edgedg.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    return list(meta.get("mean", IMAGENET_MEAN)), list(meta.get("std", IMAGENET_STD))


def style_fn_of(model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> StyleFn:
    """images uint8 BGR [N, H, W, 3] -> float32 [N, 2, C]: per-image, per-channel mean and biased
    variance over H, W of the stem conv output (before the first norm layer)."""

    @torch.no_grad()
    def style_fn(images: np.ndarray) -> np.ndarray:
        x = preprocess(images, mean, std).to(_device(model))
        y = model.stem(x).float()
        mu = y.mean(dim=(2, 3))
        var = (y - mu[:, :, None, None]).square().mean(dim=(2, 3))
        return torch.stack([mu, var], dim=1).cpu().numpy()

    return style_fn


def segment_fn_of(model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> SegmentFn:
    """(images uint8 BGR [N, H, W, 3], norm_prior [3, S]) -> {"logits" [N, K, H, W] float32,
    "labels" [N, H, W] uint8, "frame_stats" [2, S] float32}: the segment graph's computation."""

    @torch.no_grad()
    def segment_fn(images: np.ndarray, prior: np.ndarray) -> dict[str, np.ndarray]:
        device = _device(model)
        x = preprocess(images, mean, std).to(device)
        with prior_set(model, torch.from_numpy(np.asarray(prior, np.float32)).to(device)):
            logits = model(x)
            stats = collect_frame_stats(model)
        return {
            "logits": logits.float().cpu().numpy(),
            "labels": logits.argmax(dim=1).to(torch.uint8).cpu().numpy(),
            "frame_stats": stats.float().cpu().numpy(),
        }

    return segment_fn


def source_stats_of(model: nn.Module) -> SourceStats:
    """The model's running statistics, style and fixed columns as the bank needs them."""
    stats = source_stats(model).detach().float().cpu().numpy()
    return SourceStats.from_layout(stat_layout(model), stats)


class Reference:
    """A torch model run in one test-time mode on uint8 BGR frames at the model's input size.

    ``meta`` is the checkpoint meta (its "mean"/"std" are the graphs' normalisation). ``mode``,
    ``bank_options`` and ``bank`` are those of :class:`edgedg_runtime.adapt.Adapter`.
    """

    def __init__(
        self,
        model: nn.Module,
        meta: Mapping[str, Any],
        mode: str = "sib",
        bank_options: BankOptions = BankOptions(),
        bank: StyleBank | None = None,
    ) -> None:
        self.model = model.eval()
        mean, std = _mean_std(meta)
        self.style_fn = style_fn_of(model, mean, std)
        self.segment_fn = segment_fn_of(model, mean, std)
        self.adapter = Adapter(mode, source_stats_of(model), bank_options, bank)

    @property
    def bank(self) -> StyleBank:
        return self.adapter.bank

    def segment_frame(self, frames: np.ndarray) -> tuple[dict[str, np.ndarray], StepInfo]:
        """One frame [H, W, 3] (or, for `source` / `target`, a batch [N, H, W, 3]): the segment
        outputs of the current frame(s) and the step info (shift score, k)."""
        return self.adapter.segment_frame(frames, self.style_fn, self.segment_fn)

    def __call__(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Like :meth:`segment_frame`, the outputs only."""
        return self.segment_frame(frames)[0]
