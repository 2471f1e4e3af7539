"""The 19 Cityscapes training classes and each dataset's mapping onto them.

Every table maps a dataset's raw label value to a trainId in 0..18, or to 255 (ignore). A table is a
uint8 look-up array (LUT) indexed by the raw value, plus the number of values the dataset defines:
a raw value at or above ``n_ids`` is outside the table, which the readers refuse rather than
silently ignore. Cityscapes ids and colours come from ``cityscapesscripts`` (the official table),
not retyped; the Synthia and Mapillary tables follow the published protocols.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgedg.metrics import IGNORE

NUM_CLASSES = 19


def _cityscapes_labels() -> list:
    from edgedg_runtime.errors import require

    module = require("cityscapesscripts.helpers.labels", "train", "The Cityscapes label table")
    return list(module.labels)


_CS_LABELS = _cityscapes_labels()
_CS_TRAIN = sorted(
    (lb for lb in _CS_LABELS if 0 <= lb.trainId < NUM_CLASSES), key=lambda lb: lb.trainId
)

CLASSES: list[str] = [lb.name for lb in _CS_TRAIN]
COLORS: np.ndarray = np.array([lb.color for lb in _CS_TRAIN], dtype=np.uint8)  # [19, 3] RGB
# trainId -> the Cityscapes labelId that carries it (the inverse used by the writers).
TRAIN_TO_CITYSCAPES_ID: np.ndarray = np.array([lb.id for lb in _CS_TRAIN], dtype=np.uint8)
CITYSCAPES_UNLABELED_ID = 0
# labelIds 0..33 are defined; license plate (-1) never appears in a label image.
CITYSCAPES_NUM_IDS = 1 + max(lb.id for lb in _CS_LABELS)


def _cityscapes_palette() -> np.ndarray:
    """[256, 3] uint8: the colour of each Cityscapes labelId (GTA5's label palette)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for lb in _CS_LABELS:
        if lb.id >= 0:
            palette[lb.id] = lb.color
    return palette


CITYSCAPES_PALETTE: np.ndarray = _cityscapes_palette()


@dataclass(frozen=True)
class LabelTable:
    """A raw-value -> trainId look-up table; raw values >= ``n_ids`` are outside the table."""

    name: str
    lut: np.ndarray  # uint8 [256] or [65536]
    n_ids: int

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Map raw values to trainIds (uint8); ValueError names any value outside the table."""
        if raw.size and int(raw.max()) >= self.n_ids:
            bad = np.unique(raw[raw >= self.n_ids])[:8].tolist()
            raise ValueError(
                f"label values {bad} are outside the {self.name} table (valid: 0..{self.n_ids - 1})"
            )
        return self.lut[raw]


def _lut(size: int, mapping: dict[int, int]) -> np.ndarray:
    lut = np.full(size, IGNORE, dtype=np.uint8)
    for raw, train_id in mapping.items():
        lut[raw] = train_id
    return lut


CITYSCAPES_TABLE = LabelTable(
    "Cityscapes labelId",
    _lut(256, {lb.id: lb.trainId for lb in _CS_TRAIN}),
    CITYSCAPES_NUM_IDS,
)
# IDD csIds follow the Cityscapes labelIds; values outside 0..33 (e.g. 255, the non-drivable
# fallback, and the unstorable 355) are ignore, so every 8-bit value is inside the table.
IDD_TABLE = LabelTable("IDD csId", CITYSCAPES_TABLE.lut.copy(), 256)
IDD_NO_CLASS_ID = 255  # what the IDD writer stores for terrain (IDD has no terrain class)

# Synthia RAND-CITYSCAPES class id -> trainId: the release's class ids mapped onto the 16
# classes it shares with Cityscapes (the others are ignore).
SYNTHIA_TO_TRAIN: dict[int, int] = {
    0: IGNORE, 1: 10, 2: 2, 3: 0, 4: 1, 5: 4, 6: 8, 7: 5, 8: 13, 9: 7, 10: 11, 11: 18, 12: 17,
    13: IGNORE, 14: IGNORE, 15: 6, 16: 9, 17: 12, 18: 14, 19: 15, 20: 16, 21: 3, 22: IGNORE,
}  # fmt: skip
SYNTHIA_NUM_IDS = 23
SYNTHIA_VOID_ID = 0
# The 16-class protocol drops terrain, truck and train (trainIds keep the 19-class numbering).
SYNTHIA_DROPPED_16 = (9, 14, 16)


def synthia_table(classes: int = 19) -> LabelTable:
    """The Synthia id -> trainId table: ``classes`` 19, or 16 (terrain, truck, train -> ignore)."""
    if classes not in (16, 19):
        from edgedg_runtime.errors import DataError

        raise DataError(f"synthia_classes must be 16 or 19, got {classes}")
    mapping = dict(SYNTHIA_TO_TRAIN)
    if classes == 16:
        mapping = {k: (IGNORE if v in SYNTHIA_DROPPED_16 else v) for k, v in mapping.items()}
    return LabelTable(f"Synthia ({classes} classes)", _lut(65536, mapping), SYNTHIA_NUM_IDS)


TRAIN_TO_SYNTHIA_ID: np.ndarray = np.array(
    [next(k for k, v in SYNTHIA_TO_TRAIN.items() if v == t) for t in range(NUM_CLASSES)],
    dtype=np.uint16,
)

# Mapillary Vistas v1.2: mapped by class NAME from config.json, never by index.
MAPILLARY_STRICT: dict[str, int] = {
    "construction--flat--road": 0,
    "construction--flat--sidewalk": 1,
    "construction--structure--building": 2,
    "construction--barrier--wall": 3,
    "construction--barrier--fence": 4,
    "object--support--pole": 5,
    "object--traffic-light": 6,
    "object--traffic-sign--front": 7,
    "nature--vegetation": 8,
    "nature--terrain": 9,
    "nature--sky": 10,
    "human--person": 11,
    "human--rider--bicyclist": 12,
    "object--vehicle--car": 13,
    "object--vehicle--truck": 14,
    "object--vehicle--bus": 15,
    "object--vehicle--on-rails": 16,
    "object--vehicle--motorcycle": 17,
    "object--vehicle--bicycle": 18,
}
# The wider mapping: all riders -> rider; lane markings, crosswalks, service and bike lanes -> road.
MAPILLARY_WIDE: dict[str, int] = {
    **MAPILLARY_STRICT,
    "human--rider--motorcyclist": 12,
    "human--rider--other-rider": 12,
    "marking--general": 0,
    "marking--crosswalk-zebra": 0,
    "construction--flat--crosswalk-plain": 0,
    "construction--flat--service-lane": 0,
    "construction--flat--bike-lane": 0,
}
MAPILLARY_MAPPINGS: dict[str, dict[str, int]] = {"strict": MAPILLARY_STRICT, "wide": MAPILLARY_WIDE}
MAPILLARY_UNLABELED = "void--unlabeled"


def mapillary_mapping(name: str) -> dict[str, int]:
    """The Mapillary class-name -> trainId mapping called ``name`` ("strict" or "wide")."""
    if name not in MAPILLARY_MAPPINGS:
        from edgedg_runtime.errors import DataError

        valid = sorted(MAPILLARY_MAPPINGS)
        raise DataError(f"unknown Mapillary mapping {name!r}; choose one of {valid}")
    return MAPILLARY_MAPPINGS[name]


def mapillary_table(names: list[str], mapping: str = "strict") -> LabelTable:
    """The palette-index -> trainId table for a config.json whose classes are ``names`` in order.

    Raises DataError when the config lacks a class the mapping needs (e.g. a v2.0 config), since
    mapping it anyway would silently lose that class.
    """
    from edgedg_runtime.errors import DataError

    table = mapillary_mapping(mapping)
    missing = sorted(set(MAPILLARY_STRICT) - set(names))
    if missing:
        raise DataError(
            f"Mapillary config.json lacks the classes {missing}; edgedg reads Mapillary Vistas "
            "v1.2 "
            "(66 classes). Point it at the v1.2 folder and its config.json"
        )
    if len(names) > 256:
        raise DataError(f"Mapillary config.json lists {len(names)} classes; at most 256 fit a PNG")
    return LabelTable(
        f"Mapillary ({mapping})",
        _lut(256, {i: table.get(n, IGNORE) for i, n in enumerate(names)}),
        len(names),
    )


def mapillary_v12_config() -> dict:
    """Mapillary Vistas v1.2 config.json: 66 labels (name, readable, color, instances, evaluate)."""
    import json
    from pathlib import Path

    return json.loads((Path(__file__).with_name("mapillary_v1.2_config.json")).read_text())
