"""TrainTransform and the evaluation transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _data_helpers import make_sample

from edgedg.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TrainTransform,
    eval_transform,
    normalize,
    to_tensor,
)


def test_shapes_and_dtypes():
    image, label = make_sample(0, 48, 64)
    x, y = TrainTransform(crop=32)(image, label, np.random.default_rng(0))
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (32, 32) and y.dtype == torch.int64
    assert set(torch.unique(y).tolist()) <= set(range(19)) | {255}


def test_deterministic_for_a_given_rng():
    image, label = make_sample(1, 48, 64)
    t = TrainTransform(crop=40)
    a = t(image, label, np.random.default_rng([3, 1]))
    b = t(image, label, np.random.default_rng([3, 1]))
    c = t(image, label, np.random.default_rng([3, 2]))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_padding_fills_label_with_ignore_not_road():
    image = np.full((16, 16, 3), 200, np.uint8)
    label = np.zeros((16, 16), np.uint8)  # all road: a 0 fill would be invisible
    t = TrainTransform(crop=48, scale=(1.0, 1.0), rotate_p=0.0, blur_p=0.0)
    x, y = t(image, label, np.random.default_rng(0))
    assert (y == 0).sum() == 16 * 16 and (y == 255).sum() == 48 * 48 - 16 * 16
    black = normalize(torch.zeros(3, 1, 1)).view(3, 1)
    grey = normalize(torch.full((3, 1, 1), 200 / 255)).view(3, 1)
    assert torch.allclose(x[:, y == 255], black, atol=1e-6)
    assert torch.allclose(x[:, y == 0], grey, atol=1e-6)  # scale 1, no rotation: exact copy


def test_rotation_fills_label_with_ignore():
    image = np.full((64, 64, 3), 100, np.uint8)
    label = np.zeros((64, 64), np.uint8)
    t = TrainTransform(crop=64, scale=(1.0, 1.0), rotate=10, rotate_p=1.0, blur_p=0.0)
    for seed in range(4):
        _, y = t(image, label, np.random.default_rng(seed))
        corners = torch.stack([y[0, 0], y[0, -1], y[-1, 0], y[-1, -1]])
        ignored = (y == 255).sum().item()
        assert 0 < ignored < 64 * 64 // 5 and (corners == 255).sum() >= 2
        assert set(torch.unique(y).tolist()) == {0, 255}


def test_rescale_follows_base_long_side():
    # 80x40 with base 160 and factor 2: long side 320, i.e. x4; the whole of it fits the crop
    image = np.zeros((40, 80, 3), np.uint8)
    label = np.full((40, 80), 2, np.uint8)
    label[:, 40:] = 5
    t = TrainTransform(crop=400, base_long_side=160, scale=(2.0, 2.0), rotate_p=0.0, blur_p=0.0)
    _, y = t(image, label, np.random.default_rng(0))
    # What the transform promises, whatever OpenCV's nearest-neighbour rounding (4.x floors the
    # source coordinate, 5.x rounds it: the footprint moves by up to one destination pixel per
    # edge): each half is a solid 160 x 160 rectangle to within one row and one column, the two
    # halves touch at the split, and everything outside the warped image is ignore.
    boxes = {}
    for cls in (2, 5):
        rows, cols = np.nonzero(y.numpy() == cls)
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert abs((bottom - top) - 160) <= 1 and abs((right - left) - 160) <= 1
        assert (y[top:bottom, left:right] == cls).all()  # solid: no hole, no stray class
        boxes[cls] = (top, bottom, left, right)
    assert boxes[2][0] == boxes[5][0] and boxes[2][1] == boxes[5][1]  # same rows
    assert boxes[2][3] == boxes[5][2]  # class 5 starts where class 2 ends
    top, bottom, left, right = boxes[2][0], boxes[2][1], boxes[2][2], boxes[5][3]
    assert (y == 255).sum().item() == 400 * 400 - (bottom - top) * (right - left)


def test_flip_and_blur_both_happen_over_seeds():
    image, label = make_sample(2, 32, 32)
    t = TrainTransform(crop=32, scale=(1.0, 1.0), rotate_p=0.0, blur_p=0.5)
    flips = 0
    for seed in range(20):
        _, y = t(image, label, np.random.default_rng(seed))
        flips += torch.equal(y, torch.from_numpy(label[:, ::-1].copy()).long())
    assert 3 <= flips <= 17


def test_to_tensor_and_normalize():
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0] = 255
    x = to_tensor(image)
    assert x.shape == (3, 2, 3) and x[0].eq(1).all() and x[1:].eq(0).all()
    n = normalize(x)
    assert torch.allclose(n[0], torch.tensor((1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]))
    assert torch.allclose(n[2], torch.tensor(-IMAGENET_MEAN[2] / IMAGENET_STD[2]))


def test_eval_paper_protocol():
    image, label = make_sample(3, 64, 128)
    x, y = eval_transform(image, label, "paper", size=32)
    assert x.shape == (3, 32, 32) and y.shape == (32, 32)  # 64x128 -> 32x64 -> central 32x32
    assert torch.equal(y, torch.from_numpy(label[::2, ::2][:, 16:48].copy()).long())


def test_eval_full_protocol_keeps_full_label():
    image, label = make_sample(4, 64, 128)
    x, y = eval_transform(image, label, "full", size=64)
    assert x.shape == (3, 32, 64) and torch.equal(y, torch.from_numpy(label).long())
    x, _ = eval_transform(image, label, "full")
    assert x.shape == (3, 64, 128)
    with pytest.raises(ValueError):
        eval_transform(image, label, "paper")
    with pytest.raises(ValueError):
        eval_transform(image, label, "tiled", size=32)
