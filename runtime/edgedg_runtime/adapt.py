"""The per-frame adaptation step (DESIGN section 3): one algorithm for runtime and reference.

The step is backend-agnostic: it takes two callables that run the model,

    style_fn(images uint8 [N, H, W, 3] BGR) -> style float32 [N, 2, C]
    segment_fn(images uint8 [N, H, W, 3] BGR, norm_prior float32 [3, S]) -> dict with
        "frame_stats" [2, S] and any other outputs (labels, logits) with a leading N axis

and decides, per mode, which prior the segment call gets and what the bank learns from the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Dict

import numpy as np

from edgedg_runtime.bank import BankOptions, SourceStats, StyleBank
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.names import BANK_MODES, NORM_MODES  # noqa: F401 (BANK_MODES re-exported)

MODES = NORM_MODES

StyleFn = Callable[[np.ndarray], np.ndarray]
SegmentFn = Callable[[np.ndarray, np.ndarray], Dict[str, np.ndarray]]


@dataclass(frozen=True)
class StepInfo:
    """What one step did: the frame's distance from the source style (nan when no style was
    computed) and k, the number of bank entries (or stored images) that joined the current one."""

    shift_score: float
    k: int


class Adapter:
    """Runs one frame at a time in ``mode`` (one of :data:`MODES`), keeping the style bank.

    ``bank_options``: m (the paper's batch size M), capacity and source weight of a new bank
    (:class:`BankOptions`; `sib-exact` pools no source prior). Pass ``bank`` to continue from a
    loaded bank instead.
    """

    def __init__(
        self,
        mode: str,
        source: SourceStats,
        bank_options: BankOptions = BankOptions(),
        bank: StyleBank | None = None,
    ) -> None:
        if mode not in MODES:
            raise EdgeDGError(f"unknown norm mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode = mode
        self.source = source
        if bank is None:
            if mode == "sib-exact":
                bank_options = replace(bank_options, source_weight=0.0)
            bank = StyleBank(bank_options, source, keep_images=mode == "sib-exact")
        self.bank = bank

    def segment_frame(
        self, image: np.ndarray, style_fn: StyleFn | None, segment_fn: SegmentFn
    ) -> tuple[dict[str, np.ndarray], StepInfo]:
        """Adapt to and segment one frame, uint8 [H, W, 3] BGR at the model's input size.

        ``source`` and ``target`` also take a batch [N, H, W, 3] and may pass ``style_fn=None``
        (then no shift score). Returns the segment outputs (for `sib-exact`, those of the current
        image only) and a :class:`StepInfo`.
        """
        batch = image[None] if image.ndim == 3 else image
        if self.mode in ("source", "target"):
            return self._segment_plain(batch, style_fn, segment_fn)
        if batch.shape[0] != 1:
            raise EdgeDGError(f"mode {self.mode} takes one frame at a time, got {batch.shape[0]}")
        if style_fn is None:
            raise EdgeDGError(f"mode {self.mode} needs a style function")
        style = np.asarray(style_fn(batch), dtype=np.float32)[0]
        shift = self.bank.shift_score(style)
        if self.mode == "sib-exact":
            return self._segment_exact(batch, style, shift, segment_fn)
        indices = self.bank.select(style) if self.mode == "sib" else self.bank.recent()
        outputs = segment_fn(batch, self.bank.prior(indices))
        # a bank that keeps images (filled in sib-exact) keeps them in sib / qib too
        self.bank.add(style, outputs["frame_stats"], batch[0] if self.bank.keep_images else None)
        return outputs, StepInfo(shift, int(indices.shape[0]))

    def _segment_plain(
        self, batch: np.ndarray, style_fn: StyleFn | None, segment_fn: SegmentFn
    ) -> tuple[dict[str, np.ndarray], StepInfo]:
        shift = float("nan")
        if style_fn is not None:
            shift = self.bank.shift_score(np.asarray(style_fn(batch[:1]), dtype=np.float32)[0])
        prior = self.source.prior() if self.mode == "source" else self.source.batch_prior()
        return segment_fn(batch, prior), StepInfo(shift, batch.shape[0] - 1)

    def _segment_exact(
        self, batch: np.ndarray, style: np.ndarray, shift: float, segment_fn: SegmentFn
    ) -> tuple[dict[str, np.ndarray], StepInfo]:
        """The paper's Image Bank: the current frame and the selected stored frames in one batch,
        normalised with the batch statistics (w = 1)."""
        indices = self.bank.select(style)
        stored = self.bank.images(indices) if indices.shape[0] else batch[:0]
        outputs = segment_fn(np.concatenate([batch, stored]), self.source.batch_prior())
        self.bank.add(style, outputs["frame_stats"], batch[0])
        current = {
            key: value if key == "frame_stats" else value[:1] for key, value in outputs.items()
        }
        return current, StepInfo(shift, int(indices.shape[0]))
