"""Segmenter on an exported tiny model with ONNX Runtime: every mode, any frame size, bad frames."""

from __future__ import annotations

import numpy as np
import pytest
from _runtime_helpers import model_dir

from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.errors import BankError, EdgeDGError, FrameError
from edgedg_runtime.segmenter import MODES, BankOptions, Segmenter


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return model_dir(tmp_path_factory)


@pytest.mark.parametrize("norm", MODES)
def test_every_mode_gives_labels_at_frame_size(tiny_dir, norm):
    frames = synthetic_frames(45, 70, 6)  # not the model's 32x64: resized in and out
    with Segmenter(tiny_dir, backend="ort", norm=norm, threads=1) as seg:
        assert seg.input_size == (32, 64)
        results = [seg(f) for f in frames]
    last = results[-1]
    assert last.labels.shape == (45, 70) and last.labels.dtype == np.uint8
    assert last.labels.max() < 19
    assert {"preprocess", "segment", "postprocess", "total"} <= set(last.timings)
    assert last.timings["total"] >= last.timings["segment"] > 0
    if norm in ("source", "target"):
        assert np.isnan(last.shift) and last.k == 0
    else:
        assert np.isfinite(last.shift) and last.shift > 0
        assert [r.k for r in results[:5]] == [0, 1, 2, 3, 3]  # k = min(m - 1, bank size)
        assert len(seg.bank) == 6


def test_plain_source_equals_unfolded_source(tiny_dir):
    """plain.onnx (BN folded) and segment.onnx at w = 0 are the same function."""
    frames = synthetic_frames(32, 64, 4)
    with (
        Segmenter(tiny_dir, backend="ort", norm="source") as plain,
        Segmenter(tiny_dir, backend="ort", norm="source", fold_source=False) as unfolded,
    ):
        agree = [np.mean(plain(f).labels == unfolded(f).labels) for f in frames]
    assert min(agree) >= 0.999


@pytest.mark.parametrize(
    "frame, message",
    [
        (None, "None"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((8, 8), np.uint8), "GRAY2BGR"),
        (np.zeros((8, 8, 4), np.uint8), "BGRA"),
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_frames_raise_frame_error(tiny_dir, frame, message):
    with Segmenter(tiny_dir, backend="ort", norm="target") as seg:
        with pytest.raises(FrameError, match=message):
            seg(frame)
        assert seg(np.zeros((8, 8, 3), np.uint8)).labels.shape == (8, 8)  # still usable


def test_bank_round_trip_and_refusals(tiny_dir, tmp_path):
    frames = synthetic_frames(32, 64, 5)
    with Segmenter(tiny_dir, backend="ort", norm="sib") as seg:
        for f in frames:
            seg(f)
        seg.bank.save(str(tmp_path / "bank.npz"))
    with Segmenter(tiny_dir, backend="ort", norm="sib", bank=str(tmp_path / "bank.npz")) as seg:
        assert len(seg.bank) == 5 and seg(frames[0]).k == 3
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BankError, match="corrupt"):
        Segmenter(tiny_dir, backend="ort", bank=str(tmp_path / "corrupt.npz"))
    with pytest.raises(BankError, match="statistics only"):
        Segmenter(tiny_dir, backend="ort", norm="sib-exact", bank=str(tmp_path / "bank.npz"))


def test_foreign_bank_and_bad_options(tiny_dir, tmp_path):
    from edgedg_runtime.bank import SourceStats, StyleBank
    from edgedg_runtime.layout import StatLayout

    layout = StatLayout.from_channels([("other.bn", 8, False)])
    source = SourceStats.from_layout(layout, np.ones((2, 8), np.float32))
    foreign = StyleBank(source=source)
    foreign.add(np.ones((2, 8), np.float32), np.ones((2, 8), np.float32))
    foreign.save(str(tmp_path / "foreign.npz"))
    with pytest.raises(BankError, match="another model"):
        Segmenter(tiny_dir, backend="ort", bank=str(tmp_path / "foreign.npz"))
    with pytest.raises(EdgeDGError, match="unknown norm"):
        Segmenter(tiny_dir, backend="ort", norm="bn")
    with pytest.raises(EdgeDGError, match="at most 4"):
        Segmenter(tiny_dir, backend="ort", norm="sib-exact", bank_options=BankOptions(m=8))


def test_describe_and_lazy_export(tiny_dir):
    import edgedg_runtime

    with edgedg_runtime.Segmenter(tiny_dir, backend="ort", norm="sib") as seg:
        assert "ONNX Runtime" in seg.describe() and "32x64" in seg.describe()
        assert len(seg.class_names) == 19 == len(seg.class_colors)
