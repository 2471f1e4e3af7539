"""Bad data: a DataError naming the file, or with skip_bad a skipped and counted item."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _data_helpers import write_samples

from edgedg.data import open_dataset
from edgedg_runtime.errors import DataError

CITY = "synthcity/synthcity_000001_000019"


def _cityscapes(tmp_path, n=3):
    write_samples("cityscapes", tmp_path, n_train=n, n_val=0)
    return tmp_path / f"leftImg8bit/train/{CITY}_leftImg8bit.png", (
        tmp_path / f"gtFine/train/{CITY}_gtFine_labelIds.png"
    )


def test_bad_spec_and_missing_layout(tmp_path):
    with pytest.raises(DataError, match="FORMAT:PATH"):
        open_dataset(str(tmp_path))
    with pytest.raises(DataError, match="unknown dataset format 'kitti'"):
        open_dataset(f"kitti:{tmp_path}")
    with pytest.raises(DataError, match="leftImg8bit"):
        open_dataset(f"cityscapes:{tmp_path}")
    with pytest.raises(DataError, match="images"):
        open_dataset(f"gta5:{tmp_path}")
    with pytest.raises(DataError, match="RGB"):
        open_dataset(f"synthia:{tmp_path}")
    with pytest.raises(DataError, match="config.json"):
        open_dataset(f"mapillary:{tmp_path}")
    with pytest.raises(DataError, match="does not exist"):
        open_dataset(f"cityscapes:{tmp_path / 'nowhere'}")


def test_unknown_split(tmp_path):
    write_samples("gta5", tmp_path / "g", n_train=1, n_val=0)
    with pytest.raises(DataError, match="split 'holdout'"):
        open_dataset(f"gta5:{tmp_path / 'g'}", "holdout")
    write_samples("cityscapes", tmp_path / "c", n_train=1, n_val=0)
    with pytest.raises(DataError, match="test"):
        open_dataset(f"cityscapes:{tmp_path / 'c'}", "test")


def test_missing_label(tmp_path):
    _, label = _cityscapes(tmp_path)
    label.unlink()
    with pytest.raises(DataError, match=str(label)):
        open_dataset(f"cityscapes:{tmp_path}")
    with pytest.warns(UserWarning, match="skipping 1"):
        ds = open_dataset(f"cityscapes:{tmp_path}", skip_bad=True)
    assert len(ds) == 2 and ds.skipped == 1


def test_gta5_missing_image_in_split(tmp_path):
    write_samples("gta5", tmp_path, n_train=2, n_val=0)
    (tmp_path / "images/00002.png").unlink()
    with pytest.raises(DataError, match="00002.png"):
        open_dataset(f"gta5:{tmp_path}")
    with pytest.warns(UserWarning):
        assert len(open_dataset(f"gta5:{tmp_path}", skip_bad=True)) == 1


def test_unreadable_image(tmp_path):
    image, _ = _cityscapes(tmp_path)
    image.write_bytes(b"not a png")
    ds = open_dataset(f"cityscapes:{tmp_path}")
    ds[0]  # the good items still read
    with pytest.raises(DataError, match=str(image)):
        ds[1]
    ds = open_dataset(f"cityscapes:{tmp_path}", skip_bad=True)
    with pytest.warns(UserWarning, match="cannot read"):
        item = ds[1]
    assert item["path"] == str(ds.items[2][0]) and ds.skipped == 1
    assert ds[1]["path"] == item["path"] and ds.skipped == 1  # counted once


def test_unreadable_label(tmp_path):
    _, label = _cityscapes(tmp_path)
    label.write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=str(label)):
        open_dataset(f"cityscapes:{tmp_path}")[1]


def test_size_mismatch_is_an_error(tmp_path):
    _, label = _cityscapes(tmp_path)
    cv2.imwrite(str(label), np.full((10, 10), 7, np.uint8))
    with pytest.raises(DataError, match="differs from the image size"):
        open_dataset(f"cityscapes:{tmp_path}")[1]
    ds = open_dataset(f"cityscapes:{tmp_path}", skip_bad=True)
    with pytest.warns(UserWarning):
        assert [ds[i]["path"] for i in range(3)][1] == str(ds.items[2][0])
    assert ds.skipped == 1


def test_gta5_size_mismatch_resizes_the_label(tmp_path):
    write_samples("gta5", tmp_path, n_train=1, n_val=0, h=40, w=60)
    from PIL import Image

    path = tmp_path / "labels/00001.png"
    with Image.open(path) as im:
        small = im.resize((30, 20), Image.NEAREST)
        small.save(path)
    ds = open_dataset(f"gta5:{tmp_path}")
    with pytest.warns(UserWarning, match="resized"):
        item = ds[0]
    assert item["label"].shape == (40, 60) and ds.resized == 1


@pytest.mark.parametrize(
    ("fmt", "path", "value"),
    [
        ("cityscapes", f"gtFine/train/{CITY}_gtFine_labelIds.png", 40),
        ("gta5", "labels/00002.png", 34),
        ("synthia", "GT/LABELS/0000001.png", 23),
        ("mapillary", "training/labels/000001.png", 66),
    ],
)
def test_label_value_outside_the_table(tmp_path, fmt, path, value):
    write_samples(fmt, tmp_path, n_train=3, n_val=0)
    _poke(tmp_path / path, value)
    with pytest.raises(DataError, match=f"{path}.*outside"):
        open_dataset(f"{fmt}:{tmp_path}")[1]
    ds = open_dataset(f"{fmt}:{tmp_path}", skip_bad=True)
    with pytest.warns(UserWarning, match="outside"):
        assert len({ds[i]["path"] for i in range(3)}) == 2
    assert ds.skipped == 1


def test_idd_values_off_the_cityscapes_ids_are_ignore(tmp_path):
    write_samples("idd", tmp_path, n_train=1, n_val=0)
    path = tmp_path / "gtFine/train/0/000000_gtFine_labelcsIds.png"
    _poke(path, 200)
    assert (open_dataset(f"idd:{tmp_path}")[0]["label"][:3, :3] == 255).all()


def _poke(path, value):
    """Set a 3x3 corner of a label file (any of the formats) to the raw ``value``."""
    from PIL import Image

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw.dtype == np.uint16:  # Synthia: id in R
        raw[:3, :3, 2] = value
        cv2.imwrite(str(path), raw)
        return
    with Image.open(path) as im:
        mode, palette, ids = im.mode, im.getpalette(), np.asarray(im).copy()
    ids[:3, :3] = value
    out = Image.fromarray(ids, mode="P" if mode == "P" else "L")
    if mode == "P":
        out.putpalette(palette)
    out.save(path)
