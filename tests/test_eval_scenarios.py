"""`edgedg scenarios`: every scenario scores its frames in every mode, as a table and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _eval_helpers import tiny_checkpoint, write_domain
from click.testing import CliRunner

from edgedg.cli import cli as main
from edgedg.evaluate.scenarios import SCENARIOS, _Frames, _scene_cuts


class _Toy:
    """A dataset of ``n`` constant frames whose label is its index (to follow them)."""

    def __init__(self, n: int, value: int):
        self.items = [
            {"image": np.full((8, 8, 3), value, np.uint8), "label": np.full((8, 8), i, np.uint8)}
            for i in range(n)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def test_scene_cuts_alternate_blocks_and_score_the_first_frames_after_each_cut():
    frames = _Frames({"a": _Toy(16, 10), "b": _Toy(16, 200)}, 8, seed=12)
    seq = _scene_cuts(frames, block=8, scored=3)
    assert len(seq) == 32
    domains = [int(image[0, 0, 0]) for image, _ in seq]
    assert domains == [10] * 8 + [200] * 8 + [10] * 8 + [200] * 8
    scored = [n for n, (_, label) in enumerate(seq) if label is not None]
    assert scored == [8, 9, 10, 16, 17, 18, 24, 25, 26]


@pytest.mark.slow
def test_scenarios_command_prints_every_scenario_and_mode(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    dark = write_domain(tmp_path / "dark", 10, brightness=20.0, seed=1)
    bright = write_domain(tmp_path / "bright", 10, brightness=150.0, seed=2)
    args = ["scenarios", str(ckpt), "--target", dark, "--target", bright, "--runs", "1"]
    args += ["--size", "32", "--small", "16", "--json", str(tmp_path / "s.json")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "s.json").read_text())
    for name in SCENARIOS:
        assert name in result.output
        for mode in ("source", "target", "sib"):
            assert 0.0 <= report[name][mode]["miou_mean"] <= 1.0
    # Without a bank to carry, a restart is the same for every mode but sib.
    restart, empty = report["restart"], report["restart, empty bank"]
    assert restart["target"]["miou_mean"] == empty["target"]["miou_mean"]
