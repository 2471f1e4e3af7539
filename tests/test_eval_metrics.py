"""Evaluation metrics: our mIoU against the official Cityscapes script, stream order, cropping."""

from __future__ import annotations

import numpy as np
import pytest
from _eval_helpers import official_miou

from edgedg.evaluate.report import cityscapes_label_ids, save_prediction
from edgedg.evaluate.stream import input_size, prepare, stream_order
from edgedg.metrics import class_iou, confusion, scores, summarize


def test_miou_equals_the_official_cityscapes_evaluation(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    total = np.zeros((19, 19), dtype=np.int64)
    gt_files = []
    for i in range(3):
        label = rng.integers(0, 17, size=(24, 40)).astype(np.uint8)  # classes 17, 18 absent
        label[rng.random(label.shape) < 0.1] = 255
        pred = np.where(rng.random(label.shape) < 0.6, label, rng.integers(0, 19, label.shape))
        pred = np.where(pred == 255, 0, pred).astype(np.uint8)
        total += confusion(pred, label, 19)
        stem = f"city_{i:06d}_000019"
        gt = tmp_path / "gt" / f"{stem}_gtFine_labelIds.png"
        gt.parent.mkdir(exist_ok=True)
        cv2.imwrite(
            str(gt), cityscapes_label_ids(np.where(label == 255, 0, label)) * (label != 255)
        )
        gt_files.append(gt)
        save_prediction(tmp_path / "pred", f"{stem}_leftImg8bit", pred)
    ours = scores(total)
    assert ours["iou"][17] is not None  # predicted but absent: IoU 0, still counted
    assert ours["miou"] == pytest.approx(official_miou(tmp_path / "pred", gt_files), abs=1e-6)


def test_class_iou_and_summary():
    conf = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    iou = class_iou(conf)
    np.testing.assert_allclose(iou[:2], [3 / 4, 2 / 3])
    assert np.isnan(iou[2])
    s = scores(conf)
    assert s["miou"] == pytest.approx((3 / 4 + 2 / 3) / 2) and s["pixel_acc"] == pytest.approx(
        5 / 6
    )
    summary = summarize([s, scores(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]]))])
    assert summary["miou_mean"] == pytest.approx(((3 / 4 + 2 / 3) / 2 + 1 / 3) / 2)
    assert summary["miou_std"] > 0 and summary["iou_mean"][2] is None


def test_confusion_drops_ignore_and_refuses_bad_predictions():
    label = np.array([[0, 1], [255, 2]], np.uint8)
    conf = confusion(np.array([[0, 2], [1, 2]], np.uint8), label, 3)
    assert conf.sum() == 3 and conf[1, 2] == 1
    with pytest.raises(ValueError, match="0..2"):
        confusion(np.array([[0, 7], [1, 2]], np.uint8), label, 3)


def test_stream_order_mixes_every_item_reproducibly():
    order = stream_order([3, 5], seed=12)
    assert sorted(order) == [(0, i) for i in range(3)] + [(1, i) for i in range(5)]
    assert order == stream_order([3, 5], seed=12) != stream_order([3, 5], seed=123)


def test_prepare_cuts_the_paper_crop_and_keeps_full_labels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 80, 3), dtype=np.uint8)
    label = rng.integers(0, 19, (40, 80), dtype=np.uint8)
    frame, crop = prepare(image, label, "paper", input_size("paper", 20, (40, 80)))
    assert frame.shape == (20, 20, 3) and crop.shape == (20, 20)
    np.testing.assert_array_equal(crop, label[::2, ::2][:, 10:30])
    hw = input_size("full", 40, (40, 80))
    frame, full = prepare(image, label, "full", hw)
    assert hw == (20, 40) and frame.shape == (20, 40, 3) and full is label
    np.testing.assert_array_equal(prepare(image, label, "full", (40, 80))[0], image[..., ::-1])
