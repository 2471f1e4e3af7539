"""A style bank through `edgedg stream`: its saved capacity and stored images are kept, and
frames whose statistics are not finite never enter it (and the summary says so)."""

from __future__ import annotations

import numpy as np
from _runtime_helpers import invoke

from edgedg_runtime.bank import load_bank
from edgedg_runtime.segmenter import Segmenter
from edgedg_runtime.sources import open_source
from edgedg_runtime.stream import run_loop


def test_stream_keeps_the_saved_capacity(tiny_model, frames_dir, tmp_path):
    bank = tmp_path / "bank.npz"
    args = ["stream", tiny_model, frames_dir, "--backend", "ort", "--norm", "sib", "--bank", bank]
    assert invoke([*args, "--bank-size", "4000"]).exit_code == 0
    assert invoke(args).exit_code == 0  # no --bank-size: keep 4000
    saved = load_bank(str(bank))
    assert saved.capacity == 4000 and len(saved) == 24


def test_image_bank_run_once_in_sib_keeps_its_images(tiny_model, frames_dir, tmp_path):
    bank = tmp_path / "bank.npz"
    args = ["stream", tiny_model, frames_dir, "--backend", "ort", "--bank", bank]
    assert invoke([*args, "--norm", "sib-exact"]).exit_code == 0
    assert invoke([*args, "--norm", "sib"]).exit_code == 0
    images = load_bank(str(bank), keep_images=True).entries()[2]
    assert images is not None and images.shape == (24, 32, 64, 3)
    result = invoke([*args, "--norm", "sib-exact"])
    assert result.exit_code == 0, result.output


def test_non_finite_frame_statistics_are_skipped_and_reported(tiny_model, frames_dir):
    """A fault-injecting hook on the segment backend makes frames 3 and 7 return NaN statistics
    (what an FP16 overflow does): those frames are still segmented, their entries never enter
    the bank, and the summary says how many were left out."""
    with Segmenter(str(tiny_model), backend="ort", norm="sib") as seg:
        backend, calls = seg._backends["segment"], [0]
        real = backend.infer

        def poisoned(feeds):
            out = dict(real(feeds))
            calls[0] += 1
            if calls[0] in (3, 7):
                out["frame_stats"] = np.full_like(out["frame_stats"], np.nan)
            return out

        backend.infer = poisoned
        summary = run_loop(seg, open_source(frames_dir), [])
        assert summary.frames == 12 and len(seg.bank) == 10
        assert np.isfinite(seg.bank.entries()[1]).all()
    assert summary.bank_skipped == 2 and "2 frames not added" in summary.format()
