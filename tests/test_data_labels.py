"""The label tables against cityscapesscripts and reference/datasets.md."""

from __future__ import annotations

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label

from edgedg.data import labels as L
from edgedg.data.formats import WRITERS
from edgedg_runtime.errors import DataError

V12_NAMES = [lb["name"] for lb in L.mapillary_v12_config()["labels"]]


def test_classes_and_colors_follow_cityscapes():
    assert len(L.CLASSES) == 19 and L.COLORS.shape == (19, 3) and L.COLORS.dtype == np.uint8
    assert L.CLASSES[0] == "road" and L.CLASSES[9] == "terrain" and L.CLASSES[18] == "bicycle"
    assert tuple(L.COLORS[13]) == (0, 0, 142)  # car


def test_cityscapes_table_matches_every_label_id():
    lut = L.CITYSCAPES_TABLE.lut
    assert lut.shape == (256,) and lut.dtype == np.uint8
    for label_id in range(256):
        label = id2label.get(label_id)
        want = label.trainId if label is not None and 0 <= label.trainId < 19 else 255
        assert lut[label_id] == want, label_id
    assert L.CITYSCAPES_TABLE.n_ids == 34


def test_cityscapes_table_matches_datasets_md():
    doc = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
           25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
    lut = L.CITYSCAPES_TABLE.lut
    assert {i: int(lut[i]) for i in range(256) if lut[i] != 255} == doc


def test_synthia_tables():
    doc = {1: 10, 2: 2, 3: 0, 4: 1, 5: 4, 6: 8, 7: 5, 8: 13, 9: 7, 10: 11, 11: 18, 12: 17,
           15: 6, 16: 9, 17: 12, 18: 14, 19: 15, 20: 16, 21: 3}  # fmt: skip
    t19, t16 = L.synthia_table(19), L.synthia_table(16)
    assert t19.lut.shape == (65536,) and t19.n_ids == 23
    assert {i: int(t19.lut[i]) for i in range(65536) if t19.lut[i] != 255} == doc
    dropped = {16, 18, 20}  # terrain, truck, train
    assert {i: int(t16.lut[i]) for i in range(65536) if t16.lut[i] != 255} == {
        k: v for k, v in doc.items() if k not in dropped
    }
    with pytest.raises(DataError):
        L.synthia_table(13)


def test_mapillary_v12_config_schema():
    config = L.mapillary_v12_config()
    assert len(config["labels"]) == 66 and len(set(V12_NAMES)) == 66
    for entry in config["labels"]:
        assert set(entry) == {"name", "readable", "color", "instances", "evaluate"}
        assert len(entry["color"]) == 3
    assert V12_NAMES[-1] == "void--unlabeled"


def test_mapillary_strict_and_wide_by_name():
    strict = L.mapillary_table(V12_NAMES, "strict").lut
    wide = L.mapillary_table(V12_NAMES, "wide").lut
    by_name = dict(zip(V12_NAMES, range(66), strict=True))
    assert int(strict[by_name["object--traffic-sign--front"]]) == 7
    assert int(strict[by_name["object--vehicle--on-rails"]]) == 16
    assert sorted(int(strict[i]) for i in range(66) if strict[i] != 255) == list(range(19))
    widened = {
        "human--rider--motorcyclist": 12, "human--rider--other-rider": 12, "marking--general": 0,
        "marking--crosswalk-zebra": 0, "construction--flat--crosswalk-plain": 0,
        "construction--flat--service-lane": 0, "construction--flat--bike-lane": 0,
    }  # fmt: skip
    for name, train_id in widened.items():
        assert strict[by_name[name]] == 255 and wide[by_name[name]] == train_id
    others = [i for i, n in enumerate(V12_NAMES) if n not in widened]
    assert np.array_equal(strict[others], wide[others])


def test_mapillary_maps_by_name_not_index():
    names = list(reversed(V12_NAMES))
    lut = L.mapillary_table(names).lut
    assert lut[names.index("construction--flat--road")] == 0
    assert lut[names.index("nature--sky")] == 10


def test_mapillary_refuses_a_config_without_the_needed_classes():
    names = [n for n in V12_NAMES if n != "object--traffic-light"]
    with pytest.raises(DataError, match="object--traffic-light"):
        L.mapillary_table(names)
    with pytest.raises(DataError, match="strict"):
        L.mapillary_table(V12_NAMES, "loose")


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_writer_id_maps_back_to_its_train_id(fmt, tmp_path):
    writer = WRITERS[fmt](tmp_path)
    table = {
        "cityscapes": L.CITYSCAPES_TABLE,
        "gta5": L.CITYSCAPES_TABLE,
        "idd": L.IDD_TABLE,
        "synthia": L.synthia_table(19),
        "mapillary": L.mapillary_table(V12_NAMES),
    }[fmt]
    values = np.r_[np.arange(19), 255]
    back = table.lut[writer._inv[values]]
    want = values.copy()
    if fmt == "idd":
        want[9] = 255
    assert np.array_equal(back, want)


def test_importing_the_data_package_loads_no_torch_or_cv2():
    import subprocess
    import sys

    code = (
        "import sys, edgedg.data; edgedg.data.__all__; "
        "print(sorted(m for m in ('torch', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
