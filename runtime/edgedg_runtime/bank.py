"""The style bank (DESIGN section 3): recent frames' styles and normalisation statistics.

Each entry holds the style of a frame (per-channel mean and variance of the stem-conv output,
[2, C]) and the frame statistics every norm layer measured on it ([2, S]). For a new frame the bank
picks the entries whose style is closest (symmetric KL, paper Eq. 10) and pools their statistics
into the `norm_prior` [3, S] the segment graph takes. Everything is numpy, vectorised over the bank.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, replace

import numpy as np

from edgedg_runtime.bank_file import (
    BANK_SCHEMA_VERSION,
    check_bank_size,
    entry_is_valid,
    read_bank_file,
)
from edgedg_runtime.errors import BankError
from edgedg_runtime.fileio import atomic_open
from edgedg_runtime.layout import StatLayout

log = logging.getLogger(__name__)
STYLE_EPS = 1e-5  # added to the variance before the square root in the style distance


def sym_kl(style_a: np.ndarray, style_b: np.ndarray) -> np.ndarray:
    """Symmetric KL divergence between diagonal Gaussians, summed over channels (paper Eq. 10).

    Styles are [..., 2, C] (row 0 mean, row 1 variance); the leading dimensions broadcast, so one
    style [2, C] against a bank [Q, 2, C] gives [Q]. With sigma^2 = var + 1e-5 the two log terms of
    KL(a||b) + KL(b||a) cancel, leaving (va + d^2) / (2 vb) + (vb + d^2) / (2 va) - 1 per channel.
    """
    a = np.asarray(style_a, dtype=np.float64)
    b = np.asarray(style_b, dtype=np.float64)
    va = a[..., 1, :] + STYLE_EPS
    vb = b[..., 1, :] + STYLE_EPS
    d2 = np.square(a[..., 0, :] - b[..., 0, :])
    return np.sum((va + d2) / (2.0 * vb) + (vb + d2) / (2.0 * va) - 1.0, axis=-1)


@dataclass(frozen=True)
class SourceStats:
    """The source side of a model: what it learned in training.

    ``stats`` float32 [2, S] running mean / variance in stat-layout order; ``style`` float32 [2, C]
    the first norm layer's running stats (the stem-conv output statistics); ``fixed_mask`` bool [S]
    the columns of fixed layers; ``layout_hash`` ties banks to the architecture and ``model_id``
    (a hash of the layout and of these statistics) to the trained weights.
    """

    stats: np.ndarray
    style: np.ndarray
    fixed_mask: np.ndarray
    layout_hash: str
    model_id: str = ""

    @classmethod
    def from_layout(
        cls, layout: StatLayout, stats: np.ndarray, style: np.ndarray | None = None
    ) -> SourceStats:
        """Build from a layout and the packed running stats [2, S]; ``style`` defaults to the first
        layer's slice of ``stats``."""
        stats = np.ascontiguousarray(stats, dtype=np.float32)
        if stats.shape != (2, layout.total):
            raise BankError(
                f"source stats must be [2, {layout.total}] for this layout, got {list(stats.shape)}"
            )
        if style is None:
            first = layout.layers[0]
            style = stats[:, first.offset : first.offset + first.channels]
        style = np.ascontiguousarray(style, dtype=np.float32)
        layout_hash = layout.hash()
        return cls(stats, style, layout.fixed_mask(), layout_hash, model_id(layout_hash, stats))

    @property
    def total(self) -> int:
        return int(self.stats.shape[1])

    def prior(self) -> np.ndarray:
        """[3, S] `source` prior: running stats, w = 0 (conventional BatchNorm)."""
        out = np.zeros((3, self.total), dtype=np.float32)
        out[:2] = self.stats
        return out

    def batch_prior(self) -> np.ndarray:
        """[3, S] `target` prior: w = 1 (statistics of the current batch) except fixed columns,
        which keep the running stats and w = 0."""
        out = self.prior()
        out[2] = 1.0
        out[2, self.fixed_mask] = 0.0
        return out


