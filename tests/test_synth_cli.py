"""`edgedg data synth` and ``synthesize``: folders in the real formats, the same scenes in every
domain and format, videos, and one-line errors for bad options."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgedg.cli import cli
from edgedg.data.datasets import open_dataset
from edgedg.data.synth import synthesize
from edgedg_runtime.errors import EdgeDGError

SIZE = (64, 128)


def _run(*args: str):
    return CliRunner().invoke(cli, ["data", "synth", *args], catch_exceptions=False)


def test_cli_writes_one_dataset_per_domain_and_videos(tmp_path):
    out = tmp_path / "synth"
    result = _run(str(out), "--domains", "sunny,night", "--per-domain", "4", "--size", "64x128",
                  "--format", "gta5", "--seed", "3", "--video", "--video-frames", "6",
                  "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output
    data = {}
    for domain in ("sunny", "night"):
        train = open_dataset(f"gta5:{out / domain}", "train")
        val = open_dataset(f"gta5:{out / domain}", "val")
        assert (len(train), len(val)) == (3, 1)
        data[domain] = [train.load(i) for i in range(3)] + [val.load(0)]
        assert data[domain][0]["image"].shape == (*SIZE, 3)
    for a, b in zip(data["sunny"], data["night"], strict=True):
        np.testing.assert_array_equal(a["label"], b["label"])
        assert np.abs(a["image"].astype(int) - b["image"].astype(int)).mean() > 20
    for domain in ("sunny", "night"):
        frames = sorted((out / "video" / domain / "frames").glob("*.png"))
        labels = sorted((out / "video" / domain / "labels").glob("*.png"))
        assert [p.name for p in frames] == [f"{i:05d}.png" for i in range(6)]
        assert [p.name for p in labels] == [p.name for p in frames]
        assert cv2.imread(str(frames[0])).shape == (*SIZE, 3)
        label = cv2.imread(str(labels[0]), cv2.IMREAD_UNCHANGED)
        assert label.shape == SIZE and set(np.unique(label)) <= set(range(19)) | {255}
        capture = cv2.VideoCapture(str(out / "video" / f"{domain}.mp4"))
        count = 0
        while capture.read()[0]:
            count += 1
        assert count == 6


def test_same_scenes_in_every_format(tmp_path):
    labels = {}
    for fmt in ("cityscapes", "synthia"):
        summary = synthesize(tmp_path / fmt, ["fog"], 2, SIZE, fmt, seed=7, val_fraction=0.5,
                             progress=False)  # fmt: skip
        assert summary["domains"]["fog"]["train"] == 1 and summary["images"] == 2
        ds = open_dataset(f"{fmt}:{tmp_path / fmt / 'fog'}", "val")
        labels[fmt] = ds.load(0)["label"]
    np.testing.assert_array_equal(labels["cityscapes"], labels["synthia"])


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["--domains", "sunny,mars"], 1, "choose from sunny"),
        (["--size", "64by128"], 2, "HxW"),
        (["--size", "8x8"], 2, "at least"),
        (["--per-domain", "0"], 2, "x>=1"),
        (["--val-fraction", "1.5"], 2, "0<=x<1"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, args, code, expected):
    """A value out of range is a usage error (2); a domain name the library does not know, 1."""
    result = CliRunner().invoke(cli, ["data", "synth", str(tmp_path / "x"), "--quiet", *args])
    assert result.exit_code == code
    assert expected in result.output and "Traceback" not in result.output


def test_all_domains_and_bad_api_arguments(tmp_path):
    from edgedg.data.synth import DOMAINS, resolve_domains

    assert resolve_domains("all") == list(DOMAINS)
    assert resolve_domains("fog, night,fog") == ["fog", "night"]
    with pytest.raises(EdgeDGError, match="format"):
        synthesize(tmp_path, ["fog"], 1, SIZE, "kitti", seed=0, progress=False)


def test_cli_format_choices_match_the_writers():
    from edgedg.commands.data import FORMATS
    from edgedg.data.formats import FORMATS as WRITER_FORMATS

    assert tuple(FORMATS) == tuple(WRITER_FORMATS)
