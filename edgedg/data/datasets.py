"""Readers for the five datasets: ``open_dataset("gta5:/data/gta5", split="train")``.

``ds[i]`` is ``{"image": uint8 RGB [H, W, 3], "label": uint8 trainIds [H, W], "domain": str,
"path": str}``. The layout is checked at open (a DataError names the folder expected), and so is
the presence of every label file. Unreadable files, size mismatches and label values outside the
format's table are found when an item is read: a DataError names the file, or with
``skip_bad=True`` the item is replaced by the next good one, counted in ``ds.skipped`` and warned
about (in a DataLoader worker the count lives in that worker; the warnings reach stderr).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch.utils.data

from edgedg.data import _io, formats, labels
from edgedg_runtime.errors import DataError

SYNTHIA_SPLIT_SEED = 1234
SYNTHIA_TRAIN_FRACTION = 0.7


@dataclass
class _Layout:
    """What a format reader found at open: the (image, label) pairs and how to decode labels."""

    items: list[tuple[Path, Path]]
    read_raw: object  # Callable[[Path], np.ndarray]
    table: labels.LabelTable
    resize_label: bool = False  # GTA5: a label of another size is resized (nearest), and counted
    missing: list[Path] = field(default_factory=list)  # images whose label file is absent


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"expected the folder {path} ({what}); is the dataset root right?")
    return path


def _pair(images: list[Path], label_of) -> tuple[list[tuple[Path, Path]], list[Path]]:
    items, missing = [], []
    for image in images:
        label = label_of(image)
        (items if label.is_file() else missing).append((image, label))
    return items, [label for _, label in missing]


def _cityscapes_like(
    root: Path, split: str, label_suffix: str, table: labels.LabelTable
) -> _Layout:
    image_dir = _require_dir(root / "leftImg8bit" / split, f"{split} images by city/sequence")
    label_dir = _require_dir(root / "gtFine" / split, f"{split} label ids by city/sequence")
    images = sorted(image_dir.glob(f"*/*{formats.CITYSCAPES_IMAGE_SUFFIX}"))

    def label_of(image: Path) -> Path:
        stem = image.name[: -len(formats.CITYSCAPES_IMAGE_SUFFIX)]
        return label_dir / image.parent.name / f"{stem}{label_suffix}"

    items, missing = _pair(images, label_of)
    return _Layout(items, _io.read_gray_ids, table, missing=missing)


def _gta5(root: Path, split: str, **_) -> _Layout:
    image_dir = _require_dir(root / "images", "GTA5 images 00001.png ...")
    label_dir = _require_dir(root / "labels", "GTA5 palettised label PNGs")
    if split == "all":
        images = sorted(image_dir.glob("*.png"))
    else:
        _check_split(split, formats.GTA5_SPLIT_KEYS, "gta5 (or 'all')")
        split_file = root / "split.mat"
        if not split_file.is_file():
            raise DataError(f"expected {split_file} (trainIds/valIds/testIds); or use split='all'")
        images = [image_dir / f"{n:05d}.png" for n in formats.read_gta5_split(split_file, split)]
    absent = [p for p in images if not p.is_file()]
    items, missing = _pair([p for p in images if p.is_file()], lambda p: label_dir / p.name)
    return _Layout(items, _io.read_palette_ids, labels.CITYSCAPES_TABLE, True, absent + missing)


def _synthia_stems(root: Path, split: str, stems: list[str]) -> list[str]:
    """The stems of ``split``: from splits.json if present, else a seeded 70/30 permutation."""
    if split == "all":
        return stems
    _check_split(split, {"train": 0, "val": 1}, "synthia (or 'all')")
    split_file = root / formats.SYNTHIA_SPLITS_FILE
    if split_file.is_file():
        try:
            return sorted(json.loads(split_file.read_text())[split])
        except (ValueError, KeyError) as exc:
            raise DataError(f"{split_file}: not a valid split file ({exc!r})") from exc
    order = np.random.default_rng(SYNTHIA_SPLIT_SEED).permutation(len(stems))
    cut = int(round(SYNTHIA_TRAIN_FRACTION * len(stems)))
    chosen = order[:cut] if split == "train" else order[cut:]
    return [stems[i] for i in sorted(chosen)]


def _synthia(root: Path, split: str, synthia_classes: int = 19, **_) -> _Layout:
    image_dir = _require_dir(root / "RGB", "Synthia RGB images")
    label_dir = _require_dir(root / "GT" / "LABELS", "Synthia 16-bit label PNGs")
    stems = sorted(p.stem for p in image_dir.glob("*.png"))
    images = [image_dir / f"{s}.png" for s in _synthia_stems(root, split, stems)]
    items, missing = _pair(images, lambda p: label_dir / p.name)
    return _Layout(
        items, _io.read_synthia_ids, labels.synthia_table(synthia_classes), missing=missing
    )


def _mapillary(root: Path, split: str, mapillary_mapping: str = "strict", **_) -> _Layout:
    _check_split(split, formats.MAPILLARY_SPLIT_DIRS, "mapillary")
    config_path = root / "config.json"
    if not config_path.is_file():
        raise DataError(f"expected {config_path} (the Mapillary v1.2 class list)")
    try:
        names = [lb["name"] for lb in json.loads(config_path.read_text())["labels"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{config_path}: not a Mapillary config ({exc!r})") from exc
    table = labels.mapillary_table(names, mapillary_mapping)
    folder = root / formats.MAPILLARY_SPLIT_DIRS[split]
    image_dir = _require_dir(folder / "images", "Mapillary JPEG images")
    label_dir = _require_dir(folder / "labels", "Mapillary palettised label PNGs")
    images = sorted(image_dir.glob("*.jpg"))
    items, missing = _pair(images, lambda p: label_dir / f"{p.stem}.png")
    return _Layout(items, _io.read_palette_ids, table, missing=missing)


def _check_split(split: str, valid, fmt: str) -> None:
    if split not in valid:
        raise DataError(f"split {split!r} does not exist for {fmt}; use one of {sorted(valid)}")


_READERS = {
    "cityscapes": lambda root, split, **_: _cityscapes_like(
        root, split, formats.CITYSCAPES_LABEL_SUFFIX, labels.CITYSCAPES_TABLE
    ),
    "idd": lambda root, split, **_: _cityscapes_like(
        root, split, formats.IDD_LABEL_SUFFIX, labels.IDD_TABLE
    ),
    "gta5": _gta5,
    "synthia": _synthia,
    "mapillary": _mapillary,
}


def downscale(image: np.ndarray, label: np.ndarray, long_side: int | None):
    """Shrink image (area) and label (nearest) so the long side is at most ``long_side``."""
    h, w = image.shape[:2]
    if not long_side or max(h, w) <= long_side:
        return image, label
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)


class SegmentationDataset(torch.utils.data.Dataset):
    """Image/label pairs of one dataset split, decoded to trainIds (see the module docstring)."""

    def __init__(
        self,
        fmt: str,
        root: Path,
        layout: _Layout,
        domain: str,
        long_side: int | None = None,
        skip_bad: bool = False,
    ) -> None:
        self.fmt, self.root, self.domain = fmt, root, domain
        self.long_side, self.skip_bad = long_side, skip_bad
        self.items = layout.items
        self._layout = layout
        self.bad: dict[str, str] = {}  # path -> reason, for every item skipped so far
        self.resized = 0  # GTA5 labels resized to their image's size
        if layout.missing:
            first = ", ".join(str(p) for p in layout.missing[:3])
            if not skip_bad:
                raise DataError(
                    f"{len(layout.missing)} file(s) missing in {root}, e.g. {first}; restore "
                    "them or pass skip_bad=True to skip those images"
                )
            for path in layout.missing:
                self.bad[str(path)] = "missing file"
            warnings.warn(
                f"{fmt}:{root}: skipping {len(layout.missing)} image(s): {first}", stacklevel=2
            )
        if not self.items:
            raise DataError(f"no {fmt} images found under {root}; check the path and the split")

    @property
    def skipped(self) -> int:
        """How many images were skipped so far (missing at open, and bad ones met while reading)."""
        return len(self.bad)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        if not self.skip_bad:
            return self.load(index)
        n = len(self.items)
        for k in range(n):  # a bad item is replaced by the next good one
            j = (index + k) % n
            if str(self.items[j][0]) in self.bad:
                continue
            try:
                return self.load(j)
            except DataError as exc:
                self.bad[str(self.items[j][0])] = str(exc)
                warnings.warn(f"skipping a bad item: {exc}", stacklevel=2)
        raise DataError(f"every image of {self.fmt}:{self.root} is unreadable or bad")

    def load(self, index: int) -> dict:
        """Read item ``index``; raises DataError naming the file when it is bad."""
        image_path, label_path = self.items[index]
        image = _io.read_rgb(image_path)
        raw = self._layout.read_raw(label_path)
        if raw.shape != image.shape[:2]:
            raw = self._fit_label(raw, image.shape[:2], image_path, label_path)
        try:
            label = self._layout.table.decode(raw)
        except ValueError as exc:
            raise DataError(f"{label_path}: {exc}") from exc
        image, label = downscale(image, label, self.long_side)
        return {"image": image, "label": label, "domain": self.domain, "path": str(image_path)}

    def _fit_label(self, raw: np.ndarray, size, image_path: Path, label_path: Path) -> np.ndarray:
        if not self._layout.resize_label:
            raise DataError(
                f"{label_path}: label size {raw.shape[:2]} differs from the image size {size} "
                f"of {image_path}"
            )
        self.resized += 1
        warnings.warn(
            f"{label_path}: label resized (nearest) to its image size {size}", stacklevel=3
        )
        return cv2.resize(raw, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)

    def __repr__(self) -> str:
        return f"SegmentationDataset({self.fmt}:{self.root}, n={len(self)}, domain={self.domain!r})"


def parse_spec(spec: str) -> tuple[str, Path]:
    """Split "FORMAT:PATH" into a checked format name and a path."""
    fmt, sep, path = spec.partition(":")
    if not sep or not path:
        raise DataError(f"dataset spec {spec!r} must be FORMAT:PATH, e.g. gta5:/data/gta5")
    return formats.check_format(fmt.lower()), Path(path).expanduser()


def open_dataset(
    spec: str,
    split: str = "train",
    long_side: int | None = None,
    mapillary_mapping: str = "strict",
    synthia_classes: int = 19,
    skip_bad: bool = False,
    domain: str | None = None,
) -> SegmentationDataset:
    """Open ``split`` of the dataset at "FORMAT:PATH" (cityscapes|gta5|synthia|idd|mapillary).

    ``long_side`` shrinks larger images on load; ``mapillary_mapping`` is "strict" or "wide";
    ``synthia_classes`` 19 or 16; GTA5 and Synthia also accept ``split="all"``. ``domain``
    defaults to the dataset folder's name.
    """
    fmt, root = parse_spec(spec)
    if not root.is_dir():
        raise DataError(f"the {fmt} dataset root {root} does not exist or is not a folder")
    layout = _READERS[fmt](
        root, split, mapillary_mapping=mapillary_mapping, synthia_classes=synthia_classes
    )
    name = domain or root.resolve().name
    return SegmentationDataset(fmt, root, layout, name, long_side, skip_bad)
