"""Image and label file encoding/decoding shared by the dataset writers and readers.

Decoders raise DataError naming the file; encoders return bytes that ``write_atomic`` puts in place
(temp file in the same directory + os.replace), so a crash never leaves a half-written file.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from edgedg_runtime.errors import DataError
from edgedg_runtime.fileio import write_atomic  # noqa: F401  (re-exported for the writers)


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8/uint16 gray or BGR array (OpenCV channel order)."""
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError(f"PNG encoding failed for an array of shape {array.shape}")
    return buf.tobytes()


def encode_rgb(rgb: np.ndarray, ext: str = ".png", jpeg_quality: int = 95) -> bytes:
    """PNG or JPEG bytes of an RGB uint8 image."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if ext == ".png":
        return encode_png(bgr)
    # 4:4:4 chroma: the default 4:2:0 smears colour across the sharp class edges of synthetic scenes
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise RuntimeError(f"{ext} encoding failed")
    return buf.tobytes()


def encode_palette_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """A palettised ('P' mode) PNG whose pixel values are ``indices``, colours ``palette`` [K,3]."""
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: len(palette)] = palette
    image.putpalette(flat.reshape(-1).tolist())
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8 [H, W, 3]."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataError(f"{path}: cannot read the image (missing, empty or corrupt file)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_gray_ids(path: Path) -> np.ndarray:
    """An 8-bit single-channel label image (Cityscapes labelIds, IDD csIds) as uint8 [H, W]."""
    ids = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if ids is None:
        raise DataError(f"{path}: cannot read the label image (missing, empty or corrupt file)")
    if ids.ndim != 2 or ids.dtype != np.uint8:
        raise DataError(
            f"{path}: expected an 8-bit single-channel label image of ids, got "
            f"{ids.dtype} with shape {ids.shape} (is this a colour visualisation?)"
        )
    return ids


def read_palette_ids(path: Path) -> np.ndarray:
    """The palette indices of a palettised PNG (GTA5, Mapillary labels) as uint8 [H, W]."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ("P", "L"):
                raise DataError(
                    f"{path}: expected a palettised ('P') label PNG, got mode {image.mode!r}"
                )
            return np.asarray(image, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot read the label image ({exc})") from exc


def read_synthia_ids(path: Path) -> np.ndarray:
    """The class ids of a Synthia 16-bit label PNG (R channel) as uint16 [H, W]."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataError(f"{path}: cannot read the label image (missing, empty or corrupt file)")
    if raw.ndim != 3 or raw.shape[2] < 3 or raw.dtype != np.uint16:
        raise DataError(
            f"{path}: expected a 16-bit 3-channel Synthia label PNG, got {raw.dtype} {raw.shape}"
        )
    return np.ascontiguousarray(raw[:, :, 2])  # OpenCV gives BGR: R is the last channel
