"""Training augmentation and evaluation transforms: uint8 RGB + trainIds -> normalised tensors.

``IMAGENET_MEAN`` / ``IMAGENET_STD`` (RGB, on the 0..1 scale) are the one copy of the input
normalisation; the exporter bakes the same values into the graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from edgedg.metrics import IGNORE

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
EVAL_PROTOCOLS = ("paper", "full")


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 RGB [H, W, 3] -> float32 [3, H, W] on the 0..1 scale."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


def normalize(
    tensor: torch.Tensor,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> torch.Tensor:
    """(tensor - mean) / std per channel, for a [3, H, W] or [N, 3, H, W] tensor on 0..1."""
    shape = (3, 1, 1)
    m = torch.tensor(mean, dtype=tensor.dtype).view(shape)
    s = torch.tensor(std, dtype=tensor.dtype).view(shape)
    return (tensor - m) / s


def label_tensor(label: np.ndarray) -> torch.Tensor:
    """uint8 trainIds [H, W] -> int64 [H, W] (255 stays the ignore label)."""
    return torch.from_numpy(np.ascontiguousarray(label)).long()


@dataclass
class TrainTransform:
    """The paper's augmentation, drawn from the ``rng`` passed in (so a step is reproducible).

    Horizontal flip p=0.5; long side rescaled to U(scale) x ``base_long_side`` (default: the
    image's own long side); rotation U(-rotate, rotate) degrees with p=``rotate_p``; a random
    ``crop`` x ``crop`` window, padded where the image is smaller; Gaussian blur with sigma U(0, 1)
    with p=``blur_p``. Rescale, rotation, crop and padding are ONE affine warp straight into the
    crop window (bilinear for the image, nearest for the label), so an upscaled image is never
    built whole; pixels from outside the image are 0 in the image and 255 (ignore) in the label.
    """

    crop: int = 600
    base_long_side: int | None = None
    scale: tuple[float, float] = (0.5, 2.0)
    rotate: float = 10.0
    rotate_p: float = 0.5
    blur_p: float = 0.5
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 RGB [H, W, 3], uint8 [H, W]) -> (float32 [3, crop, crop], int64 [crop, crop])."""
        # Draw every random number in a fixed order, whatever branch is taken.
        flip, rot_u, blur_u = rng.random(3)
        factor = rng.uniform(*self.scale)
        angle = rng.uniform(-self.rotate, self.rotate) if rot_u < self.rotate_p else 0.0
        offset_u = rng.random(2)
        sigma = rng.uniform(0.0, 1.0)

        matrix = self._warp_matrix(image.shape[:2], factor, angle, offset_u)
        size = (self.crop, self.crop)
        out = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        lab = cv2.warpAffine(label, matrix, size, flags=cv2.INTER_NEAREST, borderValue=IGNORE)
        if flip < 0.5:
            out, lab = out[:, ::-1], lab[:, ::-1]
        if blur_u < self.blur_p and sigma > 1e-3:
            out = cv2.GaussianBlur(np.ascontiguousarray(out), (0, 0), sigmaX=sigma)
        return normalize(to_tensor(out), self.mean, self.std), label_tensor(lab)

    def _warp_matrix(self, hw, factor: float, angle: float, offset_u) -> np.ndarray:
        """Source pixel -> crop pixel: rescale, rotate about the rescaled centre, shift."""
        h, w = hw
        s = factor * (self.base_long_side or max(h, w)) / max(h, w)
        sh, sw = h * s, w * s
        rot = cv2.getRotationMatrix2D((sw / 2.0, sh / 2.0), angle, 1.0)
        matrix = rot @ np.array([[s, 0, 0], [0, s, 0], [0, 0, 1]], dtype=np.float64)
        # Window origin in the rescaled canvas: inside it when larger than the crop, otherwise
        # the image lands at a random place inside the (padded) window.
        # Whole-pixel origin: at scale 1 without rotation the warp is an exact crop.
        matrix[0, 2] -= round(offset_u[0] * (sw - self.crop))
        matrix[1, 2] -= round(offset_u[1] * (sh - self.crop))
        return matrix


def eval_transform(
    image: np.ndarray,
    label: np.ndarray,
    protocol: str = "paper",
    size: int | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The evaluation input and target for one image.

    ``paper`` (the published code): short side resized to ``size`` (image bilinear, label nearest),
    then the central ``size`` x ``size`` square of both. ``full``: the whole image, shrunk to a long
    side of ``size`` if given (area); the label stays at FULL resolution, so the caller upsamples
    the logits to the label's size, as the standard protocol does.
    """
    if protocol not in EVAL_PROTOCOLS:
        raise ValueError(f"protocol must be one of {EVAL_PROTOCOLS}, got {protocol!r}")
    h, w = image.shape[:2]
    if protocol == "full":
        if size and max(h, w) > size:
            s = size / max(h, w)
            dims = (max(1, round(w * s)), max(1, round(h * s)))
            image = cv2.resize(image, dims, interpolation=cv2.INTER_AREA)
        return normalize(to_tensor(image), mean, std), label_tensor(label)
    if not size:
        raise ValueError("the paper protocol needs size (the square crop side)")
    image, label = paper_crop(image, label, size)
    return normalize(to_tensor(image), mean, std), label_tensor(label)


def paper_crop(image: np.ndarray, label: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The published evaluation crop: short side resized to ``size`` (image bilinear, label
    nearest), then the central ``size`` x ``size`` square of both (contiguous uint8 arrays)."""

    h, w = image.shape[:2]
    s = size / min(h, w)
    dims = (max(size, round(w * s)), max(size, round(h * s)))
    image = cv2.resize(image, dims, interpolation=cv2.INTER_LINEAR)
    label = cv2.resize(label, dims, interpolation=cv2.INTER_NEAREST)
    top, left = (dims[1] - size) // 2, (dims[0] - size) // 2
    window = (slice(top, top + size), slice(left, left + size))
    return np.ascontiguousarray(image[window]), np.ascontiguousarray(label[window])
