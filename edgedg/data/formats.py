"""The five datasets' on-disk layouts, and writers that produce them from trainId label maps.

    with open_writer("gta5", root) as w:
        w.add("train", 0, rgb_uint8_hxwx3, trainid_label_uint8_hxw)

Each writer stores the REAL format: the raw label ids of that dataset (inverting its mapping, so
every trainId reads back as itself; IDD has no terrain, so terrain is written as csId 255 and reads
back as ignore), the real folder layout and the real split files. The readers in
``edgedg.data.datasets`` share the layout constants and the GTA5 split reader below.

Numbering: Cityscapes, IDD and Mapillary name files after ``index`` inside their split folder.
GTA5 and Synthia keep every image in one flat folder, so the writer numbers files in the order of
``add`` calls (re-adding the same split and index overwrites the same file) and records the split
membership in ``split.mat`` (GTA5, 1-based, as the original) or ``splits.json`` (Synthia: the
original has no split; the reader uses this file when present, else a seeded 70/30 split). Add
from one process per root.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgedg.data import labels
from edgedg.data._io import encode_palette_png, encode_png, encode_rgb, write_atomic
from edgedg.metrics import IGNORE
from edgedg_runtime.errors import DataError
from edgedg_runtime.fileio import write_json

FORMATS = ("cityscapes", "gta5", "synthia", "idd", "mapillary")
WRITER_SPLITS = ("train", "val")

CITYSCAPES_CITY = "synthcity"
CITYSCAPES_IMAGE_SUFFIX = "_leftImg8bit.png"
CITYSCAPES_LABEL_SUFFIX = "_gtFine_labelIds.png"
IDD_LABEL_SUFFIX = "_gtFine_labelcsIds.png"
GTA5_SPLIT_KEYS = {"train": "trainIds", "val": "valIds", "test": "testIds"}
SYNTHIA_SPLITS_FILE = "splits.json"
MAPILLARY_SPLIT_DIRS = {"train": "training", "val": "validation", "test": "testing"}


def read_gta5_split(path: Path, split: str) -> list[int]:
    """The 1-based image numbers of ``split`` ("train", "val", "test") in a GTA5 split.mat."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the GTA5 split file ({exc})") from exc
    key = GTA5_SPLIT_KEYS[split]
    if key not in mat:
        raise DataError(f"{path}: has no {key!r} entry")
    return [int(n) for n in np.asarray(mat[key]).reshape(-1)]


def _inverse_lut(train_to_raw: np.ndarray, ignore_raw: int, dtype=np.uint8) -> np.ndarray:
    """[256] trainId -> raw id; the entries that are neither a class nor 255 are never used."""
    inv = np.zeros(256, dtype=dtype)
    inv[: labels.NUM_CLASSES] = train_to_raw
    inv[IGNORE] = ignore_raw
    return inv


def _check_sample(split: str, index: int, image: np.ndarray, label: np.ndarray) -> None:
    if split not in WRITER_SPLITS:
        raise DataError(f"split must be one of {WRITER_SPLITS}, got {split!r}")
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise DataError(f"index must be a non-negative integer, got {index!r}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"image must be uint8 [H, W, 3] RGB, got {image.dtype} {image.shape}")
    if label.dtype != np.uint8 or label.shape != image.shape[:2]:
        raise DataError(f"label must be uint8 {image.shape[:2]}, got {label.dtype} {label.shape}")
    bad = np.setdiff1d(np.unique(label), np.r_[np.arange(labels.NUM_CLASSES), IGNORE])
    if bad.size:
        raise DataError(f"label holds values {bad.tolist()} that are neither trainIds nor 255")


class DatasetWriter:
    """Base writer: validates samples, writes files atomically; subclasses fix the layout."""

    fmt = ""
    image_ext = ".png"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, split: str, index: int, image: np.ndarray, label: np.ndarray) -> Path:
        """Write one RGB uint8 image and its trainId label; returns the image path."""
        _check_sample(split, index, image, label)
        image_path, label_path = self._paths(split, int(index))
        write_atomic(image_path, encode_rgb(image, self.image_ext))
        write_atomic(label_path, self._label_bytes(label))
        self.count += 1
        return image_path

    def close(self) -> None:
        """Write the split/config files of the format (safe to call twice)."""

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _paths(self, split: str, index: int) -> tuple[Path, Path]:
        raise NotImplementedError

    def _label_bytes(self, label: np.ndarray) -> bytes:
        raise NotImplementedError


class CityscapesWriter(DatasetWriter):
    """leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png + gtFine/.../<stem>_gtFine_labelIds.png."""

    fmt = "cityscapes"
    _inv = _inverse_lut(labels.TRAIN_TO_CITYSCAPES_ID, labels.CITYSCAPES_UNLABELED_ID)

    def _paths(self, split: str, index: int) -> tuple[Path, Path]:
        stem = f"{CITYSCAPES_CITY}_{index:06d}_000019"
        return (
            self.root
            / "leftImg8bit"
            / split
            / CITYSCAPES_CITY
            / f"{stem}{CITYSCAPES_IMAGE_SUFFIX}",
            self.root / "gtFine" / split / CITYSCAPES_CITY / f"{stem}{CITYSCAPES_LABEL_SUFFIX}",
        )

    def _label_bytes(self, label: np.ndarray) -> bytes:
        return encode_png(self._inv[label])


