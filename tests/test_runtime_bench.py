"""`edgedg bench`: every mode in one run, a table and JSON with ratios to plain."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _runtime_helpers import invoke, model_dir

from edgedg_runtime.benchmark import BENCH_MODES, synthetic_frames


def test_synthetic_frames_alternate_domains():
    frames = synthetic_frames(24, 40, 20, block=10)
    assert frames[0].shape == (24, 40, 3) and frames[0].dtype == np.uint8
    day, night = np.mean(frames[:10]), np.mean(frames[10:])
    assert day > night + 20  # two visibly different domains
    assert not np.array_equal(frames[0], frames[1])  # the scene moves


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return model_dir(tmp_path_factory)


def test_bench_command_table_and_json(tiny_dir, tmp_path):
    out = tmp_path / "bench.json"
    result = invoke(
        [
            "bench",
            tiny_dir,
            "--frames",
            "4",
            "--warmup",
            "1",
            "--backend",
            "ort",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert list(report["modes"]) == list(BENCH_MODES)
    assert report["modes"]["plain"]["ratio"] == pytest.approx(1.0)
    for mode in BENCH_MODES:
        entry = report["modes"][mode]
        assert entry["total"]["p90"] >= entry["total"]["median"] > 0
        assert entry["ratio"] > 0
    assert "style" in report["modes"]["sib"] and "style" not in report["modes"]["plain"]
    for mode in BENCH_MODES:
        assert mode in result.output
    bad = invoke(["bench", tiny_dir, "--frames", "0"])
    assert bad.exit_code == 2 and "--frames" in bad.output  # a usage error


def test_bench_compares_another_export_in_the_same_run(tiny_dir, tmp_path):
    out = tmp_path / "bench.json"
    args = ["bench", tiny_dir, "--frames", "2", "--warmup", "0", "--backend", "ort"]
    args += ["--mode", "plain", "--mode", "target", "--compare", tiny_dir, "--json", str(out)]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    other = f"target@{tiny_dir}"
    assert list(report["modes"]) == ["plain", "target", other]
    assert report["modes"][other]["ratio"] > 0 and other in result.output
