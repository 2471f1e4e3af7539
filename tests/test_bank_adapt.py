"""The per-frame adaptation step on a numpy network with one norm layer (where `sib` is exact)."""

from __future__ import annotations

import numpy as np
import pytest

from edgedg_runtime.adapt import Adapter
from edgedg_runtime.bank import BankOptions, SourceStats
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.layout import StatLayout

LAYOUT = StatLayout.from_channels([("bn", 3, False)])
SOURCE = SourceStats.from_layout(LAYOUT, np.array([[100.0, 120.0, 90.0], [900.0, 800.0, 700.0]]))


def style_fn(images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float64)
    return np.stack([x.mean(axis=(1, 2)), x.var(axis=(1, 2))], axis=1).astype(np.float32)


def segment_fn(images: np.ndarray, prior: np.ndarray) -> dict[str, np.ndarray]:
    """One unfolded norm layer (DESIGN section 2) over the pixels of the batch."""
    x = images.astype(np.float64)
    mu_f, var_f = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    mu_p, var_p, w = prior.astype(np.float64)
    mu = w * mu_f + (1 - w) * mu_p
    var = w * (var_f + (mu_f - mu) ** 2) + (1 - w) * (var_p + (mu_p - mu) ** 2)
    logits = (x - mu) / np.sqrt(var + 1e-5)
    return {
        "logits": logits,
        "labels": logits.argmax(-1),
        "frame_stats": np.stack([mu_f, var_f]).astype(np.float32),
    }


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (6, 8, 3)
    frames = [rng.normal(rng.uniform(40, 200), rng.uniform(5, 40), shape) for _ in range(n)]
    return [x.clip(0, 255).astype(np.uint8) for x in frames]


def test_sib_equals_sib_exact_for_one_norm_layer():
    options = BankOptions(m=4)
    sib, exact = Adapter("sib", SOURCE, options), Adapter("sib-exact", SOURCE, options)
    for i, frame in enumerate(_frames(8)):
        out_a, info_a = sib.segment_frame(frame, style_fn, segment_fn)
        out_b, info_b = exact.segment_frame(frame, style_fn, segment_fn)
        assert info_a.k == info_b.k == min(3, i)
        assert info_a.shift_score == pytest.approx(info_b.shift_score) and info_a.shift_score > 0
        assert out_b["logits"].shape == out_a["logits"].shape == (1, 6, 8, 3)
        np.testing.assert_allclose(out_a["logits"], out_b["logits"], atol=1e-4)


def test_target_on_a_batch_equals_sib_exact():
    frames = _frames(4, seed=1)
    exact = Adapter("sib-exact", SOURCE, BankOptions(m=4))
    for frame in frames[:3]:
        exact.segment_frame(frame, style_fn, segment_fn)
    chosen = exact.bank.select(style_fn(frames[3][None])[0])
    out, info = exact.segment_frame(frames[3], style_fn, segment_fn)
    assert info.k == 3
    batch = np.stack([frames[3]] + [frames[i] for i in chosen.tolist()])
    target, tinfo = Adapter("target", SOURCE).segment_frame(batch, None, segment_fn)
    assert tinfo.k == 3 and np.isnan(tinfo.shift_score)
    np.testing.assert_allclose(target["logits"][:1], out["logits"], atol=1e-6)


def test_source_mode_uses_the_running_stats_and_target_the_frame():
    frame = _frames(1)[0]
    out, _ = Adapter("source", SOURCE).segment_frame(frame, style_fn, segment_fn)
    expected = (frame.astype(np.float64) - SOURCE.stats[0]) / np.sqrt(SOURCE.stats[1] + 1e-5)
    np.testing.assert_allclose(out["logits"][0], expected, rtol=1e-5)
    out, _ = Adapter("target", SOURCE).segment_frame(frame, style_fn, segment_fn)
    np.testing.assert_allclose(out["logits"][0].mean(axis=(0, 1)), 0.0, atol=1e-6)


def test_qib_pools_the_most_recent_frames():
    frames = _frames(6, seed=2)
    qib = Adapter("qib", SOURCE, BankOptions(m=3))
    for frame in frames:
        out, info = qib.segment_frame(frame, style_fn, segment_fn)
    joint = np.concatenate([f.reshape(-1, 3) for f in frames[-3:]]).astype(np.float64)
    expected = (frames[-1].astype(np.float64) - joint.mean(0)) / np.sqrt(joint.var(0) + 1e-5)
    assert info.k == 2 and len(qib.bank) == 6
    np.testing.assert_allclose(out["logits"][0], expected, atol=1e-4)


def test_bad_modes_and_batches_are_refused():
    with pytest.raises(EdgeDGError, match="unknown norm mode"):
        Adapter("adabn", SOURCE)
    with pytest.raises(EdgeDGError, match="one frame at a time"):
        Adapter("sib", SOURCE).segment_frame(np.stack(_frames(2)), style_fn, segment_fn)