class IDDWriter(CityscapesWriter):
    """leftImg8bit/<split>/<seq>/<frame>_leftImg8bit.png + gtFine/.../<frame>_gtFine_labelcsIds."""

    fmt = "idd"
    _inv = CityscapesWriter._inv.copy()
    _inv[9] = labels.IDD_NO_CLASS_ID  # IDD has no terrain: it reads back as ignore

    def _paths(self, split: str, index: int) -> tuple[Path, Path]:
        seq, frame = str(index // 1000), f"{index:06d}"
        return (
            self.root / "leftImg8bit" / split / seq / f"{frame}{CITYSCAPES_IMAGE_SUFFIX}",
            self.root / "gtFine" / split / seq / f"{frame}{IDD_LABEL_SUFFIX}",
        )


class _FlatWriter(DatasetWriter):
    """Numbers files in add order across splits and remembers each split's file numbers."""

    first_number = 0

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.members: dict[str, list[int]] = {s: [] for s in WRITER_SPLITS}
        self._numbers: dict[tuple[str, int], int] = {}
        self._load_members()
        taken = [n for ns in self.members.values() for n in ns]
        self._next = max(taken) + 1 if taken else self.first_number

    def _number(self, split: str, index: int) -> int:
        if (split, index) not in self._numbers:
            self._numbers[(split, index)] = self._next
            self.members[split].append(self._next)
            self._next += 1
        return self._numbers[(split, index)]

    def _load_members(self) -> None:
        """Continue an existing dataset in ``root`` (subclasses read their split file)."""


class GTA5Writer(_FlatWriter):
    """images/00001.png + labels/00001.png (palette index = Cityscapes labelId) + split.mat."""

    fmt = "gta5"
    first_number = 1
    _inv = _inverse_lut(labels.TRAIN_TO_CITYSCAPES_ID, labels.CITYSCAPES_UNLABELED_ID)

    def _paths(self, split: str, index: int) -> tuple[Path, Path]:
        n = self._number(split, index)
        return self.root / "images" / f"{n:05d}.png", self.root / "labels" / f"{n:05d}.png"

    def _label_bytes(self, label: np.ndarray) -> bytes:
        return encode_palette_png(self._inv[label], labels.CITYSCAPES_PALETTE)

    def _load_members(self) -> None:
        path = self.root / "split.mat"
        if path.exists():
            for split in WRITER_SPLITS:
                self.members[split] = read_gta5_split(path, split)

    def close(self) -> None:
        import io

        import scipy.io

        mat = {
            key: np.asarray(self.members.get(split, []), dtype=np.int64).reshape(-1, 1)
            for split, key in GTA5_SPLIT_KEYS.items()
        }
        out = io.BytesIO()
        scipy.io.savemat(out, mat)
        write_atomic(self.root / "split.mat", out.getvalue())


class SynthiaWriter(_FlatWriter):
    """RGB/0000000.png + GT/LABELS/0000000.png (16-bit, id in R) + splits.json."""

    fmt = "synthia"
    _inv = _inverse_lut(labels.TRAIN_TO_SYNTHIA_ID, labels.SYNTHIA_VOID_ID, dtype=np.uint16)

    def _paths(self, split: str, index: int) -> tuple[Path, Path]:
        name = f"{self._number(split, index):07d}.png"
        return self.root / "RGB" / name, self.root / "GT" / "LABELS" / name

    def _label_bytes(self, label: np.ndarray) -> bytes:
        raw = np.zeros(label.shape + (3,), dtype=np.uint16)
        raw[:, :, 2] = self._inv[label]  # BGR order for OpenCV: the class id goes to R
        return encode_png(raw)

    def _load_members(self) -> None:
        path = self.root / SYNTHIA_SPLITS_FILE
        if path.exists():
            stems = json.loads(path.read_text())
            for split in WRITER_SPLITS:
                self.members[split] = [int(s) for s in stems.get(split, [])]

    def close(self) -> None:
        splits = {s: [f"{n:07d}" for n in ns] for s, ns in self.members.items()}
        write_json(self.root / SYNTHIA_SPLITS_FILE, splits, indent=1)


class MapillaryWriter(DatasetWriter):
    """training|validation/images/*.jpg + labels/*.png (palette index = config.json class)."""

    fmt = "mapillary"
    image_ext = ".jpg"

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        config_path = self.root / "config.json"
        if config_path.exists():
            config = json.loads(config_path.read_text())
        else:
            config = labels.mapillary_v12_config()
            write_json(config_path, config)
        names = [lb["name"] for lb in config["labels"]]
        self._palette = np.array([lb["color"] for lb in config["labels"]], dtype=np.uint8)
        self._inv = _inverse_lut(
            np.array([names.index(self._name_of(t)) for t in range(labels.NUM_CLASSES)]),
            names.index(labels.MAPILLARY_UNLABELED),
        )

    @staticmethod
    def _name_of(train_id: int) -> str:
        return next(n for n, t in labels.MAPILLARY_STRICT.items() if t == train_id)

    def _paths(self, split: str, index: int) -> tuple[Path, Path]:
        folder = self.root / MAPILLARY_SPLIT_DIRS[split]
        return folder / "images" / f"{index:06d}.jpg", folder / "labels" / f"{index:06d}.png"

    def _label_bytes(self, label: np.ndarray) -> bytes:
        return encode_palette_png(self._inv[label], self._palette)


WRITERS: dict[str, type[DatasetWriter]] = {
    "cityscapes": CityscapesWriter,
    "gta5": GTA5Writer,
    "synthia": SynthiaWriter,
    "idd": IDDWriter,
    "mapillary": MapillaryWriter,
}


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it names a known format, else raise DataError listing the valid names."""
    if fmt not in FORMATS:
        raise DataError(f"unknown dataset format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def open_writer(fmt: str, root: str | Path) -> DatasetWriter:
    """A writer (context manager) storing samples under ``root`` in the real format ``fmt``."""
    return WRITERS[check_format(fmt)](root)