def model_id(layout_hash: str, stats: np.ndarray) -> str:
    """The identity a bank is bound to: sha256 of the stat-layout hash and the source running
    statistics (float32). Two trainings of one architecture differ in it; re-exports of one
    checkpoint with other graph options (input size, opset, float I/O, logits) share it."""
    digest = hashlib.sha256(layout_hash.encode())
    digest.update(np.ascontiguousarray(stats, dtype="<f4").tobytes())
    return digest.hexdigest()


DEFAULT_CAPACITY = 128  # Q: the bank size of a new bank when none is given


@dataclass(frozen=True)
class BankOptions:
    """How a style bank selects and pools, from the command line to the bank (DESIGN 3).

    ``m``: the paper's batch size M; a selection holds k = min(m - 1, len(bank)) entries.
    ``capacity``: Q entries kept; None: a loaded bank's saved one, else :data:`DEFAULT_CAPACITY`.
    ``source_weight``: the source running stats as that many pseudo-frames in every prior."""

    m: int = 4
    capacity: int | None = None
    source_weight: float = 0.0


class StyleBank:
    """A FIFO ring buffer of (style, frame statistics[, image]) entries with style-based selection.

    Storage is allocated once, at the first ``add`` (when C, S and the image size are known).
    ``options``: m, capacity and source weight (see :class:`BankOptions`; a source weight needs
    ``source``).
    """

    def __init__(
        self,
        options: BankOptions = BankOptions(),
        source: SourceStats | None = None,
        keep_images: bool = False,
    ) -> None:
        capacity = DEFAULT_CAPACITY if options.capacity is None else options.capacity
        entry = source.style.nbytes + source.stats.nbytes if source is not None else 0
        check_bank_size(capacity, options.m, entry)
        if options.source_weight < 0 or (options.source_weight > 0 and source is None):
            raise BankError("source_weight must be >= 0 and needs the model's source stats")
        self.capacity = int(capacity)
        self.m = int(options.m)
        self.source_weight = float(options.source_weight)
        self.source = source
        self.keep_images = bool(keep_images)
        self._count = 0  # frames ever added; the next slot is _count % capacity
        self.rejected = 0  # entries refused by add(): non-finite values or negative variances
        self._style: np.ndarray | None = None  # [Q, 2, C]
        self._stats: np.ndarray | None = None  # [Q, 2, S]
        self._images: np.ndarray | None = None  # [Q, H, W, 3] uint8
        self._scratch: tuple | None = None  # float64 pooling buffers, see _buffers
        self._fixed = np.zeros(0, dtype=np.int64)  # fixed columns (w = 0, source stats)
        self._src64 = np.zeros((2, 0))
        if source is not None:
            self._fixed = np.flatnonzero(source.fixed_mask)
            self._src64 = source.stats.astype(np.float64)

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    @property
    def k(self) -> int:
        """How many entries a selection holds now."""
        return min(self.m - 1, len(self))

    def _allocate(self, style: np.ndarray, stats: np.ndarray, image: np.ndarray | None) -> None:
        if self.source is not None and stats.shape[1] != self.source.total:
            raise BankError(
                f"frame stats have {stats.shape[1]} columns, the model's layout has "
                f"{self.source.total}"
            )
        q = self.capacity
        image_bytes = image.nbytes if image is not None and self.keep_images else 0
        check_bank_size(q, self.m, style.nbytes + stats.nbytes + image_bytes)
        self._style = np.zeros((q,) + style.shape, dtype=np.float32)
        self._stats = np.zeros((q,) + stats.shape, dtype=np.float32)
        if self.keep_images:
            if image is None:
                raise BankError("this bank keeps images (sib-exact): pass the image to add()")
            self._images = np.zeros((q,) + image.shape, dtype=np.uint8)

    def add(
        self, style: np.ndarray, frame_stats: np.ndarray, image: np.ndarray | None = None
    ) -> bool:
        """Append one frame: ``style`` [2, C], ``frame_stats`` [2, S], ``image`` uint8 [H, W, 3]
        (only kept when the bank keeps images). The oldest entry goes when the bank is full.

        An entry with a non-finite value or a negative variance is not added (it would poison
        every prior it joins): add() returns False and counts it in ``rejected``."""
        style = np.asarray(style, dtype=np.float32)
        frame_stats = np.asarray(frame_stats, dtype=np.float32)
        if not entry_is_valid(style, frame_stats):
            self.rejected += 1
            return False
        if self._style is None:
            self._allocate(style, frame_stats, image)
        assert self._style is not None and self._stats is not None
        if style.shape != self._style.shape[1:] or frame_stats.shape != self._stats.shape[1:]:
            raise BankError(
                f"entry shapes {style.shape}, {frame_stats.shape} do not match the bank's "
                f"{self._style.shape[1:]}, {self._stats.shape[1:]}"
            )
        slot = self._count % self.capacity
        self._style[slot] = style
        self._stats[slot] = frame_stats
        if self._images is not None:
            if image is None or image.shape != self._images.shape[1:]:
                raise BankError(f"bank images are {self._images.shape[1:]}: pass one of that size")
            self._images[slot] = image
        self._count += 1
        return True

    def _fill(self, style: np.ndarray, stats: np.ndarray, images: np.ndarray | None) -> None:
        """Bulk-load n <= capacity entries, oldest first, into an empty bank."""
        n = style.shape[0]
        self._allocate(style[0], stats[0], None if images is None else images[0])
        assert self._style is not None and self._stats is not None
        self._style[:n] = style
        self._stats[:n] = stats
        if self._images is not None and images is not None:
            self._images[:n] = images
        self._count = n

    def select(self, style: np.ndarray) -> np.ndarray:
        """Indices of the k entries whose style is closest to ``style`` [2, C], closest first."""
        k = self.k
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        assert self._style is not None
        dist = sym_kl(style, self._style[: len(self)])
        if k < dist.shape[0]:
            part = np.argpartition(dist, k - 1)[:k]
            return part[np.argsort(dist[part], kind="stable")].astype(np.int64)
        return np.argsort(dist, kind="stable").astype(np.int64)

    def recent(self) -> np.ndarray:
        """Indices of the k most recent entries, newest first (the queue policy, `qib`)."""
        back = np.arange(1, self.k + 1, dtype=np.int64)
        return (self._count - back) % self.capacity

    def images(self, indices: np.ndarray) -> np.ndarray:
        """uint8 [k, H, W, 3]: the stored frames at ``indices`` (banks that keep images only)."""
        if self._images is None:
            raise BankError("this bank keeps no images: create it with keep_images=True")
        return self._images[np.asarray(indices, dtype=np.int64)]

    def prior(self, indices: np.ndarray) -> np.ndarray:
        """float32 [3, S]: the pooled statistics of the entries at ``indices`` and the weight
        w = 1 / (n_src + k + 1) of the current frame.

        Pooling runs in float64: mu_p = sum_j a_j mu_j / A, var_p = sum_j a_j (var_j + (mu_j -
        mu_p)^2) / A, with a_j = 1 per entry and n_src for the source prior. Fixed columns get the
        source running stats and w = 0.
        """
        idx = np.asarray(indices, dtype=np.int64)
        n_src = self.source_weight if self.source is not None else 0.0
        weight = n_src + idx.shape[0]
        out = np.empty((3, self._total_columns()), dtype=np.float32)
        if weight > 0:
            self._pool(idx, n_src, weight, out)
        elif self.source is not None:
            out[:2] = self.source.stats
        else:
            out[0], out[1] = 0.0, 1.0  # ignored: w = 1
        out[2] = 1.0 / (weight + 1.0)
        if self.source is not None and self._fixed.shape[0]:
            out[:2, self._fixed] = self.source.stats[:, self._fixed]
            out[2, self._fixed] = 0.0
        return out

    def _pool(self, idx: np.ndarray, n_src: float, weight: float, out: np.ndarray) -> None:
        """Pool into out[:2]. Works in preallocated float64 buffers: fresh temporaries of this
        size cost page faults that would dominate the per-frame time."""
        rows, mu, var, tmp = self._buffers()
        for j, i in enumerate(idx.tolist()):  # k <= m - 1 rows, not a loop over the bank
            rows[j] = self._stats[i]  # type: ignore[index]
        np.sum(rows[: idx.shape[0], 0], axis=0, out=mu)
        if n_src > 0:
            src = self._src64
            np.multiply(src[0], n_src, out=tmp)
            mu += tmp
        mu /= weight
        var.fill(0.0)
        for j in range(idx.shape[0]):
            np.subtract(rows[j, 0], mu, out=tmp)
            np.square(tmp, out=tmp)
            tmp += rows[j, 1]
            var += tmp
        if n_src > 0:
            np.subtract(src[0], mu, out=tmp)
            np.square(tmp, out=tmp)
            tmp += src[1]
            tmp *= n_src
            var += tmp
        var /= weight
        out[0], out[1] = mu, var

    def _buffers(self) -> tuple:
        """(rows [m-1, 2, S], mu [S], var [S], tmp [S]) float64 scratch, allocated once."""
        if self._scratch is None:
            total = self._total_columns()
            rows = np.zeros((max(self.m - 1, 1), 2, total), dtype=np.float64)
            self._scratch = (rows,) + tuple(np.zeros(total) for _ in range(3))
        return self._scratch

    def _total_columns(self) -> int:
        if self.source is not None:
            return self.source.total
        if self._stats is not None:
            return int(self._stats.shape[2])
        raise BankError("an empty bank without source stats does not know S: pass source=")

    def shift_score(self, style: np.ndarray) -> float:
        """sym_kl of a frame's style from the source style: large values flag unfamiliar scenes."""
        if self.source is None:
            raise BankError("the shift score needs the model's source stats: pass source=")
        return float(sym_kl(style, self.source.style))

    def entries(self) -> tuple:
        """(style [n, 2, C], frame_stats [n, 2, S], images or None), oldest first (copies)."""
        order = (self._count - len(self) + np.arange(len(self))) % self.capacity
        if self._style is None or self._stats is None:
            return np.zeros((0, 2, 0), np.float32), np.zeros((0, 2, 0), np.float32), None
        images = None if self._images is None else self._images[order]
        return self._style[order], self._stats[order], images

    def save(self, path: str) -> None:
        """Write the bank to ``path`` (.npz) atomically: a temp file in the same folder, then a
        rename, so a crash never leaves a half-written bank."""
        style, stats, images = self.entries()
        arrays = {
            "schema_version": np.array(BANK_SCHEMA_VERSION, dtype=np.int64),
            "layout_hash": np.array(self.source.layout_hash if self.source else ""),
            "model_id": np.array(self.source.model_id if self.source else ""),
            "capacity": np.array(self.capacity, dtype=np.int64),
            "style": style,
            "frame_stats": stats,
        }
        if images is not None:
            arrays["images"] = images
        with atomic_open(os.path.realpath(path)) as handle:  # a symlinked bank stays a link
            np.savez(handle, **arrays)


