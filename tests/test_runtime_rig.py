"""The Rig: one model directory, named cameras, one batch per tick, one bank per camera.

Parity: each camera's labels from the rig equal those of its own single-camera Segmenter on the
same frames (>= 99.9% of pixels) in every mode, for 1..4 cameras of different frame sizes and
styles, over a stream long enough for the banks to feed back.
"""

from __future__ import annotations

import numpy as np
import pytest
from _runtime_helpers import ASSETS

from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.rig import Rig
from edgedg_runtime.segmenter import Segmenter

MODEL = str(
    ASSETS / "tiny_model"
)  # read only: the rig writes nothing into it with ort_layout nchwc
SIZES = [(32, 64), (48, 96), (40, 72), (24, 64)]


def _streams(n_cameras: int, n_frames: int) -> dict[str, list[np.ndarray]]:
    """Per camera a stream of its own size, phase and exposure (a camera's style)."""
    streams = {}
    for c in range(n_cameras):
        h, w = SIZES[c]
        frames = synthetic_frames(h, w, n_frames, seed=c, block=4 + c)
        gain = 1.0 - 0.2 * c
        streams[f"cam{c}"] = [np.clip(f * gain, 0, 255).astype(np.uint8) for f in frames]
    return streams


# sib-exact runs a pooled batch per frame, camera by camera: two rig sizes cover it
CASES = [(m, n) for m in ("source", "target", "sib", "qib") for n in (1, 2, 3, 4)]


@pytest.mark.parametrize("norm, n_cameras", [*CASES, ("sib-exact", 1), ("sib-exact", 3)])
def test_rig_labels_equal_one_segmenter_per_camera(norm, n_cameras):
    streams = _streams(n_cameras, 10)
    names = list(streams)
    singles = {
        n: Segmenter(MODEL, backend="ort", norm=norm, threads=1, ort_layout="nchwc") for n in names
    }
    agree = total = 0
    with Rig(MODEL, names, backend="ort", norm=norm, threads=1, ort_layout="nchwc") as rig:
        for t in range(10):
            results = rig({n: streams[n][t] for n in names}, stamps={n: t for n in names})
            for n in names:
                alone = singles[n](streams[n][t])
                assert results[n].camera == n and results[n].stamp == t
                assert results[n].labels.shape == streams[n][t].shape[:2]
                assert results[n].k == alone.k
                agree += int(np.sum(results[n].labels == alone.labels))
                total += alone.labels.size
                if norm in ("sib", "qib"):
                    assert results[n].shift == pytest.approx(alone.shift, rel=1e-3)
        if norm in ("sib", "qib", "sib-exact"):
            assert all(len(rig.bank(n)) == len(singles[n].bank) for n in names)
    for seg in singles.values():
        seg.close()
    assert agree / total >= 0.999, f"{norm} x {n_cameras}: agreement {agree / total:.5f}"


def test_rig_holds_one_session_per_graph_whatever_the_cameras():
    with Segmenter(MODEL, backend="ort", norm="sib", threads=1, ort_layout="nchwc") as seg:
        one = len(seg._backends)
    with Rig(
        MODEL, [f"c{i}" for i in range(6)], backend="ort", norm="sib", ort_layout="nchwc"
    ) as rig:
        assert rig.sessions == one == 2  # style + segment
        assert len({id(rig.bank(n)) for n in rig.cameras}) == 6  # a bank per camera


def test_cameras_without_a_frame_are_left_out_and_big_rigs_run_in_batches():
    names = [f"c{i}" for i in range(6)]  # the tiny model's max_batch is 4: batches of 4 + 2
    frames = synthetic_frames(32, 64, 6, seed=1)
    with Rig(MODEL, names, backend="ort", norm="sib", threads=1, ort_layout="nchwc") as rig:
        calls = []
        segment = rig.core._backends["segment"]
        infer = segment.infer
        segment.infer = lambda feeds: calls.append(feeds["image"].shape[0]) or infer(feeds)
        out = rig(dict(zip(names, frames, strict=False)))
        assert sorted(out) == names and calls == [4, 2]
        out = rig({"c1": frames[0], "c4": frames[1]})
        assert sorted(out) == ["c1", "c4"] and calls[-1] == 2
        assert rig.health("c1").frames == 2 and rig.health("c0").frames == 1
        assert len(rig.bank("c1")) == 2 and len(rig.bank("c0")) == 1


def test_rig_health_counts_bad_frames_and_reports():
    frame = synthetic_frames(32, 64, 1)[0]
    with Rig(MODEL, ["front", "rear"], backend="ort", threads=1, ort_layout="nchwc") as rig:
        out = rig({"front": frame, "rear": np.zeros((4, 4), np.uint8)})
        assert list(out) == ["front"]
        assert rig.health("rear").bad == 1 and rig.health("front").frames == 1
        rig.report("rear", dropped=3, reconnecting=True)
        assert rig.health("rear").dropped == 3 and rig.health("rear").reconnecting
        with pytest.raises(EdgeDGError, match="does not have"):
            rig({"side": frame})


@pytest.mark.parametrize(
    "names, message",
    [
        ([], "at least one"),
        (["a b"], "letters"),
        (["x", "x"], "given twice"),
        (["../x"], "letters"),
    ],
)
def test_rig_refuses_bad_camera_names(names, message):
    with pytest.raises(EdgeDGError, match=message):
        Rig(MODEL, names, backend="ort")
