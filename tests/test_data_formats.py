"""Round trips through the five real formats, and the readers' handling of bad data."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from _data_helpers import expected_label, make_sample, write_samples

from edgedg.data import open_dataset
from edgedg.data.formats import FORMATS, open_writer


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(fmt, tmp_path):
    root = tmp_path / f"{fmt}-domain"
    written = write_samples(fmt, root, n_train=3, n_val=2)
    for split in ("train", "val"):
        ds = open_dataset(f"{fmt}:{root}", split)
        assert len(ds) == len(written[split]) and ds.domain == f"{fmt}-domain"
        for i, (image, label) in enumerate(written[split]):
            item = ds[i]
            assert item["label"].dtype == np.uint8 and item["image"].dtype == np.uint8
            assert np.array_equal(item["label"], expected_label(fmt, label)), (split, i)
            assert item["domain"] == f"{fmt}-domain" and item["path"].startswith(str(root))
            if fmt == "mapillary":  # JPEG: the label is exact, the image close
                mse = np.mean((item["image"].astype(float) - image.astype(float)) ** 2)
                assert 10 * np.log10(255**2 / mse) > 38.0  # PSNR in dB (quality 95, 4:4:4)
                assert item["image"].shape == image.shape
            else:
                assert np.array_equal(item["image"], image)


def test_all_formats_agree_on_one_label_map(tmp_path):
    image, label = make_sample(7)
    back = {}
    for fmt in FORMATS:
        with open_writer(fmt, tmp_path / fmt) as writer:
            writer.add("train", 5, image, label)
        back[fmt] = open_dataset(f"{fmt}:{tmp_path / fmt}", "train")[0]["label"]
    assert set(np.unique(label).tolist()) == set(range(19)) | {255}
    for fmt in FORMATS:
        assert np.array_equal(back[fmt], expected_label(fmt, label)), fmt
    no_terrain = label != 9
    assert np.array_equal(back["idd"][no_terrain], back["cityscapes"][no_terrain])
    assert (back["idd"][~no_terrain] == 255).all()


def test_real_file_layouts(tmp_path):
    image, label = make_sample(0, 20, 30)
    for fmt in FORMATS:
        with open_writer(fmt, tmp_path / fmt) as w:
            w.add("train", 3, image, label)
            w.add("val", 3, image, label)
    paths = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    for expected in [
        "cityscapes/leftImg8bit/train/synthcity/synthcity_000003_000019_leftImg8bit.png",
        "cityscapes/gtFine/val/synthcity/synthcity_000003_000019_gtFine_labelIds.png",
        "gta5/images/00001.png", "gta5/labels/00002.png", "gta5/split.mat",
        "synthia/RGB/0000000.png", "synthia/GT/LABELS/0000001.png", "synthia/splits.json",
        "idd/leftImg8bit/train/0/000003_leftImg8bit.png",
        "idd/gtFine/val/0/000003_gtFine_labelcsIds.png",
        "mapillary/config.json", "mapillary/training/images/000003.jpg",
        "mapillary/validation/labels/000003.png",
    ]:  # fmt: skip
        assert expected in paths, expected
    assert not [p for p in paths if ".tmp" in p]  # atomic writes leave no temp files
    from PIL import Image

    with Image.open(tmp_path / "gta5/labels/00001.png") as gta_label:
        assert gta_label.mode == "P"
        assert tuple(gta_label.getpalette()[7 * 3 : 7 * 3 + 3]) == (128, 64, 128)  # road colour
    raw = cv2.imread(str(tmp_path / "synthia/GT/LABELS/0000000.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (20, 30, 3)
    import scipy.io

    mat = scipy.io.loadmat(str(tmp_path / "gta5/split.mat"))
    assert mat["trainIds"].ravel().tolist() == [1] and mat["valIds"].ravel().tolist() == [2]


def test_gta5_writer_continues_an_existing_dataset(tmp_path):
    write_samples("gta5", tmp_path, n_train=2, n_val=1)
    image, label = make_sample(50)
    with open_writer("gta5", tmp_path) as w:
        w.add("train", 10, image, label)
    ds = open_dataset(f"gta5:{tmp_path}", "train")
    assert len(ds) == 3 and np.array_equal(ds[2]["label"], label)
    assert len(open_dataset(f"gta5:{tmp_path}", "all")) == 4


def test_synthia_split_without_splits_json_is_seeded_70_30(tmp_path):
    write_samples("synthia", tmp_path, n_train=7, n_val=3, h=8, w=10)
    (tmp_path / "splits.json").unlink()
    train = open_dataset(f"synthia:{tmp_path}", "train")
    val = open_dataset(f"synthia:{tmp_path}", "val")
    again = open_dataset(f"synthia:{tmp_path}", "train")
    assert (len(train), len(val)) == (7, 3)
    assert [p for p, _ in train.items] == [p for p, _ in again.items]
    assert not {p for p, _ in train.items} & {p for p, _ in val.items}


def test_synthia_16_class_protocol(tmp_path):
    written = write_samples("synthia", tmp_path, n_train=1, n_val=0)
    label = written["train"][0][1]
    back = open_dataset(f"synthia:{tmp_path}", synthia_classes=16)[0]["label"]
    dropped = np.isin(label, [9, 14, 16])
    assert (back[dropped] == 255).all() and np.array_equal(back[~dropped], label[~dropped])


def test_mapillary_wide_mapping_reads_lane_marking_as_road(tmp_path):
    write_samples("mapillary", tmp_path, n_train=1, n_val=0)
    path = tmp_path / "training/labels/000000.png"
    from PIL import Image

    with Image.open(path) as im:
        raw = np.asarray(im).copy()
        palette = im.getpalette()
    names = [lb["name"] for lb in json.loads((tmp_path / "config.json").read_text())["labels"]]
    raw[:5, :5] = names.index("marking--general")
    out = Image.fromarray(raw, mode="P")
    out.putpalette(palette)
    out.save(path)
    assert (open_dataset(f"mapillary:{tmp_path}")[0]["label"][:5, :5] == 255).all()
    assert (
        open_dataset(f"mapillary:{tmp_path}", mapillary_mapping="wide")[0]["label"][:5, :5] == 0
    ).all()


def test_long_side_downscale(tmp_path):
    write_samples("cityscapes", tmp_path, n_train=1, n_val=0, h=40, w=60)
    item = open_dataset(f"cityscapes:{tmp_path}", long_side=30)[0]
    assert item["image"].shape == (20, 30, 3) and item["label"].shape == (20, 30)
    assert set(np.unique(item["label"]).tolist()) <= set(range(19)) | {255}