def load_bank(
    path: str,
    source: SourceStats | None = None,
    options: BankOptions = BankOptions(),
    keep_images: bool = False,
) -> StyleBank:
    """Read a bank written by :meth:`StyleBank.save`, after checking it (see ``bank_file``).

    With ``source`` given, a bank of another model (other stat layout, or the same architecture
    with other weights) is refused. ``options.capacity`` None keeps the saved capacity; a smaller
    capacity keeps the most recent entries (and says how many it drops). Stored images (a
    `sib-exact` bank) are always kept, so running such a bank in `sib` once does not lose them;
    ``keep_images`` makes an empty bank start keeping images.
    """
    data = read_bank_file(
        path,
        source.layout_hash if source else None,
        source.model_id if source else None,
        int(source.style.shape[1]) if source else None,
        source.total if source else None,
    )
    style, stats, images = data["style"], data["frame_stats"], data.get("images")
    n = style.shape[0]
    if options.capacity is None:
        options = replace(options, capacity=int(data["capacity"]))
    bank = StyleBank(options, source, keep_images=images is not None or (keep_images and n == 0))
    start = max(0, n - bank.capacity)
    if start:
        log.warning(
            f"style bank {path} holds {n} entries: capacity {bank.capacity} drops the {start} "
            f"oldest (pass a bank size of {n} to keep them)"
        )
    if n > start:
        bank._fill(style[start:], stats[start:], None if images is None else images[start:])
    return bank
